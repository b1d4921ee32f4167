"""RetrainRepair (core/services/retraining/repair.py): the scheduler timer moves the requests
nothing else will: pending ones the alert handler never sent, running ones whose worker died and
whose message is gone, submitted jobs that failed without an event, and gates still held by a
finished or missing request."""

from __future__ import annotations

import pytest

from core.domain.retraining import JobStatus, Reason, RequestStatus, RetrainResult
from core.services.retraining.records import GATE, requests_kind
from tests.fakes import FakeQueue, FakeRetrainer, FakeStateStore
from tests.unit.services.conftest import MODEL, ProcessDied, World, deliver

LEASE = 1800
STALE = 120  # a pending request this old was not sent


def doc(world, request_id, model=MODEL):
    stored = world.state.get(requests_kind(model), request_id)
    return stored.doc if stored else None


def open_request(world, model=MODEL):
    return world.state.get(GATE, model).doc.get("open_request")


def reconcile(world: World) -> list[dict]:
    return world.services().retraining.reconcile()


# --------------------------------------------------------------------------- pending


class QueueDownOnce(FakeQueue):
    """The first send fails: the alert handler dies before the message is on the queue."""

    down = True

    def send(self, body: str) -> str:
        if self.down:
            self.down = False
            raise ConnectionError("queue unreachable")
        return super().send(body)


@pytest.fixture
def pending(world):
    world.model()
    world.queue = QueueDownOnce("retrain-requests")
    with pytest.raises(ConnectionError):
        world.services().retraining.request(MODEL, reason="drift")
    (request,) = world.services().retraining.history(MODEL)
    assert request["status"] == "pending" and open_request(world) == request["request_id"]
    return request["request_id"]


def test_a_pending_request_is_left_alone_while_its_handler_may_still_send_it(world, pending):
    world.clock.advance(STALE)

    assert reconcile(world) == []
    assert world.queue.messages == []


def test_a_pending_request_not_sent_in_time_is_sent(world, pending):
    world.clock.advance(STALE + 1)

    actions = reconcile(world)

    assert actions == [{"request_id": pending, "action": "sent"}]
    (message,) = world.queue.messages
    stored = doc(world, pending)
    assert (stored["status"], stored["message_id"], stored["dequeue_count"]) == (
        "queued", message.id, 0)
    assert world.queue.bodies()[0]["request_id"] == pending
    assert deliver(world, world.services().retraining)["outcome"] == "registered"
    assert open_request(world) is None


# --------------------------------------------------------------------------- running


class DyingRetrainer(FakeRetrainer):
    def start(self, request):
        self.started.append(request)
        raise ProcessDied


@pytest.fixture
def running(world):
    """A worker died running churn's request, and its message is gone."""
    world.model()
    world.retrainer = DyingRetrainer()
    svc = world.services().retraining
    request_id = svc.request(MODEL, reason="drift").request_id
    with pytest.raises(ProcessDied):
        deliver(world, svc)
    world.queue.delete(world.queue.messages[0])
    world.retrainer = FakeRetrainer()
    return request_id


def test_a_running_request_within_its_lease_is_left_alone(world, running):
    world.clock.advance(LEASE - 1)

    assert reconcile(world) == []


def test_a_running_request_past_its_lease_is_sent_again(world, running):
    world.clock.advance(LEASE + 1)

    actions = reconcile(world)

    assert actions == [{"request_id": running, "action": "re-sent (lease expired)"}]
    (message,) = world.queue.messages
    stored = doc(world, running)
    assert (stored["status"], stored["message_id"], stored["dequeue_count"]) == (
        "retrying", message.id, 0)
    result = deliver(world, world.services().retraining)
    assert result["outcome"] == "registered"
    assert doc(world, running)["attempts"] == 2


# --------------------------------------------------------------------------- submitted


@pytest.fixture
def submitted(world):
    world.model()
    world.retrainer.result = RetrainResult(RequestStatus.SUBMITTED, "submitted", None,
                                           {"job": "job-7"})
    svc = world.services().retraining
    request_id = svc.request(MODEL, reason="drift").request_id
    deliver(world, svc)
    assert doc(world, request_id)["status"] == "submitted"
    return request_id


def test_a_submitted_request_whose_job_still_runs_is_left_alone(world, submitted):
    world.retrainer.jobs["job-7"] = JobStatus("job-7", "Running")

    assert reconcile(world) == []
    assert world.retrainer.completed == []


def test_a_submitted_request_whose_job_the_backend_does_not_know_is_skipped(world, submitted):
    assert reconcile(world) == []
    assert doc(world, submitted)["status"] == "submitted"


