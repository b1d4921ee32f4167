"""RetrainWorker (core/services/retraining/worker.py): claim a request (ETag), run the backend's
Retrainer, record the result, release the gate; take over from a dead worker; retry, then fail;
finish a submitted Azure ML job when it completes."""

from __future__ import annotations

import json

import pytest

from core.domain.events import RunStatusChanged
from core.domain.retraining import (
    JobStatus,
    Reason,
    RequestStatus,
    RetrainJobFinished,
    RetrainResult,
)
from core.services.retraining import RetryLater
from core.services.retraining.records import GATE, requests_kind
from tests.fakes import FakeRetrainer
from tests.unit.services.conftest import MODEL, ProcessDied, World, deliver

LEASE = 1800  # RETRAIN_LEASE_SECONDS default


@pytest.fixture
def svc(world):
    world.model()
    return world.services().retraining


def request(world: World, svc, reason="drift on age") -> str:
    outcome = svc.request(MODEL, reason=reason)
    assert outcome.decision == "requested"
    return outcome.request_id


def doc(world, request_id):
    return world.state.get(requests_kind(MODEL), request_id).doc


def open_request(world):
    return world.state.get(GATE, MODEL).doc.get("open_request")


class DyingRetrainer(FakeRetrainer):
    """The first `deaths` attempts kill the worker mid-run."""

    def __init__(self, deaths: int = 1):
        super().__init__()
        self.deaths = deaths

    def start(self, request):
        if self.deaths:
            self.deaths -= 1
            self.started.append(request)
            raise ProcessDied
        return super().start(request)


# --------------------------------------------------------------------------- one run


def test_a_request_is_claimed_under_a_lease_run_and_recorded(world, svc):
    request_id = request(world, svc)
    (message,) = world.queue.messages

    result = deliver(world, svc)

    (claimed,) = world.retrainer.started
    assert (claimed.request_id, claimed.status) == (request_id, RequestStatus.RUNNING)
    assert claimed.lease_until == world.clock() + LEASE and claimed.owner
    assert (claimed.message_id, claimed.dequeue_count, claimed.attempts) == (message.id, 1, 1)
    assert result == {"outcome": "registered", "request_id": request_id, "new_version": "4",
                      "status": "registered", "decision": "challenger wins",
                      "code": "challenger_won"}
    stored = doc(world, request_id)
    assert stored["status"] == "registered" and stored["new_version"] == "4"
    assert stored["lease_until"] == 0.0 and stored["finished_at"] == world.clock()
    assert stored["reason"] == "drift on age" and stored["code"] == "challenger_won"
    assert open_request(world) is None
    assert world.state.get(GATE, MODEL).doc["last_finished"] == request_id
    assert world.queue.messages == []


def test_a_challenger_that_loses_is_recorded_rejected_with_both_scores(world):
    world.model()
    world.retrainer.result = RetrainResult(
        RequestStatus.REJECTED, "challenger f1 0.5 does not beat champion 0.6",
        Reason.CHALLENGER_LOST, {"champion_scores": {"f1": 0.6}, "challenger_scores": {"f1": 0.5}})
    svc = world.services().retraining
    request_id = request(world, svc)

    assert deliver(world, svc)["outcome"] == "rejected"

    stored = doc(world, request_id)
    assert stored["status"] == "rejected" and stored["code"] == "challenger_lost"
    assert stored["champion_scores"] == {"f1": 0.6}
    assert stored["challenger_scores"] == {"f1": 0.5}
    assert stored["decision"].startswith("challenger f1 0.5")
    assert open_request(world) is None


def test_a_finished_request_is_never_run_again(world, svc):
    request_id = request(world, svc)
    (message,) = world.queue.messages
    deliver(world, svc)

    again = svc.handle_message(message.body, message_id=message.id, dequeue_count=2)

    assert again == {"outcome": "duplicate", "request_id": request_id, "status": "registered"}
    assert len(world.retrainer.started) == 1


def test_a_message_for_a_request_nobody_recorded_is_adopted(world, svc):
    body = json.dumps({"model": MODEL, "request_id": "by-another-tool", "reason": "cli"})

    result = svc.handle_message(body, message_id="m-1", dequeue_count=1)

    assert result["outcome"] == "registered"
    stored = doc(world, "by-another-tool")
    assert stored["status"] == "registered" and stored["reason"] == "cli"
    assert [r["request_id"] for r in svc.history(MODEL)] == ["by-another-tool"]


