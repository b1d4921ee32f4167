"""The local backend's job runner (core/adapters/local/jobs.py) on a real local workspace:
jobs/retrain.yml itself, run in a subprocess on the workspace's folders with an MLflow champion
written by MLflow, a command job of a user's own, and what it refuses or records as failed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.adapters.local.jobs import JobDefinitionError, LocalJobs
from core.adapters.local.workspace import LocalWorkspace
from core.domain import tags as t
from core.ports import Jobs, NotFound
from core.training.loader import SklearnModelLoader
from devtools.synthetic import FEATURES, TARGET, to_csv_bytes, transactions

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def ws(tmp_path):
    return LocalWorkspace(tmp_path / "workspace")


@pytest.fixture
def jobs(ws) -> LocalJobs:
    return LocalJobs(ws)


def test_implements_the_port(jobs):
    check: Jobs = jobs
    assert check is jobs


def _register_data(ws, tmp_path, name, table):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(to_csv_bytes(table))
    return ws.register_file_version(name, "1", path, tags={})


@pytest.fixture
def fraud(ws, tmp_path):
    """Reference data, a labelled drifted batch and an MLflow champion saved by MLflow."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    reference = transactions(2000, seed=1)
    frame = reference.to_pandas()
    pipeline = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"),
                                 ["merchant_category", "country"]), remainder="passthrough"),
        RandomForestClassifier(n_estimators=30, random_state=0),
    ).fit(frame[list(FEATURES)], frame[TARGET])
    folder = tmp_path / "champion"
    mlflow.sklearn.save_model(pipeline, str(folder), serialization_format="cloudpickle",
                              signature=infer_signature(frame[list(FEATURES)], frame[TARGET]),
                              pip_requirements=["scikit-learn"])
    return {
        "training_data": _register_data(ws, tmp_path, "fraud-training", reference).asset_id,
        "inference_data": _register_data(ws, tmp_path, "fraud-inference",
                                         transactions(2000, seed=5, drift="concept")).asset_id,
        "champion_model": ws.register_model("fraud", folder, model_type="mlflow_model").asset_id,
    }


def test_runs_the_retraining_job_definition_on_the_workspace_folders(jobs, ws, fraud):
    started = time.perf_counter()
    name = jobs.submit_job(str(ROOT / "jobs" / "retrain.yml"), inputs=fraud,
                           input_types={"champion_model": "mlflow_model"},
                           literal_inputs={"target": TARGET, "undeclared": "x"},
                           tags={t.REQUEST_ID: "r-1"}, experiment_name="autopilot-retraining")
    elapsed = time.perf_counter() - started

    job = jobs.get_job(name)
    log = Path(job.properties["std_log"]).read_text()
    assert job.status == "Completed", log
    assert job.error is None and job.properties["exit_code"] == "0"
    assert job.tags[t.REQUEST_ID] == "r-1"
    # The scores as MLflow run tags, read back the way an Azure job's are.
    champion = json.loads(job.tags[t.CHAMPION_SCORES])
    challenger = json.loads(job.tags[t.CHALLENGER_SCORES])
    assert challenger["f1"] > champion["f1"]
    assert "retrained on 3400 rows, holdout 600 rows" in log
    # Outputs collected: the challenger in the champion's format, and its training rows.
    model = Path(job.outputs["model"])
    assert (model / "MLmodel").is_file() and (model / "autopilot-scores.json").is_file()
    assert SklearnModelLoader().inspect(model).signature_outputs == (TARGET,)
    training = Path(job.outputs["training_data"])
    assert {p.name for p in training.iterdir()} == {"MLTable", "training.csv"}
    record = json.loads((jobs.root / name / "job.json").read_text())
    assert record["inputs"]["champion_model"] == ws.get_model("fraud", "1").path
    assert record["inputs"]["target"] == TARGET and record["inputs"]["task"] == "auto"
    assert "undeclared" not in record["inputs"]
    print(f"\nlocal retraining job: {elapsed:.1f} s")  # shown with -s


def test_runs_a_users_own_command_job(jobs, ws, tmp_path):
    import joblib
    from sklearn.ensemble import RandomForestClassifier

    reference = transactions(1500, seed=1)
    numeric = ["amount", "hour", "card_present", "distance_km"]
    frame = reference.to_pandas()
    folder = tmp_path / "champion"
    folder.mkdir()
    joblib.dump(RandomForestClassifier(n_estimators=10, random_state=0).fit(
        frame[numeric], frame[TARGET]), folder / "model.joblib")
    inputs = {
        "training_data": _register_data(ws, tmp_path, "fraud-training", reference).asset_id,
        "inference_data": _register_data(ws, tmp_path, "fraud-inference",
                                         transactions(1000, seed=5)).asset_id,
        "champion_model": ws.register_model("fraud", folder).asset_id,
    }
    name = jobs.submit_job(str(FIXTURES / "user_job" / "job.yml"), inputs=inputs, tags={},
                           experiment_name="team retraining")
    job = jobs.get_job(name)
    assert job.status == "Completed", Path(job.properties["std_log"]).read_text()
    assert name.startswith("team-retraining-")
    assert set(json.loads(job.tags[t.CHALLENGER_SCORES])) == {"accuracy", "f1"}
    assert (Path(job.outputs["model"]) / "model.joblib").is_file()


