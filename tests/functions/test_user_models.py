"""Models the service did not train, through the registered entry points on Azurite and the
local workspace: written by the libraries themselves (`mlflow.sklearn.save_model` with a
signature, `joblib.dump` of a pipeline fitted on a DataFrame, `pickle` of an estimator fitted on
arrays), data-collector files without labels, and a retraining (the local job runner running
jobs/retrain.yml) that registers a challenger in the champion's format. Then the bad models and
bad jobs, each with its recorded reason."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import joblib
import pytest

from devtools.synthetic import FEATURES, TARGET, to_csv_bytes, transactions
from tests.samples import collector_record, jsonl

MODEL = "fraud"
MONITOR = f"{MODEL}-monitor"
NUMERIC = ("amount", "hour", "card_present", "distance_km")
CATEGORICAL = ("merchant_category", "country")
FIXTURES = Path(__file__).resolve().parents[1] / "integration" / "fixtures"


@pytest.fixture
def svc(app_env, monkeypatch):
    from core.bootstrap import reset_services, services

    monkeypatch.setenv("EARLY_DRIFT_CHECK", "false")  # retraining is asked for by hand here
    reset_services()
    return services()


@pytest.fixture
def reference(svc, tmp_path):
    table = transactions(3000, seed=1)
    path = tmp_path / "reference.csv"
    path.write_bytes(to_csv_bytes(table))
    svc.workspace.register_file_version(f"{MODEL}-training", "1", path, tags={})
    return table


def _pipeline(features=FEATURES, n_estimators=40):
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    categorical = [c for c in features if c in CATEGORICAL]
    return make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), categorical),
                                remainder="passthrough"),
        RandomForestClassifier(n_estimators=n_estimators, random_state=0))


def mlflow_model(reference, folder: Path, *, serialization="cloudpickle", features=FEATURES,
                 frame=None) -> Path:
    """As a user's training script saves it: an MLflow sklearn model with a signature."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    frame = reference.to_pandas() if frame is None else frame
    pipeline = _pipeline(features).fit(frame[list(features)], frame[TARGET])
    extra = {"skops_trusted_types": ["sklearn.tree._tree.Tree"]} \
        if serialization == "skops" else {}
    mlflow.sklearn.save_model(
        pipeline, str(folder), serialization_format=serialization,
        signature=infer_signature(frame[list(features)], frame[TARGET]),
        pip_requirements=["scikit-learn"], **extra)
    return folder


def joblib_pipeline(reference, folder: Path) -> Path:
    """As the Azure ML monitoring walkthroughs do: fitted on a DataFrame, `rf_model.joblib`."""
    frame = reference.to_pandas()
    folder.mkdir()
    joblib.dump(_pipeline().fit(frame[list(FEATURES)], frame[TARGET]),
                folder / "rf_model.joblib")
    (folder / "score.py").write_text("# the team's scoring script, kept with the model\n")
    return folder


def array_estimator(reference, folder: Path) -> Path:
    """A plain estimator fitted on arrays (no feature names), pickled."""
    from sklearn.ensemble import RandomForestClassifier

    frame = reference.to_pandas()
    rf = RandomForestClassifier(n_estimators=30, random_state=0)
    rf.fit(frame[list(NUMERIC)].to_numpy(), frame[TARGET].to_numpy())
    folder.mkdir()
    with open(folder / "model.pkl", "wb") as f:
        pickle.dump(rf, f)
    return folder


def upload(svc, host, app_env, name: str, content: bytes):
    container = app_env["INFERENCE_CONTAINER"]
    svc.blob_store.upload(container, f"{MODEL}/{name}", content)
    result = host.blob(f"{container}/{MODEL}/{name}")
    assert result.ok, result.error
    return next(r for r in svc.ledger.list(model=MODEL) if r.blob.name == f"{MODEL}/{name}")


def collector_inputs(table, *, hour: int = 10) -> tuple[str, bytes]:
    """model_inputs as Azure ML's data collector writes them: no label column."""
    rows = (table.drop_columns([TARGET]) if TARGET in table.column_names else table).to_pylist()
    records = [collector_record(rows[i:i + 50], correlationid=f"c-{i}")
               for i in range(0, len(rows), 50)]
    return f"fraud-ep/blue/model_inputs/2026/11/23/{hour:02d}/part-0.jsonl", jsonl(*records)


def retrain(host) -> dict:
    response = host.http("POST", f"/api/models/{MODEL}/retrain", {"reason": "test",
                                                                  "force": True})
    assert response.status_code == 202, response.get_body()
    [result] = host.drain_retrain()
    assert result.ok, result.error
    return json.loads(host.http("GET", f"/api/models/{MODEL}/retraining").get_body())[
        "retraining"][0]


