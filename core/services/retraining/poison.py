"""Use case: operators look at the poison queue and put a fixed request back."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from core.domain.retraining import RequestStatus, RetrainMessage, UnreadableMessage
from core.ports import MessageQueue, NotFound, QueuedMessage
from core.services.retraining.records import RetrainRecords

log = logging.getLogger(__name__)

_PAGE = 32
_MAX_PAGES = 100


class RetrainPoison:
    def __init__(self, records: RetrainRecords, queue: MessageQueue, poison: MessageQueue, *,
                 clock: Callable[[], float] = time.time):
        self._records = records
        self._queue = queue
        self.poison = poison
        self._clock = clock

    def messages(self) -> list[dict]:
        out = []
        for m in self.poison.peek(_PAGE):
            try:
                body = json.loads(m.body)
            except ValueError:
                body = m.body
            out.append({"message_id": m.id, "inserted_at": m.inserted_at,
                        "dequeue_count": m.dequeue_count, "body": body})
        return out

    def count(self) -> int:
        return self.poison.approximate_count()

    def requeue(self, message_id: str) -> dict:
        """Move one poison message back to the requests queue (after fixing the cause)."""
        target: QueuedMessage | None = None
        held: list[QueuedMessage] = []
        for _ in range(_MAX_PAGES):  # a page at a time, until found or the queue is exhausted
            received = self.poison.receive(_PAGE, visibility_seconds=60)
            if not received:
                break
            held += received
            target = next((m for m in received if m.id == message_id), None)
            if target is not None:
                break
        for m in held:
            if m is not target:
                self.poison.release(m)
        if target is None:
            raise NotFound(f"no poison message {message_id}")
        try:
            message = RetrainMessage.from_json(target.body)
        except UnreadableMessage:
            message = None
        if message is not None:
            self._reopen(message.model, message.request_id)
        new_id = self._queue.send(target.body)
        self.poison.delete(target)
        return {"requeued": message_id, "new_message_id": new_id, "queue": self._queue.name}

    def _reopen(self, model: str, request_id: str) -> None:
        """A re-queued request holds the gate again (when it is free), so no alert opens a
        second retraining of the model while it runs."""
        current = self._records.request(model, request_id)
        if current is None or current.record.status not in (RequestStatus.FAILED,
                                                             RequestStatus.RETRYING):
            return
        now = self._clock()
        self._records.put_request(replace(current.record, status=RequestStatus.QUEUED,
                                          updated_at=now, extra={**current.record.extra,
                                                                 "requeued_at": now}))

        def hold(gate):
            if gate.open_request not in (None, request_id):
                log.warning("re-queued %s while %s is open", request_id, gate.open_request)
                return None
            return replace(gate, open_request=request_id, open_since=self._clock())

        self._records.update_gate(model, hold)
