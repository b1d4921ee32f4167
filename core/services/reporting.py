"""What operators see of each use case's outcome, reported at the use cases' decision points:
metrics and span dimensions (`Telemetry`), and the autopilot's own events (`AutopilotEvents`),
published best effort.

A use case calls one `Reporter` method where it decides (a file registered or quarantined, a
batch checked, an alert decided, a retraining finished, a monitor created or re-aimed); the
mapping from outcome to metric names, dimensions and event data lives here, in one place, so
the use cases stay free of telemetry details and the README's catalogue has one source.

Publishing never fails a use case and never holds it up for long (`BestEffortEvents`): a
refused or unreachable destination is logged naming it, counted, recorded in the state store
(health reads it), and publishing pauses for a while so an outage costs one timeout a minute
per instance rather than one per file. The outcome itself is always in the ledger or the state
store already: an event is a notification of it, never its only record.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from core.concurrency import update
from core.domain.alerts import DriftAlert
from core.domain.ingestion import BlobRef, IngestionRecord, UnsupportedPath, parse_inference_path
from core.domain.observability import (
    BATCH_BREACHED,
    CHALLENGER_REGISTERED,
    CHALLENGER_REJECTED,
    MONITOR_CREATED,
    MONITOR_REAIMED,
    QUARANTINED,
    RETRAINING_FAILED,
    RETRAINING_REQUESTED,
    RETRAINING_SUPPRESSED,
    AutopilotEvent,
)
from core.domain.retraining import RequestStatus, RetrainRequest, RetrainResult
from core.ports import (
    NO_TELEMETRY,
    AutopilotEvents,
    Dimension,
    EventsUnavailable,
    MessageQueue,
    Span,
    StateStore,
    Telemetry,
)

if TYPE_CHECKING:
    from core.drift import DriftResult
    from core.services.monitors import EnsureOutcome
    from core.services.retraining.alerts import AlertOutcome

log = logging.getLogger(__name__)

STATUS_KIND = "autopilot-events"  # state store kind of the publishing status
STATUS_KEY = "publisher"
_KEPT_FAILURES = 10  # the last failed events kept in the status document
_SUCCESS_EVERY = 300.0  # seconds between two "still delivering" writes of one instance


class BestEffortEvents:
    """Publish autopilot events without ever raising into, or stalling, the caller."""

    def __init__(self, destination: AutopilotEvents, *, telemetry: Telemetry = NO_TELEMETRY,
                 state: StateStore | None = None, clock: Callable[[], float] = time.time,
                 pause_seconds: float = 60.0):
        self.destination = destination
        self._telemetry = telemetry
        self._state = state
        self._clock = clock
        self.pause_seconds = pause_seconds
        self._paused_until = 0.0
        self._failing = False
        # Deliveries are written down only after a failure, and every few minutes of successes
        # (which clears what an instance that failed and went away left): never on the way of
        # a cold start's first events.
        self._last_success_written = clock()

    def publish(self, event: AutopilotEvent) -> bool:
        """True when the destination accepted it."""
        now = self._clock()
        if now < self._paused_until:
            self._failed(event, f"not sent: {self.destination.destination} failed less than "
                         f"{self.pause_seconds:.0f} s ago; publishing resumes after that",
                         outcome="skipped")
            return False
        try:
            self.destination.publish([event])
        except Exception as exc:  # best effort: nothing a destination does reaches the caller
            self._paused_until = now + self.pause_seconds
            self._failing = True
            reason = str(exc) if isinstance(exc, EventsUnavailable) else \
                f"{type(exc).__name__}: {exc}"
            log.error("autopilot event %s (%s, %s) not delivered: %s", event.type, event.subject,
                      event.id, reason)
            self._failed(event, reason, outcome="failed")
            return False
        self._telemetry.count("autopilot.events.published", type=event.type, outcome="sent")
        if self._failing or now - self._last_success_written >= _SUCCESS_EVERY:
            self._write(lambda doc: {**doc, "failing": False, "last_success_at": now})
            self._last_success_written = now
            if self._failing:
                log.warning("autopilot events reach %s again", self.destination.destination)
            self._failing = False
        return True

    def _failed(self, event: AutopilotEvent, reason: str, *, outcome: str) -> None:
        self._telemetry.count("autopilot.events.published", type=event.type, outcome=outcome)
        now = self._clock()
        failure = {"at": now, "type": event.type, "subject": event.subject, "id": event.id,
                   "error": reason[:500]}

        def change(doc: dict) -> dict:
            return {**doc, "failing": True, "last_failure_at": now, "last_error": reason[:1000],
                    "failed": int(doc.get("failed", 0)) + 1,
                    "last_failures": [*doc.get("last_failures", []), failure][-_KEPT_FAILURES:]}

        self._write(change)

    def _write(self, change: Callable[[dict], dict]) -> None:
        if self._state is None:
            return
        destination = self.destination.destination
        try:
            update(self._state, STATUS_KIND, STATUS_KEY,
                   lambda doc: change({**(doc or {}), "destination": destination}))
        except Exception:  # the state store down too: the log line above is the record
            log.exception("could not record the autopilot events' delivery status")


def events_status(state: StateStore) -> dict | None:
    """The publishing status document (None before the first failure or success)."""
    stored = state.get(STATUS_KIND, STATUS_KEY)
    return stored.doc if stored else None


def check_events(state: StateStore) -> None:
    """The health probe: raises EventsUnavailable while the destination's last answer was a
    failure (any instance's), naming it, the error and how many events were not delivered."""
    doc = events_status(state)
    if not doc or not doc.get("failing"):
        return
    if float(doc.get("last_success_at", 0)) > float(doc.get("last_failure_at", 0)):
        return
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(doc.get("last_failure_at", 0))))
    raise EventsUnavailable(
        f"{doc.get('destination')}: {doc.get('last_error')} (last failure {at}; "
        f"{doc.get('failed', 0)} events not delivered so far, the last ones in "
        f"{STATUS_KIND}/{STATUS_KEY} of the state table)")


