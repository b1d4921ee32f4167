"""Model performance on labelled production data: thresholds, breaches, and the record each
labelled version gets. Pure: stdlib only.

Thresholds come from the model's tag `autopilot.performance_threshold`, else the setting
`PERFORMANCE_THRESHOLDS`: ``metric=value`` pairs (``f1=0.6,accuracy=0.9``; ``rmse=12``), or
one number for the task's primary metric (F1, RMSE). Only the model's task's metrics apply.
A metric where higher is better breaches below its threshold; MAE and RMSE breach above.

The record (`PerformanceRecord.to_doc`), kept in the ledger beside the batch's drift summary
and in full as an artifact, has one shape for every labelled version:

    {"labelled_data": "<asset>:<version>", "model_version": "1", "task": "classification",
     "rows": 2450, "metrics": {"accuracy": 0.93, "f1": 0.21, ...},
     "logged_metrics": {...},            # from the logged predictions, when collected
     "thresholds": {"f1": 0.5}, "breaches": [{"metric", "value", "threshold"}],
     "breached": true, "result": "<artifact key>", "evaluated_at": 1.8e9}
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from core.domain.retraining import DEFAULT_PRIMARY_METRIC, LOWER_IS_BETTER, METRICS

ALL_METRICS = tuple(dict.fromkeys(m for names in METRICS.values() for m in names))
PRIMARY = ""  # a bare number: the task's primary metric

# Azure ML's model performance signal: the metrics it evaluates, by the schedule YAML's keys
# (azure-ai-ml's ModelPerformance*ThresholdsSchema) and by the wire's names.
AZURE_SIGNAL_METRICS: dict[str, dict[str, str]] = {
    "classification": {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall"},
    "regression": {"mae": "MeanAbsoluteError", "rmse": "RootMeanSquaredError"},
}

_PAIR = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*(\S+)\s*$")


def parse_thresholds(text: str, *, what: str) -> dict[str, float]:
    """``metric=value`` pairs separated by commas, or one number (the primary metric).
    Raises ValueError naming `what` (the setting or the tag)."""
    text = (text or "").strip()
    if not text:
        return {}
    out: dict[str, float] = {}
    try:
        out[PRIMARY] = _value(text)
        return out
    except ValueError:
        pass
    for part in text.split(","):
        if not part.strip():
            continue
        match = _PAIR.match(part)
        if not match:
            raise ValueError(f"{what}: {part.strip()!r} is not metric=value")
        metric = match.group(1).lower()
        if metric not in ALL_METRICS:
            raise ValueError(f"{what}: unknown metric {metric!r}; use "
                             f"{', '.join(ALL_METRICS)}")
        if metric in out:
            raise ValueError(f"{what}: {metric} is given twice")
        try:
            out[metric] = _value(match.group(2))
        except ValueError:
            raise ValueError(f"{what}: {metric}={match.group(2)!r} is not a number >= 0") \
                from None
    return out


def _value(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def thresholds_for(task: str, parsed: dict[str, float]) -> dict[str, float]:
    """The thresholds that apply to a model of `task`: the primary metric resolved, the other
    task's metrics left out."""
    out = {}
    for metric, value in parsed.items():
        name = DEFAULT_PRIMARY_METRIC[task] if metric == PRIMARY else metric
        if name in METRICS[task]:
            out[name] = value
    return out


def breaches(metrics: dict[str, float | None],
             thresholds: dict[str, float]) -> list[dict[str, Any]]:
    """The metrics on the wrong side of their threshold (a metric without a value, like AUC
    of a one-class batch, is not judged)."""
    out = []
    for metric, threshold in thresholds.items():
        value = metrics.get(metric)
        if value is None:
            continue
        worse = value > threshold if metric in LOWER_IS_BETTER else value < threshold
        if worse:
            out.append({"metric": metric, "value": value, "threshold": threshold})
    return out


def azure_signal_thresholds(task: str, thresholds: dict[str, float]) -> dict[str, float]:
    """The thresholds Azure's model performance signal can evaluate (accuracy, precision and
    recall; MAE and RMSE), by the schedule YAML's metric names."""
    return {m: v for m, v in thresholds.items() if m in AZURE_SIGNAL_METRICS[task]}


@dataclass(frozen=True)
class PerformanceRecord:
    """The champion's realised metrics on one labelled version (see the module docstring)."""

    labelled_data: str
    model_version: str
    task: str
    rows: int
    metrics: dict[str, float | None]
    thresholds: dict[str, float] = field(default_factory=dict)
    logged_metrics: dict[str, float | None] | None = None
    result: str | None = None
    evaluated_at: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def breaches(self) -> list[dict[str, Any]]:
        return breaches(self.metrics, self.thresholds)

    @property
    def breached(self) -> bool:
        return bool(self.breaches)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "labelled_data": self.labelled_data, "model_version": self.model_version,
            "task": self.task, "rows": self.rows, "metrics": dict(self.metrics),
            "thresholds": dict(self.thresholds), "breaches": self.breaches,
            "breached": self.breached, "result": self.result,
            "evaluated_at": self.evaluated_at,
        }
        if self.logged_metrics is not None:
            doc["logged_metrics"] = dict(self.logged_metrics)
        if self.notes:
            doc["notes"] = list(self.notes)
        return doc


__all__ = [
    "ALL_METRICS",
    "AZURE_SIGNAL_METRICS",
    "PerformanceRecord",
    "azure_signal_thresholds",
    "breaches",
    "parse_thresholds",
    "thresholds_for",
]
