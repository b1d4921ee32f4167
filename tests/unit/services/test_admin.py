"""Admin (core/services/admin.py): the operators' queries and commands behind the HTTP
endpoints, with BadRequest (400) and NotFound (404) for what the caller can fix."""

from __future__ import annotations

import json

import pytest

from core.domain.ingestion import BlobRef
from core.ports import NotFound
from core.services.admin import BadRequest
from tests.fakes import FakeMonitorRunner
from tests.unit.services.conftest import (
    CLEAN_CSV,
    DRIFTED_CSV,
    INFERENCE,
    MODEL,
    csv_table,
)

MONITOR = f"{MODEL}-monitor"


@pytest.fixture
def admin(world):
    world.model()
    world.reference()
    return world.services().admin


# --------------------------------------------------------------------------- health


def _probes(**failing):
    def ok():
        return True

    def fails(exc):
        def probe():
            raise exc
        return probe

    names = ("table_storage", "inference_storage", "queue_storage", "workspace")
    return {n: fails(failing[n]) if n in failing else ok for n in names}


def test_health_with_every_dependency_reachable(world):
    svc = world.services()
    svc.__dict__["health_probes"] = _probes()
    health = svc.health.health()

    assert health == {"status": "up", "dependencies": {
        "table_storage": "up", "inference_storage": "up", "queue_storage": "up",
        "workspace": "up"}}
    details = svc.health.details()
    assert details["settings"]["inference_container"] == "inference"
    # Connections are described by form and account, never by their connection string.
    assert details["settings"]["storage_connection"] == {"form": "connection string",
                                                         "account": "devstoreaccount1"}
    assert details["settings"]["inference_connection"] == \
        details["settings"]["storage_connection"]
    assert "UseDevelopmentStorage" not in json.dumps(details)


def test_health_with_a_failing_probe_is_down_and_says_why_only_behind_the_key(world):
    svc = world.services()
    svc.__dict__["health_probes"] = _probes(
        queue_storage=ConnectionError("queue endpoint unreachable"))

    health = svc.health.health()
    details = svc.health.details()

    assert health["status"] == "down" and health["failing"] == ["queue_storage"]
    assert "unreachable" not in json.dumps(health)  # anonymous: up/down only
    assert details["errors"] == {"queue_storage": "ConnectionError: queue endpoint unreachable"}
    assert details["dependencies"]["table_storage"] == "up"


def test_a_hung_probe_is_down_within_the_deadline(world):
    import threading
    import time

    from core.services.health import HEALTH_DEADLINE_SECONDS

    release = threading.Event()
    svc = world.services()
    probes = _probes()
    probes["table_storage"] = lambda: release.wait(30)
    svc.__dict__["health_probes"] = probes
    started = time.monotonic()
    health = svc.health.health()
    elapsed = time.monotonic() - started
    release.set()
    assert health["failing"] == ["table_storage"]
    assert HEALTH_DEADLINE_SECONDS <= elapsed < HEALTH_DEADLINE_SECONDS + 1


# --------------------------------------------------------------------------- ingestions


def test_list_ingestions_across_models_by_model_and_by_status(world, admin):
    good = world.ingest("good.csv", CLEAN_CSV).record
    world.clock.advance(60)
    bad = world.ingest("bad.csv", "age,city\n1,x\n").record
    world.clock.advance(60)
    world.upload("fraud/a.csv", CLEAN_CSV)
    other = world.services().ingest.ingest(BlobRef(INFERENCE, "fraud/a.csv")).record

    everything = admin.list_ingestions(None, None)
    quarantine = admin.list_ingestions(None, "rejected")
    churn = admin.list_ingestions(MODEL, None)

    assert [i["id"] for i in everything["ingestions"]] == [
        other.ingestion_id, bad.ingestion_id, good.ingestion_id]  # newest first
    assert everything["count"] == 3
    assert [i["id"] for i in quarantine["ingestions"]] == [bad.ingestion_id]
    assert quarantine["ingestions"][0]["rejection"]["code"] == "missing_columns"
    assert (churn["model"], churn["count"]) == (MODEL, 2)


def test_list_ingestions_with_an_unknown_status_is_a_bad_request(admin):
    with pytest.raises(BadRequest, match="unknown status 'done'"):
        admin.list_ingestions(MODEL, "done")


def test_get_ingestion_and_not_found(world, admin):
    record = world.ingest("good.csv", CLEAN_CSV).record

    got = admin.get_ingestion(MODEL, record.ingestion_id)

    assert got == record.to_json()
    assert got["data_asset"] == {"name": f"{MODEL}-inference", "version": "1"}
    with pytest.raises(NotFound):
        admin.get_ingestion(MODEL, "nope")


def test_replay_ingestion_registers_a_fixed_file_or_rejects_it_again(world, admin):
    rejected = world.ingest("bad.csv", "age,city\n1,x\n").record

    again = admin.replay_ingestion(MODEL, rejected.ingestion_id)
    world.upload(f"{MODEL}/batches/bad.csv", CLEAN_CSV)
    fixed = admin.replay_ingestion(MODEL, rejected.ingestion_id)

    assert again["outcome"] == "rejected"
    assert again["ingestion"]["rejection"]["code"] == "missing_columns"
    assert fixed["outcome"] == "registered" and fixed["message"] == \
        f"registered as {MODEL}-inference:1"
    assert fixed["ingestion"]["replay_of"] == rejected.ingestion_id
    with pytest.raises(NotFound):
        admin.replay_ingestion(MODEL, "nope")


