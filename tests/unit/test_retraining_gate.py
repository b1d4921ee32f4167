"""Retraining (core/retraining.py): the gate's decision, and the service over in-memory fakes of
its ports (state store with ETags, queues, workspace, runner)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from core.bootstrap import build_services
from core.domain.alerts import DriftAlert
from core.domain.monitoring import AssetRef, MonitorSpec
from core.domain.retraining import (
    RetrainGate,
    RetrainPolicy,
    gate_decision,
)
from core.ports import NotFound
from core.services.retraining.records import GATE, requests_kind
from core.settings import load_settings
from tests.fakes import NOW, FakeClock, FakeQueue, FakeRetrainer, FakeStateStore, FakeWorkspace

HOUR = 3600.0


def decide(gate: dict, now: float, policy: RetrainPolicy, *, force: bool) -> tuple[str, str]:
    verdict = gate_decision(RetrainGate.from_doc(gate), now, policy, force=force)
    return ("request" if verdict.request else "suppress"), verdict.reason


# --------------------------------------------------------------------------- the gate


def test_a_first_breach_opens_a_request():
    verdict, reason = decide({}, NOW, RetrainPolicy(), force=False)
    assert (verdict, reason) == ("request", "drift breach 1 in a row")


def test_an_open_request_suppresses():
    gate = {"open_request": "req-1", "open_since": NOW - 60}
    verdict, reason = decide(gate, NOW, RetrainPolicy(), force=False)
    assert verdict == "suppress"
    assert "req-1" in reason and "already open" in reason


def test_an_open_request_does_not_stop_force():
    gate = {"open_request": "req-1", "open_since": NOW - 60}
    assert decide(gate, NOW, RetrainPolicy(), force=True) == (
        "request", "forced by the operator")


def test_cooldown_suppresses_until_exactly_cooldown_seconds_have_passed():
    config = RetrainPolicy(cooldown_seconds=2 * HOUR)
    gate = {"open_request": None, "last_request_at": NOW}

    verdict, reason = decide(gate, NOW + 2 * HOUR - 1, config, force=False)
    assert verdict == "suppress"
    assert "cooldown" in reason and "RETRAIN_COOLDOWN_HOURS" in reason

    assert decide(gate, NOW + 2 * HOUR, config, force=False)[0] == "request"
    assert decide(gate, NOW + 3 * HOUR, config, force=False)[0] == "request"


def test_cooldown_reason_names_when_the_next_is_allowed():
    config = RetrainPolicy(cooldown_seconds=HOUR)
    gate = {"last_request_at": 1_800_000_000.0}  # 2027-01-15T08:00:00+00:00
    _, reason = decide(gate, 1_800_000_000.0 + 10, config, force=False)
    assert "2027-01-15T08:00:00+00:00" in reason
    assert "2027-01-15T09:00:00+00:00" in reason


def test_force_overrides_the_cooldown():
    gate = {"last_request_at": NOW - 1}
    assert decide(gate, NOW, RetrainPolicy(), force=True)[0] == "request"


def test_breaches_in_a_row_counts_the_consecutive_breaches():
    config = RetrainPolicy(breaches_in_a_row=3)
    verdict, reason = decide({}, NOW, config, force=False)
    assert verdict == "suppress"
    assert "breach 1 of 3" in reason and "RETRAIN_BREACHES_IN_A_ROW" in reason

    verdict, reason = decide({"consecutive": 1}, NOW, config, force=False)
    assert verdict == "suppress" and "breach 2 of 3" in reason

    assert decide({"consecutive": 2}, NOW, config, force=False) == (
        "request", "drift breach 3 in a row")


def test_force_overrides_breaches_in_a_row_and_everything_at_once():
    config = RetrainPolicy(breaches_in_a_row=5, cooldown_seconds=HOUR)
    gate = {"open_request": "req-1", "open_since": NOW, "last_request_at": NOW,
            "consecutive": 0}
    assert decide(gate, NOW, config, force=False)[0] == "suppress"
    assert decide(gate, NOW, config, force=True) == ("request", "forced by the operator")


def test_open_request_is_checked_before_the_cooldown():
    gate = {"open_request": "req-1", "open_since": NOW, "last_request_at": NOW}
    _, reason = decide(gate, NOW + 1, RetrainPolicy(), force=False)
    assert "already open" in reason and "cooldown" not in reason


# --------------------------------------------------------------------------- the use cases


@pytest.fixture
def world():
    """The retraining use cases as the composition root wires them, over the shared fakes."""
    state, queue, poison = FakeStateStore(), FakeQueue("retrain"), FakeQueue("retrain-poison")
    ws = FakeWorkspace()
    ws.add_model("churn")
    ws.add_model("fraud")
    ws.monitors["nightly"] = MonitorSpec(
        "nightly", "fraud", "1", AssetRef("fraud-training", "1"), AssetRef("fraud-inference", "1"))
    retrainer = FakeRetrainer()
    clock = FakeClock()
    settings = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})

    def service(policy=None, *, monitor_name_template="{model}-monitor"):
        from dataclasses import replace as with_

        return build_services(
            with_(settings, monitor_name_template=monitor_name_template),
            workspace=ws, state=state, retrain_queue=queue, retrain_poison_queue=poison,
            retrainer=retrainer, clock=clock,
            retrain_policy=policy or RetrainPolicy(max_attempts=3),
        ).retraining

    return SimpleNamespace(state=state, queue=queue, poison=poison, ws=ws, runner=retrainer,
                           clock=clock, service=service)


def alert(key="run:r1:churn-monitor_data_drift", **fields):
    return DriftAlert(alert_key=key, source=fields.pop("source", "azureml_monitor"), **fields)


def requested(world, svc):
    """Ask for a retraining of churn; returns (request id, its queued message)."""
    outcome = svc.request("churn", reason="drift on age")
    assert outcome.decision == "requested"
    (message,) = world.queue.messages
    return outcome.request_id, message


def status_of(world, request_id, model="churn"):
    return world.state.get(requests_kind(model), request_id).doc["status"]


def open_request(world, model="churn"):
    return world.state.get(GATE, model).doc.get("open_request")


# --------------------------------------------------------------------------- model_of


def model_of(world, alert):
    return world.service().alerts_service.model_of(alert)


def test_model_of_an_alert_naming_its_model(world):
    world.ws.models.clear()  # not even looked up
    assert model_of(world, alert(model="churn", monitor="nightly")) == "churn"


def test_model_of_a_monitor_found_in_the_workspace(world):
    assert model_of(world, alert(monitor="nightly")) == "fraud"


def test_model_of_by_the_monitor_naming_convention(world):
    assert model_of(world, alert(monitor="churn-monitor")) == "churn"


def test_model_of_with_another_naming_template(world):
    svc = world.service(monitor_name_template="mon-{model}").alerts_service
    assert svc.model_of(alert(monitor="mon-churn")) == "churn"
    assert svc.model_of(alert(monitor="churn-monitor")) is None


def test_model_of_a_convention_name_whose_model_does_not_exist(world):
    assert model_of(world, alert(monitor="ghost-monitor")) is None


def test_model_of_a_v1_data_drift_named_after_the_model(world):
    assert model_of(world, alert(monitor="churn", source="dataset_drift")) == "churn"


def test_model_of_a_broken_monitor_falls_back_to_the_name(world):
    world.ws.broken_monitors.add("churn-monitor")
    assert model_of(world, alert(monitor="churn-monitor")) == "churn"


@pytest.mark.parametrize("monitor", [None, "", "unknown", "-monitor"])
def test_model_of_unknown(world, monitor):
    assert model_of(world, alert(monitor=monitor)) is None


# --------------------------------------------------------------------------- alerts to requests


def test_an_alert_becomes_one_queued_request_and_a_redelivery_is_a_duplicate(world):
    svc = world.service()
    first = svc.on_alert(alert(monitor="churn-monitor", detail="The signal 'x' has failed"))
    again = svc.on_alert(alert(monitor="churn-monitor", detail="The signal 'x' has failed"))
    assert first.decision == "requested"
    assert again.decision == "duplicate"
    assert again.request_id == first.request_id
    assert [b["request_id"] for b in world.queue.bodies()] == [first.request_id]
    assert status_of(world, first.request_id) == "queued"
    assert open_request(world) == first.request_id


def test_a_second_alert_while_a_request_is_open_is_suppressed(world):
    svc = world.service()
    first = svc.on_alert(alert(key="run:r1:s", monitor="churn-monitor"))
    second = svc.on_alert(alert(key="run:r2:s", monitor="churn-monitor"))
    assert second.decision == "suppressed"
    assert first.request_id in second.reason
    assert len(world.queue.messages) == 1


def test_the_cooldown_runs_from_the_last_request(world):
    svc = world.service(RetrainPolicy(cooldown_seconds=2 * HOUR, max_attempts=3))
    request_id, message = requested(world, svc)
    svc.handle_message(message.body, message_id=message.id, dequeue_count=1)  # gate released

    world.clock.now = NOW + 2 * HOUR - 1
    early = svc.on_alert(alert(key="run:r2:s", monitor="churn-monitor"))
    world.clock.now = NOW + 2 * HOUR
    on_time = svc.on_alert(alert(key="run:r3:s", monitor="churn-monitor"))

    assert early.decision == "suppressed" and "cooldown" in early.reason
    assert on_time.decision == "requested" and on_time.request_id != request_id


def test_breaches_in_a_row_through_the_service_and_a_clean_check_resets_them(world):
    svc = world.service(RetrainPolicy(breaches_in_a_row=2, max_attempts=3))
    first = svc.on_alert(alert(key="run:r1:s", monitor="churn-monitor"))
    svc.on_clean_check("churn")
    second = svc.on_alert(alert(key="run:r2:s", monitor="churn-monitor"))
    third = svc.on_alert(alert(key="run:r3:s", monitor="churn-monitor"))

    assert first.decision == "suppressed" and "breach 1 of 2" in first.reason
    assert second.decision == "suppressed" and "breach 1 of 2" in second.reason
    assert third.decision == "requested"
    assert world.state.get(GATE, "churn").doc["consecutive"] == 0


def test_an_unmapped_alert_is_recorded(world):
    outcome = world.service().on_alert(alert(monitor="ghost-monitor"))
    assert outcome.decision == "unmapped"
    assert world.queue.messages == []
    assert [a["status"] for a in world.service().alerts("_unmapped")] == ["unmapped"]


# --------------------------------------------------------------------------- handle_message


@pytest.mark.parametrize("body", [
    "not json",
    json.dumps({"model": "churn"}),
    json.dumps({"model": "churn", "request_id": 7}),
    json.dumps(["churn", "r"]),
])
def test_an_unreadable_message_goes_to_the_poison_queue(world, body):
    result = world.service().handle_message(body, message_id="m-1", dequeue_count=1)
    assert result["outcome"] == "poisoned"
    (poisoned,) = world.poison.bodies()
    assert poisoned["message_id"] == "m-1"
    assert poisoned["body"] == body
    assert "unreadable" in poisoned["error"]
    assert world.runner.started == []


def test_a_request_runs_once_and_releases_the_gate(world):
    svc = world.service()
    request_id, message = requested(world, svc)

    result = svc.handle_message(message.body, message_id=message.id, dequeue_count=1)

    assert result["outcome"] == "registered"
    assert result["request_id"] == request_id and result["new_version"] == "4"
    assert [(r.model, r.request_id) for r in world.runner.started] == [("churn", request_id)]
    stored = world.state.get(requests_kind("churn"), request_id).doc
    assert stored["status"] == "registered" and stored["new_version"] == "4"
    assert stored["attempts"] == 1
    assert open_request(world) is None


def test_a_message_for_a_registered_request_is_a_duplicate(world):
    svc = world.service()
    request_id, message = requested(world, svc)
    svc.handle_message(message.body, message_id=message.id, dequeue_count=1)

    again = svc.handle_message(message.body, message_id="another-delivery", dequeue_count=1)

    assert again == {"outcome": "duplicate", "request_id": request_id, "status": "registered"}
    assert len(world.runner.started) == 1


def test_a_runner_failure_on_the_last_attempt_fails_the_request_and_releases_the_gate(world):
    world.runner.error = RuntimeError("training crashed")
    svc = world.service(RetrainPolicy(max_attempts=3))
    request_id, message = requested(world, svc)

    with pytest.raises(RuntimeError, match="training crashed"):
        svc.handle_message(message.body, message_id=message.id, dequeue_count=3)

    stored = world.state.get(requests_kind("churn"), request_id).doc
    assert stored["status"] == "failed"
    assert stored["error"] == "RuntimeError: training crashed"
    assert open_request(world) is None


def test_a_runner_failure_on_an_earlier_attempt_retries_and_keeps_the_gate(world):
    world.runner.error = RuntimeError("flaky")
    svc = world.service(RetrainPolicy(max_attempts=3))
    request_id, message = requested(world, svc)

    with pytest.raises(RuntimeError):
        svc.handle_message(message.body, message_id=message.id, dequeue_count=2)

    assert status_of(world, request_id) == "retrying"
    assert open_request(world) == request_id

    world.runner.error = None  # the queue's next delivery succeeds
    result = svc.handle_message(message.body, message_id=message.id, dequeue_count=3)
    assert result["outcome"] == "registered"
    assert world.state.get(requests_kind("churn"), request_id).doc["attempts"] == 2
    assert open_request(world) is None


# --------------------------------------------------------------------------- poison


def test_requeue_poison_moves_the_message_back_and_reopens_the_request(world):
    world.runner.error = RuntimeError("bad data")
    svc = world.service(RetrainPolicy(max_attempts=1))
    request_id, message = requested(world, svc)
    with pytest.raises(RuntimeError):
        svc.handle_message(message.body, message_id=message.id, dequeue_count=1)
    assert status_of(world, request_id) == "failed"
    # The host moves the message to the poison queue after its last attempt.
    world.queue.delete(message)
    poison_id = world.poison.send(message.body)
    other_id = world.poison.send("something else")

    result = svc.requeue_poison(poison_id)

    assert result["requeued"] == poison_id
    assert result["queue"] == "retrain"
    assert [m.body for m in world.queue.messages] == [message.body]
    assert result["new_message_id"] == world.queue.messages[0].id
    assert [m.id for m in world.poison.peek()] == [other_id]  # the other one is visible again
    assert status_of(world, request_id) == "queued"


def test_requeue_poison_of_an_unknown_message(world):
    kept = world.poison.send("x")
    with pytest.raises(NotFound):
        world.service().requeue_poison("nope")
    assert [m.id for m in world.poison.peek()] == [kept]
    assert world.queue.messages == []


def test_breaches_in_a_row_count_one_signal_at_a_time():
    config = RetrainPolicy(breaches_in_a_row=2)
    gate = RetrainGate()
    from core.domain.alerts import streak_key
    from core.domain.retraining import apply_verdict, clean_check

    def breach(gate, signal):
        key = streak_key(signal)
        verdict = gate_decision(gate, NOW, config, force=False, signal=key)
        return verdict, apply_verdict(gate, verdict, now=NOW, request_id="r", alert_key="a",
                                      signal=key)

    verdict, gate = breach(gate, "early_check_data_drift")
    assert not verdict.request and "breach 1 of 2 in a row of data_drift" in verdict.reason
    # a breach of another signal is its own streak, not the second of this one
    verdict, gate = breach(gate, "m-monitor_prediction_drift")
    assert not verdict.request and "breach 1 of 2 in a row of prediction_drift" in verdict.reason
    assert gate.streaks == {"data_drift": 1, "prediction_drift": 1}
    # the monitor's data drift signal continues the early check's data drift streak
    verdict, gate = breach(gate, "m-monitor_data_drift")
    assert verdict.request and verdict.reason == "drift breach 2 in a row of data_drift"
    assert gate.streaks == {} and gate.consecutive == 0
    # a clean check ends the data drift streak only
    _, gate = breach(gate.__class__(), "early_check_data_drift")
    _, gate = breach(gate, "m-monitor_prediction_drift")
    gate = clean_check(gate)
    assert gate is not None and gate.streaks == {"prediction_drift": 1}
    assert clean_check(RetrainGate()) is None