@pytest.mark.parametrize("status, result, outcome", [
    ("Failed", RetrainResult(RequestStatus.FAILED, "job failed", Reason.JOB_FAILED), "failed"),
    ("Canceled", RetrainResult(RequestStatus.FAILED, "job canceled", Reason.JOB_FAILED),
     "failed"),
    ("Completed", RetrainResult(RequestStatus.REGISTERED, "wins", Reason.CHALLENGER_WON,
                                {"new_version": "2"}), "registered"),
])
def test_a_submitted_request_whose_job_finished_is_completed(world, submitted, status, result,
                                                             outcome):
    # Failed and cancelled jobs emit no event: only the timer finds out.
    world.retrainer.jobs["job-7"] = JobStatus("job-7", status)
    world.retrainer.completion = result

    actions = reconcile(world)

    assert actions == [{"request_id": submitted, "action": outcome}]
    assert doc(world, submitted)["status"] == outcome
    assert open_request(world) is None
    assert reconcile(world) == []  # nothing open any more


# --------------------------------------------------------------------------- finished or missing


class GateWriteFailsOnce(FakeStateStore):
    """The next replace of a retraining gate fails (storage unreachable), once armed."""

    armed = False

    def replace(self, kind, key, doc, etag):
        if kind == GATE and self.armed:
            self.armed = False
            raise ConnectionError("table endpoint unreachable")
        return super().replace(kind, key, doc, etag)


def test_a_gate_still_held_by_a_finished_request_is_released(world):
    world.model()
    world.state = GateWriteFailsOnce()
    svc = world.services().retraining
    request_id = svc.request(MODEL, reason="drift").request_id
    world.state.armed = True  # the worker records the result, then cannot release the gate
    with pytest.raises(ConnectionError):
        deliver(world, svc)
    assert deliver(world, svc)["outcome"] == "duplicate"  # the retry finds it finished
    assert (doc(world, request_id)["status"], open_request(world)) == ("registered", request_id)

    actions = reconcile(world)

    assert actions == [{"request_id": request_id, "action": "released gate"}]
    assert open_request(world) is None
    assert svc.request(MODEL, reason="again", force=True).decision == "requested"


class RequestWriteFailsOnce(FakeStateStore):
    """The first write of a retraining request fails: the gate was opened, the request never
    written."""

    armed = True

    def put(self, kind, key, doc):
        if kind.startswith("retrain-") and kind != GATE and self.armed:
            self.armed = False
            raise ConnectionError("table endpoint unreachable")
        return super().put(kind, key, doc)


def test_a_gate_held_by_a_request_that_was_never_written_is_released(world):
    world.model()
    world.state = RequestWriteFailsOnce()
    with pytest.raises(ConnectionError):
        world.services().retraining.request(MODEL, reason="drift")
    held = open_request(world)
    assert held and doc(world, held) is None

    assert reconcile(world) == [{"request_id": held, "action": "released gate"}]
    assert open_request(world) is None


def test_gates_without_an_open_request_are_left_alone(world):
    world.model()
    svc = world.services().retraining
    svc.request(MODEL, reason="drift")
    deliver(world, svc)
    before = world.state.get(GATE, MODEL)

    assert reconcile(world) == []
    assert world.state.get(GATE, MODEL) == before


class BrokenStatus(FakeRetrainer):
    def job_status(self, job):
        if job == "job-broken":
            raise RuntimeError("workspace returned garbage")
        return super().job_status(job)


def test_one_broken_request_does_not_stop_the_others(world):
    world.model()
    world.model("fraud")
    world.retrainer = BrokenStatus(result=RetrainResult(
        RequestStatus.SUBMITTED, "submitted", None, {"job": "job-broken"}))
    svc = world.services().retraining
    broken = svc.request(MODEL, reason="drift").request_id
    deliver(world, svc)
    world.retrainer.result = RetrainResult(RequestStatus.SUBMITTED, "submitted", None,
                                           {"job": "job-ok"})
    ok = svc.request("fraud", reason="drift").request_id
    deliver(world, svc)
    world.retrainer.jobs["job-ok"] = JobStatus("job-ok", "Completed")
    world.retrainer.completion = RetrainResult(RequestStatus.REJECTED, "loses",
                                               Reason.CHALLENGER_LOST)

    actions = reconcile(world)

    assert actions == [{"request_id": ok, "action": "rejected"}]
    assert doc(world, broken)["status"] == "submitted"
    assert doc(world, ok, "fraud")["status"] == "rejected"
