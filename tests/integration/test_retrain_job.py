"""The example retraining job (jobs/retrain.yml, jobs/train.py): the definition the SDK loads
and submits, its environment's pins, and the script run for real on local-workspace folders.

Nothing is submitted (no Azure account here): the job's contract with the service is checked on
both sides of it, the definition as azure-ai-ml reads it and the script's outputs as the
service reads them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from core.adapters.local.workspace import LocalWorkspace
from core.domain.assets import MLTable
from core.domain.retraining import METRICS
from core.services.retraining.runner import PROP_CHALLENGER, PROP_CHAMPION
from core.training.model import TrainedModel, TrainingSpec, train
from devtools.synthetic import FEATURES, TARGET, to_csv_bytes, transactions

ROOT = Path(__file__).resolve().parents[2]
JOB = ROOT / "jobs" / "retrain.yml"
SCRIPT = ROOT / "jobs" / "train.py"
PINNED_WITH_THE_SERVICE = ("numpy", "pyarrow", "scikit-learn", "joblib")


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        # `name==version`, in a lock also followed by ` \` and its hashes on the next lines
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([^\s;#\\]+)\s*\\?\s*(#.*)?", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


# ------------------------------------------------------------------ the definition


def test_job_definition_declares_the_contract():
    from azure.ai.ml import load_job
    from azure.ai.ml.entities import Command

    job = load_job(JOB)

    assert isinstance(job, Command)
    assert {name: i.type for name, i in job.inputs.items()} == {
        "training_data": "mltable", "inference_data": "mltable", "champion_model": "custom_model",
        "target": "string", "features": "string", "task": "string",
    }
    # Literals the service sets from the model's description; `auto`: the job reads the model.
    assert {name: job.inputs[name]._data for name in ("target", "features", "task")} == {
        "target": "auto", "features": "auto", "task": "auto"}
    assert {name: o.type for name, o in job.outputs.items()} == {
        "model": "custom_model", "training_data": "uri_folder"}
    assert (Path(job.base_path) / job.code).resolve() == ROOT  # so `core` is importable
    for reference in ("inputs.training_data", "inputs.inference_data",
                      "inputs.champion_model", "outputs.model", "outputs.training_data"):
        assert "${{" + reference + "}}" in job.command
    for literal in ("target", "features", "task"):
        assert f"--{literal} ${{{{inputs.{literal}}}}}" in job.command
    assert job.command.startswith("python jobs/train.py ")
    # Serverless: a VM size, no compute target; the environment built from jobs/environment.yml.
    assert job.compute is None and job.resources.instance_type
    assert job.environment.image.startswith("mcr.microsoft.com/azureml/")
    # Pinned to a dated tag (the image's release notes name them <yyyymmdd>.v<n>), never latest.
    assert re.fullmatch(r"mcr\.microsoft\.com/azureml/openmpi4\.1\.0-ubuntu22\.04:\d{8}\.v\d+",
                        job.environment.image), job.environment.image
    assert job.environment.conda_file["name"] == "autopilot-retrain"


def test_job_environment_pins_the_services_versions():
    """A model trained in the job loads in the service, and the champion the service saved
    loads in the job, only with the same scikit-learn (and what it pickles with)."""
    service = _pins((ROOT / "requirements.txt").read_text().splitlines())
    tested = _pins((ROOT / "requirements-dev.txt").read_text().splitlines())
    conda = yaml.safe_load((ROOT / "jobs" / "environment.yml").read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict) and "pip" in d)
    job = _pins(pip)

    for name in PINNED_WITH_THE_SERVICE:
        assert job.get(name) == service[name], name
    # and whatever else both pin agrees too (mltable: the reader the tests use)
    everywhere = {**tested, **service}
    assert {n: v for n, v in job.items() if n in everywhere} == {
        n: everywhere[n] for n in job if n in everywhere
    }
    assert "mltable" in job and "mlflow" in job and "azureml-mlflow" in job
    assert "python=3.11" in conda["dependencies"]


def test_amlignore_uploads_the_source_and_nothing_local():
    """The code snapshot, as the SDK filters it before uploading (`code: ..` is the repo root)."""
    from azure.ai.ml._utils._asset_utils import get_ignore_file

    ignore = get_ignore_file(ROOT)
    assert Path(ignore.path) == ROOT / ".amlignore"
    for needed in ("jobs/train.py", "jobs/environment.yml", "core/__init__.py",
                   "core/training.py", "core/domain/assets.py", "core/azure_retraining.py"):
        assert not ignore.is_file_excluded(str(ROOT / needed)), needed
    for kept_out in (".venv/lib/python3.11/site-packages/numpy/__init__.py",
                     ".venv313/bin/python", ".python_packages/lib/site-packages/x.py",
                     "node_modules/azurite/package.json", ".git/HEAD", ".demo/state.json",
                     ".azurite/__blobstorage__/x", ".local-workspace/data/x.yml",
                     "core/__pycache__/training.cpython-311.pyc", "tests/conftest.py",
                     "benchmarks/drift.py", "local.settings.json", "function_app.py"):
        assert ignore.is_file_excluded(str(ROOT / kept_out)), kept_out


# ------------------------------------------------------------------ the script


@pytest.fixture
def job_inputs(tmp_path):
    """Folders as the job gets them: two MLTable assets and a champion saved by the service."""
    ws = LocalWorkspace(tmp_path / "workspace")

    def register(name, table):
        csv = tmp_path / f"{name}.csv"
        csv.write_bytes(to_csv_bytes(table))
        return ws.register_file_version(name, "1", csv, tags={})

    reference = transactions(3000, seed=1)
    training = register("fraud-training", reference)
    inference = register("fraud-inference", transactions(2000, seed=5, drift="concept"))
    champion = tmp_path / "champion"
    train(reference, TrainingSpec(target=TARGET, features=FEATURES, n_estimators=50)).save(champion)
    return {"training_data": training.path, "inference_data": inference.path,
            "champion_model": str(champion), "model_output": str(tmp_path / "out" / "model")}


def _run(inputs: dict, *extra: str, pythonpath: Path | None = None,
         env: dict | None = None) -> subprocess.CompletedProcess:
    args = [f"--{name}={value}" for name, value in inputs.items()]
    path = [str(p) for p in (pythonpath, ROOT) if p] + [os.environ.get("PYTHONPATH", "")]
    # Not inside a tracked run unless a test says so: the script must not reach for MLflow.
    base = {k: v for k, v in os.environ.items()
            if k not in ("MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI")}
    env = {**base, "PYTHONPATH": os.pathsep.join(filter(None, path)), **(env or {})}
    return subprocess.run([sys.executable, str(SCRIPT), *args, *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def _mlflow_stand_in(folder: Path) -> Path:
    """An `mlflow` module that records set_tag calls in $TAGS_FILE (MLflow is not installed
    here, and a real one would want a tracking server)."""
    folder.mkdir()
    (folder / "mlflow.py").write_text(
        "import json, os\n"
        "def set_tag(key, value):\n"
        "    with open(os.environ['TAGS_FILE'], 'a') as f:\n"
        "        f.write(json.dumps([key, value]) + '\\n')\n"
    )
    return folder


def test_train_script_writes_a_challenger_that_beats_the_champion(job_inputs, tmp_path):
    tags_file = tmp_path / "tags.jsonl"
    # As inside an Azure ML job, where MLFLOW_RUN_ID names the job's run.
    result = _run(job_inputs, pythonpath=_mlflow_stand_in(tmp_path / "stub"),
                  env={"MLFLOW_RUN_ID": "run-1", "TAGS_FILE": str(tags_file)})

    assert result.returncode == 0, result.stderr
    output = Path(job_inputs["model_output"])
    challenger = TrainedModel.load(output)  # the service can load what the job wrote
    assert challenger.spec.target == TARGET and challenger.spec.features == FEATURES
    assert challenger.spec.n_estimators == 50  # the champion's, unless told otherwise

    scores = json.loads((output / "autopilot-scores.json").read_text())
    assert set(scores["champion"]) == set(scores["challenger"]) == set(METRICS["classification"])
    # 30% of the 2000 labelled recent rows held out; the rest joins the 3000 reference rows.
    assert scores["holdout_rows"] == 600
    assert scores["training_rows"] == 3000 + 1400
    # Concept drift: the champion's rules no longer hold; the challenger learnt the new ones.
    assert scores["challenger"]["f1"] > scores["champion"]["f1"]

    summary = result.stdout.strip().splitlines()
    assert len(summary) == 1
    assert summary[0].startswith("retrained on 4400 rows, holdout 600 rows: champion ")
    assert f"f1={scores['challenger']['f1']:.4f}" in summary[0]

    # The run tags the service judges by, when the job completes.
    tags = dict(json.loads(line) for line in tags_file.read_text().splitlines())
    assert {key: json.loads(value) for key, value in tags.items()} == {
        PROP_CHAMPION: scores["champion"], PROP_CHALLENGER: scores["challenger"],
        "autopilot.rows": {"training": 4400, "holdout": 600}}


def test_train_script_reads_data_folders_and_files(job_inputs, tmp_path):
    """Robustness beyond MLTable folders: a plain folder of CSV files, or a single file."""
    training_csv = next(Path(job_inputs["training_data"]).glob("*.csv"))
    inference_folder = tmp_path / "inference-files"
    inference_folder.mkdir()
    for i, seed in enumerate((5, 6)):
        (inference_folder / f"part-{i}.csv").write_bytes(
            to_csv_bytes(transactions(300, seed=seed, drift="concept")))

    result = _run({**job_inputs, "training_data": str(training_csv),
                   "inference_data": str(inference_folder)}, "--n_estimators=20")

    assert result.returncode == 0, result.stderr
    scores = json.loads((Path(job_inputs["model_output"]) / "autopilot-scores.json").read_text())
    assert scores["holdout_rows"] == 180 and scores["training_rows"] == 3000 + 420
    assert TrainedModel.load(Path(job_inputs["model_output"])).spec.n_estimators == 20


def test_train_script_refuses_too_few_labelled_rows(job_inputs, tmp_path):
    ws = LocalWorkspace(tmp_path / "workspace")
    batch = transactions(200, seed=7)
    # 19 rows carry a label, the rest arrived without one
    labels = [v if i < 19 else None for i, v in enumerate(batch.column(TARGET).to_pylist())]
    batch = batch.set_column(batch.schema.get_field_index(TARGET), TARGET,
                             pa.array(labels, type=pa.int64()))
    csv = tmp_path / "few-labels.csv"
    csv.write_bytes(to_csv_bytes(batch))
    few = ws.register_file_version("fraud-inference", "2", csv, tags={})

    result = _run({**job_inputs, "inference_data": few.path})

    assert result.returncode != 0
    assert "not enough labelled production data" in result.stderr
    assert "19 rows with a 'is_fraud' value; need 20" in result.stderr
    assert not Path(job_inputs["model_output"]).exists()


def test_train_script_refuses_a_batch_without_the_target(job_inputs, tmp_path):
    csv = tmp_path / "unlabelled.csv"
    csv.write_bytes(to_csv_bytes(transactions(500, seed=8, with_label=False)))

    result = _run({**job_inputs, "inference_data": str(csv)})

    assert result.returncode != 0
    assert "(0 rows with a 'is_fraud' value; need 20)" in result.stderr


def _uri_mltable(folder: Path, uri: str) -> str:
    """An MLTable as the service registers an inference batch on Azure: pointing at its blob
    by URI (azureml://datastores/...), not at a file beside it."""
    folder.mkdir()
    (folder / "MLTable").write_text(yaml.safe_dump(MLTable(paths=(uri,)).to_dict()))
    return str(folder)


def test_train_script_reads_mltables_of_uris_with_the_mltable_package(job_inputs, tmp_path):
    """The same table, types included, as from the MLTable with a relative path: the package
    only resolves the URI (a file:// one here; azureml:// ones need a workspace)."""
    pytest.importorskip("mltable")
    spec = importlib.util.spec_from_file_location("retrain_job_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    relative = Path(job_inputs["inference_data"])
    csv = next(relative.glob("*.csv"))

    by_uri = script.read_table(Path(_uri_mltable(tmp_path / "by-uri", csv.resolve().as_uri())))

    assert by_uri.equals(script.read_table(relative))
    assert by_uri.schema.field(TARGET).type == pa.int64()  # not mltable's inferred boolean


def test_train_script_names_the_package_datastore_uris_need(job_inputs, tmp_path):
    blocked = tmp_path / "no-mltable"
    blocked.mkdir()
    (blocked / "mltable.py").write_text("raise ImportError('not installed')\n")
    uri = _uri_mltable(tmp_path / "on-azure", "azureml://datastores/ds/paths/fraud/batch.csv")

    result = _run({**job_inputs, "inference_data": uri}, pythonpath=blocked)

    assert result.returncode != 0
    assert "needs the mltable package" in result.stderr