class Reporter:
    """Each use case's outcome as metrics, span dimensions and autopilot events."""

    def __init__(self, telemetry: Telemetry = NO_TELEMETRY,
                 events: BestEffortEvents | None = None):
        self.telemetry = telemetry
        self._events = events

    @contextlib.contextmanager
    def span(self, use_case: str, **dimensions: Dimension) -> Iterator[Span]:
        """The span of one use case (inside the invocation's span the entry point opened)."""
        with self.telemetry.span(use_case) as span:
            span.annotate(**dimensions)
            yield span

    def annotate(self, **dimensions: Dimension) -> None:
        """Dimensions of the work under way (they go on the span and its log lines)."""
        self.telemetry.annotate(**dimensions)

    def _publish(self, event_type: str, key: str, data: Mapping[str, Any]) -> None:
        if self._events is None:
            return
        try:
            event = AutopilotEvent.of(event_type, key, data)
        except Exception:  # a reporting defect must not fail the use case either
            log.exception("autopilot event %s could not be built", event_type)
            return
        self._events.publish(event)

    # ---------------------------------------------------------------- ingestion

    def ingested(self, kind: str, record: IngestionRecord | None) -> None:
        """An ingestion ended: registered, rejected (quarantined), duplicate, in progress,
        missing or ignored."""
        reason = record.rejection.code if record is not None and record.rejection else ""
        model = record.model if record is not None else ""
        if record is not None:
            self.annotate(model=record.model, ingestion_id=record.ingestion_id,
                          blob=record.blob.path,
                          data_version=f"{record.asset_name}:{record.asset_version}"
                          if record.asset_version else None)
        self.annotate(outcome=kind, reason=reason or None)
        self.telemetry.count("autopilot.ingestion.files", model=model, outcome=kind,
                             reason=reason)
        if record is not None and record.rows and kind in ("registered", "rejected"):
            self.telemetry.count("autopilot.ingestion.rows", record.rows, model=model,
                                 outcome=kind, reason=reason)
        if kind == "rejected" and record is not None and record.rejection is not None:
            rejection = record.rejection
            self._publish(QUARANTINED, record.ingestion_id, {
                "model": record.model, "ingestion_id": record.ingestion_id,
                "blob": record.blob.path, "reason_code": rejection.code,
                "reason": rejection.message[:1000], "line": rejection.line,
                "column": rejection.column, "quarantine_record": record.quarantine_record,
                "replay": f"POST /api/models/{record.model}/ingestions/"
                          f"{record.ingestion_id}/replay",
            })

    def ingest_failed(self, blob: BlobRef, exc: BaseException) -> None:
        """A transient failure: the host retries the delivery."""
        try:
            model = parse_inference_path(blob.name).model
        except UnsupportedPath as unsupported:
            model = unsupported.model or ""
        self.telemetry.count("autopilot.ingestion.files", model=model, outcome="failed",
                             reason=type(exc).__name__)

    # ---------------------------------------------------------------- the early check

    def drift_checked(self, model: str, ingestion_id: str, result: DriftResult | None,
                      seconds: float, summary: Mapping[str, Any] | None) -> None:
        """The early drift check of a batch finished (`result` None: it failed)."""
        outcome = "error" if result is None else ("breached" if result.breached else "clean")
        self.telemetry.record("autopilot.drift.check.duration", seconds, model=model,
                              outcome=outcome)
        if result is None:
            return
        if self.telemetry.enabled:  # one value per feature and metric: skip when unseen
            for signal in result.signals:
                for feature in signal.features:
                    for metric in feature.metrics:
                        if metric.value is None or not math.isfinite(metric.value):
                            continue
                        self.telemetry.record("autopilot.drift.value", metric.value,
                                              model=model, signal=signal.name,
                                              feature=feature.name, metric=metric.metric)
                        if metric.breached:
                            self.telemetry.count("autopilot.drift.breaches", model=model,
                                                 signal=signal.name, feature=feature.name,
                                                 metric=metric.metric, source="early_check")
        if result.breached and summary is not None:
            self._publish(BATCH_BREACHED, ingestion_id, {
                "model": model, "ingestion_id": ingestion_id,
                "data_version": summary.get("production"), "reference": summary.get("reference"),
                "signals": sorted(s for s, hit in summary.get("signals", {}).items() if hit),
                "breaches": list(summary.get("breaches", [])),
                "breach_count": summary.get("breach_count"), "result": summary.get("result"),
            })

    # ---------------------------------------------------------------- alerts

    def alert_decided(self, outcome: AlertOutcome, alert: DriftAlert | None = None) -> None:
        """A drift alert (or an operator's request) was decided."""
        source = alert.source if alert is not None else "manual"
        model = outcome.model or ""
        decision, code = str(outcome.decision), str(outcome.code) if outcome.code else ""
        self.annotate(model=outcome.model, alert_key=outcome.alert_key,
                      request_id=outcome.request_id, decision=decision)
        self.telemetry.count("autopilot.alerts", model=model, source=source, decision=decision,
                             code=code)
        if alert is not None and alert.source != "early_check" and decision != "duplicate":
            for feature in alert.features:  # the early check counted its own breaches
                self.telemetry.count("autopilot.drift.breaches", model=model,
                                     signal=alert.signal or "", feature=feature.feature,
                                     metric=feature.metric, source=alert.source)
        evidence = {"source": source, "signal": alert.signal if alert else None,
                    "features": sorted({f.feature for f in alert.features}) if alert else [],
                    "reason": outcome.reason[:1000], "code": code or None}
        if decision == "requested" and outcome.request_id:
            self._publish(RETRAINING_REQUESTED, outcome.request_id, {
                "model": model, "request_id": outcome.request_id,
                "alert_key": outcome.alert_key, **evidence})
        elif decision == "suppressed":
            self._publish(RETRAINING_SUPPRESSED, outcome.alert_key or outcome.reason, {
                "model": model, "alert_key": outcome.alert_key, **evidence})

    # ---------------------------------------------------------------- retraining

    def retraining_finished(self, request: RetrainRequest, result: RetrainResult) -> None:
        """One retraining attempt (or job completion) was recorded."""
        status, code = str(result.status), str(result.code) if result.code else ""
        self.annotate(model=request.model, request_id=request.request_id,
                      correlation_id=request.correlation_id or None, status=status)
        self.telemetry.count("autopilot.retraining.outcomes", model=request.model,
                             status=status, code=code)
        details = result.details
        for role in ("champion", "challenger"):
            for metric, value in (details.get(f"{role}_scores") or {}).items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self.telemetry.record("autopilot.retraining.score", float(value),
                                          model=request.model, role=role, metric=metric)
        judged = {"champion_version": details.get("champion_version"),
                  "metric": details.get("metric"),
                  "champion_scores": details.get("champion_scores"),
                  "challenger_scores": details.get("challenger_scores"),
                  "improvement": details.get("improvement"), "reason": result.decision[:1000]}
        base = {"model": request.model, "request_id": request.request_id}
        if result.status is RequestStatus.REGISTERED:
            self._publish(CHALLENGER_REGISTERED, request.request_id, {
                **base, **judged, "new_version": details.get("new_version")})
        elif result.status is RequestStatus.REJECTED:
            self._publish(CHALLENGER_REJECTED, request.request_id, {
                **base, **judged, "code": code or None})
        elif result.status is RequestStatus.FAILED:
            self._publish(RETRAINING_FAILED, request.request_id, {
                **base, "reason": result.decision[:1000], "code": code or None,
                "error": (request.error or "")[:1000] or None})

    # ---------------------------------------------------------------- monitors

    def monitor_ensured(self, outcome: EnsureOutcome) -> None:
        self.annotate(model=outcome.model, monitor=outcome.monitor)
        if outcome.action not in ("created", "updated", "disabled"):
            return
        self.telemetry.count("autopilot.monitor.changes", model=outcome.model,
                             action=outcome.action)
        event_type = {"created": MONITOR_CREATED, "updated": MONITOR_REAIMED}.get(outcome.action)
        if event_type is not None:
            # What the monitor is aimed at now identifies the change (a redelivered event that
            # changes nothing publishes nothing).
            key = "\n".join((outcome.monitor, str(outcome.model_version),
                             str(outcome.reference_data), str(outcome.production_data)))
            self._publish(event_type, key, {
                "model": outcome.model, "monitor": outcome.monitor,
                "model_version": outcome.model_version,
                "reference_data": outcome.reference_data,
                "production_data": outcome.production_data,
                "reason": outcome.reason[:1000], "changes": list(outcome.changes)})

    # ---------------------------------------------------------------- queues

    def queue_sampled(self, queue: str, depth: int, poison: int) -> None:
        self.telemetry.record("autopilot.queue.depth", depth, queue=queue)
        self.telemetry.record("autopilot.queue.poison", poison, queue=queue)


class QueueGauges:
    """Use case (the 5-minute timer): sample the retraining queue's depth and poison count."""

    def __init__(self, queue: MessageQueue, poison: MessageQueue, reporter: Reporter):
        self._queue, self._poison, self._reporter = queue, poison, reporter

    def sample(self) -> dict[str, int]:
        depth, poison = self._queue.approximate_count(), self._poison.approximate_count()
        self._reporter.queue_sampled(self._queue.name, depth, poison)
        return {"depth": depth, "poison": poison}


SILENT = Reporter()

__all__ = [
    "SILENT",
    "BestEffortEvents",
    "QueueGauges",
    "Reporter",
    "check_events",
    "events_status",
]
