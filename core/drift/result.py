"""Typed drift results, JSON round-trip, and Azure-compatible views.

Values are float64. Azure stores metric values as float32 (a p-value under about 1e-45 becomes
0.0); :meth:`DriftResult.azure_float32` gives that view, with breaches re-evaluated on the
float32 values against float32 thresholds, as Azure's evaluation step compares them.

JSON (format 3; formats 1 and 2 still load): every metric carries Azure's output name
(``azure_name``, e.g. ``JensenShannonDistance``); ``table`` is the flat form Azure's signal
output has (signal, feature, data type, metric, value, threshold, breached, plus Azure's row
count rows); each signal names its row counts after the null drop; ``departures`` lists every
way a number differs from what Azure's components would give (a code from :data:`DEPARTURES`
and a detail), beside the English notes. Values are JSON numbers or null: a non-finite value is
null with ``non_finite`` saying which (``"nan"``: undefined for this data, never breaches;
``"inf"``/``"-inf"``: infinite, compared with the threshold as such), see
:data:`VALUE_ENCODING`.

Severity (format 3): every metric, feature, signal and the result carry ``status``
(:data:`STATUSES`: ``ok``, ``warning``, ``breach``; a metric without a threshold is ``info``)
and ``severity`` (value / threshold, inverted for p-values: above 1 is past the threshold;
null when not finite, e.g. a rate above a threshold of 0); a metric also carries
``warning_threshold``, ``past_by`` (how far past the threshold, in the metric's unit, positive
when past) and ``threshold_source`` (how its threshold was chosen, see
:mod:`core.drift.policy`). The result carries ``policy``: the threshold policy and, when
calibrated, how the thresholds were derived.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.drift import metrics as registry

#: 3: status and severity at every level, warning thresholds, threshold sources, the policy.
#: 2: Azure output names, the flat table, row counts after the null drop, departures, values
#: as numbers or null (``non_finite``). 1: infinities as the strings "Infinity"/"-Infinity".
RESULT_FORMAT_VERSION = 3

#: Statuses from best to worst; ``info`` (a metric without a threshold) ranks with ``ok``.
STATUSES = ("ok", "warning", "breach")
#: Without an explicit warning threshold, a value warns past this share of its threshold
#: (distances and rates: above 0.8 x threshold; p-values: below threshold / 0.8).
WARNING_FRACTION = 0.8


def worst_status(statuses: Any) -> str:
    """The worst of ``statuses`` (``info`` counts as ``ok``); ``ok`` when there are none."""
    rank = {"ok": 0, "info": 0, "warning": 1, "breach": 2}
    return max(statuses, key=lambda s: rank[s], default="ok").replace("info", "ok")

VALUE_ENCODING = (
    "metric_value/value: a JSON number, or null when the value is not finite or not computed; "
    "non_finite then says which: 'nan' = undefined for this data (Azure would store NaN; "
    "never breaches), 'inf'/'-inf' = infinite (compared with the threshold as such); "
    "non_finite null with value null = not computed"
)

#: Every departure code: how a number (or its absence) differs from Azure's components.
DEPARTURES: dict[str, str] = {
    "ks_above_azure_limit": "KS p-value computed at 10,000 rows or more (Azure computes none)",
    "constant_column": "constant column: distances 0, p-values 1 (Azure's monitor fails, or "
                       "its chi-squared is NaN)",
    "all_null_column_skipped": "a feature with every value missing is left out of the row-wise "
                               "null drop and of drift (Azure drops every row and fails)",
    "no_rows_after_null_drop": "no rows left after the null drop: features skipped (Azure "
                               "fails)",
    "column_excluded": "column left out of drift (missing, type mismatch or unsupported type); "
                       "Azure leaves it out without saying so",
    "infinite_values_as_missing": "infinite values treated as missing for drift (Azure's bins "
                                  "break on them)",
    "duplicate_bin_edges_merged": "range within floating-point resolution: duplicate bin edges "
                                  "merged (Azure's job fails)",
    "last_edge_counted": "corrected: the last bin edge is the maximum, so every row is counted "
                         "(Azure's last edge may fall below it)",
    "row_drop_compared_features_only": "corrected: rows dropped for a missing value in compared "
                                       "features only (Azure also drops on features left out "
                                       "for a type mismatch)",
    "row_drop_column_unavailable": "Azure also drops rows on this column, whose missing values "
                                   "the profile does not hold (unsupported type)",
    "out_of_bounds_computed": "corrected: out-of-bounds rate of a boolean or integer "
                              "categorical feature, against the reference's values (Azure "
                              "computes none)",
    "category_set_not_split": "corrected: reference categories compared whole (Azure splits its "
                              "category set on ', ' and counts such values out of bounds)",
    "nan_counted_as_null": "corrected: NaN counts in the null value rate (Azure counts nulls "
                           "only)",
    "strict_type_errors": "data type errors read strictly (Spark's cast is lenient: it "
                          "truncates '1.5' to 1 for an integer reference)",
    "production_sampled": "production sampled above the row limit (Azure reads every row)",
}


@dataclass(frozen=True)
class Departure:
    """One way a result differs from what Azure's components would give (see DEPARTURES)."""

    code: str
    detail: str
    signal: str | None = None
    feature: str | None = None
    metric: str | None = None

    def __post_init__(self) -> None:
        if self.code not in DEPARTURES:
            raise ValueError(f"unknown departure code {self.code!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "signal": self.signal, "feature": self.feature,
                "metric": self.metric, "detail": self.detail}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Departure:
        return cls(code=d["code"], detail=d.get("detail", ""), signal=d.get("signal"),
                   feature=d.get("feature"), metric=d.get("metric"))


