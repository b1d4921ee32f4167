"""Use case: run one retraining request (the queue trigger), and finish one whose Azure ML job
completed (the job's run event, or the repair timer).

Claim the request (ETag), run the backend's `Retrainer`, record the result with both scores,
release the gate. A redelivered message whose previous attempt died takes the request over
(same message, higher dequeue count); a finished request is never run again; the retrainers
look registration up by request id first, so one request never registers two versions.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from core.concurrency import retry_on_conflict
from core.domain.retraining import (
    Reason,
    RequestStatus,
    RetrainJobFinished,
    RetrainMessage,
    RetrainPolicy,
    RetrainRequest,
    RetrainResult,
    UnreadableMessage,
)
from core.ports import MessageQueue, NotFound, Retrainer
from core.services.reporting import SILENT, Reporter
from core.services.retraining.records import Held, RetrainRecords

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """The request is being worked on by a live delivery; let the queue redeliver later."""


def release_gate(records: RetrainRecords, model: str, request_id: str) -> None:
    """The request is over: the model's gate no longer holds it open."""

    def release(gate):
        if gate.open_request != request_id:
            return None
        return replace(gate, open_request=None, open_since=None, last_finished=request_id)

    records.update_gate(model, release)


class RetrainWorker:
    def __init__(self, records: RetrainRecords, poison: MessageQueue, retrainer: Retrainer,
                 policy: RetrainPolicy, *, clock: Callable[[], float] = time.time,
                 owner: str | None = None, reporter: Reporter = SILENT):
        self._reporter = reporter
        self._records = records
        self._poison = poison
        self._retrainer = retrainer
        self.policy = policy
        self._clock = clock
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def handle_message(self, body: str, *, message_id: str, dequeue_count: int) -> dict:
        """Run one retraining request. Returns what happened; raises to have the queue retry
        (and, after max attempts, move the message to the poison queue)."""
        try:
            message = RetrainMessage.from_json(body)
        except UnreadableMessage as exc:
            # Retrying cannot fix it: straight to the poison queue, where operators see it.
            self._poison.send(json.dumps({"error": f"unreadable retraining request: {exc}",
                                          "message_id": message_id, "body": body[:4000]}))
            log.error("retraining message %s is unreadable (%s); moved to the poison queue",
                      message_id, exc)
            return {"outcome": "poisoned", "reason": str(exc), "code": str(Reason.POISONED)}
        self._reporter.annotate(model=message.model, request_id=message.request_id,
                                correlation_id=message.correlation_id or None)
        claimed = self._claim(message, message_id, dequeue_count)
        if claimed is None:
            current = self._records.request(message.model, message.request_id)
            status = str(current.record.status) if current else "?"
            return {"outcome": "duplicate", "request_id": message.request_id, "status": status}
        try:
            result = self._retrainer.start(claimed.record)
        except Exception as exc:
            last = dequeue_count >= self.policy.max_attempts
            self._finish(claimed.record, RetrainResult(
                RequestStatus.FAILED if last else RequestStatus.RETRYING,
                code=Reason.ERROR), error=f"{type(exc).__name__}: {exc}"[:2000])
            raise
        done = self._finish(claimed.record, result)
        return {"outcome": str(done.status), "request_id": done.request_id,
                **result.to_fields()} | {"status": str(done.status)}

    def on_job_finished(self, event: RetrainJobFinished) -> dict:
        """Azure backend: a retraining job's run event arrived."""
        return self.complete_job(event.model, event.request_id, event.job)

    def complete_job(self, model: str, request_id: str, job_name: str) -> dict:
        current = self._records.request(model, request_id)
        if current is not None and current.record.status.final:
            return {"outcome": "duplicate", "request_id": request_id,
                    "status": str(current.record.status)}
        try:
            job = self._retrainer.job_status(job_name)
        except NotFound as exc:
            return {"outcome": "ignored", "request_id": request_id, "reason": str(exc)}
        request = current.record if current is not None else RetrainRequest(
            request_id=request_id, model=model, status=RequestStatus.SUBMITTED,
            created_at=self._clock(), updated_at=self._clock(), job=job_name)
        result = self._retrainer.complete(request, job)
        done = self._finish(request, result)
        return {"outcome": str(done.status), "request_id": request_id, **result.to_fields()}

    # ------------------------------------------------------------------ steps

    def _claim(self, message: RetrainMessage, message_id: str,
               dequeue_count: int) -> Held[RetrainRequest] | None:
        def attempt() -> Held[RetrainRequest] | None:
            now = self._clock()
            current = self._records.request(message.model, message.request_id)
            if current is None:  # a request sent by another tool: adopt it
                current = self._records.create_request(
                    RetrainRequest.from_message(message, RequestStatus.QUEUED, now))
            request = current.record
            if request.status.final or request.status is RequestStatus.SUBMITTED:
                return None
            if request.status is RequestStatus.RUNNING and request.lease_until > now:
                same_message = request.message_id == message_id
                if not (same_message and dequeue_count > request.dequeue_count):
                    if same_message:
                        raise RetryLater(f"request {request.request_id} is running elsewhere")
                    return None  # another message for the same request is being handled
                # The same message came back: its previous delivery died. Take over.
            taken = replace(request, status=RequestStatus.RUNNING, owner=self._owner,
                            lease_until=now + self.policy.lease_seconds, message_id=message_id,
                            dequeue_count=dequeue_count, attempts=request.attempts + 1,
                            started_at=now, updated_at=now)
            return self._records.replace_request(current, taken)

        return retry_on_conflict(attempt, what=f"request {message.request_id}")

    def _finish(self, request: RetrainRequest, result: RetrainResult,
                error: str | None = None) -> RetrainRequest:
        current = self._records.request(request.model, request.request_id)
        base = current.record if current is not None else request
        done = base.with_result(result, self._clock())
        if error is not None:
            done = replace(done, error=error)
        self._records.put_request(done)
        if result.status.final:
            release_gate(self._records, done.model, done.request_id)
        self._reporter.retraining_finished(done, result)
        return done