# --------------------------------------------------------------------------- drift


def test_latest_drift_is_the_summary_and_the_full_result(world, admin):
    record = world.ingest("drifted.csv", DRIFTED_CSV).record

    latest = admin.latest_drift(MODEL)

    assert latest["summary"]["ingestion"] == record.ingestion_id
    assert latest["summary"]["breached"] is True
    assert {s["name"] for s in latest["result"]["signals"]} == {"data_drift", "data_quality"}
    with pytest.raises(NotFound):
        admin.latest_drift("fraud")


def test_drift_report_of_the_latest_batch_or_one_ingestion(world, admin):
    first = world.ingest("clean.csv", CLEAN_CSV).record
    world.clock.advance(60)
    world.ingest("drifted.csv", DRIFTED_CSV)

    latest = admin.drift_report(MODEL, None)
    one = admin.drift_report(MODEL, first.ingestion_id)

    assert latest.lstrip().lower().startswith("<!doctype html")
    assert f"Drift report: {MODEL}, latest batch" in latest
    assert f"Drift report: {MODEL}, ingestion {first.ingestion_id}" in one
    with pytest.raises(NotFound):
        admin.drift_report(MODEL, "nope")


def test_check_drift_with_an_empty_body_compares_the_latest_versions(world, admin):
    world.inference(table=csv_table(DRIFTED_CSV))

    body, html = admin.check_drift(MODEL, {})

    assert body["summary"]["reference"] == f"azureml:{MODEL}-training:1"
    assert body["summary"]["production"] == f"azureml:{MODEL}-inference:1"
    assert body["summary"]["breached"] is True
    assert f"Drift check: {MODEL}, azureml:{MODEL}-training:1 vs " in html


def test_check_drift_between_named_versions(world, admin):
    world.inference(table=csv_table(CLEAN_CSV))
    world.inference(table=csv_table(DRIFTED_CSV))

    body, _ = admin.check_drift(MODEL, {"production": {"version": 1},
                                        "baseline": {"version": "1"}})
    batches, _ = admin.check_drift(MODEL, {
        "production": {"name": f"{MODEL}-inference", "version": "2"},
        "baseline": {"name": f"{MODEL}-inference", "version": "1"}})

    assert body["summary"]["production"] == f"azureml:{MODEL}-inference:1"
    assert body["summary"]["breached"] is False
    assert batches["summary"]["reference"] == f"azureml:{MODEL}-inference:1"
    assert batches["summary"]["breached"] is True


@pytest.mark.parametrize("body", [
    {"production": "churn-inference:1"},
    {"baseline": ["churn-training", "1"]},
    {"baseline": 3},
])
def test_check_drift_with_a_malformed_body_is_a_bad_request(world, admin, body):
    world.inference()
    with pytest.raises(BadRequest, match="must be an object"):
        admin.check_drift(MODEL, body)


def test_check_drift_of_versions_that_do_not_exist_is_not_found(world, admin):
    with pytest.raises(NotFound):
        admin.check_drift(MODEL, {})  # no inference data yet
    world.inference()
    with pytest.raises(NotFound):
        admin.check_drift(MODEL, {"production": {"version": "9"}})


# --------------------------------------------------------------------------- monitors


def test_ensure_then_get_and_list_monitors(world, admin):
    world.inference()

    ensured = admin.ensure_monitor(MODEL)

    assert ensured["outcome"]["action"] == "created"
    assert ensured["outcome"]["changes"] == []
    assert ensured["monitor"]["exists"] is True
    assert admin.get_monitor(MODEL)["production_data"] == f"{MODEL}-inference:1"
    listed = admin.list_monitors()
    assert (listed["count"], listed["backend"]) == (1, "local")
    assert listed["monitors"][0]["monitor"] == MONITOR
    assert admin.ensure_monitor(MODEL)["outcome"]["action"] == "unchanged"


def test_ensure_and_get_of_an_unknown_model_are_not_found(admin):
    with pytest.raises(NotFound):
        admin.ensure_monitor("ghost")
    with pytest.raises(NotFound):
        admin.get_monitor("fraud")


def test_a_waiting_monitor_is_listed_with_its_state(admin):
    ensured = admin.ensure_monitor(MODEL)  # no inference data yet

    assert ensured["outcome"]["status"] == "waiting_for_data"
    assert ensured["monitor"]["exists"] is False
    assert admin.list_monitors()["monitors"][0]["status"] == "waiting_for_data"


def test_run_monitor_locally_answers_with_the_completed_run(world, admin):
    world.inference()
    admin.ensure_monitor(MODEL)
    world.runner.breached = ("data_drift",)

    ran = admin.run_monitor(MODEL)

    assert ran["completed"] is True and ran["triggered_job"] is None
    assert ran["monitor"] == MONITOR
    assert ran["run"]["trigger"] == "admin API" and ran["run"]["breached"] is True
    assert admin.get_monitor(MODEL)["last_run"]["run_id"] == ran["run"]["run_id"]


