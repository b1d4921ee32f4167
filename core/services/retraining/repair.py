"""Use case: repair retraining requests nothing else will move (the scheduler timer).

- `pending` for a while: the alert's handler died before sending it; send it now;
- `running` past its lease: the worker died and the message is gone; send it again;
- `submitted` (a job): failed or cancelled jobs emit no event; ask for the job's status;
- finished, or missing: release the gate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from core.domain.retraining import RequestStatus
from core.ports import MessageQueue, NotFound, Retrainer
from core.services.retraining.records import Held, RetrainRecords
from core.services.retraining.worker import RetrainWorker, release_gate

log = logging.getLogger(__name__)


class RetrainRepair:
    def __init__(self, records: RetrainRecords, queue: MessageQueue, retrainer: Retrainer,
                 worker: RetrainWorker, *, clock: Callable[[], float] = time.time,
                 stale_seconds: float = 120):
        self._records = records
        self._queue = queue
        self._retrainer = retrainer
        self._worker = worker
        self._clock = clock
        self._stale = stale_seconds

    def reconcile(self) -> list[dict]:
        actions = []
        now = self._clock()
        for model, gate in self._records.gates():
            request_id = gate.open_request
            if not request_id:
                continue
            current = self._records.request(model, request_id)
            request = current.record if current else None
            try:
                if current is None or request is None or request.status.final:
                    release_gate(self._records, model, request_id)
                    actions.append({"request_id": request_id, "action": "released gate"})
                elif request.status is RequestStatus.PENDING and \
                        now - request.created_at > self._stale:
                    self._resend(current, RequestStatus.QUEUED)
                    actions.append({"request_id": request_id, "action": "sent"})
                elif request.status is RequestStatus.RUNNING and request.lease_until < now:
                    self._resend(current, RequestStatus.RETRYING)
                    actions.append({"request_id": request_id,
                                    "action": "re-sent (lease expired)"})
                elif request.status is RequestStatus.SUBMITTED and request.job:
                    try:
                        job = self._retrainer.job_status(request.job)
                    except NotFound:
                        continue
                    if job.finished:
                        outcome = self._worker.complete_job(model, request_id, request.job)
                        actions.append({"request_id": request_id,
                                        "action": outcome["outcome"]})
            except Exception:  # one broken request must not stop the others
                log.exception("reconciling retraining %s failed", request_id)
        return actions

    def _resend(self, held: Held, status: RequestStatus) -> None:
        request = held.record
        message_id = self._queue.send(request.message().to_json())
        self._records.put_request(replace(request, status=status, message_id=message_id,
                                          dequeue_count=0, updated_at=self._clock()))
