"""Typed drift results, JSON round-trip, and Azure-compatible views.

Values are float64. Azure stores metric values as float32 (a p-value under about 1e-45 becomes
0.0); :meth:`DriftResult.azure_float32` gives that view, with breaches re-evaluated on the
float32 values against float32 thresholds, as Azure's evaluation step compares them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.drift import metrics as registry

RESULT_FORMAT_VERSION = 1


def _num(x: float | None) -> float | None:
    """JSON-safe float: NaN becomes None, infinities stay (as strings in JSON)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _enc(x: float | None) -> float | str | None:
    if x is None:
        return None
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _dec(x: Any) -> float | None:
    if x is None:
        return None
    return float(x)


@dataclass(frozen=True)
class MetricValue:
    """One metric of one feature: the row Azure would write, plus what Azure leaves out."""

    feature: str
    feature_type: str
    metric: str
    value: float | None
    threshold: float | None
    breached: bool
    direction: str
    effect_size: float | None = None
    effect_size_name: str | None = None
    count: int | None = None  # data quality: the number of violating values
    notes: tuple[str, ...] = ()

    @property
    def azure_name(self) -> str:
        return registry.get(self.metric).azure_name

    @property
    def severity(self) -> float:
        """How far past (or how close to) its threshold the value is: > 1 means breached."""
        v, t = self.value, self.threshold
        if v is None:
            return 0.0
        if t is None:
            t = registry.get(self.metric).default_threshold
        if self.direction == "below":
            if v <= 0:
                return math.inf if t > 0 else 1.0
            return t / v
        if t <= 0:
            return math.inf if v > 0 else 0.0
        return v / t

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "feature_type": self.feature_type,
            "metric": self.metric,
            "value": _enc(self.value),
            "threshold": self.threshold,
            "breached": self.breached,
            "direction": self.direction,
            "effect_size": _enc(self.effect_size),
            "effect_size_name": self.effect_size_name,
            "count": self.count,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricValue:
        return cls(
            feature=d["feature"],
            feature_type=d["feature_type"],
            metric=d["metric"],
            value=_dec(d.get("value")),
            threshold=_dec(d.get("threshold")),
            breached=bool(d["breached"]),
            direction=d["direction"],
            effect_size=_dec(d.get("effect_size")),
            effect_size_name=d.get("effect_size_name"),
            count=d.get("count"),
            notes=tuple(d.get("notes", ())),
        )


@dataclass(frozen=True)
class Distribution:
    """What the report draws for one feature.

    ``kind == "histogram"``: ``edges`` (k+1) and per-bin counts; ``kind == "categorical"``:
    ``categories`` (the top N by combined frequency) with their counts, and what the other
    categories add up to in ``other_reference``/``other_production``. Totals are the row counts
    the metric normalised by.
    """

    kind: str
    reference: tuple[int, ...]
    production: tuple[int, ...]
    reference_total: int
    production_total: int
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    other_reference: int = 0
    other_production: int = 0
    total_categories: int = 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "reference": list(self.reference),
            "production": list(self.production),
            "reference_total": self.reference_total,
            "production_total": self.production_total,
        }
        if self.kind == "histogram":
            d["edges"] = list(self.edges)
        else:
            d.update(
                categories=list(self.categories),
                other_reference=self.other_reference,
                other_production=self.other_production,
                total_categories=self.total_categories,
            )
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Distribution:
        return cls(
            kind=d["kind"],
            reference=tuple(int(x) for x in d["reference"]),
            production=tuple(int(x) for x in d["production"]),
            reference_total=int(d["reference_total"]),
            production_total=int(d["production_total"]),
            edges=tuple(float(x) for x in d.get("edges", ())),
            categories=tuple(d.get("categories", ())),
            other_reference=int(d.get("other_reference", 0)),
            other_production=int(d.get("other_production", 0)),
            total_categories=int(d.get("total_categories", 0)),
        )


