"""Monitors through the registered entry points, on Azurite and the local workspace: the
ModelRegistered Event Grid trigger (both envelopes, every key spelling), idempotency under
duplicates, concurrency and reordering, re-aiming after new data, the missing reference case,
opt-out by tag, local monitor runs emitting Azure's breach event, the scheduler and the admin
endpoints."""

from __future__ import annotations

import json
import random
import threading

import pytest

from core.domain.alerts import parse_breach_message
from core.domain.events import THRESHOLD_BREACHED_TAG, RunStatusChanged, parse_event
from core.ports import WorkspaceError
from tests.functions.test_early_drift import CLEAN, DRIFTED, REFERENCE

MODEL = "loans"
MONITOR = f"{MODEL}-monitor"


@pytest.fixture
def quiet(app_env, monkeypatch):
    """Events are collected instead of delivered, so each test delivers them itself."""
    from core.bootstrap import reset_services

    monkeypatch.setenv("EVENT_SINK", "none")
    reset_services()
    return app_env


@pytest.fixture
def svc(quiet):
    from core.bootstrap import services

    return services()


@pytest.fixture
def register(svc, tmp_path):
    def _register(version: str | None = None, tags: dict | None = None, model: str = MODEL):
        path = tmp_path / "model.bin"
        path.write_bytes(b"weights")
        return svc.workspace.register_model(model, path, tags=tags or {}, version=version)

    return _register


@pytest.fixture
def data(svc, host, quiet, tmp_path):
    """Reference data plus one clean inference batch for MODEL."""
    ref = tmp_path / "ref.csv"
    ref.write_text(REFERENCE)
    svc.workspace.register_file_version(f"{MODEL}-training", "1", ref, tags={})
    svc.blob_store.upload(quiet["INFERENCE_CONTAINER"], f"{MODEL}/b1.csv", CLEAN.encode())
    assert host.blob(f"{quiet['INFERENCE_CONTAINER']}/{MODEL}/b1.csv").ok


def eg(model, version, event_id="e1", *, pascal=False, subject_only=False):
    data = {"ModelName": model, "ModelVersion": int(version)} if pascal else \
        {"modelName": model, "modelVersion": str(version), "modelTags": {}}
    return {"id": event_id, "topic": "/subscriptions/s/workspaces/w",
            "subject": f"models/{model}:{version}",
            "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
            "eventTime": "2026-11-23T10:00:00Z", "dataVersion": "2",
            "data": {} if subject_only else data}


def ce(model, version, event_id="c1"):
    return {"id": event_id, "source": "/subscriptions/s/workspaces/w", "specversion": "1.0",
            "subject": f"models/{model}:{version}",
            "type": "Microsoft.MachineLearningServices.ModelRegistered",
            "time": "2026-11-23T10:00:00Z",
            "data": {"modelName": model, "modelVersion": version}}


def deliver(host, event):
    [result] = host.event_grid(event, function="on_model_registered")
    return result


def monitor(svc):
    return svc.workspace.get_monitor(MONITOR)


# ------------------------------------------------------------------ event variants


@pytest.mark.parametrize("make", [
    lambda: eg(MODEL, 1),
    lambda: eg(MODEL, 1, pascal=True),
    lambda: eg(MODEL, 1, subject_only=True),
    lambda: ce(MODEL, "1"),
], ids=["eventgrid-camel", "eventgrid-pascal-int", "subject-fallback", "cloudevents"])
def test_model_registered_creates_the_monitor(host, svc, data, register, make):
    register()
    result = deliver(host, make())
    assert result.ok, result.error
    spec = monitor(svc)
    assert spec is not None
    assert (spec.model_name, spec.model_version) == (MODEL, "1")
    assert str(spec.reference_data) == f"{MODEL}-training:1"
    assert str(spec.production_data) == f"{MODEL}-inference:1"
    assert spec.signal_names() == (f"{MONITOR}_data_drift", f"{MONITOR}_data_quality")
    assert spec.instance_type == "standard_e4s_v3" and spec.runtime_version == "3.5"
    # The stored schedule is the YAML `az ml schedule create` accepts.
    from azure.ai.ml.entities._load_functions import load_schedule

    schedule = load_schedule(svc.workspace.root / "schedules" / f"{MONITOR}.yml")
    assert schedule.name == MONITOR
    assert schedule._to_rest_object() is not None


