"""Drift alerts -> one retraining -> champion/challenger gate, through the registered entry
points on Azurite (state table, retrain-requests queue and its poison queue) and the local
workspace."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from core.domain.events import THRESHOLD_BREACHED_TAG
from devtools.synthetic import FEATURES, TARGET, to_csv_bytes, transactions

MODEL = "fraud"
MONITOR = f"{MODEL}-monitor"


def breach_message(signal=f"{MONITOR}_data_drift"):
    return (
        f"The signal '{signal}' has failed due to one or more features violating metric "
        "thresholds.\nThe feature names and their corresponding computed metric values "
        "violating the threshold are \n"
        + str([json.dumps({"feature_name": "amount", "metric_value": 0.42,
                           "metric_name": "NormalizedWassersteinDistance",
                           "threshold_value": 0.1})])
    )


def run_event(run_id="run-1", event_id="ev-1", *, tags=None, pascal=False, cloud=False):
    data = {"experimentId": "e", "experimentName": MONITOR, "runId": run_id,
            "runType": "azureml.StepRun", "runStatus": "Completed",
            "runTags": {THRESHOLD_BREACHED_TAG: breach_message()} if tags is None else tags,
            "runProperties": {}}
    if pascal:
        data = {k[0].upper() + k[1:]: v for k, v in data.items()}
    if cloud:
        return {"id": event_id, "source": "/ws", "specversion": "1.0",
                "type": "Microsoft.MachineLearningServices.RunStatusChanged",
                "subject": f"experiments/e/runs/{run_id}", "data": data}
    return {"id": event_id, "topic": "/ws", "subject": f"experiments/e/runs/{run_id}",
            "eventType": "Microsoft.MachineLearningServices.RunStatusChanged",
            "eventTime": "2026-11-23T10:00:00Z", "dataVersion": "2", "data": data}


def rebuild(**overrides):
    """Install the entry points' services rebuilt with `overrides` (constructor seams: a
    clock, a flaky retrainer, a storage fault), over the same storage and workspace."""
    from core.bootstrap import build_services, reset_services

    replacement = build_services(**overrides)
    reset_services(replacement)
    return replacement


class Flaky:
    """Wraps an object; while `broken`, the named method raises `error` (once if `once`)."""

    def __init__(self, inner, method, error, *, once=False, when=None):
        self._inner, self._method, self._error = inner, method, error
        self.broken, self._once, self._when = True, once, when or (lambda *a, **k: True)

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        def call(*args, **kwargs):
            if self.broken and self._when(*args, **kwargs):
                if self._once:
                    self.broken = False
                raise self._error
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def svc(app_env, monkeypatch):
    from core.bootstrap import reset_services, services

    monkeypatch.setenv("EARLY_DRIFT_CHECK", "false")  # alerts come from the tests here
    reset_services()
    return services()


@pytest.fixture
def fraud(svc, host, app_env, tmp_path):
    """Reference data, one clean batch (with its ground truth, as the schema requires) and a
    baseline model trained on the reference (v1; its registration creates the monitor)."""
    from core.training.model import TrainingSpec, train

    reference = transactions(3000, seed=1)
    ref_path = tmp_path / "reference.csv"
    ref_path.write_bytes(to_csv_bytes(reference))
    svc.workspace.register_file_version(f"{MODEL}-training", "1", ref_path, tags={})
    upload(svc, host, app_env, "clean.csv", transactions(500, seed=2))
    model = train(reference, TrainingSpec(target=TARGET, features=FEATURES, n_estimators=40))
    folder = tmp_path / "baseline"
    model.save(folder)
    svc.workspace.register_model(MODEL, folder, tags={"autopilot.schedule": "04:00"})
    assert svc.workspace.get_monitor(MONITOR).model_version == "1"
    return model


def upload(svc, host, app_env, name, table):
    container = app_env["INFERENCE_CONTAINER"]
    svc.blob_store.upload(container, f"{MODEL}/{name}", to_csv_bytes(table))
    result = host.blob(f"{container}/{MODEL}/{name}")
    assert result.ok, result.error


def alert(host, event):
    [result] = host.event_grid(event, function="on_azureml_run_event")
    assert result.ok, result.error


def history(svc):
    return svc.retraining.history(MODEL)


def queued(svc):
    return svc.retrain_queue.peek(32)


# ------------------------------------------------------------------ alert parsing


@pytest.mark.parametrize("variant", ["eventgrid", "pascal", "cloudevents"])
def test_breach_event_queues_one_request_with_evidence(host, svc, fraud, variant):
    alert(host, run_event(pascal=variant == "pascal", cloud=variant == "cloudevents"))
    [request] = history(svc)
    assert request["status"] == "queued" and request["trigger"] == "azureml_monitor"
    assert request["evidence"]["signal"] == f"{MONITOR}_data_drift"
    assert request["evidence"]["features"] == [
        {"feature": "amount", "metric": "NormalizedWassersteinDistance", "value": 0.42,
         "threshold": 0.1}]
    [message] = queued(svc)
    body = json.loads(message.body)
    assert body["model"] == MODEL and body["request_id"] == request["request_id"]
    assert body["correlation_id"] == "ev-1" and body["requested_at"]
    # Stored base64-encoded, as host.json's messageEncoding tells the trigger to read it.
    from azure.storage.queue import QueueClient

    raw = QueueClient.from_connection_string(svc.settings.storage_connection.connection_string,
                                             svc.settings.retrain_queue)
    import base64

    assert json.loads(base64.b64decode(next(iter(raw.peek_messages())).content)) == body


def test_legacy_dataset_drift_event_is_an_alert(host, svc, fraud):
    alert(host, {"id": "d1", "topic": "/ws", "subject": "datadrift/x/run/r7",
                 "eventType": "Microsoft.MachineLearningServices.DatasetDriftDetected",
                 "dataVersion": "2", "eventTime": "2026-11-23T10:00:00Z",
                 "data": {"DataDriftName": MONITOR, "DriftCoefficient": 0.9, "RunId": "r7"}})
    [request] = history(svc)
    assert request["trigger"] == "dataset_drift"


def test_non_alerts_and_malformed_events_are_acknowledged_and_ignored(host, svc, fraud):
    alert(host, run_event(tags={"other": "tag"}))
    alert(host, {"id": "x", "eventType": "Microsoft.MachineLearningServices.RunStatusChanged",
                 "subject": "nothing", "data": {}})  # no run id anywhere: malformed
    alert(host, {"id": "y", "eventType": "Microsoft.Storage.BlobCreated", "data": {}})
    assert history(svc) == [] and queued(svc) == []


def test_alert_for_an_unknown_monitor_is_recorded_not_dropped(host, svc, fraud):
    event = run_event()
    event["data"]["runTags"] = {THRESHOLD_BREACHED_TAG: breach_message("nobody_data_drift")}
    alert(host, event)
    assert history(svc) == []
    [record] = svc.retraining.alerts("_unmapped")
    assert record["status"] == "unmapped" and "nobody" in record["reason"]


# ------------------------------------------------------------------ debounce and dedupe


def test_twenty_concurrent_alerts_make_exactly_one_request(host, svc, fraud):
    events = [run_event(run_id=f"run-{i}", event_id=f"ev-{i}") for i in range(20)]
    barrier = threading.Barrier(20)
    failures = []

    def deliver(event):
        barrier.wait()
        [result] = host.event_grid(event, function="on_azureml_run_event")
        if not result.ok:
            failures.append(result.error)

    threads = [threading.Thread(target=deliver, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(history(svc)) == 1 and len(queued(svc)) == 1
    statuses = sorted(a["status"] for a in svc.retraining.alerts(MODEL))
    assert statuses == ["requested"] + ["suppressed"] * 19
    assert all("already open" in a["reason"] for a in svc.retraining.alerts(MODEL)
               if a["status"] == "suppressed")


def test_the_same_alert_delivered_twice_counts_once(host, svc, fraud):
    alert(host, run_event())
    alert(host, run_event())  # same run, same signal: Event Grid redelivery
    assert len(history(svc)) == 1 and len(svc.retraining.alerts(MODEL)) == 1


def test_cooldown_suppresses_then_expires(host, svc, fraud):
    from core.services.retraining.worker import release_gate
    from tests.fakes import FakeClock

    clock = FakeClock()
    svc = rebuild(clock=clock)
    alert(host, run_event("r1", "e1"))
    [request] = history(svc)
    release_gate(svc.retraining.records, MODEL, request["request_id"])  # as if it finished
    clock.advance(3600)
    alert(host, run_event("r2", "e2"))
    suppressed = next(a for a in svc.retraining.alerts(MODEL) if a["alert_key"].startswith(
        "run:r2"))
    assert suppressed["status"] == "suppressed" and suppressed["reason"].startswith("cooldown")
    assert suppressed["code"] == "cooldown"
    clock.advance(24 * 3600)
    alert(host, run_event("r3", "e3"))
    assert len(history(svc)) == 2


def test_n_breaches_in_a_row(app_env, monkeypatch, host):
    from core.bootstrap import reset_services, services

    monkeypatch.setenv("RETRAIN_BREACHES_IN_A_ROW", "3")
    monkeypatch.setenv("EARLY_DRIFT_CHECK", "false")
    reset_services()
    svc = services()
    path = Path(app_env["LOCAL_WORKSPACE_DIR"]).parent / "m.bin"
    path.write_bytes(b"x")
    monkeypatch.setenv("EVENT_SINK", "none")
    svc.workspace.events = None
    svc.workspace.register_model(MODEL, path)
    for i in (1, 2):
        alert(host, run_event(f"r{i}", f"e{i}"))
    reasons = [a["reason"] for a in sorted(svc.retraining.alerts(MODEL),
                                           key=lambda a: a["received_at"])]
    assert reasons == ["breach 1 of 3 in a row of data_drift (RETRAIN_BREACHES_IN_A_ROW)",
                       "breach 2 of 3 in a row of data_drift (RETRAIN_BREACHES_IN_A_ROW)"]
    svc.retraining.on_clean_check(MODEL)  # a clean check breaks the streak
    for i in (3, 4):
        alert(host, run_event(f"r{i}", f"e{i}"))
    assert history(svc) == []
    alert(host, run_event("r5", "e5"))
    assert len(history(svc)) == 1


def test_manual_request_uses_the_same_debounce_unless_forced(host, svc, fraud):
    first = host.http("POST", f"/api/models/{MODEL}/retrain", {"reason": "quarterly refresh"})
    assert first.status_code == 202
    assert json.loads(first.get_body())["decision"] == "requested"
    second = host.http("POST", f"/api/models/{MODEL}/retrain", {})
    assert second.status_code == 200
    assert json.loads(second.get_body())["decision"] == "suppressed"
    forced = host.http("POST", f"/api/models/{MODEL}/retrain", {"force": True})
    assert json.loads(forced.get_body())["decision"] == "requested"
    assert host.http("POST", "/api/models/nobody/retrain", {}).status_code == 404
    assert host.http("POST", f"/api/models/{MODEL}/retrain", {"force": "yes"}).status_code == 400


# ------------------------------------------------------------------ running requests


def test_challenger_that_wins_is_registered_and_the_monitor_re_aimed(host, svc, fraud, app_env):
    upload(svc, host, app_env, "labelled.csv", transactions(3000, seed=5, drift="concept"))
    alert(host, run_event())
    [result] = host.drain(svc.settings.retrain_queue)
    assert result.ok, result.error
    [request] = history(svc)
    assert request["status"] == "registered", request
    assert request["new_version"] == "2" and request["champion_version"] == "1"
    assert request["challenger_scores"]["f1"] > request["champion_scores"]["f1"] + 0.01
    assert request["metric"] == "f1" and "beats champion" in request["decision"]
    new = svc.workspace.get_model(MODEL, "2")
    assert new.tags["autopilot.parent_version"] == "1"
    assert new.tags["autopilot.request_id"] == request["request_id"]
    assert json.loads(new.tags["autopilot.metrics"])["f1"] == pytest.approx(
        request["challenger_scores"]["f1"], abs=1e-4)
    assert new.tags["autopilot.schedule"] == "04:00"  # the champion's overrides carry over
    spec = svc.workspace.get_monitor(MONITOR)
    assert spec.model_version == "2"
    assert str(spec.reference_data) == f"{MODEL}-training:2"  # what v2 was trained on
    assert svc.retraining.gate(MODEL)["open_request"] is None
    shown = json.loads(host.http(
        "GET", f"/api/models/{MODEL}/retraining/{request['request_id']}").get_body())
    assert shown["status"] == "registered"
    listed = json.loads(host.http("GET", f"/api/models/{MODEL}/retraining").get_body())
    assert listed["count"] == 1


def test_challenger_that_does_not_win_is_rejected_with_both_scores(host, svc, fraud, app_env):
    from dataclasses import replace

    svc.retrainer.config = replace(svc.retrainer.config, margin=0.5)
    upload(svc, host, app_env, "labelled.csv", transactions(1500, seed=6))  # no drift
    alert(host, run_event())
    [result] = host.drain(svc.settings.retrain_queue)
    assert result.ok, result.error
    [request] = history(svc)
    assert request["status"] == "rejected"
    assert set(request["champion_scores"]) == {"accuracy", "precision", "recall", "f1", "auc"}
    assert set(request["challenger_scores"]) == set(request["champion_scores"])
    assert "does not beat champion" in request["decision"]
    assert [v.version for v in svc.workspace.list_model_versions(MODEL)] == ["1"]
    assert svc.retraining.gate(MODEL)["open_request"] is None


def test_failing_request_goes_to_poison_and_can_be_requeued(host, svc, fraud, app_env):
    upload(svc, host, app_env, "labelled.csv", transactions(3000, seed=5, drift="concept"))
    retrainer = Flaky(svc.retrainer, "start", RuntimeError("training cluster unavailable"))
    svc = rebuild(retrainer=retrainer)
    alert(host, run_event())
    results = host.drain(svc.settings.retrain_queue)
    assert [r.ok for r in results] == [False] * 5  # host.json maxDequeueCount
    [request] = history(svc)
    assert request["status"] == "failed" and "training cluster unavailable" in request["error"]
    assert request["attempts"] == 5
    poison = json.loads(host.http("GET", "/api/retraining/poison").get_body())
    [message] = poison["messages"]
    assert message["body"]["request_id"] == request["request_id"]

    retrainer.broken = False  # the operator fixed the cause
    assert svc.retraining.gate(MODEL)["open_request"] is None  # released when it failed
    response = host.http("POST", f"/api/retraining/poison/{message['message_id']}/requeue")
    assert response.status_code == 200, response.get_body()
    # The re-queued request holds the gate again: no second retraining while it runs.
    assert svc.retraining.gate(MODEL)["open_request"] == request["request_id"]
    assert json.loads(host.http("GET", "/api/retraining/poison").get_body())["count"] == 0
    [result] = host.drain(svc.settings.retrain_queue)
    assert result.ok, result.error
    assert history(svc)[0]["status"] == "registered"
    assert host.http("POST", "/api/retraining/poison/nope/requeue").status_code == 404


def test_unreadable_message_goes_straight_to_poison(host, svc, fraud):
    svc.retrain_queue.send("{not json")
    [result] = host.drain(svc.settings.retrain_queue)
    assert result.ok  # acknowledged: retrying cannot fix it
    [message] = json.loads(host.http("GET", "/api/retraining/poison").get_body())["messages"]
    assert "unreadable retraining request" in message["body"]["error"]
    assert message["body"]["body"] == "{not json"


def test_crash_between_training_and_registration_registers_one_version(host, svc, fraud,
                                                                        app_env):
    from core.services.retraining.runner import JobRetrainer

    upload(svc, host, app_env, "labelled.csv", transactions(3000, seed=5, drift="concept"))
    # The instance dies after training, as it starts registering (the training data first).
    workspace = Flaky(svc.workspace, "register_mltable_folder", OSError("instance lost"),
                      once=True)
    svc = rebuild(retrainer=JobRetrainer(workspace, svc.jobs, svc.models, svc.retrainer.config))
    alert(host, run_event())
    results = host.drain(svc.settings.retrain_queue)
    assert [r.ok for r in results] == [False, True]
    [request] = history(svc)
    assert request["status"] == "registered" and request["attempts"] == 2
    assert [v.version for v in svc.workspace.list_model_versions(MODEL)] == ["1", "2"]


def test_crash_after_registration_is_not_registered_twice(host, svc, fraud, app_env):
    upload(svc, host, app_env, "labelled.csv", transactions(3000, seed=5, drift="concept"))
    # The instance dies after registering, as it records the request's result.
    state = Flaky(svc.state, "put", OSError("instance lost after registering"), once=True,
                  when=lambda kind, key, doc: doc.get("status") == "registered")
    svc = rebuild(state=state)
    alert(host, run_event())
    results = host.drain(svc.settings.retrain_queue)
    assert [r.ok for r in results] == [False, True]
    [request] = history(svc)
    assert request["status"] == "registered" and request["new_version"] == "2"
    assert [v.version for v in svc.workspace.list_model_versions(MODEL)] == ["1", "2"]


def test_a_finished_request_delivered_again_is_not_run_again(host, svc, fraud):
    alert(host, run_event())
    [message] = queued(svc)
    assert host.drain(svc.settings.retrain_queue)[0].ok
    again = host.queue(svc.settings.retrain_queue, message.body.encode(),
                       message_id="other-delivery")
    assert again.ok
    assert len(history(svc)) == 1 and history(svc)[0]["attempts"] == 1


# ------------------------------------------------------------------ other alert sources


def test_early_drift_on_a_batch_requests_retraining(app_env, monkeypatch, host, tmp_path):
    from core.bootstrap import reset_services, services
    from core.training.model import TrainingSpec, train

    monkeypatch.setenv("EARLY_DRIFT_CHECK", "true")
    reset_services()
    svc = services()
    reference = transactions(3000, seed=1)
    ref_path = tmp_path / "reference.csv"
    ref_path.write_bytes(to_csv_bytes(reference))
    svc.workspace.register_file_version(f"{MODEL}-training", "1", ref_path, tags={})
    folder = tmp_path / "baseline"
    train(reference, TrainingSpec(target=TARGET, features=FEATURES, n_estimators=20)).save(folder)
    svc.workspace.register_model(MODEL, folder)
    # The reference rows themselves: no drift by construction.
    upload(svc, host, app_env, "same.csv", reference)
    assert history(svc) == []
    upload(svc, host, app_env, "drifted.csv", transactions(2000, seed=3, drift="covariate"))
    [request] = history(svc)
    assert request["trigger"] == "early_check"
    assert {f["feature"] for f in request["evidence"]["features"]} >= {"amount", "country"}
    assert request["evidence"]["ingestion"]


def test_data_quality_breach_is_recorded_not_acted_on(host, svc, fraud):
    event = run_event()
    event["data"]["runTags"] = {THRESHOLD_BREACHED_TAG: breach_message(
        f"{MONITOR}_data_quality")}
    alert(host, event)
    assert history(svc) == []
    [record] = svc.retraining.alerts(MODEL)
    assert record["status"] == "ignored" and "data quality" in record["reason"]


class AzureLikeWorkspace:
    """The local workspace for reads, plus what the Azure backend adds: jobs, and registration
    from a job output (recorded, as there is no Azure here)."""

    def __init__(self, local):
        self._local = local
        self.jobs: dict = {}
        self.inputs: dict[str, dict] = {}
        self.registered: list[tuple] = []

    def __getattr__(self, name):
        return getattr(self._local, name)

    def submit_job(self, path, *, inputs, tags, experiment_name, display_name=None,
                   input_types=None, literal_inputs=None):
        from core.domain.retraining import JobStatus

        name = f"job-{len(self.jobs) + 1}"
        self.jobs[name] = JobStatus(name, "Running", dict(tags))
        self.inputs[name] = dict(inputs)
        self.literals = dict(literal_inputs or {})
        return name

    def get_job(self, name):
        return self.jobs[name]

    def register_model(self, name, path, tags=None, properties=None, description="", *,
                       model_type="custom_model"):
        from core.domain.assets import ModelVersion

        self.registered.append((name, str(path), dict(tags or {}), model_type))
        return ModelVersion(name=name, version="2", path=str(path), tags=dict(tags or {}))


def test_azure_job_completion_event_finishes_the_request(host, svc, fraud):
    from dataclasses import replace

    from core.services.retraining.runner import JobRetrainer, RetrainConfig

    workspace = AzureLikeWorkspace(svc.workspace)
    svc = rebuild(retrainer=JobRetrainer(workspace, workspace, svc.models,
                                         RetrainConfig(job_file="job.yml")))
    alert(host, run_event())
    assert host.drain(svc.settings.retrain_queue)[0].ok
    [request] = history(svc)
    assert request["status"] == "submitted" and request["job"] == "job-1"
    assert workspace.inputs["job-1"] == {"training_data": f"azureml:{MODEL}-training:1",
                                         "inference_data": f"azureml:{MODEL}-inference:1",
                                         "champion_model": f"azureml:{MODEL}:1"}
    job = workspace.jobs["job-1"]
    assert job.tags["autopilot.request_id"] == request["request_id"]
    assert svc.retraining.gate(MODEL)["open_request"] == request["request_id"]

    job = workspace.jobs["job-1"] = replace(job, status="Completed", tags={
        **job.tags,  # what the job sets with mlflow.set_tag
        "autopilot.champion_scores": json.dumps({"f1": 0.40}),
        "autopilot.challenger_scores": json.dumps({"f1": 0.62}),
    })
    completed = run_event(run_id="job-1", event_id="done-1", tags=dict(job.tags))
    completed["eventType"] = "Microsoft.MachineLearningServices.RunCompleted"
    del completed["data"]["runStatus"]
    alert(host, completed)
    [request] = history(svc)
    assert request["status"] == "registered" and request["new_version"] == "2"
    assert workspace.literals == {"target": TARGET, "features": ",".join(FEATURES),
                                  "task": "classification"}
    [(model, path, tags, model_type)] = workspace.registered
    assert model == MODEL and model_type == "custom_model"
    assert path == "azureml://jobs/job-1/outputs/model"
    assert tags["autopilot.request_id"] == request["request_id"]
    assert svc.retraining.gate(MODEL)["open_request"] is None


# ------------------------------------------------------------------ repairs by the timer


def test_timer_sends_a_request_whose_sender_died(host, svc, fraud, app_env):
    from tests.fakes import FakeClock

    upload(svc, host, app_env, "labelled.csv", transactions(3000, seed=5, drift="concept"))
    import time

    clock = FakeClock(time.time())
    queue = Flaky(svc.retrain_queue, "send", ConnectionError("instance lost before sending"))
    svc = rebuild(retrain_queue=queue, clock=clock)
    [result] = host.event_grid(run_event(), function="on_azureml_run_event")
    assert not result.ok  # Event Grid would redeliver; suppose it never does
    queue.broken = False
    [request] = history(svc)
    assert request["status"] == "pending" and queued(svc) == []
    assert host.timer("monitor_scheduler").ok
    assert history(svc)[0]["status"] == "pending"  # too recent to be called lost
    clock.advance(300)
    assert host.timer("monitor_scheduler").ok
    assert history(svc)[0]["status"] == "queued" and len(queued(svc)) == 1
    assert host.drain(svc.settings.retrain_queue)[0].ok
    assert history(svc)[0]["status"] == "registered"


def test_timer_re_sends_a_request_whose_worker_died(host, svc, fraud, app_env):
    upload(svc, host, app_env, "labelled.csv", transactions(3000, seed=5, drift="concept"))
    alert(host, run_event())
    # The worker claimed it, then died with the message (lease long expired).
    message = svc.retrain_queue.receive(1)[0]
    svc.retrain_queue.delete(message)
    [request] = history(svc)
    kind = f"retrain-{MODEL}"
    stored = svc.state.get(kind, request["request_id"])
    svc.state.put(kind, stored.key, {**stored.doc, "status": "running", "lease_until": 1.0,
                                     "owner": "dead", "message_id": message.id})
    assert host.timer("monitor_scheduler").ok
    assert history(svc)[0]["status"] == "retrying"
    assert host.drain(svc.settings.retrain_queue)[0].ok
    assert history(svc)[0]["status"] == "registered"
    assert [v.version for v in svc.workspace.list_model_versions(MODEL)] == ["1", "2"]


def test_timer_releases_a_gate_left_open_by_a_finished_request(host, svc, fraud):
    alert(host, run_event())
    [request] = history(svc)
    kind = f"retrain-{MODEL}"
    stored = svc.state.get(kind, request["request_id"])
    svc.state.put(kind, stored.key, {**stored.doc, "status": "rejected"})
    assert svc.retraining.gate(MODEL)["open_request"] == request["request_id"]
    assert host.timer("monitor_scheduler").ok
    assert svc.retraining.gate(MODEL)["open_request"] is None


def test_unlabelled_batches_are_accepted_with_label_columns_and_not_learnt_from(
    app_env, monkeypatch, host, tmp_path
):
    from core.bootstrap import reset_services, services

    unlabelled = transactions(500, seed=2, with_label=False)
    monkeypatch.setenv("EARLY_DRIFT_CHECK", "false")
    reset_services()
    svc = services()
    ref_path = tmp_path / "reference.csv"
    ref_path.write_bytes(to_csv_bytes(transactions(300, seed=1)))
    svc.workspace.register_file_version(f"{MODEL}-training", "1", ref_path, tags={})
    container = app_env["INFERENCE_CONTAINER"]
    svc.blob_store.upload(container, f"{MODEL}/nolabels.csv", to_csv_bytes(unlabelled))
    host.blob(f"{container}/{MODEL}/nolabels.csv")
    [record] = svc.ledger.list(model=MODEL)
    assert record.status == "rejected" and record.rejection.code == "missing_columns"

    monkeypatch.setenv("LABEL_COLUMNS", "is_fraud")
    reset_services()
    svc = services()
    host.http("POST", f"/api/models/{MODEL}/ingestions/{record.ingestion_id}/replay")
    upload(svc, host, app_env, "labels.csv", transactions(3000, seed=5, drift="concept"))
    versions = svc.workspace.list_data_versions(f"{MODEL}-inference")
    assert [v.tags["extra_columns"] for v in versions] == ["", "is_fraud"]

    from core.training.model import TrainingSpec, train

    folder = tmp_path / "baseline"
    train(transactions(300, seed=1), TrainingSpec(target=TARGET, features=FEATURES,
                                                  n_estimators=20)).save(folder)
    svc.workspace.register_model(MODEL, folder)
    alert(host, run_event())
    assert host.drain(svc.settings.retrain_queue)[0].ok
    [request] = history(svc)
    assert request["labelled_data"] == f"azureml:{MODEL}-inference:2"


def test_requeue_finds_a_poison_message_behind_many_others(host, svc, fraud):
    for i in range(40):
        svc.retrain_poison_queue.send(json.dumps({"error": f"old {i}"}))
    target = svc.retrain_poison_queue.send(json.dumps({"model": MODEL, "request_id": "r-x"}))
    response = host.http("POST", f"/api/retraining/poison/{target}/requeue")
    assert response.status_code == 200, response.get_body()
    assert [json.loads(m.body)["request_id"] for m in queued(svc)] == ["r-x"]
    listing = json.loads(host.http("GET", "/api/retraining/poison").get_body())
    assert (listing["count"], listing["total"]) == (32, 40)  # a page shown, all counted
    assert len(svc.retrain_poison_queue.receive(32)) + len(
        svc.retrain_poison_queue.receive(32)) == 40
