"""The local invoker as an operator runs it (`python -m devtools.invoke ...` in its own
process): draining the retraining queue runs the request, and the challenger's
`ModelRegistered` reaches the monitor in the same process (the app is indexed once, even though
the invoker module is both `__main__` and imported by the app's event dispatcher)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_drain_from_the_command_line_re_aims_the_monitor(app_env, tmp_path, monkeypatch):
    from core.bootstrap import reset_services, services
    from core.training.model import TrainingSpec, train
    from devtools.invoke import LocalHost
    from devtools.synthetic import FEATURES, TARGET, to_csv_bytes, transactions

    monkeypatch.setenv("EARLY_DRIFT_CHECK", "false")
    reset_services()
    svc, host = services(), LocalHost()
    reference = transactions(2000, seed=1)
    ref_path = tmp_path / "reference.csv"
    ref_path.write_bytes(to_csv_bytes(reference))
    svc.workspace.register_file_version("fraud-training", "1", ref_path, tags={})
    folder = tmp_path / "baseline"
    train(reference, TrainingSpec(TARGET, FEATURES, n_estimators=20)).save(folder)
    svc.workspace.register_model("fraud", folder)
    container = app_env["INFERENCE_CONTAINER"]
    svc.blob_store.upload(container, "fraud/drifted.csv",
                          to_csv_bytes(transactions(2500, seed=5, drift="concept")))
    assert host.blob(f"{container}/fraud/drifted.csv").ok
    assert svc.workspace.get_monitor("fraud-monitor").model_version == "1"
    forced = host.http("POST", "/api/models/fraud/retrain", {"force": True, "reason": "test"})
    assert forced.status_code == 202

    proc = subprocess.run(
        [sys.executable, "-m", "devtools.invoke", "drain", app_env["RETRAIN_QUEUE"]],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "run_retraining (queueTrigger) succeeded" in proc.stdout
    assert "unique function name" not in proc.stderr
    [request] = svc.retraining.history("fraud")
    assert request["status"] == "registered", request
    spec = svc.workspace.get_monitor("fraud-monitor")
    assert (spec.model_version, str(spec.reference_data)) == ("2", "fraud-training:2")


def _invoke(args, tmp_path):
    return subprocess.run(
        [sys.executable, "-m", "devtools.invoke", *args], cwd=ROOT, env=dict(os.environ),
        capture_output=True, text=True, timeout=120,
    )


def test_invoke_event_shows_the_outcome_in_the_log(app_env, tmp_path):
    import json

    events = tmp_path / "events.json"
    events.write_text(json.dumps([{
        "id": "evt-1", "topic": "/t", "subject": "models/ghost:1",
        "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
        "eventTime": "2026-11-23T10:00:00Z", "dataVersion": "2",
        "data": {"modelName": "ghost", "modelVersion": "1"}}]))
    proc = _invoke(["event", str(events), "--function", "on_model_registered"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "on_model_registered (eventGridTrigger) succeeded" in proc.stdout
    # The function's own log line says what happened to the event.
    assert "model ghost has no registered version" in proc.stderr, proc.stderr


def test_invoke_event_with_a_non_object_in_the_array_says_what_is_wrong(app_env, tmp_path):
    events = tmp_path / "events.json"
    events.write_text('[{"id": "a", "eventType": "x", "data": {}}, 42]')
    proc = _invoke(["event", str(events)], tmp_path)
    assert proc.returncode == 2
    assert "event 1 of 2 is int 42, not an Event Grid event object" in proc.stderr
    assert "Traceback" not in proc.stderr