def test_other_event_types_and_malformed_events_are_acknowledged(host, svc, data, caplog):
    other = {**eg(MODEL, 1), "eventType": "Microsoft.Storage.BlobCreated"}
    malformed = {**eg(MODEL, 1), "data": {"modelVersion": "1"}, "subject": "nothing"}
    with caplog.at_level("INFO"):
        assert deliver(host, other).ok
        assert deliver(host, malformed).ok
    assert monitor(svc) is None
    assert "malformed event e1" in caplog.text
    assert "not for this function" in caplog.text


def test_transient_workspace_failure_raises_so_event_grid_retries(host, svc, data, register,
                                                                  monkeypatch):
    register()

    def unreachable(name):
        raise WorkspaceError("workspace unreachable: connection refused")

    monkeypatch.setattr(svc.workspace, "list_model_versions", unreachable)
    result = deliver(host, eg(MODEL, 1))
    assert not result.ok and isinstance(result.error, WorkspaceError)
    monkeypatch.undo()


def test_event_for_a_model_the_workspace_does_not_have_is_acknowledged_leaving_no_row(
    host, svc, data
):
    assert deliver(host, eg("ghost", 4)).ok
    assert svc.monitors.state("ghost") is None
    listed = json.loads(host.http("GET", "/api/monitors").get_body())
    assert "ghost" not in [m["model"] for m in listed["monitors"]]


def test_a_model_that_had_a_monitor_state_and_is_gone_is_recorded_as_not_found(
    host, svc, data
):
    svc.monitors.record("gone", status="waiting_for_reference")
    assert deliver(host, eg("gone", 4)).ok
    state = svc.monitors.state("gone")
    assert state["status"] == "model_not_found"
    assert "event named version 4" in state["reason"]


# ------------------------------------------------------------------ idempotency


def test_duplicates_leave_one_unchanged_monitor(host, svc, data, register):
    register()
    for _ in range(3):
        assert deliver(host, eg(MODEL, 1)).ok
    assert [s.name for s in svc.workspace.list_monitors()] == [MONITOR]
    state = svc.monitors.state(MODEL)
    assert [h["action"] for h in state["history"]] == ["created"]
    assert state["reason"] == "monitor already up to date"


def test_reordered_events_leave_the_highest_version(host, svc, data, register):
    for _ in range(3):
        register()
    assert deliver(host, eg(MODEL, 3, "e3")).ok
    assert monitor(svc).model_version == "3"
    assert deliver(host, eg(MODEL, 2, "e2")).ok  # late
    assert deliver(host, eg(MODEL, 1, "e1")).ok
    assert monitor(svc).model_version == "3"
    assert [h["action"] for h in svc.monitors.state(MODEL)["history"]] == ["created"]