@pytest.fixture
def host(app_env):
    from devtools.invoke import LocalHost

    class Host(LocalHost):
        def drain_retrain(self):
            from core.bootstrap import services

            return self.drain(services().settings.retrain_queue)

    return Host()


def monitor(host) -> dict:
    return json.loads(host.http("GET", f"/api/models/{MODEL}/monitor").get_body())


# ------------------------------------------------------------------ each format, end to end


FORMATS = {
    "mlflow": (lambda ref, folder: mlflow_model(ref, folder), {}, "mlflow_model"),
    "mlflow-skops": (lambda ref, folder: mlflow_model(ref, folder, serialization="skops"), {},
                     "mlflow_model"),
    "joblib-dataframe": (joblib_pipeline, {}, "custom_model"),
    "pickle-arrays": (array_estimator, {"autopilot.target": TARGET,
                                        "autopilot.features": ",".join(NUMERIC)},
                      "custom_model"),
}


@pytest.mark.parametrize("kind", list(FORMATS))
def test_a_users_model_is_monitored_validated_and_retrained_in_its_format(
        kind, svc, host, app_env, reference, tmp_path, monkeypatch):
    save, model_tags, model_type = FORMATS[kind]
    if kind == "pickle-arrays":
        # Numbers alone miss where the fraud moved (a category): its challenger wins on
        # accuracy, not on F1. The gate metric is the operator's choice.
        svc.retrainer.config = replace(svc.retrainer.config, primary_metric="accuracy")
    folder = save(reference, tmp_path / "model")
    v1 = svc.workspace.register_model(MODEL, folder, tags=model_tags, model_type=model_type)

    # Registration described the model (cached for ingestion) and aimed the monitor at it.
    state = monitor(host)
    described = state["model_description"]
    features = NUMERIC if kind == "pickle-arrays" else FEATURES
    assert tuple(described["features"]) == features and described["target"] == TARGET
    assert described["task"] == "classification"
    assert state["retraining"] == {"available": True, "problem": None, "reason": None}

    # Data-collector inputs without labels: valid (the model does not take the label).
    name, content = collector_inputs(transactions(400, seed=2, with_label=False))
    record = upload(svc, host, app_env, name, content)
    assert record.status == "registered", record.rejection
    spec = svc.workspace.get_monitor(MONITOR)
    assert spec.features == features and spec.model_version == "1"
    assert str(spec.production_data) == f"{MODEL}-inference:1"

    # Ground truth for a drifted batch arrives as a labelled CSV batch: what retraining learns.
    upload(svc, host, app_env, "labelled.csv",
           to_csv_bytes(transactions(3000, seed=5, drift="concept")))
    request = retrain(host)

    assert request["status"] == "registered", request
    assert request["labelled_data"] == f"azureml:{MODEL}-inference:2"
    assert request["champion_format"] == described["format"]
    v2 = svc.workspace.get_model(MODEL, request["new_version"])
    assert (v2.version, v2.type) == ("2", v1.type)
    assert v2.tags["autopilot.parent_version"] == "1"
    assert v2.tags["autopilot.job"] == request["job"]
    for tag, value in model_tags.items():  # the champion's overrides carry over
        assert v2.tags[tag] == value
    files = sorted(p.name for p in Path(v2.path).iterdir())
    if kind.startswith("mlflow"):
        assert "MLmodel" in files
        assert ("model.skops" if kind == "mlflow-skops" else "model.pkl") in files
    elif kind == "joblib-dataframe":
        assert {"rf_model.joblib", "score.py"} <= set(files)
    else:
        assert "model.pkl" in files
    # The challenger is read back as the champion was, and the monitor re-aimed at it.
    assert svc.models.describe(v2).features == features
    spec = svc.workspace.get_monitor(MONITOR)
    assert (spec.model_version, str(spec.reference_data)) == ("2", f"{MODEL}-training:2")
    assert spec.features == features


def test_label_columns_is_an_override_not_a_requirement(svc, host, app_env, reference, tmp_path,
                                                        monkeypatch):
    """Without a model, LABEL_COLUMNS still lets unlabelled files in; with one, the model's
    features decide and the setting is not needed."""
    name, content = collector_inputs(transactions(100, seed=2, with_label=False))
    assert upload(svc, host, app_env, name, content).status == "rejected"  # no model yet
    svc.workspace.register_model(MODEL, joblib_pipeline(reference, tmp_path / "m"))
    name, content = collector_inputs(transactions(100, seed=3, with_label=False), hour=11)
    assert upload(svc, host, app_env, name, content).status == "registered"
    # A file without a feature the model takes is still refused, naming it.
    bad = upload(svc, host, app_env, "no-amount.csv",
                 to_csv_bytes(transactions(50, seed=4).drop_columns(["amount"])))
    assert bad.status == "rejected" and bad.rejection.code == "missing_columns"
    assert "amount" in bad.rejection.message


