"""Use case: a drift alert becomes at most one retraining request per model.

1. The alert is recorded under its `alert_key`. Creating that record is the deduplication: the
   same alert delivered twice finds it and stops.
2. The model's gate decides under its ETag (`core.domain.retraining.gate_decision`):
   suppressed while a retraining is open, within the cooldown, or until N breaches in a row;
   otherwise it opens a request. Instances racing on 20 alerts at once agree through the ETag:
   exactly one wins, the others re-read and find the request open.
3. The request is written (`pending`), then sent to the requests queue (`queued`). A crash in
   between leaves the alert record `received` with the request id; the retried delivery
   resumes and sends it. Every suppressed alert keeps its reason and reason code.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from core.concurrency import retry_on_conflict
from core.domain.alerts import CleanCheck, DriftAlert, split_signal_name, streak_key
from core.domain.retraining import (
    AlertDecision,
    AlertRecord,
    AlertStatus,
    Reason,
    RequestStatus,
    RetrainGate,
    RetrainMessage,
    RetrainPolicy,
    RetrainRequest,
    apply_verdict,
    clean_check,
    gate_decision,
    iso,
    new_request_id,
)
from core.ports import Conflict, MessageQueue, NotFound, Workspace
from core.services.retraining.records import UNMAPPED, Held, RetrainRecords

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertOutcome:
    decision: AlertDecision
    model: str | None
    reason: str
    request_id: str | None = None
    alert_key: str | None = None
    code: Reason | None = None

    def to_json(self) -> dict:
        return {"decision": str(self.decision), "model": self.model, "reason": self.reason,
                "request_id": self.request_id, "alert_key": self.alert_key,
                "code": str(self.code) if self.code else None}


class RetrainAlerts:
    def __init__(self, workspace: Workspace, records: RetrainRecords, queue: MessageQueue,
                 policy: RetrainPolicy, *, monitor_name_template: str = "{model}-monitor",
                 clock: Callable[[], float] = time.time):
        self._ws = workspace
        self._records = records
        self._queue = queue
        self.policy = policy
        self._template = monitor_name_template
        self._clock = clock

    def model_of(self, alert: DriftAlert) -> str | None:
        """The model an alert concerns: named directly, through the monitor definition in the
        workspace, or through the monitor naming convention."""
        if alert.model:
            return alert.model
        name = alert.monitor
        if not name:
            return None
        try:
            spec = self._ws.get_monitor(name)
        except Exception:  # a malformed or foreign schedule: fall back to the name
            spec = None
        if spec is not None:
            return spec.model_name
        prefix, _, suffix = self._template.partition("{model}")
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix + suffix):
            candidate = name[len(prefix): len(name) - len(suffix)]
            if self._ws.latest_model(candidate) is not None:
                return candidate
        if self._ws.latest_model(name) is not None:  # v1 data drift named after the model
            return name
        return None

    # ------------------------------------------------------------------ commands

    def on_alert(self, alert: DriftAlert) -> AlertOutcome:
        model = self.model_of(alert)
        if model is not None and alert.signal and \
                split_signal_name(alert.signal)[1] == "data_quality":
            # Nulls, type errors and out-of-range values are a data problem: a model retrained
            # on them is not better. Recorded for operators, not acted on.
            reason = ("data quality breach: retraining does not fix bad data (see the monitor "
                      "run and the quarantine)")
            if self._record(model, alert, AlertStatus.IGNORED, reason,
                            Reason.DATA_QUALITY) is None:
                return AlertOutcome(AlertDecision.DUPLICATE, model, "alert already handled",
                                    None, alert.alert_key, Reason.DUPLICATE)
            return AlertOutcome(AlertDecision.IGNORED, model, reason, None, alert.alert_key,
                                Reason.DATA_QUALITY)
        if model is None:
            reason = f"no model found for monitor {alert.monitor!r}"
            self._record(UNMAPPED, alert, AlertStatus.UNMAPPED, reason, Reason.UNMAPPED)
            return AlertOutcome(AlertDecision.UNMAPPED, None, f"{reason}; recorded",
                                alert_key=alert.alert_key, code=Reason.UNMAPPED)
        return self._decide(model, alert, force=False)

    def request(self, model: str, *, reason: str, force: bool = False,
                requested_by: str = "operator") -> AlertOutcome:
        """A retraining asked for by hand: the same debounce unless `force`."""
        if self._ws.latest_model(model) is None:
            raise NotFound(f"model {model} has no registered version")
        alert = DriftAlert(
            alert_key=f"manual:{uuid.uuid4().hex}", source="manual", model=model,
            detail=reason, extra={"requested_by": requested_by},
        )
        return self._decide(model, alert, force=force)

    def on_early_check(self, verdict: DriftAlert | CleanCheck | None) -> AlertOutcome | None:
        """Our early check on a registered batch: a data drift breach is an alert (when
        RETRAIN_ON_EARLY_DRIFT); a check without one ends a run of breaches."""
        if verdict is None or not self.policy.retrain_on_early_drift:
            return None
        if isinstance(verdict, CleanCheck):
            self.on_clean_check(verdict.model)
            return None
        return self.on_alert(verdict)

    def on_clean_check(self, model: str) -> None:
        """A check without a data drift breach ends the run of data drift breaches (for
        RETRAIN_BREACHES_IN_A_ROW, which counts the breaches of one signal)."""
        self._records.update_gate(model, clean_check)

    # ------------------------------------------------------------------ steps

    def _record(self, model: str, alert: DriftAlert, status: AlertStatus, reason: str,
                code: Reason, request_id: str | None = None) -> Held[AlertRecord] | None:
        record = AlertRecord(alert.alert_key, self._clock(), status, reason, str(code),
                             request_id, alert.evidence())
        return self._records.create_alert(model, record)

    def _decide(self, model: str, alert: DriftAlert, *, force: bool) -> AlertOutcome:
        held = self._record(model, alert, AlertStatus.RECEIVED, "deciding", Reason.DECIDING)
        if held is None:
            existing = self._records.alert(model, alert.alert_key)
            assert existing is not None
            previous = existing.record
            if previous.status is not AlertStatus.RECEIVED:
                return AlertOutcome(
                    AlertDecision.DUPLICATE, model,
                    f"alert already handled: {previous.status} ({previous.reason})",
                    previous.request_id, alert.alert_key, Reason.DUPLICATE)
            held = existing  # an earlier delivery stopped half-way: finish its work
            if previous.request_id:
                return self._send(model, alert, held, previous.request_id,
                                  reason="drift breach", code=Reason.DRIFT_BREACH)

        def attempt() -> AlertOutcome:
            now = self._clock()
            current = self._records.gate(model)
            gate = current.record if current else RetrainGate()
            verdict = gate_decision(gate, now, self.policy, force=force,
                                    signal=streak_key(alert.signal))
            request_id = new_request_id(now, uuid.uuid4().hex[:8])
            self._records.write_gate(
                model, apply_verdict(gate, verdict, now=now, request_id=request_id,
                                     alert_key=alert.alert_key,
                                     signal=streak_key(alert.signal)), current)
            if not verdict.request:
                self._records.replace_alert(model, held, replace(
                    held.record, status=AlertStatus.SUPPRESSED, reason=verdict.reason,
                    code=str(verdict.code)))
                log.info("alert %s for %s suppressed: %s", alert.alert_key, model,
                         verdict.reason)
                return AlertOutcome(AlertDecision.SUPPRESSED, model, verdict.reason, None,
                                    alert.alert_key, verdict.code)
            opened = self._records.replace_alert(
                model, held, replace(held.record, request_id=request_id))
            return self._send(model, alert, opened, request_id, reason=verdict.reason,
                              code=verdict.code)

        return retry_on_conflict(attempt, what=f"retraining gate of {model}")

    def _send(self, model: str, alert: DriftAlert, held: Held[AlertRecord], request_id: str,
              *, reason: str, code: Reason) -> AlertOutcome:
        now = self._clock()
        message = RetrainMessage(
            request_id=request_id,
            model=model,
            reason=alert.detail.splitlines()[0][:300] if alert.detail else reason,
            trigger=alert.source,
            evidence=alert.evidence(),
            correlation_id=alert.event_id or alert.alert_key,
            requested_at=iso(now),
        )
        existing = self._records.request(model, request_id)
        if existing is None:
            existing = self._records.put_request(RetrainRequest.from_message(
                message, RequestStatus.PENDING, now, alert_key=alert.alert_key))
        if existing.record.status is RequestStatus.PENDING:
            message_id = self._queue.send(message.to_json())
            # Only if still pending: a fast worker may already have claimed it.
            with contextlib.suppress(Conflict):
                self._records.replace_request(existing, replace(
                    existing.record, status=RequestStatus.QUEUED, message_id=message_id,
                    updated_at=self._clock()))
        self._records.replace_alert(model, held, replace(
            held.record, status=AlertStatus.REQUESTED, reason=reason, code=str(code),
            request_id=request_id))
        log.warning("retraining %s requested for %s: %s", request_id, model, reason)
        return AlertOutcome(AlertDecision.REQUESTED, model, reason, request_id,
                            alert.alert_key, code)