def _job(tmp_path: Path, command: str, **extra) -> str:
    import yaml

    doc = {"type": "command", "command": command, "inputs": {"n": 3, "data": {
        "type": "uri_folder", "path": "./data"}}, "outputs": {"out": {"type": "uri_folder"}},
        **extra}
    (tmp_path / "data").mkdir(exist_ok=True)
    path = tmp_path / "job.yml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_a_command_that_exits_non_zero_is_a_failed_job_with_its_stderr(jobs, tmp_path):
    name = jobs.submit_job(_job(tmp_path, "echo working; echo 'disk full' >&2; exit 4"),
                           inputs={}, tags={}, experiment_name="e")
    job = jobs.get_job(name)
    assert job.status == "Failed" and job.properties["exit_code"] == "4"
    assert job.error == "exit code 4: disk full"
    assert "working" in Path(job.properties["std_log"]).read_text()


def test_a_command_past_its_timeout_is_failed(jobs, tmp_path):
    name = jobs.submit_job(_job(tmp_path, "sleep 20", limits={"timeout": 1}), inputs={},
                           tags={}, experiment_name="e")
    job = jobs.get_job(name)
    assert job.status == "Failed" and "timeout of 1 s" in job.error


def test_a_job_never_outlives_its_retraining_lease(ws, tmp_path):
    """The runner stops a job at its lease's limit when the definition allows longer (the
    request would otherwise be taken for dead and run twice), and says which limit it was;
    the services give it a quarter of RETRAIN_LEASE_SECONDS (at most 5 minutes) less."""
    from core.bootstrap import Services
    from core.settings import load_settings

    capped = LocalJobs(ws, max_seconds=1)
    name = capped.submit_job(_job(tmp_path, "sleep 20", limits={"timeout": 3600}), inputs={},
                             tags={}, experiment_name="e")
    job = capped.get_job(name)
    assert job.status == "Failed" and "1 s, the time its retraining lease leaves it" in job.error
    assert "RETRAIN_LEASE_SECONDS" in job.error
    shorter = capped.submit_job(_job(tmp_path, "true", limits={"timeout": 3600}), inputs={},
                                tags={}, experiment_name="e")
    assert capped.get_job(shorter).status == "Completed"

    env = {"LOCAL_WORKSPACE_DIR": str(tmp_path / "svc"),
           "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    for lease, allowed in (("1800", 1500), ("40", 30), ("7200", 6900)):
        services = Services(load_settings({**env, "RETRAIN_LEASE_SECONDS": lease}))
        assert services.jobs._max_seconds == allowed, lease


def test_literals_paths_outputs_and_optional_parts_are_substituted(jobs, tmp_path):
    command = ("echo n=${{inputs.n}} data=${{inputs.data}} $[[skipped=${{inputs.missing}}]] "
               "> ${{outputs.out}}/said.txt")
    definition = _job(tmp_path, command)
    name = jobs.submit_job(definition, inputs={}, tags={}, experiment_name="e")
    job = jobs.get_job(name)
    said = (Path(job.outputs["out"]) / "said.txt").read_text().strip()
    assert said == f"n=3 data={tmp_path / 'data'}"


@pytest.mark.parametrize("doc, words", [
    ({"type": "pipeline", "jobs": {}}, "command jobs only"),
    ({"type": "command"}, "has no command"),
    ({"type": "command", "command": "echo ${{inputs.nope}}"}, "does not declare"),
])
def test_definitions_that_cannot_run_are_refused(jobs, tmp_path, doc, words):
    import yaml

    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(JobDefinitionError, match=words):
        jobs.submit_job(str(path), inputs={}, tags={}, experiment_name="e")


def test_undeclared_inputs_missing_files_and_unknown_jobs(jobs, tmp_path):
    with pytest.raises(JobDefinitionError, match="declares no input 'training'"):
        jobs.submit_job(_job(tmp_path, "true"), inputs={"training": "azureml:x:1"}, tags={},
                        experiment_name="e")
    with pytest.raises(JobDefinitionError, match="does not exist"):
        jobs.submit_job(str(tmp_path / "nothing.yml"), inputs={}, tags={}, experiment_name="e")
    with pytest.raises(NotFound):
        jobs.submit_job(_job(tmp_path, "true"), inputs={"data": "azureml:no-such-asset:1"},
                        tags={}, experiment_name="e")
    for name in ("nope", "../../etc", ""):
        with pytest.raises(NotFound):
            jobs.get_job(name)