@dataclass(frozen=True)
class FeatureResult:
    name: str
    feature_type: str
    metrics: tuple[MetricValue, ...] = ()
    distribution: Distribution | None = None
    notes: tuple[str, ...] = ()
    skipped: bool = False  # no value could be computed; ``notes`` says why

    @property
    def breached(self) -> bool:
        return any(m.breached for m in self.metrics)

    @property
    def severity(self) -> float:
        """The worst severity among metrics that have a threshold (informational ones aside)."""
        return max((m.severity for m in self.metrics if m.threshold is not None), default=0.0)

    def metric(self, name: str) -> MetricValue | None:
        return next((m for m in self.metrics if m.metric == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "feature_type": self.feature_type,
            "breached": self.breached,
            "skipped": self.skipped,
            "notes": list(self.notes),
            "metrics": [m.to_dict() for m in self.metrics],
            "distribution": self.distribution.to_dict() if self.distribution else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureResult:
        dist = d.get("distribution")
        return cls(
            name=d["name"],
            feature_type=d["feature_type"],
            metrics=tuple(MetricValue.from_dict(m) for m in d.get("metrics", ())),
            distribution=Distribution.from_dict(dist) if dist else None,
            notes=tuple(d.get("notes", ())),
            skipped=bool(d.get("skipped", False)),
        )


@dataclass(frozen=True)
class SignalResult:
    """One monitoring signal (``data_drift``, ``prediction_drift`` or ``data_quality``).

    Row counts are those the metrics used: after the row-wise null drop for drift signals, all
    production rows for data quality.
    """

    name: str
    features: tuple[FeatureResult, ...]
    rows_reference: int
    rows_production: int
    notes: tuple[str, ...] = ()

    @property
    def breached(self) -> bool:
        return any(f.breached for f in self.features)

    def feature(self, name: str) -> FeatureResult | None:
        return next((f for f in self.features if f.name == name), None)

    def breaches(self) -> list[MetricValue]:
        return [m for f in self.features for m in f.metrics if m.breached]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "breached": self.breached,
            "rows_reference": self.rows_reference,
            "rows_production": self.rows_production,
            "notes": list(self.notes),
            "features": [f.to_dict() for f in self.features],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SignalResult:
        return cls(
            name=d["name"],
            features=tuple(FeatureResult.from_dict(f) for f in d.get("features", ())),
            rows_reference=int(d["rows_reference"]),
            rows_production=int(d["rows_production"]),
            notes=tuple(d.get("notes", ())),
        )


@dataclass(frozen=True)
class Sampling:
    """Deterministic sampling of a production batch above the configured row limit."""

    rows_total: int
    rows_used: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"rows_total": self.rows_total, "rows_used": self.rows_used, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sampling:
        return cls(int(d["rows_total"]), int(d["rows_used"]), int(d["seed"]))


@dataclass(frozen=True)
class DriftResult:
    signals: tuple[SignalResult, ...]
    rows_reference: int
    rows_production: int
    binning: str = "azure"
    sampling: Sampling | None = None
    missing_columns: tuple[str, ...] = ()  # in the reference, not in production
    extra_columns: tuple[str, ...] = ()  # in production, not in the reference
    excluded: dict[str, str] = field(default_factory=dict)  # column -> why it was left out
    notes: tuple[str, ...] = ()
    value_precision: str = "float64"

    @property
    def breached(self) -> bool:
        return any(s.breached for s in self.signals)

    def signal(self, name: str) -> SignalResult | None:
        return next((s for s in self.signals if s.name == name), None)

    def metrics(self) -> list[tuple[str, MetricValue]]:
        """Every metric as ``(signal name, metric)``."""
        return [(s.name, m) for s in self.signals for f in s.features for m in f.metrics]

    def breaches(self) -> list[tuple[str, MetricValue]]:
        return [(s, m) for s, m in self.metrics() if m.breached]

    def breach_message(self, signal_name: str, signal: str | None = None) -> str | None:
        """The run tag Azure's evaluation step writes on a breach (None when not breached).

        ``signal_name`` is the monitor's signal name (``<monitor>_<description>``); ``signal``
        picks which of our signals to report (default: all breached ones).
        """
        rows = [
            {
                "feature_name": m.feature,
                "metric_value": m.value,
                "metric_name": m.azure_name,
                "threshold_value": m.threshold,
            }
            for s, m in self.breaches()
            if signal is None or s == signal
        ]
        if not rows:
            return None
        return (
            f"The signal '{signal_name}' has failed due to one or more features violating "
            "metric thresholds.\nThe feature names and their corresponding computed metric "
            f"values violating the threshold are \n{[json.dumps(r) for r in rows]}\n"
        )

    def azure_float32(self) -> DriftResult:
        """A copy with values and thresholds rounded to float32 and breaches re-evaluated."""

        def f32(x: float | None) -> float | None:
            return None if x is None else float(np.float32(x))

        signals = []
        for s in self.signals:
            feats = []
            for f in s.features:
                ms = []
                for m in f.metrics:
                    v, t = f32(m.value), f32(m.threshold)
                    ms.append(
                        replace(m, value=v, threshold=t,
                                breached=registry.get(m.metric).breached(v, t))
                    )
                feats.append(replace(f, metrics=tuple(ms)))
            signals.append(replace(s, features=tuple(feats)))
        return replace(self, signals=tuple(signals), value_precision="float32")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": RESULT_FORMAT_VERSION,
            "breached": self.breached,
            "rows_reference": self.rows_reference,
            "rows_production": self.rows_production,
            "binning": self.binning,
            "value_precision": self.value_precision,
            "sampling": self.sampling.to_dict() if self.sampling else None,
            "missing_columns": list(self.missing_columns),
            "extra_columns": list(self.extra_columns),
            "excluded": dict(self.excluded),
            "notes": list(self.notes),
            "signals": [s.to_dict() for s in self.signals],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftResult:
        version = d.get("format_version", RESULT_FORMAT_VERSION)
        if version > RESULT_FORMAT_VERSION:
            raise ValueError(
                f"drift result format {version} is newer than this code reads "
                f"({RESULT_FORMAT_VERSION})"
            )
        sampling = d.get("sampling")
        return cls(
            signals=tuple(SignalResult.from_dict(s) for s in d.get("signals", ())),
            rows_reference=int(d["rows_reference"]),
            rows_production=int(d["rows_production"]),
            binning=d.get("binning", "azure"),
            sampling=Sampling.from_dict(sampling) if sampling else None,
            missing_columns=tuple(d.get("missing_columns", ())),
            extra_columns=tuple(d.get("extra_columns", ())),
            excluded=dict(d.get("excluded", {})),
            notes=tuple(d.get("notes", ())),
            value_precision=d.get("value_precision", "float64"),
        )

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> DriftResult:
        return cls.from_dict(json.loads(text))


__all__ = [
    "Distribution",
    "DriftResult",
    "FeatureResult",
    "MetricValue",
    "Sampling",
    "SignalResult",
]
