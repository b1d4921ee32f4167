"""Ground truth that arrives later, through the registered entry points on Azurite and the
local workspace: data-collector `model_inputs` (no labels) and `model_outputs` files keep
their rows' correlation ids, ground truth files (`<model>/ground_truth/...`) join them by id
into versions of `<model>-labelled`, whichever arrives first, and each labelled version gets
the champion's realised metrics (scored through the model port), a threshold whose breach is
an alert, and Azure's model performance signal on the monitor (computed by the local monitor
run). Then the bad input: unknown and duplicate ids, labels of the wrong type, a file without
the id column, labels before the model."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from devtools.synthetic import FEATURES, TARGET, to_csv_bytes, transactions
from tests.functions.test_user_models import mlflow_model
from tests.samples import collector_record, jsonl

MODEL = "fraud"
MONITOR = f"{MODEL}-monitor"
PER_RECORD = 25  # rows per collector record: the collector batches requests


@pytest.fixture
def svc(app_env):
    from core.bootstrap import reset_services, services

    reset_services()
    return services()


@pytest.fixture
def reference(svc, tmp_path):
    table = transactions(3000, seed=1)
    path = tmp_path / "reference.csv"
    path.write_bytes(to_csv_bytes(table))
    svc.workspace.register_file_version(f"{MODEL}-training", "1", path, tags={})
    return table


@pytest.fixture
def champion(svc, reference, tmp_path):
    """The team's MLflow model, with a performance threshold Azure's signal can evaluate
    (accuracy) and one only ours does (F1), both far out of reach of the drifted data."""
    folder = mlflow_model(reference, tmp_path / "mlflow-model")
    return svc.workspace.register_model(
        MODEL, folder, model_type="mlflow_model",
        tags={"autopilot.performance_threshold": "f1=0.9,accuracy=0.99"})


def drop(svc, host, app_env, name: str, content: bytes):
    container = app_env["INFERENCE_CONTAINER"]
    svc.blob_store.upload(container, f"{MODEL}/{name}", content)
    result = host.blob(f"{container}/{MODEL}/{name}")
    assert result.ok, result.error
    return next(r for r in svc.ledger.list(model=MODEL) if r.blob.name == f"{MODEL}/{name}")


def collector(table, collection: str, *, hour: int, prefix: str) -> tuple[str, bytes]:
    """A collector file of `table`'s rows, PER_RECORD rows a record, each record keyed by
    its own correlation id `<prefix>-<n>`."""
    rows = table.to_pylist()
    records = [collector_record(rows[i:i + PER_RECORD], correlationid=f"{prefix}-{i}",
                                type=f"azureml.inference.{collection}")
               for i in range(0, len(rows), PER_RECORD)]
    return (f"fraud-ep/blue/{collection}/2026/11/23/{hour:02d}/part-0.jsonl", jsonl(*records))


def row_ids(n: int, prefix: str) -> list[str]:
    """The ids Azure's model performance monitoring gives those rows."""
    return [f"{prefix}-{i - i % PER_RECORD}_{i % PER_RECORD}" for i in range(n)]


def ground_truth_csv(ids, labels) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["correlationid", TARGET, "labelled_by"])
    for row_id, label in zip(ids, labels, strict=True):
        writer.writerow([row_id, label, "chargeback-feed"])
    return out.getvalue().encode()


def labelled_rows(svc, version: str):
    asset = svc.workspace.get_data(f"{MODEL}-labelled", version)
    return asset, svc.workspace.read_table(asset)


