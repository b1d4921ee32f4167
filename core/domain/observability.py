"""What an operator sees of the autopilot: the dimensions every log line and span carries, the
metrics, and the autopilot's own events (CloudEvents on Event Grid). Pure: stdlib only.

One catalogue each, read by the telemetry adapters (instrument kinds and units), the reporter
that emits them (`core/services/reporting.py`) and the tests that hold README.md's catalogue,
its Kusto queries and the code to the same names.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# Custom dimensions of logs and spans (Application Insights `customDimensions`). Plain names, so
# a Kusto query reads `customDimensions.model`.
DIMENSIONS = ("model", "blob", "ingestion_id", "data_version", "monitor", "alert_key",
              "request_id", "correlation_id", "event_id", "invocation_id")

MetricKind = Literal["counter", "histogram", "gauge"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: MetricKind
    unit: str
    description: str
    dimensions: tuple[str, ...]


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("autopilot.ingestion.files", "counter", "{file}",
           "inference files handled, by outcome and reason code",
           ("model", "outcome", "reason")),
    Metric("autopilot.ingestion.rows", "counter", "{row}",
           "rows of those files (registered or rejected)", ("model", "outcome", "reason")),
    Metric("autopilot.drift.check.duration", "histogram", "s",
           "the early drift check of one batch", ("model", "outcome")),
    Metric("autopilot.drift.value", "histogram", "1",
           "each drift and data-quality metric value of an early check, per feature and signal",
           ("model", "signal", "feature", "metric")),
    Metric("autopilot.drift.breaches", "counter", "{breach}",
           "metric values over their threshold, per feature and signal, by source "
           "(early_check, azureml_monitor, dataset_drift)",
           ("model", "signal", "feature", "metric", "source")),
    Metric("autopilot.alerts", "counter", "{alert}",
           "drift alerts, by source and decision (requested, suppressed, duplicate, ignored, "
           "unmapped) and reason code", ("model", "source", "decision", "code")),
    Metric("autopilot.retraining.outcomes", "counter", "{attempt}",
           "retraining attempts by status (registered, rejected, failed, retrying, submitted) "
           "and reason code", ("model", "status", "code")),
    Metric("autopilot.retraining.score", "histogram", "1",
           "champion and challenger scores on the same holdout", ("model", "role", "metric")),
    Metric("autopilot.monitor.changes", "counter", "{change}",
           "monitors created, re-aimed or disabled", ("model", "action")),
    Metric("autopilot.queue.depth", "gauge", "{message}",
           "messages waiting on the retraining queue (sampled by the 5-minute timer)", ("queue",)),
    Metric("autopilot.queue.poison", "gauge", "{message}",
           "messages in the retraining poison queue (sampled by the 5-minute timer)", ("queue",)),
    Metric("autopilot.events.published", "counter", "{event}",
           "the autopilot's own events, by type and outcome (sent, failed, skipped while the "
           "destination is failing)", ("type", "outcome")),
)}


# ------------------------------------------------------------------ the autopilot's own events

QUARANTINED = "Autopilot.Ingestion.Quarantined"
BATCH_BREACHED = "Autopilot.Drift.BatchBreached"
RETRAINING_REQUESTED = "Autopilot.Retraining.Requested"
RETRAINING_SUPPRESSED = "Autopilot.Retraining.Suppressed"
CHALLENGER_REGISTERED = "Autopilot.Retraining.ChallengerRegistered"
CHALLENGER_REJECTED = "Autopilot.Retraining.ChallengerRejected"
RETRAINING_FAILED = "Autopilot.Retraining.Failed"
MONITOR_CREATED = "Autopilot.Monitor.Created"
MONITOR_REAIMED = "Autopilot.Monitor.Reaimed"


@dataclass(frozen=True)
class EventType:
    type: str
    when: str
    subject: str  # template; every subject starts with models/<model>/ (one filter per model)
    data: tuple[str, ...]  # the keys of `data`


EVENT_TYPES: dict[str, EventType] = {e.type: e for e in (
    EventType(QUARANTINED, "an inference file was rejected and its quarantine record written",
              "models/{model}/ingestions/{ingestion_id}",
              ("model", "ingestion_id", "blob", "reason_code", "reason", "line", "column",
               "quarantine_record", "replay")),
    EventType(BATCH_BREACHED, "the early drift check of a registered batch breached",
              "models/{model}/ingestions/{ingestion_id}",
              ("model", "ingestion_id", "data_version", "reference", "signals", "breaches",
               "breach_count", "result")),
    EventType(RETRAINING_REQUESTED, "a drift alert (or an operator) opened a retraining request",
              "models/{model}/retraining/{request_id}",
              ("model", "request_id", "alert_key", "source", "signal", "features", "reason",
               "code")),
    EventType(RETRAINING_SUPPRESSED, "a drift alert was recorded without a request (one is "
              "open, the cooldown, breaches in a row)", "models/{model}/alerts",
              ("model", "alert_key", "source", "signal", "features", "reason", "code")),
    EventType(CHALLENGER_REGISTERED, "a challenger beat the champion and was registered",
              "models/{model}/retraining/{request_id}",
              ("model", "request_id", "champion_version", "new_version", "metric",
               "champion_scores", "challenger_scores", "improvement", "reason")),
    EventType(CHALLENGER_REJECTED, "a retraining ended without a new version (the challenger "
              "lost, no labels, no champion)", "models/{model}/retraining/{request_id}",
              ("model", "request_id", "champion_version", "metric", "champion_scores",
               "challenger_scores", "improvement", "reason", "code")),
    EventType(RETRAINING_FAILED, "a retraining gave up (attempts exhausted, the job failed)",
              "models/{model}/retraining/{request_id}",
              ("model", "request_id", "reason", "code", "error")),
    EventType(MONITOR_CREATED, "a model's monitor schedule was created",
              "models/{model}/monitor",
              ("model", "monitor", "model_version", "reference_data", "production_data",
               "reason", "changes")),
    EventType(MONITOR_REAIMED, "a model's monitor was re-aimed (new model version, new data)",
              "models/{model}/monitor",
              ("model", "monitor", "model_version", "reference_data", "production_data",
               "reason", "changes")),
)}


@dataclass(frozen=True)
class AutopilotEvent:
    """One of the autopilot's own events, as a CloudEvent carries it. `id` is derived from the
    type and what happened (`key`), so a redelivered trigger publishes the same id again and a
    subscriber can drop the duplicate."""

    type: str
    subject: str
    data: Mapping[str, Any]
    id: str
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @classmethod
    def of(cls, event_type: str, key: str, data: Mapping[str, Any]) -> AutopilotEvent:
        known = EVENT_TYPES.get(event_type)
        if known is None:
            raise ValueError(f"{event_type} is not an autopilot event type")
        extra = set(data) - set(known.data)
        if extra:
            raise ValueError(f"{event_type} has no data field {sorted(extra)[0]}")
        values = {k: data.get(k) for k in known.data}
        subject = known.subject.format_map({k: v for k, v in values.items() if v is not None})
        digest = hashlib.sha256(f"{event_type}\n{key}".encode()).digest()[:16]
        return cls(event_type, subject, values, str(uuid.UUID(bytes=digest)))

    def to_cloud_event(self, source: str) -> dict[str, Any]:
        """The CloudEvents 1.0 JSON form (what Event Grid delivers to a subscriber)."""
        return {"specversion": "1.0", "id": self.id, "source": source, "type": self.type,
                "subject": self.subject, "time": self.time,
                "datacontenttype": "application/json", "data": dict(self.data)}


__all__ = ["DIMENSIONS", "EVENT_TYPES", "METRICS", "AutopilotEvent", "EventType", "Metric"]