def test_concurrent_deliveries_converge_on_one_monitor_at_the_highest_version(
    host, svc, data, register
):
    for _ in range(4):
        register()
    events = [eg(MODEL, v, f"e{v}-{i}") for v in range(1, 5) for i in range(3)]
    random.Random(7).shuffle(events)
    results, barrier = [], threading.Barrier(len(events))

    def worker(event):
        barrier.wait()
        results.append(deliver(host, event))

    threads = [threading.Thread(target=worker, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert [s.name for s in svc.workspace.list_monitors()] == [MONITOR]
    assert monitor(svc).model_version == "4"
    state = svc.monitors.state(MODEL)
    assert state["model_version"] == "4" and state["status"] == "active"


# ------------------------------------------------------------------ re-aiming and waiting


def test_new_inference_data_re_aims_the_monitor(host, svc, data, register, quiet):
    register()
    assert deliver(host, eg(MODEL, 1)).ok
    assert str(monitor(svc).production_data) == f"{MODEL}-inference:1"
    svc.blob_store.upload(quiet["INFERENCE_CONTAINER"], f"{MODEL}/b2.csv", CLEAN.encode())
    assert host.blob(f"{quiet['INFERENCE_CONTAINER']}/{MODEL}/b2.csv").ok
    spec = monitor(svc)
    assert str(spec.production_data) == f"{MODEL}-inference:2"
    assert spec.model_version == "1"
    history = svc.monitors.state(MODEL)["history"]
    assert [h["action"] for h in history] == ["created", "updated"]
    assert history[-1]["trigger"] == f"new inference data {MODEL}-inference:2"


def test_missing_reference_is_recorded_then_the_monitor_appears(host, svc, register, quiet,
                                                                tmp_path):
    register()
    assert deliver(host, eg(MODEL, 1)).ok
    assert monitor(svc) is None
    response = host.http("GET", f"/api/models/{MODEL}/monitor")
    body = json.loads(response.get_body())
    assert response.status_code == 200
    assert body["status"] == "waiting_for_reference"
    assert body["reason"] == f"reference data asset {MODEL}-training not found"
    listed = json.loads(host.http("GET", "/api/monitors").get_body())
    assert [m["status"] for m in listed["monitors"]] == ["waiting_for_reference"]

    ref = tmp_path / "ref.csv"
    ref.write_text(REFERENCE)
    svc.workspace.register_file_version(f"{MODEL}-training", "1", ref, tags={})
    # Reference now present, no inference data yet: waiting for data, still no broken monitor.
    response = host.http("POST", f"/api/models/{MODEL}/monitor/ensure")
    assert json.loads(response.get_body())["outcome"]["status"] == "waiting_for_data"
    svc.blob_store.upload(quiet["INFERENCE_CONTAINER"], f"{MODEL}/b1.csv", CLEAN.encode())
    assert host.blob(f"{quiet['INFERENCE_CONTAINER']}/{MODEL}/b1.csv").ok
    assert monitor(svc) is not None  # the first batch completed the monitor
    body = json.loads(host.http("GET", f"/api/models/{MODEL}/monitor").get_body())
    assert body["status"] == "active" and body["production_data"] == f"{MODEL}-inference:1"


def test_opt_out_by_tag_disables_the_existing_monitor(host, svc, data, register):
    register()
    assert deliver(host, eg(MODEL, 1)).ok
    register(tags={"autopilot.monitor": "false"})
    assert deliver(host, eg(MODEL, 2)).ok
    spec = monitor(svc)
    assert spec.enabled is False and spec.model_version == "1"
    state = svc.monitors.state(MODEL)
    assert state["status"] == "opted_out" and "autopilot.monitor" in state["reason"]


def test_tag_overrides_reach_the_schedule(host, svc, data, register):
    register(tags={"autopilot.schedule": "05:30", "autopilot.alert_emails": "ops@x.com",
                   "autopilot.drift_threshold": "0.25", "autopilot.ml_task": "regression"})
    assert deliver(host, eg(MODEL, 1)).ok
    spec = monitor(svc)
    assert spec.trigger.daily_at == "05:30" and spec.alert_emails == ("ops@x.com",)
    assert spec.ml_task == "regression"
    assert spec.data_drift_thresholds["numerical"] == {"normalized_wasserstein_distance": 0.25}


def test_local_registration_emits_model_registered_in_process(app_env, tmp_path):
    """The default local event sink delivers to the registered Event Grid function."""
    from core.bootstrap import services

    svc = services()
    ref = tmp_path / "ref.csv"
    ref.write_text(REFERENCE)
    svc.workspace.register_file_version(f"{MODEL}-training", "1", ref, tags={})
    svc.blob_store.upload(app_env["INFERENCE_CONTAINER"], f"{MODEL}/b1.csv", CLEAN.encode())
    from devtools.invoke import LocalHost

    assert LocalHost().blob(f"{app_env['INFERENCE_CONTAINER']}/{MODEL}/b1.csv").ok
    path = tmp_path / "m.bin"
    path.write_bytes(b"w")
    svc.workspace.register_model(MODEL, path)
    assert svc.workspace.get_monitor(MONITOR).model_version == "1"
    svc.workspace.register_model(MODEL, path)
    assert svc.workspace.get_monitor(MONITOR).model_version == "2"


# ------------------------------------------------------------------ runs and admin


def test_run_on_drifted_data_emits_azures_breach_event(host, svc, data, register, quiet):
    register()
    assert deliver(host, eg(MODEL, 1)).ok
    response = host.http("POST", f"/api/models/{MODEL}/monitor/run")
    run = json.loads(response.get_body())["run"]
    assert response.status_code == 200 and run["breached"] is False

    def breach_events():
        return [e for e in svc.events.published if "RunStatusChanged" in e["eventType"]]

    assert breach_events() == []

    svc.blob_store.upload(quiet["INFERENCE_CONTAINER"], f"{MODEL}/b2.csv", DRIFTED.encode())
    assert host.blob(f"{quiet['INFERENCE_CONTAINER']}/{MODEL}/b2.csv").ok
    run = json.loads(host.http("POST", f"/api/models/{MODEL}/monitor/run").get_body())["run"]
    assert run["breached"] is True and run["production"] == f"{MODEL}-inference:2"
    assert run["signals"][f"{MONITOR}_data_drift"] is True
    events = breach_events()
    assert len(events) == len([v for v in run["signals"].values() if v])
    parsed = parse_event(events[0])
    assert isinstance(parsed, RunStatusChanged) and parsed.run_status == "Completed"
    message = parsed.run_tags[THRESHOLD_BREACHED_TAG]
    assert message.startswith(f"The signal '{MONITOR}_data_drift' has failed due to one or "
                              "more features violating metric thresholds.")
    signal, features = parse_breach_message(message)
    assert signal == f"{MONITOR}_data_drift"
    assert {f.feature for f in features} >= {"income", "city"}
    described = json.loads(host.http("GET", f"/api/models/{MODEL}/monitor").get_body())
    assert described["last_run"]["run_id"] == run["run_id"]


def test_run_without_a_monitor_is_404(host, svc):
    response = host.http("POST", f"/api/models/{MODEL}/monitor/run")
    assert response.status_code == 404


def test_scheduler_runs_due_monitors_once(host, svc, data, register):
    from core.services.monitor_runs import last_fire_before

    register(tags={"autopilot.schedule": "*/10 * * * *"})
    assert deliver(host, eg(MODEL, 1)).ok
    created = svc.monitors.state(MODEL)["created_at"]
    next_fire = last_fire_before(monitor(svc), created) + 600
    assert svc.monitor_runs.run_due(now=next_fire - 1) == []  # not fired since creation
    runs = svc.monitor_runs.run_due(now=next_fire + 1)
    assert [r.trigger for r in runs] == ["schedule"]
    assert svc.monitor_runs.run_due(now=next_fire + 2) == []  # not again before the next fire
    assert len(svc.monitor_runs.run_due(now=next_fire + 601)) == 1


def test_scheduler_skips_disabled_monitors(host, svc, data, register):
    register(tags={"autopilot.schedule": "*/10 * * * *"})
    assert deliver(host, eg(MODEL, 1)).ok
    response = host.http("POST", f"/api/models/{MODEL}/monitor/disable")
    assert json.loads(response.get_body())["enabled"] is False
    created = svc.monitors.state(MODEL)["created_at"]
    assert svc.monitor_runs.run_due(now=created + 700) == []


def test_operator_disable_survives_ensure_and_enable_restores(host, svc, data, register):
    register()
    assert deliver(host, eg(MODEL, 1)).ok
    host.http("POST", f"/api/models/{MODEL}/monitor/disable")
    register()
    assert deliver(host, eg(MODEL, 2)).ok
    spec = monitor(svc)
    assert spec.model_version == "2" and spec.enabled is False
    body = json.loads(host.http("POST", f"/api/models/{MODEL}/monitor/enable").get_body())
    assert body["enabled"] is True
    host.http("POST", f"/api/models/{MODEL}/monitor/ensure")
    assert monitor(svc).enabled is True


def test_timer_reconciles_models_whose_events_were_missed(host, svc, data, register):
    register()  # EVENT_SINK=none: no event was delivered
    assert monitor(svc) is None
    result = host.timer("monitor_scheduler")
    assert result.ok, result.error
    assert monitor(svc).model_version == "1"
    assert svc.monitors.state(MODEL)["last_trigger"] == "reconcile timer"


def test_collected_model_outputs_add_a_prediction_drift_signal(host, svc, register, quiet,
                                                                tmp_path):
    from tests.samples import collector_record, jsonl

    rows = [(20 + i % 50, 1000.0 + i * 12.5, ["paris", "rome", "oslo"][i % 3], i % 2)
            for i in range(300)]
    ref = tmp_path / "ref.csv"
    ref.write_text("age,income,city,approved\n" + "".join(f"{a},{b},{c},{d}\n"
                                                          for a, b, c, d in rows))
    svc.workspace.register_file_version(f"{MODEL}-training", "1", ref, tags={})
    container = quiet["INFERENCE_CONTAINER"]
    svc.blob_store.upload(container, f"{MODEL}/b1.csv", ref.read_bytes())
    assert host.blob(f"{container}/{MODEL}/b1.csv").ok
    register()
    assert deliver(host, eg(MODEL, 1)).ok
    assert monitor(svc).production_outputs is None

    # The data collector's model_outputs: mostly approvals now, where training had half.
    outputs = jsonl(collector_record([{"approved": 1 if i % 10 else 0} for i in range(200)],
                                     type="azureml.inference.model_outputs"))
    name = f"{MODEL}/credit-ep/blue/model_outputs/2026/11/23/10/instance-0.jsonl"
    svc.blob_store.upload(container, name, outputs)
    assert host.blob(f"{container}/{name}").ok
    [record] = [r for r in svc.ledger.list(model=MODEL) if "model_outputs" in r.blob.name]
    assert (record.status, record.asset_name) == ("registered", f"{MODEL}-outputs")
    spec = monitor(svc)
    assert str(spec.production_outputs) == f"{MODEL}-outputs:1"
    assert str(spec.production_data) == f"{MODEL}-inference:1"  # inputs are not re-aimed
    assert spec.signal_names()[-1] == f"{MONITOR}_prediction_drift"
    from core.adapters.azureml.schedule import build_monitor_schedule

    assert f"{MONITOR}_prediction_drift" in build_monitor_schedule(
        spec).create_monitor.monitoring_signals

    run = json.loads(host.http("POST", f"/api/models/{MODEL}/monitor/run").get_body())["run"]
    assert run["signals"][f"{MONITOR}_prediction_drift"] is True
    assert any(b["signal"] == f"{MONITOR}_prediction_drift" and b["feature"] == "approved"
               for b in run["breaches"])


def test_a_malformed_tag_is_recorded_and_leaves_the_monitor_as_it_was(host, svc, data, register):
    register()
    assert deliver(host, eg(MODEL, 1)).ok
    register(tags={"autopilot.schedule": "every day"})
    assert deliver(host, eg(MODEL, 2)).ok
    assert monitor(svc).model_version == "1"
    body = json.loads(host.http("GET", f"/api/models/{MODEL}/monitor").get_body())
    assert body["status"] == "invalid_configuration"
    assert "autopilot.schedule" in body["reason"]
