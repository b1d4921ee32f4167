"""Retraining (core/retraining.py): the gate's decision, and the service over in-memory fakes of
its ports (state store with ETags, queues, workspace, runner)."""

from __future__ import annotations

import copy
import itertools
import json
from types import SimpleNamespace

import pytest

from core.domain.alerts import DriftAlert
from core.ports import Conflict, NotFound, QueuedMessage, Stored
from core.services.retraining.service import (
    GATE,
    RetrainConfig,
    RetrainingService,
    gate_decision,
    requests_kind,
)

NOW = 1_800_000_000.0
HOUR = 3600.0


# --------------------------------------------------------------------------- gate_decision


def test_a_first_breach_opens_a_request():
    verdict, reason = gate_decision({}, NOW, RetrainConfig(), force=False)
    assert (verdict, reason) == ("request", "drift breach 1 in a row")


def test_an_open_request_suppresses():
    gate = {"open_request": "req-1", "open_since": NOW - 60}
    verdict, reason = gate_decision(gate, NOW, RetrainConfig(), force=False)
    assert verdict == "suppress"
    assert "req-1" in reason and "already open" in reason


def test_an_open_request_does_not_stop_force():
    gate = {"open_request": "req-1", "open_since": NOW - 60}
    assert gate_decision(gate, NOW, RetrainConfig(), force=True) == (
        "request", "forced by the operator")


def test_cooldown_suppresses_until_exactly_cooldown_seconds_have_passed():
    config = RetrainConfig(cooldown_seconds=2 * HOUR)
    gate = {"open_request": None, "last_request_at": NOW}

    verdict, reason = gate_decision(gate, NOW + 2 * HOUR - 1, config, force=False)
    assert verdict == "suppress"
    assert "cooldown" in reason and "RETRAIN_COOLDOWN_HOURS" in reason

    assert gate_decision(gate, NOW + 2 * HOUR, config, force=False)[0] == "request"
    assert gate_decision(gate, NOW + 3 * HOUR, config, force=False)[0] == "request"


def test_cooldown_reason_names_when_the_next_is_allowed():
    config = RetrainConfig(cooldown_seconds=HOUR)
    gate = {"last_request_at": 1_800_000_000.0}  # 2027-01-15T08:00:00+00:00
    _, reason = gate_decision(gate, 1_800_000_000.0 + 10, config, force=False)
    assert "2027-01-15T08:00:00+00:00" in reason
    assert "2027-01-15T09:00:00+00:00" in reason


def test_force_overrides_the_cooldown():
    gate = {"last_request_at": NOW - 1}
    assert gate_decision(gate, NOW, RetrainConfig(), force=True)[0] == "request"


def test_breaches_in_a_row_counts_the_consecutive_breaches():
    config = RetrainConfig(breaches_in_a_row=3)
    verdict, reason = gate_decision({}, NOW, config, force=False)
    assert verdict == "suppress"
    assert "breach 1 of 3" in reason and "RETRAIN_BREACHES_IN_A_ROW" in reason

    verdict, reason = gate_decision({"consecutive": 1}, NOW, config, force=False)
    assert verdict == "suppress" and "breach 2 of 3" in reason

    assert gate_decision({"consecutive": 2}, NOW, config, force=False) == (
        "request", "drift breach 3 in a row")


def test_force_overrides_breaches_in_a_row_and_everything_at_once():
    config = RetrainConfig(breaches_in_a_row=5, cooldown_seconds=HOUR)
    gate = {"open_request": "req-1", "open_since": NOW, "last_request_at": NOW,
            "consecutive": 0}
    assert gate_decision(gate, NOW, config, force=False)[0] == "suppress"
    assert gate_decision(gate, NOW, config, force=True) == ("request", "forced by the operator")


def test_open_request_is_checked_before_the_cooldown():
    gate = {"open_request": "req-1", "open_since": NOW, "last_request_at": NOW}
    _, reason = gate_decision(gate, NOW + 1, RetrainConfig(), force=False)
    assert "already open" in reason and "cooldown" not in reason


# --------------------------------------------------------------------------- fakes


class MemoryState:
    """StateStore over a dict, with ETags that change on every write."""

    def __init__(self):
        self.docs: dict[tuple[str, str], tuple[dict, str]] = {}
        self._etags = itertools.count(1)

    def _store(self, kind, key, doc) -> Stored:
        etag = f'W/"{next(self._etags)}"'
        self.docs[(kind, key)] = (copy.deepcopy(doc), etag)
        return Stored(key, copy.deepcopy(doc), etag)

    def get(self, kind, key):
        if (kind, key) not in self.docs:
            return None
        doc, etag = self.docs[(kind, key)]
        return Stored(key, copy.deepcopy(doc), etag)

    def create(self, kind, key, doc):
        if (kind, key) in self.docs:
            raise Conflict(f"{kind}/{key} exists")
        return self._store(kind, key, doc)

    def replace(self, kind, key, doc, etag):
        current = self.docs.get((kind, key))
        if current is None or current[1] != etag:
            raise Conflict(f"{kind}/{key} changed")
        return self._store(kind, key, doc)

    def put(self, kind, key, doc):
        return self._store(kind, key, doc)

    def list(self, kind):
        return [self.get(k, key) for (k, key) in sorted(self.docs) if k == kind]