def test_collected_inputs_and_later_ground_truth_become_labelled_data_with_performance(
        svc, host, app_env, champion):
    batch = transactions(500, seed=7, drift="concept")
    inputs = batch.drop_columns([TARGET])
    ids = row_ids(batch.num_rows, "req")

    # model_inputs, no labels: each row keeps the id Azure gives it, as a column.
    name, content = collector(inputs, "model_inputs", hour=10, prefix="req")
    record = drop(svc, host, app_env, name, content)
    assert record.status == "registered" and record.asset_name == f"{MODEL}-inference"
    assert "correlationid" in record.columns and "correlationid" not in record.extra_columns
    assert record.labels["counts"] == {"inputs": 500}
    stored = svc.workspace.read_table(svc.workspace.get_data(f"{MODEL}-inference", "1"))
    assert stored.column("correlationid").to_pylist()[:3] == ids[:3]
    assert svc.workspace.get_data(f"{MODEL}-inference", "1").tags["correlation_column"] == \
        "correlationid"
    # The monitor watches the model's features, not the id.
    assert svc.workspace.get_monitor(MONITOR).features == FEATURES

    # model_outputs: the deployment's predictions, logged under the same correlation ids.
    predicted = [0] * batch.num_rows  # a model that never flags fraud
    import pyarrow as pa

    outputs = pa.table({TARGET: predicted})
    name, content = collector(outputs, "model_outputs", hour=10, prefix="req")
    out_record = drop(svc, host, app_env, name, content)
    assert out_record.asset_name == f"{MODEL}-outputs"
    assert out_record.labels["counts"] == {"outputs": 500}

    # The ground truth arrives later: 400 of the rows, plus what real feeds hold: an unknown
    # id, the same id twice (once with another value), a row without a label.
    truth = batch.column(TARGET).to_pylist()
    labels = [(ids[i], truth[i]) for i in range(400)]
    labels += [("never-collected_0", 1), (ids[0], truth[0]), (ids[1], 1 - truth[1]),
               (ids[450], "")]
    gt = drop(svc, host, app_env, "ground_truth/2026-11-24/chargebacks.csv",
              ground_truth_csv([i for i, _ in labels], [v for _, v in labels]))
    assert gt.status == "registered"
    assert (gt.asset_name, gt.asset_version) == (f"{MODEL}-labelled", "1")
    assert gt.labels["counts"] == {"labels": 404, "joined": 400, "waiting": 1,
                                   "duplicates": 2, "conflicting": 1, "empty": 1}
    assert gt.labels["labelled_data"] == f"{MODEL}-labelled:1"

    asset, table = labelled_rows(svc, "1")
    assert asset.tags["labelled_rows"] == "400" and asset.tags["row_count"] == "400"
    assert set(table.column_names) == {*FEATURES, TARGET, "correlationid",
                                       f"predicted_{TARGET}"}
    by_id = {r["correlationid"]: r for r in table.to_pylist()}
    assert by_id[ids[7]][TARGET] == truth[7]
    assert by_id[ids[7]]["amount"] == pytest.approx(inputs.column("amount")[7].as_py())
    assert by_id[ids[1]][TARGET] == truth[1]  # the first label for an id stays

    # The champion's realised metrics on that version, beside the drift results.
    perf = gt.performance
    assert perf["labelled_data"] == f"{MODEL}-labelled:1" and perf["model_version"] == "1"
    assert perf["rows"] == 400 and perf["task"] == "classification"
    assert set(perf["metrics"]) == {"accuracy", "precision", "recall", "f1", "auc"}
    assert perf["thresholds"] == {"f1": 0.9, "accuracy": 0.99}
    assert perf["breached"] and {b["metric"] for b in perf["breaches"]} == {"f1", "accuracy"}
    # The logged predictions (all 0) are scored too: they never find a fraud.
    assert perf["logged_metrics"]["recall"] == 0.0
    full = json.loads(svc.artifacts.get_artifact(perf["result"]))
    assert full["metrics"] == perf["metrics"] and full["model_format"] == "mlflow"
    # ...recomputed from the labelled rows, they are what we stored.
    from core.training.model import evaluate

    description = svc.models.describe(champion)
    model = svc.model_loader.load(svc.workspace.download_model(champion, Path("/nonexistent")),
                                  description)
    assert evaluate(model, table) == pytest.approx(perf["metrics"])

    # Its breach is an alert like a drift breach, through the same gate.
    alerts = [a for a in svc.retraining.alerts(MODEL)
              if a["evidence"]["source"] == "model_performance"]
    assert len(alerts) == 1
    assert alerts[0]["evidence"]["signal"] == "labelled_data_model_performance"
    assert alerts[0]["status"] in ("requested", "suppressed")

    # The admin API and the drift report show it.
    body = json.loads(host.http("GET", f"/api/models/{MODEL}/performance").get_body())
    assert body["latest"]["metrics"] == perf["metrics"] and body["count"] == 1
    assert body["ground_truth"]["waiting"] == 1
    files = {f["blob"]: f for f in body["ground_truth"]["files"]}
    assert files[f"{app_env['INFERENCE_CONTAINER']}/{MODEL}/ground_truth/2026-11-24/"
                 "chargebacks.csv"]["counts"]["joined"] == 400
    report = host.http("GET", f"/api/models/{MODEL}/drift/report").get_body().decode()
    assert "Model performance on labelled data" in report and "below threshold" in report

    # The monitor gets Azure's model performance signal on the labelled version (accuracy:
    # the one threshold it evaluates), and the local run computes it as Azure does.
    spec = svc.workspace.get_monitor(MONITOR)
    assert spec.performance_data is not None and str(spec.performance_data) == \
        f"{MODEL}-labelled:1"
    assert spec.performance_thresholds == {"accuracy": 0.99}
    assert (spec.prediction_column, spec.target_column) == (f"predicted_{TARGET}", TARGET)
    run = json.loads(host.http("POST", f"/api/models/{MODEL}/monitor/run").get_body())["run"]
    signal = f"{MONITOR}_model_performance"
    assert run["signals"][signal] is True
    assert run["messages"][signal].startswith(f"The signal '{signal}' has failed")
    [breach] = [b for b in run["breaches"] if b["signal"] == signal]
    logged_accuracy = sum(t == 0 for t in truth[:400]) / 400
    assert breach["metric"] == "Accuracy" and breach["value"] == pytest.approx(logged_accuracy)
    monitor_alerts = [a for a in svc.retraining.alerts(MODEL)
                      if a["evidence"].get("signal") == signal]
    assert len(monitor_alerts) == 1  # delivered as Event Grid would, read as Azure's alert


