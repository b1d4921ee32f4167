"""What a comparison computes and how it judges each value.

:class:`DriftConfig` names the signals, metrics, thresholds, binning and sampling of a
comparison; :func:`thresholds_from_azure` validates one Azure-style threshold dict. The drift
kinds (``numerical``, ``categorical``, ``quality``) turn each computed number into a
:class:`~core.drift.result.MetricValue` with :func:`judge` (its threshold and breach under this
config) and add the "significant but small" note to p-values with :func:`note_small_effect`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from core.drift import metrics as registry
from core.drift import types as ftypes
from core.drift.result import MetricValue

SIGNALS = ("data_drift", "prediction_drift", "data_quality")
Parity = Literal["azure", "corrected"]
Progress = Callable[[str, int, int], None]

#: Below this many rows (after the null drop) a drift metric gets a "tiny sample" note.
TINY_SAMPLE = 30


def signal_kind(signal: str) -> registry.MetricKind:
    """The kind of metric a signal computes: ``quality`` for data quality, else ``drift``."""
    return "quality" if signal == "data_quality" else "drift"


def signal_columns(signal: str, columns: Iterable[str], outputs: Collection[str],
                   wanted: Collection[str] | None) -> list[str]:
    """Of ``columns``, those ``signal`` compares: the model's outputs under prediction drift,
    the other columns under data drift, all of them under data quality; ``wanted`` (the
    features asked for, when given) narrows every signal but prediction drift."""
    predictions = signal == "prediction_drift"
    return [c for c in columns
            if (signal_kind(signal) == "quality" or (c in outputs) == predictions)
            and (wanted is None or predictions or c in wanted)]


@dataclass(frozen=True)
class DriftConfig:
    """What to compute and how to judge it.

    ``thresholds``: signal -> feature type -> metric -> threshold (Azure's YAML keys). Signals
    or feature types not given take Azure's defaults
    (:data:`core.drift.metrics.AZURE_DEFAULT_THRESHOLDS`). A
    metric without a threshold is computed for information and never breaches.

    ``metrics``: which metrics to compute (None: every metric that applies); metrics named in
    ``thresholds`` are always computed.

    ``parity``: ``"azure"`` (default) reproduces Azure's components, quirks included;
    ``"corrected"`` corrects the quirks that are defects: the histogram's last edge is put at
    the maximum so every row is counted; the row-wise null drop covers only the compared
    features (Azure drops on every feature named in both frames, also those left out for a type
    mismatch); the out-of-bounds rate of a boolean or integer categorical feature is computed
    against the reference's value set (Azure computes none); category sets are compared whole
    (Azure splits them on ", "); NaN counts in the null value rate (Azure counts nulls only).
    README "Parity with Azure" lists each. ``binning`` is the former name of ``parity`` and
    sets it when given. ``bins`` overrides Sturges' rule.

    ``feature_thresholds``: signal -> feature -> metric -> threshold, taking precedence over the
    per-type ``thresholds`` for that feature (a calibrated policy sets these, see
    :mod:`core.drift.policy`); ``warning_thresholds`` has the same shape and sets each metric's
    warning level; ``threshold_sources`` (same shape, strings) says how each per-feature value
    was chosen. Per-type thresholds read as ``fixed`` when configured, ``azure`` when Azure's
    default.

    ``max_rows``: above this many production rows, compare a deterministic sample (seeded by
    ``sample_seed``); the result says so. ``progress(stage, done, total)`` is called as features
    complete.
    """

    signals: tuple[str, ...] = SIGNALS
    thresholds: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)
    metrics: tuple[str, ...] | None = None
    feature_overrides: Mapping[str, str] = field(default_factory=dict)
    prediction_columns: tuple[str, ...] = ()
    features: tuple[str, ...] | None = None
    parity: Parity = "azure"
    binning: Parity | None = None  # former name of ``parity``; reads back as ``parity``
    bins: int | None = None
    max_rows: int | None = None
    sample_seed: int = 0
    top_categories: int = 20
    small_effect: float = 0.1
    feature_thresholds: Mapping[str, Mapping[str, Mapping[str, float]]] = field(
        default_factory=dict)
    warning_thresholds: Mapping[str, Mapping[str, Mapping[str, float]]] = field(
        default_factory=dict)
    threshold_sources: Mapping[str, Mapping[str, Mapping[str, str]]] = field(
        default_factory=dict)
    progress: Progress | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.signals) - set(SIGNALS)
        if unknown:
            raise ValueError(f"unknown signals {sorted(unknown)}; known: {', '.join(SIGNALS)}")
        if self.binning is not None:
            object.__setattr__(self, "parity", self.binning)
        if self.parity not in ("azure", "corrected"):
            raise ValueError("parity (binning) must be 'azure' or 'corrected'")
        object.__setattr__(self, "binning", self.parity)
        if self.bins is not None and self.bins < 1:
            raise ValueError("bins must be at least 1")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        if self.metrics is not None:
            object.__setattr__(
                self, "metrics", tuple(registry.get(m).name for m in self.metrics)
            )
        normalized: dict[str, dict[str, dict[str, float]]] = {}
        for signal, per_type in self.thresholds.items():
            if signal not in SIGNALS:
                raise ValueError(f"thresholds for unknown signal {signal!r}")
            normalized[signal] = registry.normalize_thresholds(per_type, signal_kind(signal))
        object.__setattr__(self, "thresholds", normalized)
        for what in ("feature_thresholds", "warning_thresholds"):
            per_feature: dict[str, dict[str, dict[str, float]]] = {}
            for signal, features in getattr(self, what).items():
                if signal not in SIGNALS:
                    raise ValueError(f"{what} for unknown signal {signal!r}")
                per_feature[signal] = {
                    f: {registry.get(m).name: float(v) for m, v in per_metric.items()}
                    for f, per_metric in features.items()}
            object.__setattr__(self, what, per_feature)
        for name, ftype in self.feature_overrides.items():
            if ftype not in ftypes.FEATURE_TYPES:
                raise ValueError(f"override for {name!r} must be numerical or categorical")
        object.__setattr__(self, "prediction_columns", tuple(self.prediction_columns))

    def thresholds_for(self, signal: str) -> dict[str, dict[str, float]]:
        """Thresholds per feature type; a feature type not configured keeps Azure's default."""
        given = self.thresholds.get(signal, {})
        defaults = registry.AZURE_DEFAULT_THRESHOLDS[signal]
        return {t: dict(given[t] if t in given else defaults[t]) for t in ftypes.FEATURE_TYPES}

    def threshold_for(
        self, signal: str, feature: str, feature_type: str, metric: str
    ) -> tuple[float | None, float | None, str | None]:
        """``(threshold, warning threshold, source)`` of one feature's metric: the
        per-feature value when set, else the per-type one (None: informational)."""
        per_feature = self.feature_thresholds.get(signal, {}).get(feature, {})
        warning = self.warning_thresholds.get(signal, {}).get(feature, {}).get(metric)
        if metric in per_feature:
            source = self.threshold_sources.get(signal, {}).get(feature, {}).get(metric)
            return per_feature[metric], warning, source or "fixed"
        threshold = self.thresholds_for(signal).get(feature_type, {}).get(metric)
        if threshold is None:
            return None, warning, None
        given = feature_type in self.thresholds.get(signal, {})
        return threshold, warning, "fixed" if given else "azure"

    def metrics_for(self, signal: str, feature_type: str) -> tuple[str, ...]:
        applicable = registry.metrics_for(feature_type, signal_kind(signal))
        chosen = set(applicable if self.metrics is None else self.metrics)
        chosen |= set(self.thresholds_for(signal).get(feature_type, {}))
        return tuple(m for m in applicable if m in chosen)

    @classmethod
    def from_azure(
        cls,
        data_drift: Mapping[str, Mapping[str, float]] | None = None,
        prediction_drift: Mapping[str, Mapping[str, float]] | None = None,
        data_quality: Mapping[str, Mapping[str, float]] | None = None,
        **kwargs: Any,
    ) -> DriftConfig:
        """A config from Azure-style threshold dicts, one per signal, e.g.
        ``{"numerical": {"normalized_wasserstein_distance": 0.1},
        "categorical": {"jensen_shannon_distance": 0.1}}``. Signals given None keep Azure's
        defaults."""
        thresholds: dict[str, Mapping[str, Mapping[str, float]]] = {}
        for name, value in (
            ("data_drift", data_drift),
            ("prediction_drift", prediction_drift),
            ("data_quality", data_quality),
        ):
            if value is not None:
                thresholds[name] = value
        return cls(thresholds=thresholds, **kwargs)


def thresholds_from_azure(
    thresholds: Mapping[str, Mapping[str, float]], *, signal: str = "data_drift"
) -> dict[str, dict[str, float]]:
    """Validate and normalise one Azure-style threshold dict for ``signal``."""
    return registry.normalize_thresholds(thresholds, signal_kind(signal))


# --------------------------------------------------------------------------------------------
# Judging one value


def judge(
    config: DriftConfig,
    signal: str,
    feature: str,
    feature_type: str,
    metric: str,
    value: float | None,
    *,
    effect_size: float | None = None,
    count: int | None = None,
    notes: tuple[str, ...] = (),
) -> MetricValue:
    """One computed metric with its threshold under ``config`` and whether it breaches.

    NaN becomes None with ``undefined`` set (never breaches).
    """
    spec = registry.get(metric)
    undefined = value is not None and isinstance(value, float) and math.isnan(value)
    if undefined:
        value = None
    threshold, warning, source = config.threshold_for(signal, feature, feature_type, metric)
    return MetricValue(
        feature=feature,
        feature_type=feature_type,
        metric=metric,
        value=value,
        threshold=threshold,
        breached=spec.breached(value, threshold),
        direction=spec.direction,
        effect_size_name=spec.effect_size,
        effect_size=effect_size,
        count=count,
        notes=notes,
        undefined=undefined,
        warning_threshold=warning,
        threshold_source=source,
    )


def note_small_effect(
    config: DriftConfig, mv: MetricValue, n_ref: int, n_prod: int, notes: list[str]
) -> MetricValue:
    """A p-value metric with ``notes`` added, plus "significant but small" when it breaches with
    an effect size below ``config.small_effect``."""
    if mv.breached and mv.effect_size is not None and mv.effect_size < config.small_effect:
        notes.append(
            f"significant but small: {mv.effect_size_name} = {mv.effect_size:.3g} "
            f"(< {config.small_effect:g}); with {n_ref} and {n_prod} rows a p-value "
            "test flags even negligible differences, prefer a distance metric"
        )
    if notes:
        mv = replace(mv, notes=mv.notes + tuple(notes))
    return mv


def tiny_sample_note(n_ref: int, n_prod: int) -> str | None:
    """The note a drift feature gets when either frame has fewer than :data:`TINY_SAMPLE` rows."""
    if min(n_ref, n_prod) < TINY_SAMPLE:
        return f"tiny sample ({min(n_ref, n_prod)} rows): metrics are noisy"
    return None