def _departures(items: Any) -> tuple[Departure, ...]:
    return tuple(Departure.from_dict(d) for d in items or () if d.get("code") in DEPARTURES)


def non_finite(x: float | None) -> str | None:
    """``"nan"``, ``"inf"`` or ``"-inf"`` for a non-finite float, else None."""
    if x is None or math.isfinite(x):
        return None
    if math.isnan(x):
        return "nan"
    return "inf" if x > 0 else "-inf"


def _enc(x: float | None) -> float | None:
    """A JSON number, or null for None and non-finite values (see VALUE_ENCODING)."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def _dec(x: Any, marker: str | None = None) -> float | None:
    if marker == "inf":
        return math.inf
    if marker == "-inf":
        return -math.inf
    if x is None:
        return None
    return float(x)  # format 1 wrote infinities as "Infinity"/"-Infinity"


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
    undefined: bool = False  # the computation gave NaN (``value`` is None; never breaches)
    # Past this (and not past ``threshold``) the status is "warning"; None: WARNING_FRACTION.
    warning_threshold: float | None = None
    threshold_source: str | None = None  # how the threshold was chosen (core.drift.policy)

    @property
    def warning_level(self) -> float | None:
        """The value past which the metric warns (None without a threshold)."""
        if self.warning_threshold is not None or self.threshold is None:
            return self.warning_threshold
        if self.direction == "below":
            return self.threshold / WARNING_FRACTION
        return self.threshold * WARNING_FRACTION

    @property
    def status(self) -> str:
        """``breach``, ``warning`` (past the warning level), ``ok``, or ``info`` (no
        threshold: computed for information, never alerts)."""
        if self.breached:
            return "breach"
        if self.threshold is None:
            return "info"
        warn, v = self.warning_level, self.value
        if warn is None or v is None:
            return "ok"
        past = v < warn if self.direction == "below" else v > warn
        return "warning" if past else "ok"

    @property
    def past_by(self) -> float | None:
        """How far past its threshold the value is, in the metric's unit (positive: past;
        negative: the margin left). None without a value or threshold."""
        if self.value is None or self.threshold is None:
            return None
        return (self.threshold - self.value if self.direction == "below"
                else self.value - self.threshold)

    @property
    def non_finite(self) -> str | None:
        return "nan" if self.undefined else non_finite(self.value)

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
            "azure_name": self.azure_name,
            "value": _enc(self.value),
            "non_finite": self.non_finite,
            "threshold": self.threshold,
            "breached": self.breached,
            "direction": self.direction,
            "effect_size": _enc(self.effect_size),
            "effect_size_name": self.effect_size_name,
            "count": self.count,
            "notes": list(self.notes),
            "status": self.status,
            "severity": _enc(self.severity),
            "past_by": _enc(self.past_by),
            "warning_threshold": self.warning_threshold,
            "threshold_source": self.threshold_source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricValue:
        return cls(
            feature=d["feature"],
            feature_type=d["feature_type"],
            metric=d["metric"],
            value=None if d.get("non_finite") == "nan" else _dec(d.get("value"),
                                                               d.get("non_finite")),
            threshold=_dec(d.get("threshold")),
            breached=bool(d["breached"]),
            direction=d["direction"],
            effect_size=_dec(d.get("effect_size")),
            effect_size_name=d.get("effect_size_name"),
            count=d.get("count"),
            notes=tuple(d.get("notes", ())),
            undefined=d.get("non_finite") == "nan",
            warning_threshold=_dec(d.get("warning_threshold")),
            threshold_source=d.get("threshold_source"),
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
    departures: tuple[Departure, ...] = ()

    @property
    def breached(self) -> bool:
        return any(m.breached for m in self.metrics)

    @property
    def severity(self) -> float:
        """The worst severity among metrics that have a threshold (informational ones aside)."""
        return max((m.severity for m in self.metrics if m.threshold is not None), default=0.0)

    @property
    def status(self) -> str:
        return worst_status(m.status for m in self.metrics)

    def metric(self, name: str) -> MetricValue | None:
        return next((m for m in self.metrics if m.metric == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "feature_type": self.feature_type,
            "breached": self.breached,
            "status": self.status,
            "severity": _enc(self.severity),
            "skipped": self.skipped,
            "notes": list(self.notes),
            "departures": [d.to_dict() for d in self.departures],
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
            departures=_departures(d.get("departures")),
        )


@dataclass(frozen=True)
class SignalResult:
    """One monitoring signal (``data_drift``, ``prediction_drift`` or ``data_quality``).

    Row counts are those the metrics used: after the row-wise null drop for drift signals, all
    production rows for data quality. The JSON names them for what they are too
    (``rows_*_after_null_drop`` for drift signals).
    """

    name: str
    features: tuple[FeatureResult, ...]
    rows_reference: int
    rows_production: int
    notes: tuple[str, ...] = ()
    departures: tuple[Departure, ...] = ()

    @property
    def is_drift(self) -> bool:
        return self.name != "data_quality"

    @property
    def breached(self) -> bool:
        return any(f.breached for f in self.features)

    @property
    def status(self) -> str:
        return worst_status(f.status for f in self.features)

    @property
    def severity(self) -> float:
        return max((f.severity for f in self.features), default=0.0)

    def feature(self, name: str) -> FeatureResult | None:
        return next((f for f in self.features if f.name == name), None)

    def breaches(self) -> list[MetricValue]:
        return [m for f in self.features for m in f.metrics if m.breached]

    def to_dict(self) -> dict[str, Any]:
        drift = self.is_drift
        return {
            "name": self.name,
            "breached": self.breached,
            "status": self.status,
            "severity": _enc(self.severity),
            "rows_reference": self.rows_reference,
            "rows_production": self.rows_production,
            "rows_reference_after_null_drop": self.rows_reference if drift else None,
            "rows_production_after_null_drop": self.rows_production if drift else None,
            "notes": list(self.notes),
            "departures": [d.to_dict() for d in self.departures],
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
            departures=_departures(d.get("departures")),
        )


@dataclass(frozen=True)
class Sampling:
    """Deterministic sampling of a production batch above the configured row limit.

    ``method``: ``"seeded_choice"`` (``compare``'s ``max_rows``) or ``"bottom_k"`` (the
    streamed early check: the rows with the smallest seeded random keys, a uniform sample
    without replacement). ``ks_error_bound``: with probability ``confidence``, the sample's
    production CDF of every numerical feature at once is within this of the whole batch's
    everywhere (Dvoretzky-Kiefer-Wolfowitz), so each KS statistic is within it too; None when
    not stated."""

    rows_total: int
    rows_used: int
    seed: int
    method: str = "seeded_choice"
    ks_error_bound: float | None = None
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows_total": self.rows_total, "rows_used": self.rows_used,
                               "seed": self.seed}
        if self.method != "seeded_choice" or self.ks_error_bound is not None:
            out.update(method=self.method, ks_error_bound=self.ks_error_bound,
                       confidence=self.confidence)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sampling:
        bound, confidence = d.get("ks_error_bound"), d.get("confidence")
        return cls(int(d["rows_total"]), int(d["rows_used"]), int(d["seed"]),
                   str(d.get("method", "seeded_choice")),
                   None if bound is None else float(bound),
                   None if confidence is None else float(confidence))


@dataclass(frozen=True)
class DriftResult:
    signals: tuple[SignalResult, ...]
    rows_reference: int
    rows_production: int
    parity: str = "azure"  # "azure" or "corrected" (DriftConfig.parity)
    sampling: Sampling | None = None
    missing_columns: tuple[str, ...] = ()  # in the reference, not in production
    extra_columns: tuple[str, ...] = ()  # in production, not in the reference
    excluded: dict[str, str] = field(default_factory=dict)  # column -> why it was left out
    notes: tuple[str, ...] = ()
    value_precision: str = "float64"
    departures: tuple[Departure, ...] = ()  # result-wide (sampling, excluded columns)
    # The threshold policy that judged the values and, when calibrated, how (policy.describe).
    policy: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        return worst_status(s.status for s in self.signals)

    @property
    def severity(self) -> float:
        return max((s.severity for s in self.signals), default=0.0)

    @property
    def binning(self) -> str:
        """The former name of ``parity``."""
        return self.parity

    @property
    def breached(self) -> bool:
        return any(s.breached for s in self.signals)

    def all_departures(self) -> list[Departure]:
        """Every departure, result-wide first, then per signal and feature, with the signal
        and feature filled in."""
        out = list(self.departures)
        for s in self.signals:
            out.extend(replace(d, signal=d.signal or s.name) for d in s.departures)
            for f in s.features:
                out.extend(replace(d, signal=d.signal or s.name, feature=d.feature or f.name)
                           for d in f.departures)
        return out

    def table(self) -> list[dict[str, Any]]:
        """The flat form of Azure's signal output: one row per metric (feature, data type,
        metric, value, threshold, breached), then Azure's row count rows for each signal
        (``BaselineRowCount``/``TargetRowCount`` after the null drop for drift signals,
        ``RowCount`` for data quality)."""
        rows: list[dict[str, Any]] = []
        for s in self.signals:
            for f in s.features:
                for m in f.metrics:
                    rows.append({
                        "signal": s.name,
                        "feature_name": m.feature,
                        "data_type": m.feature_type.capitalize(),
                        "metric_name": m.azure_name,
                        "metric": m.metric,
                        "metric_value": _enc(m.value),
                        "non_finite": m.non_finite,
                        "threshold_value": m.threshold,
                        "breached": m.breached,
                    })
            counts = ([("BaselineRowCount", s.rows_reference),
                       ("TargetRowCount", s.rows_production)]
                      if s.is_drift else [("RowCount", s.rows_production)])
            for name, value in counts:
                rows.append({
                    "signal": s.name, "feature_name": "", "data_type": "", "metric_name": name,
                    "metric": None, "metric_value": float(value), "non_finite": None,
                    "threshold_value": None, "breached": False,
                })
        return rows

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
        from core.domain.events import breach_message

        return breach_message(signal_name, rows)

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
            "status": self.status,
            "severity": _enc(self.severity),
            "policy": self.policy,
            "rows_reference": self.rows_reference,
            "rows_production": self.rows_production,
            "parity": self.parity,
            "binning": self.parity,  # format 1's name, kept for its readers
            "value_precision": self.value_precision,
            "value_encoding": VALUE_ENCODING,
            "sampling": self.sampling.to_dict() if self.sampling else None,
            "missing_columns": list(self.missing_columns),
            "extra_columns": list(self.extra_columns),
            "excluded": dict(self.excluded),
            "notes": list(self.notes),
            "result_departures": [d.to_dict() for d in self.departures],
            "departures": [d.to_dict() for d in self.all_departures()],
            "signals": [s.to_dict() for s in self.signals],
            "table": self.table(),
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
            parity=d.get("parity", d.get("binning", "azure")),
            sampling=Sampling.from_dict(sampling) if sampling else None,
            missing_columns=tuple(d.get("missing_columns", ())),
            extra_columns=tuple(d.get("extra_columns", ())),
            excluded=dict(d.get("excluded", {})),
            notes=tuple(d.get("notes", ())),
            value_precision=d.get("value_precision", "float64"),
            departures=_departures(d.get("result_departures")),
            policy=d.get("policy"),
        )

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> DriftResult:
        return cls.from_dict(json.loads(text))


__all__ = [
    "DEPARTURES",
    "STATUSES",
    "Departure",
    "Distribution",
    "DriftResult",
    "FeatureResult",
    "MetricValue",
    "Sampling",
    "SignalResult",
]