def test_labels_that_arrive_before_their_inputs_wait_and_join_when_the_inputs_arrive(
        svc, host, app_env, champion):
    batch = transactions(200, seed=8)
    ids = row_ids(batch.num_rows, "early")
    truth = batch.column(TARGET).to_pylist()

    gt = drop(svc, host, app_env, "ground_truth/early.csv", ground_truth_csv(ids, truth))
    assert gt.status == "registered" and gt.asset_version is None
    assert gt.labels["counts"] == {"labels": 200, "waiting": 200}
    assert "wait for their inputs" in gt.error
    assert svc.workspace.latest_data(f"{MODEL}-labelled") is None

    name, content = collector(batch.drop_columns([TARGET]), "model_inputs", hour=11,
                              prefix="early")
    record = drop(svc, host, app_env, name, content)
    assert record.asset_name == f"{MODEL}-inference"
    assert record.labels["counts"] == {"inputs": 200, "completed": 200}
    assert record.labels["labelled_data"] == f"{MODEL}-labelled:1"
    assert record.performance["rows"] == 200 and "metrics" in record.performance
    _, table = labelled_rows(svc, "1")
    assert sorted(table.column("correlationid").to_pylist()) == sorted(ids)
    assert dict(zip(table.column("correlationid").to_pylist(), table.column(TARGET).to_pylist(),
                    strict=True)) == dict(zip(ids, truth, strict=True))
    assert sum(1 for _ in svc.ground_truth_store.waiting(MODEL)) == 0

    # The same labels again, from another feed: duplicates, nothing joined twice.
    again = drop(svc, host, app_env, "ground_truth/again.jsonl",
                 jsonl(*({"correlationid": i, TARGET: v} for i, v in zip(ids, truth,
                                                                          strict=True))))
    assert again.labels["counts"] == {"labels": 200, "duplicates": 200}
    assert again.asset_version is None and svc.workspace.latest_data(
        f"{MODEL}-labelled").version == "1"


def test_duplicate_inputs_keep_the_first_row_and_are_counted(svc, host, app_env, champion):
    batch = transactions(50, seed=9).drop_columns([TARGET])
    name, content = collector(batch, "model_inputs", hour=12, prefix="dup")
    drop(svc, host, app_env, name, content)
    other = name.replace("part-0", "part-1")
    again = drop(svc, host, app_env, other, content)  # another file, the same ids
    assert again.labels["counts"] == {"duplicate_inputs": 50}


def test_retraining_learns_from_the_labelled_data(svc, host, app_env, champion):
    batch = transactions(600, seed=10, drift="concept")
    ids = row_ids(batch.num_rows, "r")
    name, content = collector(batch.drop_columns([TARGET]), "model_inputs", hour=13, prefix="r")
    drop(svc, host, app_env, name, content)
    drop(svc, host, app_env, "ground_truth/r.csv",
         ground_truth_csv(ids, batch.column(TARGET).to_pylist()))
    # The drifted inputs' early check asked for it; the labels' performance breach found it
    # open (one request for both).
    [request] = svc.retraining.history(MODEL)
    assert request["trigger"] == "early_check"
    [performance] = [a for a in svc.retraining.alerts(MODEL)
                     if a["evidence"]["source"] == "model_performance"]
    assert performance["status"] == "suppressed" and request["request_id"] in \
        performance["reason"]
    results = host.drain(svc.settings.retrain_queue)
    assert [r.ok for r in results] == [True], [r.error for r in results]
    request = svc.retraining.history(MODEL)[0]
    assert request["labelled_data"] == f"azureml:{MODEL}-labelled:1"
    assert request["status"] == "registered", request
    assert request["training_rows"] == 3000 + 420 and request["holdout_rows"] == 180