def test_the_description_is_cached_so_ingestion_loads_no_model(svc, host, app_env, reference,
                                                               tmp_path):
    svc.workspace.register_model(MODEL, mlflow_model(reference, tmp_path / "m"))
    key = f"model-inspection/{MODEL}/1.json"
    cached = json.loads(svc.artifacts.get_artifact(key))
    assert cached["format"] == "mlflow" and cached["flavor"] == "sklearn"
    assert cached["signature_outputs"] == [TARGET]

    class NoLoader:
        def inspect(self, folder):
            raise AssertionError("ingestion must read the cached description")

    svc.__dict__["model_loader"] = NoLoader()
    name, content = collector_inputs(transactions(100, seed=2, with_label=False))
    assert upload(svc, host, app_env, name, content).status == "registered"


# ------------------------------------------------------------------ bad models


def _empty(reference, folder: Path) -> Path:
    folder.mkdir()
    (folder / "README.md").write_text("the model is elsewhere\n")
    return folder


def _not_an_estimator(reference, folder: Path) -> Path:
    folder.mkdir()
    joblib.dump({"weights": [0.1, 0.2]}, folder / "model.joblib")
    return folder


def _unscorable_flavor(reference, folder: Path) -> Path:
    """An MLflow model of a library this service does not run (the sklearn flavour taken out
    of a real MLmodel file, as a PyTorch model's would have only its own)."""
    import yaml

    mlflow_model(reference, folder)
    meta = yaml.safe_load((folder / "MLmodel").read_text())
    meta["flavors"] = {"pytorch": {"model_data": "data", "pytorch_version": "2.5.0"}}
    (folder / "MLmodel").write_text(yaml.safe_dump(meta))
    return folder


def _signature_mismatch(reference, folder: Path) -> Path:
    frame = reference.to_pandas()
    frame["segment"] = (frame["amount"] > 50).astype(int)  # a column the reference lacks
    return mlflow_model(reference, folder, features=(*NUMERIC, "segment"), frame=frame)


def _corrupt_pickle(reference, folder: Path) -> Path:
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"\x80\x04not really a pickle")
    return folder


BAD_MODELS = {
    "no model file": (_empty, "no_model_files", "no model in the folder"),
    "pickle of a non-estimator": (_not_an_estimator, "not_an_estimator", "builtins.dict"),
    "mlflow flavour we cannot score": (_unscorable_flavor, "unsupported_flavor", "pytorch"),
    "signature disagrees with the reference": (_signature_mismatch, "signature_mismatch",
                                               "segment"),
    "corrupt pickle": (_corrupt_pickle, "model_unloadable", "model.pkl"),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_a_model_that_cannot_be_read_is_monitored_and_says_why_it_cannot_be_retrained(
        case, svc, host, app_env, reference, tmp_path):
    save, problem, words = BAD_MODELS[case]
    svc.workspace.register_model(MODEL, save(reference, tmp_path / "model"),
                                 tags={"autopilot.target": TARGET})
    batch = transactions(500, seed=5)  # carrying every column any of these models takes
    batch = batch.append_column("segment", batch.column("hour"))
    upload(svc, host, app_env, "labelled.csv", to_csv_bytes(batch))

    state = monitor(host)
    assert state["status"] == "active" and state["exists"]  # drift needs no model
    assert state["retraining"]["available"] is False
    assert state["retraining"]["problem"] == problem
    assert words in state["retraining"]["reason"]
    listed = json.loads(host.http("GET", "/api/monitors").get_body())
    assert listed["monitors"][0]["retraining"]["problem"] == problem

    request = retrain(host)
    assert request["status"] == "rejected" and request["code"] == "champion_unreadable"
    assert request["problem"] == problem and words in request["decision"]
    assert "job" not in request or request["job"] is None  # no job spent on it
    assert [v.version for v in svc.workspace.list_model_versions(MODEL)] == ["1"]
    assert svc.retrain_poison_queue.peek() == []  # final, not a crash loop


def test_a_python_function_model_is_scored_but_not_refitted(svc, host, app_env, reference,
                                                            tmp_path):
    import mlflow.pyfunc

    mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=_AlwaysZero(),
                             pip_requirements=["pandas"])
    svc.workspace.register_model(MODEL, tmp_path / "m", tags={"autopilot.target": TARGET},
                                 model_type="mlflow_model")
    state = monitor(host)
    assert state["retraining"]["problem"] == "not_refittable"
    assert state["model_description"]["format"] == "mlflow"
    assert state["model_description"]["flavor"] == "python_function"