def test_an_unreadable_message_is_poisoned_at_once(world, svc):
    result = svc.handle_message('{"model": "churn"}', message_id="m-1", dequeue_count=1)

    assert result["outcome"] == "poisoned" and result["code"] == "poisoned"
    (poisoned,) = world.poison.bodies()
    assert poisoned["message_id"] == "m-1" and "request_id" in poisoned["error"]


# --------------------------------------------------------------------------- failures


def test_failures_are_retried_by_the_queue_then_the_request_fails(world, svc):
    world.retrainer.error = RuntimeError("training crashed")
    request_id = request(world, svc)

    for attempt in range(1, 5):
        with pytest.raises(RuntimeError):
            deliver(world, svc)
        stored = doc(world, request_id)
        assert (stored["status"], stored["attempts"]) == ("retrying", attempt)
        assert stored["error"] == "RuntimeError: training crashed"
        assert open_request(world) == request_id  # still open: no second retraining meanwhile

    with pytest.raises(RuntimeError):
        deliver(world, svc)  # the 5th delivery: host.json maxDequeueCount

    stored = doc(world, request_id)
    assert (stored["status"], stored["attempts"], stored["code"]) == ("failed", 5, "error")
    assert stored["finished_at"] == world.clock()
    assert open_request(world) is None


def test_a_retry_that_succeeds_finishes_the_request(world, svc):
    world.retrainer.error = RuntimeError("flaky")
    request_id = request(world, svc)
    with pytest.raises(RuntimeError):
        deliver(world, svc)
    world.retrainer.error = None

    assert deliver(world, svc)["outcome"] == "registered"
    stored = doc(world, request_id)
    assert stored["attempts"] == 2 and stored["status"] == "registered"
    assert stored["dequeue_count"] == 2


# --------------------------------------------------------------------------- a dead worker


@pytest.fixture
def died(world):
    """A worker claimed churn's request and died running it."""
    world.model()
    world.retrainer = DyingRetrainer()
    svc = world.services().retraining
    request_id = request(world, svc)
    with pytest.raises(ProcessDied):
        deliver(world, svc)
    (message,) = world.queue.messages
    assert doc(world, request_id)["status"] == "running"
    return svc, request_id, message


def test_the_redelivery_of_a_dead_workers_message_takes_the_request_over(world, died):
    svc, request_id, message = died
    world.queue.release(message)  # its visibility timeout expired

    result = deliver(world, svc)  # redelivered, dequeue count 2

    assert result["outcome"] == "registered"
    assert [r.attempts for r in world.retrainer.started] == [1, 2]
    stored = doc(world, request_id)
    assert stored["attempts"] == 2 and stored["dequeue_count"] == 2
    assert open_request(world) is None


def test_the_same_delivery_again_while_the_lease_is_live_is_retried_later(world, died):
    svc, request_id, message = died

    with pytest.raises(RetryLater, match="running elsewhere"):
        svc.handle_message(message.body, message_id=message.id, dequeue_count=1)

    assert doc(world, request_id)["status"] == "running"
    assert len(world.retrainer.started) == 1


def test_another_message_for_a_running_request_is_a_duplicate(world, died):
    svc, request_id, message = died

    result = svc.handle_message(message.body, message_id="another", dequeue_count=1)

    assert result == {"outcome": "duplicate", "request_id": request_id, "status": "running"}
    assert len(world.retrainer.started) == 1


def test_once_the_lease_expired_any_message_takes_the_request_over(world, died):
    svc, request_id, message = died
    world.clock.advance(LEASE - 1)
    assert svc.handle_message(message.body, message_id="another",
                              dequeue_count=1)["outcome"] == "duplicate"  # not yet
    world.clock.advance(1)

    result = svc.handle_message(message.body, message_id="another", dequeue_count=1)

    assert result["outcome"] == "registered"
    assert doc(world, request_id)["message_id"] == "another"


# --------------------------------------------------------------------------- Azure ML jobs