@pytest.mark.parametrize("content, code, where", [
    (b"correlationid,is_fraud\nreq-0_0,1\nreq-0_1,maybe\n", "wrong_type", (3, "is_fraud")),
    (b"request,is_fraud\nreq-0_0,1\n", "missing_columns", (None, "correlationid")),
    (b"correlationid,fraud\nreq-0_0,1\n", "missing_columns", (None, "is_fraud")),
    (b'{"correlationid": "req-0_0", "is_fraud": "yes"}\n', "wrong_type", (1, "is_fraud")),
    (b'{"correlationid": "req-0_0", "is_fraud": 1\n', "malformed_json", (1, None)),
    (b"", "empty_file", (None, None)),
])
def test_bad_ground_truth_is_quarantined_with_its_reason(svc, host, app_env, champion,
                                                         content, code, where):
    name = "ground_truth/bad.jsonl" if content.startswith(b"{") else "ground_truth/bad.csv"
    record = drop(svc, host, app_env, name, content)
    assert record.status == "rejected" and record.rejection.code == code
    assert (record.rejection.line, record.rejection.column) == where
    assert record.quarantine_record
    assert svc.blob_store.properties(record.blob).etag  # the file stays where it was
    assert svc.workspace.latest_data(f"{MODEL}-labelled") is None
    assert sum(1 for _ in svc.ground_truth_store.waiting(MODEL)) == 0


def test_ground_truth_before_the_model_is_refused_then_replayed(svc, host, app_env, reference,
                                                                tmp_path):
    record = drop(svc, host, app_env, "ground_truth/too-soon.csv",
                  ground_truth_csv(["a_0", "b_0"], [1, 0]))
    assert record.status == "rejected" and record.rejection.code == "target_unknown"
    folder = mlflow_model(reference, tmp_path / "model")
    svc.workspace.register_model(MODEL, folder, model_type="mlflow_model")
    response = host.http("POST", f"/api/models/{MODEL}/ingestions/{record.ingestion_id}/replay")
    body = json.loads(response.get_body())
    assert response.status_code == 200, body
    assert body["ingestion"]["labels"]["counts"] == {"labels": 2, "waiting": 2}


def test_a_redelivered_ground_truth_file_counts_once(svc, host, app_env, champion):
    batch = transactions(60, seed=11)
    ids = row_ids(60, "x")
    name, content = collector(batch.drop_columns([TARGET]), "model_inputs", hour=14, prefix="x")
    drop(svc, host, app_env, name, content)
    path = f"{app_env['INFERENCE_CONTAINER']}/{MODEL}/ground_truth/x.csv"
    svc.blob_store.upload(app_env["INFERENCE_CONTAINER"], f"{MODEL}/ground_truth/x.csv",
                          ground_truth_csv(ids, batch.column(TARGET).to_pylist()))
    assert host.blob(path).ok and host.blob(path).ok  # Event Grid delivers twice
    [record] = [r for r in svc.ledger.list(model=MODEL) if r.blob.name.endswith("x.csv")]
    assert record.labels["counts"]["joined"] == 60
    assert [v.version for v in svc.workspace.list_data_versions(f"{MODEL}-labelled")] == ["1"]


def test_without_the_join_inputs_are_not_kept_and_ground_truth_is_refused(
        app_env, monkeypatch, host, reference, tmp_path):
    from core.bootstrap import reset_services, services

    monkeypatch.setenv("GROUND_TRUTH_JOIN", "false")
    reset_services()
    svc = services()
    svc.workspace.register_model(MODEL, mlflow_model(reference, tmp_path / "m"),
                                 model_type="mlflow_model")
    batch = transactions(30, seed=12).drop_columns([TARGET])
    name, content = collector(batch, "model_inputs", hour=15, prefix="off")
    record = drop(svc, host, app_env, name, content)
    assert record.status == "registered" and record.labels is None
    assert "correlationid" in record.columns  # the id still travels with the rows
    refused = drop(svc, host, app_env, "ground_truth/off.csv",
                   ground_truth_csv(row_ids(30, "off"), [0] * 30))
    assert refused.status == "rejected" and refused.rejection.code == "unsupported_path"
    assert "GROUND_TRUTH_JOIN" in refused.rejection.message