class _AlwaysZero:  # an mlflow.pyfunc.PythonModel without subclassing (duck-typed by MLflow)
    def __new__(cls):
        import mlflow.pyfunc

        class AlwaysZero(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return [0] * len(model_input)

        return AlwaysZero()


def test_a_model_without_enough_labelled_data_is_rejected_by_the_job(svc, host, app_env,
                                                                     reference, tmp_path):
    svc.workspace.register_model(MODEL, joblib_pipeline(reference, tmp_path / "m"))
    upload(svc, host, app_env, "few.csv", to_csv_bytes(transactions(12, seed=5)))
    request = retrain(host)
    assert request["status"] == "rejected" and request["code"] == "not_enough_labels"
    assert "need 20" in request["decision"] and request["job"]
    assert [v.version for v in svc.workspace.list_model_versions(MODEL)] == ["1"]


def test_no_labelled_data_at_all_is_rejected_before_any_job(svc, host, app_env, reference,
                                                            tmp_path):
    svc.workspace.register_model(MODEL, joblib_pipeline(reference, tmp_path / "m"))
    name, content = collector_inputs(transactions(100, seed=2, with_label=False))
    upload(svc, host, app_env, name, content)
    request = retrain(host)
    assert request["status"] == "rejected" and request["code"] == "not_enough_labels"
    assert "carries the target 'is_fraud'" in request["decision"]
    assert not (Path(app_env["LOCAL_WORKSPACE_DIR"]) / "jobs").exists()


# ------------------------------------------------------------------ a user's own job


@pytest.fixture
def users_job(svc, monkeypatch, reference, tmp_path, host, app_env):
    """RETRAIN_JOB_FILE pointing at a team's own command job; a joblib champion on the numeric
    columns (the target named by its tag: the model takes only some reference columns)."""
    from sklearn.ensemble import RandomForestClassifier

    from core.bootstrap import reset_services, services

    monkeypatch.setenv("RETRAIN_JOB_FILE", str(FIXTURES / "user_job" / "job.yml"))
    reset_services()
    svc = services()
    frame = reference.to_pandas()
    folder = tmp_path / "champion"
    folder.mkdir()
    joblib.dump(RandomForestClassifier(n_estimators=20, random_state=0).fit(
        frame[list(NUMERIC)], frame[TARGET]), folder / "model.joblib")
    svc.workspace.register_model(MODEL, folder, tags={"autopilot.target": TARGET})
    upload(svc, host, app_env, "labelled.csv",
           to_csv_bytes(transactions(3000, seed=5, drift="concept")))
    return svc


def _with_mode(tmp_path: Path, mode: str) -> str:
    text = (FIXTURES / "user_job" / "job.yml").read_text().replace("mode: normal",
                                                                   f"mode: {mode}")
    path = FIXTURES / "user_job" / f".job-{mode}-{tmp_path.name}.yml"
    path.write_text(text)
    return str(path)


def test_a_users_own_job_runs_through_the_same_contract(users_job, host):
    # The team's job scores accuracy and F1 on numbers only; it wins on accuracy.
    users_job.retrainer.config = replace(users_job.retrainer.config, primary_metric="accuracy")
    request = retrain(host)
    assert request["status"] == "registered", request
    assert set(request["challenger_scores"]) == {"accuracy", "f1"}
    v2 = users_job.workspace.get_model(MODEL, "2")
    assert (Path(v2.path) / "model.joblib").is_file()
    assert v2.tags["autopilot.target"] == TARGET


@pytest.mark.parametrize("mode, status, code, words", [
    ("crash", "failed", "job_failed", "the training cluster ran out of memory"),
    ("no-scores", "failed", "no_scores", "autopilot.challenger_scores"),
])
def test_a_job_that_fails_or_reports_nothing_is_final_and_registers_nothing(
        users_job, host, monkeypatch, tmp_path, mode, status, code, words):
    from core.bootstrap import reset_services, services

    path = _with_mode(tmp_path, mode)
    try:
        monkeypatch.setenv("RETRAIN_JOB_FILE", path)
        reset_services()
        request = retrain(host)
    finally:
        Path(path).unlink()
    assert (request["status"], request["code"]) == (status, code), request
    assert words in request["decision"]
    assert [v.version for v in services().workspace.list_model_versions(MODEL)] == ["1"]
    assert services().retrain_poison_queue.peek() == []
    assert services().retraining.gate(MODEL)["open_request"] is None


def test_a_job_definition_that_cannot_run_is_a_recorded_failure(users_job, host, monkeypatch,
                                                                tmp_path):
    from core.bootstrap import reset_services

    pipeline = tmp_path / "pipeline.yml"
    pipeline.write_text((FIXTURES / "retrain_pipeline_job.yml").read_text())
    monkeypatch.setenv("RETRAIN_JOB_FILE", str(pipeline))
    reset_services()
    request = retrain(host)
    assert (request["status"], request["code"]) == ("failed", "job_invalid")
    assert "command jobs only" in request["decision"]