def test_run_monitor_on_azure_answers_with_the_triggered_job(world, admin):
    world.inference()
    admin.ensure_monitor(MODEL)
    world.runner = FakeMonitorRunner(fires_schedules=False, clock=world.clock)

    ran = world.services().admin.run_monitor(MODEL)

    assert ran["completed"] is False
    assert ran["triggered_job"] == ran["run"]["job"] and ran["triggered_job"]


def test_run_monitor_without_a_monitor_is_not_found(admin):
    with pytest.raises(NotFound):
        admin.run_monitor(MODEL)


def test_disable_and_enable_a_monitor(world, admin):
    world.inference()
    admin.ensure_monitor(MODEL)

    disabled = admin.set_monitor_enabled(MODEL, False)
    enabled = admin.set_monitor_enabled(MODEL, True)

    assert disabled["enabled"] is False and enabled["enabled"] is True
    assert world.ws.monitors[MONITOR].enabled is True
    with pytest.raises(NotFound):
        admin.set_monitor_enabled("fraud", False)


# --------------------------------------------------------------------------- retraining


def test_request_retraining_by_hand_then_the_same_debounce(world, admin):
    first = admin.request_retraining(MODEL, {"reason": "new labels arrived"})
    second = admin.request_retraining(MODEL, {})
    forced = admin.request_retraining(MODEL, {"reason": "now", "force": True})

    assert first["decision"] == "requested" and first["reason"] == "drift breach 1 in a row"
    assert first["gate"]["open_request"] == first["request_id"]
    assert second["decision"] == "suppressed" and first["request_id"] in second["reason"]
    assert forced["decision"] == "requested" and forced["reason"] == "forced by the operator"
    assert [m["reason"] for m in world.queue.bodies()] == ["new labels arrived", "now"]


@pytest.mark.parametrize("body", [{"reason": 7}, {"force": "yes"}, {"reason": ["x"]}])
def test_request_retraining_with_a_malformed_body_is_a_bad_request(world, admin, body):
    with pytest.raises(BadRequest):
        admin.request_retraining(MODEL, body)
    assert world.queue.messages == []


def test_request_retraining_of_an_unknown_model_is_not_found(admin):
    with pytest.raises(NotFound, match="has no registered version"):
        admin.request_retraining("ghost", {})


def test_retraining_history_one_request_and_the_gate(world, admin):
    requested = admin.request_retraining(MODEL, {"reason": "by hand"})
    (message,) = world.queue.messages
    world.services().retraining.handle_message(message.body, message_id=message.id,
                                               dequeue_count=1)

    history = admin.retraining_history(MODEL)
    one = admin.get_retraining(MODEL, requested["request_id"])

    assert history["count"] == 1 and history["retraining"] == [one]
    assert one["status"] == "registered" and one["new_version"] == "4"
    assert one["decision"] == "challenger wins" and one["reason"] == "by hand"
    assert history["gate"]["open_request"] is None
    assert history["gate"]["last_finished"] == requested["request_id"]
    with pytest.raises(NotFound):
        admin.get_retraining(MODEL, "nope")


def test_drift_alerts_show_what_became_of_each(world, admin):
    world.ingest("a.csv", DRIFTED_CSV)
    world.clock.advance(60)
    world.ingest("b.csv", DRIFTED_CSV)

    alerts = admin.drift_alerts(MODEL)

    assert alerts["count"] == 2
    assert [a["status"] for a in alerts["alerts"]] == ["suppressed", "requested"]  # newest first
    assert alerts["alerts"][0]["code"] == "open_request"
    assert admin.drift_alerts("fraud") == {"model": "fraud", "count": 0, "alerts": []}


def test_poison_messages_and_requeue(world, admin):
    world.poison.send(json.dumps({"model": MODEL, "request_id": "r-1"}))
    world.poison.send("not json")

    listed = admin.poison_messages()
    requeued = admin.requeue_poison(listed["messages"][0]["message_id"])

    assert (listed["queue"], listed["count"], listed["total"], listed["note"]) == (
        "retrain-requests-poison", 2, 2, None)
    assert listed["messages"][0]["body"] == {"model": MODEL, "request_id": "r-1"}
    assert listed["messages"][1]["body"] == "not json"
    assert requeued["queue"] == "retrain-requests"
    assert world.queue.bodies() == [{"model": MODEL, "request_id": "r-1"}]
    assert admin.poison_messages()["count"] == 1
    with pytest.raises(NotFound):
        admin.requeue_poison("nope")


def test_a_long_poison_queue_shows_the_32_oldest_and_counts_all(world, admin):
    for n in range(40):
        world.poison.send(f"message {n}")

    listed = admin.poison_messages()

    assert (listed["count"], listed["total"]) == (32, 40)
    assert listed["note"] == "the 32 oldest are shown"
    assert listed["messages"][0]["body"] == "message 0"
