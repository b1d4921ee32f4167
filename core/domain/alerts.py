"""Drift alerts: what every source of "this model drifted" becomes before the retraining
decision. Pure: stdlib only.

Sources:
- Azure ML model monitoring v2: a `RunStatusChanged` (or `RunCompleted`) event whose run tags
  carry ``azureml_modelmonitor_threshold_breached`` (azure-facts section 1); the tag's message
  names the signal (``<monitor>_<signal>``) and lists the breaching features as JSON rows.
- Azure ML v1 data drift: the legacy `DatasetDriftDetected` event.
- Our own early check on an ingested batch, and a local monitor run (which emits the same
  `RunStatusChanged` Azure would).
- The champion's realised performance on a labelled data version (ground truth joined to its
  inputs) below its threshold (`performance_alert`).
- An operator, through the admin API.

`alert_key` identifies one alert across deliveries: the same event delivered twice has the
same key, so it never counts twice.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from core.domain import tags
from core.domain.events import (
    THRESHOLD_BREACHED_TAG,
    DatasetDriftDetected,
    Event,
    RunStatusChanged,
)
from core.domain.retraining import JOB_TERMINAL, RetrainJobFinished

AlertSource = Literal["azureml_monitor", "dataset_drift", "early_check", "model_performance",
                      "manual"]
SIGNAL_KINDS = ("data_drift", "data_quality", "prediction_drift", "model_performance")
# The signal name of our own performance check on each labelled version (Azure's monitor
# signal is `<monitor>_model_performance`).
PERFORMANCE_SIGNAL = "labelled_data_model_performance"

_SIGNAL = re.compile(r"The signal '([^']*)' has failed", re.IGNORECASE)
_ROW = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class BreachedFeature:
    feature: str
    metric: str
    value: float | None
    threshold: float | None

    def to_dict(self) -> dict[str, str | float | None]:
        return {"feature": self.feature, "metric": self.metric, "value": self.value,
                "threshold": self.threshold}


@dataclass(frozen=True)
class DriftAlert:
    alert_key: str
    source: AlertSource
    model: str | None = None  # known directly (early check, operator)
    monitor: str | None = None  # monitor (or v1 data drift) name, mapped to a model later
    signal: str | None = None
    features: tuple[BreachedFeature, ...] = ()
    detail: str = ""
    event_id: str | None = None
    observed_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more evidence, source-specific

    def evidence(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "signal": self.signal,
            "monitor": self.monitor,
            "features": [f.to_dict() for f in self.features[:20]],
            "feature_count": len(self.features),
            "detail": self.detail[:500],
            "event_id": self.event_id,
            "observed_at": self.observed_at,
            **self.extra,
        }


def _float(value: Any) -> float | None:  # any JSON value
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _row(row: object) -> BreachedFeature | None:
    if not isinstance(row, dict) or "feature_name" not in row:
        return None
    return BreachedFeature(
        feature=str(row.get("feature_name")),
        metric=str(row.get("metric_name") or ""),
        value=_float(row.get("metric_value")),
        threshold=_float(row.get("threshold_value")),
    )


def parse_breach_message(text: str) -> tuple[str | None, tuple[BreachedFeature, ...]]:
    """The signal name and breaching features from Azure's threshold-breached run tag.

    The rows are printed as a Python list of JSON strings (``str([json.dumps(row), ...])``):
    read back as such first; if the list is truncated or mangled, each ``{...}`` is read on its
    own, so the rows that are whole still count."""
    text = text or ""
    match = _SIGNAL.search(text)
    signal = match.group(1) if match else None
    start, end = text.find("["), text.rfind("]")
    if 0 <= start < end:
        try:
            items = ast.literal_eval(text[start:end + 1])
            rows = tuple(
                r for r in (_row(json.loads(i) if isinstance(i, str) else i) for i in items)
                if r is not None
            )
            if rows or not items:
                return signal, rows
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    found: list[BreachedFeature] = []
    for raw in _ROW.findall(text):
        for candidate in (raw, raw.replace("\\\"", "\"")):
            try:
                row = _row(json.loads(candidate))
            except ValueError:
                continue
            if row is not None:
                found.append(row)
            break
    return signal, tuple(found)


def split_signal_name(signal: str) -> tuple[str, str | None]:
    """``<monitor>_<kind>`` -> (monitor, kind) for our signal kinds; otherwise the monitor is
    everything before the last underscore (the docs' ``<monitor>_<description>``)."""
    for kind in SIGNAL_KINDS:
        if signal.endswith("_" + kind) and len(signal) > len(kind) + 1:
            return signal[: -len(kind) - 1], kind
    head, sep, _ = signal.rpartition("_")
    return (head, None) if sep and head else (signal, None)


def streak_key(signal: str | None) -> str:
    """The signal a breach counts for in RETRAIN_BREACHES_IN_A_ROW: its kind
    (``data_drift`` for both our early check, ``early_check_data_drift``, and a monitor's
    ``<monitor>_data_drift``), the whole name for other signals, ``""`` when unknown."""
    if not signal:
        return ""
    return split_signal_name(signal)[1] or signal


def early_check_features(summary: dict[str, Any]) -> tuple[BreachedFeature, ...]:
    """The breaching features of an early drift check summary (`drift_checks.summarize`)."""
    return tuple(
        BreachedFeature(str(b.get("feature")), f"{b.get('signal')}:{b.get('metric')}",
                        _float(b.get("value")), _float(b.get("threshold")))
        for b in summary.get("breaches", [])
    )


@dataclass(frozen=True)
class CleanCheck:
    """An early check on a batch found no data drift: it ends a run of breaches."""

    model: str


def early_check_alert(model: str, ingestion_id: str,
                      summary: dict[str, Any] | None) -> DriftAlert | CleanCheck | None:
    """What our early check on one registered batch means for retraining: a data drift
    breach is a drift alert (keyed by the ingestion, so a redelivered batch counts once); a
    completed check without one is clean; no check (disabled, failed, no reference) is
    nothing. Data-quality breaches stay in the result for operators: retraining does not fix
    bad data."""
    summary = summary or {}
    if "breached" not in summary:
        return None
    if not summary.get("signals", {}).get("data_drift"):
        return CleanCheck(model)
    features = early_check_features(
        {"breaches": [b for b in summary.get("breaches", []) if b.get("signal") == "data_drift"]}
    )
    return DriftAlert(
        alert_key=f"early:{model}:{ingestion_id}",
        source="early_check",
        model=model,
        signal="early_check_data_drift",
        features=features,
        detail=f"early drift check on {summary.get('production')} vs "
               f"{summary.get('reference')}: data drift on "
               f"{', '.join(sorted({f.feature for f in features}))}",
        extra={"ingestion": ingestion_id, "result": summary.get("result")},
    )


def performance_alert(model: str, summary: dict[str, Any] | None) -> DriftAlert | None:
    """The champion's metrics on a labelled version (`core.domain.performance`) on the wrong
    side of a threshold: an alert keyed by that version, so a redelivery counts once."""
    summary = summary or {}
    if not summary.get("breached"):
        return None
    features = tuple(
        BreachedFeature(str(summary.get("target") or "performance"), str(b.get("metric")),
                        _float(b.get("value")), _float(b.get("threshold")))
        for b in summary.get("breaches", [])
    )
    labelled = str(summary.get("labelled_data"))
    worst = ", ".join(f"{f.metric} {f.value:.3f} (threshold {f.threshold})" for f in features
                      if f.value is not None)
    return DriftAlert(
        alert_key=f"performance:{model}:{labelled}",
        source="model_performance",
        model=model,
        signal=PERFORMANCE_SIGNAL,
        features=features,
        detail=f"model performance of version {summary.get('model_version')} on {labelled} "
               f"({summary.get('rows')} labelled rows): {worst}",
        extra={"labelled_data": labelled, "result": summary.get("result")},
    )


def classify_run_event(event: Event) -> RetrainJobFinished | DriftAlert | None:
    """Route an Azure ML run event: one of our retraining jobs reaching a terminal status
    (its tags carry the request id), a monitor's drift alert, or neither."""
    if isinstance(event, RunStatusChanged) and tags.REQUEST_ID in event.run_tags:
        if event.run_status not in JOB_TERMINAL:
            return None
        return RetrainJobFinished(
            model=event.run_tags.get(tags.JOB_MODEL, ""),
            request_id=event.run_tags[tags.REQUEST_ID],
            job=event.run_id,
            status=event.run_status,
        )
    return alert_from_event(event)


def alert_from_event(event: Event) -> DriftAlert | None:
    """The drift alert an event carries, or None when it is not one."""
    if isinstance(event, RunStatusChanged):
        message = event.threshold_breach
        if not message:
            return None
        signal, features = parse_breach_message(message)
        monitor = split_signal_name(signal)[0] if signal else None
        return DriftAlert(
            alert_key=f"run:{event.run_id}:{signal or ''}",
            source="azureml_monitor",
            monitor=monitor or event.experiment_name or None,
            signal=signal,
            features=features,
            detail=message,
            event_id=event.event_id,
            observed_at=event.event_time,
            extra={"run_id": event.run_id, "experiment": event.experiment_name},
        )
    if isinstance(event, DatasetDriftDetected):
        name = event.data_drift_name or event.data_drift_id
        return DriftAlert(
            alert_key=f"datadrift:{event.data_drift_id or name}:{event.run_id or event.event_id}",
            source="dataset_drift",
            monitor=name,
            signal=name,
            detail=f"v1 data drift {name}: drift coefficient {event.drift_coefficient}",
            event_id=event.event_id,
            observed_at=event.event_time,
            extra={"drift_coefficient": event.drift_coefficient,
                   "target_dataset": event.target_dataset_id},
        )
    return None


__all__ = [
    "THRESHOLD_BREACHED_TAG",
    "BreachedFeature",
    "CleanCheck",
    "DriftAlert",
    "alert_from_event",
    "classify_run_event",
    "early_check_alert",
    "early_check_features",
    "parse_breach_message",
    "performance_alert",
    "split_signal_name",
]
