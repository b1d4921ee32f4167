"""The whole loop on the local stack, through the same entry points the demo uses: baseline
model and its monitor, a clean and two drifted batches, the breach, exactly one retraining, the
challenger judged against the champion, the new version registered and the monitor re-aimed.
The assertions read the workspace, the ledger, the state table and the queues directly rather
than trusting the demo's own summary."""

from __future__ import annotations

import json
from pathlib import Path


def test_the_demo_loop_closes(app_env, tmp_path, monkeypatch):
    from core.bootstrap import reset_services, services
    from devtools import demo

    monkeypatch.delenv("LABEL_COLUMNS", raising=False)  # the model says what it takes
    reset_services()
    svc = services()
    lines: list[str] = []
    summary = demo.run(tmp_path, say=lines.append)
    model = demo.MODEL

    # The team's own MLflow model, described from its signature.
    v1 = svc.workspace.get_model(model, "1")
    assert v1.type == "mlflow_model" and (Path(v1.path) / "MLmodel").is_file()
    described = svc.models.describe(v1)
    assert (described.format, described.target) == ("mlflow", "is_fraud")
    assert described.sources["features"] == "MLflow signature inputs"

    # Three MLTable versions of collector inputs, none with labels; the bad file quarantined,
    # not lost.
    versions = svc.workspace.list_data_versions(f"{model}-inference")
    assert [v.version for v in versions] == ["1", "2", "3"]
    for version in versions:
        assert version.tags["layout"] == "collector_jsonl"
        assert "is_fraud" not in version.tags["columns"].split(",")
        assert version.tags["correlation_column"] == "correlationid"
    rejected = svc.ledger.list(model=model, status="rejected")
    assert len(rejected) == 1 and rejected[0].rejection.code == "missing_columns"
    assert svc.blob_store.properties(rejected[0].blob).etag  # still where it was uploaded

    # The ground truth arrived later and joined the inputs by correlation id: hour 11's after
    # its inputs (with one unknown id and one reported twice), hour 12's before them.
    labelled = svc.workspace.list_data_versions(f"{model}-labelled")
    assert [v.version for v in labelled] == ["1", "2"] == summary["labelled_versions"]
    assert [v.tags["labelled_rows"] for v in labelled] == ["1500", "2500"]
    records = {r.blob.name.rsplit("/", 1)[-1]: r for r in svc.ledger.list(model=model)}
    assert records["chargebacks.csv"].labels["counts"] == {
        "labels": 1502, "joined": 1500, "waiting": 1, "duplicates": 1}
    assert records["early-reports.jsonl"].labels["counts"] == {"labels": 2500, "waiting": 2500}
    hour_12 = next(r for r in svc.ledger.list(model=model) if "/12/" in r.blob.name)
    assert hour_12.labels["counts"] == {"inputs": 2500, "completed": 2500}
    # Each labelled version got the champion's realised metrics, below its threshold.
    for record in (records["chargebacks.csv"], hour_12):
        assert record.performance["model_version"] == "1" and record.performance["breached"]
        assert set(record.performance["metrics"]) == {"accuracy", "precision", "recall", "f1",
                                                      "auc"}
    assert summary["performance"]["count"] == 2
    assert summary["performance"]["ground_truth"]["waiting"] == 1

    # The clean batch (drawn like the training data) raised nothing under the calibrated
    # thresholds; the drifted ones breached data drift with the evidence in the result.
    inputs = sorted((r for r in svc.ledger.list(model=model, status="registered")
                     if r.asset_name == f"{model}-inference"), key=lambda r: r.asset_version)
    clean, *drifted = [svc.drift.load_result(r.drift["result"]) for r in inputs]
    assert not clean.breached and clean.policy["name"] == "calibrated"
    assert {s.status for s in clean.signals} <= {"ok", "warning"}
    for result in drifted:
        assert result.signal("data_drift").status == "breach"
        for _, m in result.breaches():
            assert m.threshold_source == "calibrated" and m.past_by > 0

    # Exactly one retraining, triggered by the first drifted batch's early check.
    requests = svc.retraining.history(model)
    assert len(requests) == 1
    [request] = requests
    assert request["trigger"] == "early_check" and request["status"] == "registered"
    # The job learnt from the newest labelled data (the collector inputs carry no labels).
    assert request["labelled_data"] == f"azureml:{model}-labelled:2"
    assert request["job"] and request["champion_format"] == "mlflow"
    performance_alerts = [a for a in svc.retraining.alerts(model)
                          if a["evidence"]["source"] == "model_performance"]
    assert len(performance_alerts) == 2 and all(a["status"] == "suppressed"
                                                for a in performance_alerts)
    statuses = sorted(a["status"] for a in svc.retraining.alerts(model))
    assert statuses.count("requested") == 1 and "suppressed" in statuses
    assert svc.retrain_queue.peek() == [] and svc.retrain_poison_queue.peek() == []

    # The monitor run emitted Azure's breach tag for the data drift signal.
    run = summary["monitor_run"]
    message = run["messages"][f"{model}-monitor_data_drift"]
    assert message.startswith(f"The signal '{model}-monitor_data_drift' has failed")
    # ...delivered as Event Grid would, and read back as Azure's monitor alerts.
    monitor_alerts = [a for a in svc.retraining.alerts(model)
                      if a["evidence"]["source"] == "azureml_monitor"]
    assert {a["evidence"]["signal"] for a in monitor_alerts} >= {
        f"{model}-monitor_data_drift", f"{model}-monitor_model_performance"}
    # Azure's model performance signal, on the labelled version that carries the logged
    # predictions (hour 11's: the deployment collected its model_outputs).
    assert run["signals"][f"{model}-monitor_model_performance"] is True

    # The challenger won on the same holdout, was registered with its lineage...
    assert request["challenger_scores"]["f1"] >= request["champion_scores"]["f1"] + 0.01
    new = svc.workspace.get_model(model, request["new_version"])
    assert new.version == "2" and new.tags["autopilot.parent_version"] == "1"
    assert new.type == "mlflow_model" and (Path(new.path) / "MLmodel").is_file()
    assert json.loads(new.tags["autopilot.metrics"])["f1"] > 0
    # ...and its registration re-aimed the monitor at it and at the data it was trained on.
    spec = svc.workspace.get_monitor(f"{model}-monitor")
    assert (spec.model_version, str(spec.reference_data), str(spec.production_data)) == (
        "2", f"{model}-training:2", f"{model}-inference:3")
    # Each step was announced as one of the autopilot's own CloudEvents (logged locally).
    types = [e["type"] for e in summary["autopilot_events"]]
    for wanted in ("Autopilot.Monitor.Created", "Autopilot.Ingestion.Quarantined",
                   "Autopilot.Drift.BatchBreached", "Autopilot.Retraining.Requested",
                   "Autopilot.Retraining.Suppressed",
                   "Autopilot.Retraining.ChallengerRegistered", "Autopilot.Monitor.Reaimed"):
        assert wanted in types, wanted
    assert types.count("Autopilot.Retraining.Requested") == 1
    (won,) = [e for e in summary["autopilot_events"]
              if e["type"] == "Autopilot.Retraining.ChallengerRegistered"]
    assert won["data"]["new_version"] == "2" and won["subject"] == \
        f"models/{model}/retraining/{request['request_id']}"
    # The label is not a monitored feature: production data does not carry it.
    from devtools.synthetic import FEATURES

    assert spec.features == FEATURES
    assert str(spec.performance_data) == f"{model}-labelled:1"
    report = (tmp_path / "drift-report.html").read_text()
    assert report.startswith("<!DOCTYPE html>") and "Model performance on labelled data" in report
    assert any("REGISTERED" in line for line in lines)