@pytest.fixture
def submitted(world):
    """churn's request submitted as Azure ML job job-7."""
    world.model()
    world.retrainer.result = RetrainResult(RequestStatus.SUBMITTED, "job job-7 submitted",
                                           None, {"job": "job-7"})
    svc = world.services().retraining
    request_id = request(world, svc)
    deliver(world, svc)
    return svc, request_id


def finish_job(world, status="Completed", result=None):
    world.retrainer.jobs["job-7"] = JobStatus("job-7", status, {
        "autopilot.request_id": "?", "autopilot.model": MODEL})
    world.retrainer.completion = result or RetrainResult(
        RequestStatus.REGISTERED, "challenger wins", Reason.CHALLENGER_WON, {"new_version": "2"})


def test_a_submitted_request_waits_for_its_job_with_the_gate_open(world, submitted):
    svc, request_id = submitted

    stored = doc(world, request_id)
    assert (stored["status"], stored["job"], stored["lease_until"]) == ("submitted", "job-7", 0.0)
    assert "finished_at" not in stored or stored["finished_at"] is None
    assert open_request(world) == request_id
    body = json.dumps({"model": MODEL, "request_id": request_id})
    assert svc.handle_message(body, message_id="again", dequeue_count=1)["outcome"] == \
        "duplicate"  # a submitted request is not run a second time
    assert len(world.retrainer.started) == 1


def test_job_completion_judges_and_finishes_the_request(world, submitted):
    svc, request_id = submitted
    finish_job(world)

    result = svc.complete_job(MODEL, request_id, "job-7")

    assert result["outcome"] == "registered" and result["new_version"] == "2"
    ((judged, job),) = world.retrainer.completed
    assert (judged.request_id, judged.status, judged.job) == (
        request_id, RequestStatus.SUBMITTED, "job-7")
    assert job.status == "Completed"
    stored = doc(world, request_id)
    assert (stored["status"], stored["job"], stored["new_version"]) == (
        "registered", "job-7", "2")
    assert open_request(world) is None
    again = svc.complete_job(MODEL, request_id, "job-7")
    assert again == {"outcome": "duplicate", "request_id": request_id, "status": "registered"}
    assert len(world.retrainer.completed) == 1


def test_a_failed_job_fails_the_request_and_releases_the_gate(world, submitted):
    svc, request_id = submitted
    finish_job(world, "Failed", RetrainResult(RequestStatus.FAILED, "job job-7 Failed",
                                              Reason.JOB_FAILED))

    assert svc.complete_job(MODEL, request_id, "job-7")["outcome"] == "failed"
    assert doc(world, request_id)["code"] == "job_failed"
    assert open_request(world) is None


def test_completion_of_a_job_the_backend_does_not_know_is_ignored(world, submitted):
    svc, request_id = submitted

    result = svc.complete_job(MODEL, request_id, "job-7")

    assert result["outcome"] == "ignored" and "job-7" in result["reason"]
    assert doc(world, request_id)["status"] == "submitted"


def test_completion_of_a_job_for_a_request_nobody_recorded_is_adopted(world, svc):
    finish_job(world)

    result = svc.complete_job(MODEL, "from-elsewhere", "job-7")

    assert result["outcome"] == "registered"
    stored = doc(world, "from-elsewhere")
    assert (stored["status"], stored["job"]) == ("registered", "job-7")


def run_event(request_id: str, status: str) -> RunStatusChanged:
    return RunStatusChanged(
        event_id="e-1", experiment_name="autopilot-retraining", run_id="job-7",
        run_type="azureml.StepRun", run_properties={}, run_status=status,
        run_tags={"autopilot.request_id": request_id, "autopilot.model": MODEL})


def test_the_jobs_run_event_finishes_the_request(world, submitted):
    svc, request_id = submitted
    finish_job(world)

    assert svc.on_run_event(run_event(request_id, "Running")) == {"decision": "not_an_alert"}
    result = svc.on_run_event(run_event(request_id, "Completed"))

    assert result["outcome"] == "registered"
    assert doc(world, request_id)["status"] == "registered"


def test_on_job_finished_is_complete_job(world, submitted):
    svc, request_id = submitted
    finish_job(world)

    result = svc.worker.on_job_finished(RetrainJobFinished(MODEL, request_id, "job-7",
                                                           "Completed"))

    assert result["outcome"] == "registered"