class MemoryQueue:
    def __init__(self, name):
        self.name = name
        self.messages: list[QueuedMessage] = []
        self.invisible: set[str] = set()
        self._ids = itertools.count(1)

    def send(self, body):
        message = QueuedMessage(id=f"{self.name}-{next(self._ids)}", body=body, dequeue_count=0,
                                inserted_at="2027-01-15T08:00:00+00:00")
        self.messages.append(message)
        return message.id

    def peek(self, limit=32):
        return [m for m in self.messages if m.id not in self.invisible][:limit]

    def approximate_count(self):
        return len(self.messages)

    def receive(self, limit=32, visibility_seconds=30):
        got = self.peek(limit)
        self.invisible.update(m.id for m in got)
        return got

    def delete(self, message):
        self.messages = [m for m in self.messages if m.id != message.id]
        self.invisible.discard(message.id)

    def release(self, message):
        self.invisible.discard(message.id)

    def bodies(self):
        return [json.loads(m.body) for m in self.messages]


class FakeWorkspace:
    def __init__(self, models=(), monitors=None, broken_monitors=()):
        self.models = set(models)
        self.monitors = monitors or {}
        self.broken = set(broken_monitors)

    def get_monitor(self, name):
        if name in self.broken:
            raise ValueError(f"schedule {name} is not a monitor")
        return self.monitors.get(name)

    def latest_model(self, name):
        return SimpleNamespace(name=name, version="3") if name in self.models else None


class FakeRunner:
    def __init__(self, result=None, error=None):
        self.result = result or {"status": "registered", "new_version": "4"}
        self.error = error
        self.calls = []

    def run(self, model, request):
        self.calls.append((model, request))
        if self.error:
            raise self.error
        return dict(self.result)


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def world():
    state, queue, poison = MemoryState(), MemoryQueue("retrain"), MemoryQueue("retrain-poison")
    ws = FakeWorkspace(models={"churn"},
                       monitors={"nightly": SimpleNamespace(model_name="fraud")})
    runner = FakeRunner()
    clock = Clock()

    def service(config=None, **kwargs):
        config = config or RetrainConfig(max_attempts=3)
        return RetrainingService(ws, state, queue, poison, runner, config, clock=clock,
                                 owner="test", **kwargs)

    return SimpleNamespace(state=state, queue=queue, poison=poison, ws=ws, runner=runner,
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


def test_model_of_an_alert_naming_its_model(world):
    world.ws.models.clear()  # not even looked up
    assert world.service().model_of(alert(model="churn", monitor="nightly")) == "churn"


def test_model_of_a_monitor_found_in_the_workspace(world):
    assert world.service().model_of(alert(monitor="nightly")) == "fraud"


def test_model_of_by_the_monitor_naming_convention(world):
    assert world.service().model_of(alert(monitor="churn-monitor")) == "churn"


def test_model_of_with_another_naming_template(world):
    svc = world.service(monitor_name_template="mon-{model}")
    assert svc.model_of(alert(monitor="mon-churn")) == "churn"
    assert svc.model_of(alert(monitor="churn-monitor")) is None


def test_model_of_a_convention_name_whose_model_does_not_exist(world):
    assert world.service().model_of(alert(monitor="ghost-monitor")) is None


def test_model_of_a_v1_data_drift_named_after_the_model(world):
    assert world.service().model_of(alert(monitor="churn", source="dataset_drift")) == "churn"


def test_model_of_a_broken_monitor_falls_back_to_the_name(world):
    world.ws.broken.add("churn-monitor")
    assert world.service().model_of(alert(monitor="churn-monitor")) == "churn"


@pytest.mark.parametrize("monitor", [None, "", "unknown", "-monitor"])
def test_model_of_unknown(world, monitor):
    assert world.service().model_of(alert(monitor=monitor)) is None


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
    svc = world.service(RetrainConfig(cooldown_seconds=2 * HOUR, max_attempts=3))
    request_id, message = requested(world, svc)
    svc.handle_message(message.body, message_id=message.id, dequeue_count=1)  # gate released

    world.clock.now = NOW + 2 * HOUR - 1
    early = svc.on_alert(alert(key="run:r2:s", monitor="churn-monitor"))
    world.clock.now = NOW + 2 * HOUR
    on_time = svc.on_alert(alert(key="run:r3:s", monitor="churn-monitor"))

    assert early.decision == "suppressed" and "cooldown" in early.reason
    assert on_time.decision == "requested" and on_time.request_id != request_id


def test_breaches_in_a_row_through_the_service_and_a_clean_check_resets_them(world):
    svc = world.service(RetrainConfig(breaches_in_a_row=2, max_attempts=3))
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
    assert world.runner.calls == []


def test_a_request_runs_once_and_releases_the_gate(world):
    svc = world.service()
    request_id, message = requested(world, svc)

    result = svc.handle_message(message.body, message_id=message.id, dequeue_count=1)

    assert result == {"outcome": "registered", "request_id": request_id, "new_version": "4"}
    assert [(m, r["request_id"]) for m, r in world.runner.calls] == [("churn", request_id)]
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
    assert len(world.runner.calls) == 1


def test_a_runner_failure_on_the_last_attempt_fails_the_request_and_releases_the_gate(world):
    world.runner.error = RuntimeError("training crashed")
    svc = world.service(RetrainConfig(max_attempts=3))
    request_id, message = requested(world, svc)

    with pytest.raises(RuntimeError, match="training crashed"):
        svc.handle_message(message.body, message_id=message.id, dequeue_count=3)

    stored = world.state.get(requests_kind("churn"), request_id).doc
    assert stored["status"] == "failed"
    assert stored["error"] == "RuntimeError: training crashed"
    assert open_request(world) is None


def test_a_runner_failure_on_an_earlier_attempt_retries_and_keeps_the_gate(world):
    world.runner.error = RuntimeError("flaky")
    svc = world.service(RetrainConfig(max_attempts=3))
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
    svc = world.service(RetrainConfig(max_attempts=1))
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
