"""Where retraining state lives in the state store, as typed records (`core.domain.retraining`).

Kinds (Table storage partitions): ``retrain-gate`` (one gate per model), ``alerts-<model>``
(one record per alert key), ``retrain-<model>`` (one record per request). Every
read-modify-write goes through `core.concurrency`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.concurrency import retry_on_conflict, write
from core.domain.retraining import AlertRecord, RetrainGate, RetrainRequest
from core.ports import Conflict, StateStore

GATE = "retrain-gate"
UNMAPPED = "_unmapped"  # alerts no model could be found for

T = TypeVar("T")


def alerts_kind(model: str) -> str:
    return f"alerts-{model}"


def requests_kind(model: str) -> str:
    return f"retrain-{model}"


def alert_row(alert_key: str) -> str:
    # Table row keys may not hold '/', '\\', '#', '?': a digest of the alert key instead.
    return hashlib.sha256(alert_key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Held(Generic[T]):
    """A record with the ETag it was read (or written) under."""

    record: T
    etag: str


class RetrainRecords:
    def __init__(self, state: StateStore):
        self._state = state

    # ------------------------------------------------------------------ gates

    def gate(self, model: str) -> Held[RetrainGate] | None:
        stored = self._state.get(GATE, model)
        return Held(RetrainGate.from_doc(stored.doc), stored.etag) if stored else None

    def write_gate(self, model: str, gate: RetrainGate, read: Held[RetrainGate] | None) -> None:
        """Create (nothing was read) or replace what was read. Raises Conflict when the gate
        changed since `read`."""
        if read is None:
            self._state.create(GATE, model, gate.to_doc())
        else:
            self._state.replace(GATE, model, gate.to_doc(), read.etag)

    def update_gate(self, model: str,
                    change: Callable[[RetrainGate], RetrainGate | None]) -> RetrainGate | None:
        """Apply `change` to the model's gate (a fresh one when there is none); None: leave."""

        def attempt() -> RetrainGate | None:
            stored = self._state.get(GATE, model)
            gate = RetrainGate.from_doc(stored.doc) if stored else RetrainGate()
            changed = change(gate)
            if changed is None:
                return None
            write(self._state, GATE, model, stored, changed.to_doc())
            return changed

        return retry_on_conflict(attempt, what=f"retraining gate of {model}")

    def gates(self) -> list[tuple[str, RetrainGate]]:
        return [(s.key, RetrainGate.from_doc(s.doc)) for s in self._state.list(GATE)]

    # ------------------------------------------------------------------ alerts

    def create_alert(self, model: str, record: AlertRecord) -> Held[AlertRecord] | None:
        """Record an alert the first time its key is seen; None when it was seen before."""
        try:
            stored = self._state.create(alerts_kind(model), alert_row(record.alert_key),
                                        record.to_doc())
        except Conflict:
            return None
        return Held(record, stored.etag)

    def alert(self, model: str, alert_key: str) -> Held[AlertRecord] | None:
        stored = self._state.get(alerts_kind(model), alert_row(alert_key))
        return Held(AlertRecord.from_doc(stored.doc), stored.etag) if stored else None

    def replace_alert(self, model: str, held: Held[AlertRecord],
                      record: AlertRecord) -> Held[AlertRecord]:
        stored = self._state.replace(alerts_kind(model), alert_row(record.alert_key),
                                     record.to_doc(), held.etag)
        return Held(record, stored.etag)

    def alerts(self, model: str) -> list[AlertRecord]:
        records = [AlertRecord.from_doc(s.doc) for s in self._state.list(alerts_kind(model))]
        return sorted(records, key=lambda r: r.received_at, reverse=True)

    # ------------------------------------------------------------------ requests

    def request(self, model: str, request_id: str) -> Held[RetrainRequest] | None:
        stored = self._state.get(requests_kind(model), request_id)
        return Held(RetrainRequest.from_doc(stored.doc), stored.etag) if stored else None

    def create_request(self, request: RetrainRequest) -> Held[RetrainRequest]:
        """Raises Conflict when it exists."""
        stored = self._state.create(requests_kind(request.model), request.request_id,
                                    request.to_doc())
        return Held(request, stored.etag)

    def replace_request(self, held: Held[RetrainRequest],
                        request: RetrainRequest) -> Held[RetrainRequest]:
        """Raises Conflict when the request changed since `held` was read."""
        stored = self._state.replace(requests_kind(request.model), request.request_id,
                                     request.to_doc(), held.etag)
        return Held(request, stored.etag)

    def put_request(self, request: RetrainRequest) -> Held[RetrainRequest]:
        """Write unconditionally: for the owner of a claimed request."""
        stored = self._state.put(requests_kind(request.model), request.request_id,
                                 request.to_doc())
        return Held(request, stored.etag)

    def requests(self, model: str) -> list[RetrainRequest]:
        records = [RetrainRequest.from_doc(s.doc)
                   for s in self._state.list(requests_kind(model))]
        return sorted(records, key=lambda r: r.created_at, reverse=True)
