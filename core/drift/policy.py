"""Threshold policies: how each feature's metrics are judged.

- ``azure``: Azure ML's defaults (normalized Wasserstein 0.1 for numerical features,
  Jensen-Shannon 0.1 for categorical ones, 0.0 for every data quality rate), for parity with
  what an Azure monitor decides.
- ``fixed``: the values configured per signal, feature type and metric (``thresholds``), Azure's
  defaults where none is given; a model tag's drift threshold arrives this way.
- ``calibrated`` (the default of the early check and local monitor runs): the metrics the fixed
  thresholds name, with per-feature values derived from the reference:

  * drift metrics (Jensen-Shannon, normalized Wasserstein, PSI): from the metric's values over
    chunks of the reference (:mod:`core.drift.calibration`): the value a gamma distribution
    with their mean and std exceeds with probability ``norm.sf(k)`` (distances under no drift
    are right-skewed; for a symmetric spread this is close to ``mean + k x std``), or the
    ``quantile`` of the values when set; never below the largest chunk value; the warning
    level at ``k - 1``; ``k + 1`` when the chunks were smaller than the batch (a small
    reference, ``calibrated_widened``). Values are scaled from the chunk's rows to the
    batch's: under no drift a distance moves as ``sqrt(1/n_batch + 1/n_reference)`` and, for
    histogram metrics, as ``sqrt(bins - 1)`` (PSI as the square), so a threshold calibrated
    for 1,000-row batches stays right for a 5,000-row one;
  * data quality rates: a rate clearly above the reference's own: the count a batch of ``n``
    rows exceeds with probability ``norm.sf(k)`` (3e-5 at k = 4) under a beta-binomial with
    the reference's rate and its uncertainty. The null value rate's own rate is the
    reference's; the data type error rate's is 0 (the reference defines the type); the
    out-of-bounds rate's is what a fresh sample shows by chance: for a numerical feature the
    mass outside the range of ``N`` values, ``Beta(2, N - 1)`` whatever the distribution; for
    a categorical one the share of categories seen once (Good-Turing). A rate of 0 in the
    reference (nulls, type errors) still breaches on the first one.

  A feature or metric the profile holds no calibration for falls back to the fixed value
  (``threshold_source`` ``fallback``, and a note). Each threshold says where it came from in
  its ``threshold_source``; the result's ``policy`` says how the thresholds were derived.

Why ``k = 4`` by default: an alert fires when any of a batch's judged metrics (often 20-40)
breaches; a tail of ``norm.sf(4)`` = 3e-5 each keeps the batch near 1e-3, with room for the
noise of a mean and std estimated from 60-100 chunks. A fixed k lets that rate grow with the
model's width (about ``m x norm.sf(k)`` for m judged metrics); ``false_alarm_rate`` sets it per
model instead: ``k = norm.isf(rate / m)`` for the m metrics this profile's batches are judged on
(those with a threshold to exceed: distances and rates; p-values keep their own level), by
Bonferroni's bound, so a 5-feature model is judged at a lower k than a 100-feature one. The
result's ``policy`` gives the k used, m and the rate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import stats as sps

from core.drift import metrics as registry
from core.drift import stats
from core.drift.config import DriftConfig, signal_columns, signal_kind
from core.drift.engine import compare
from core.drift.profile import Calibration, ReferenceProfile
from core.drift.result import DriftResult
from core.drift.thresholds import POLICIES, PolicyName, parse_thresholds

__all__ = ["POLICIES", "PolicyName", "ThresholdPolicy", "compare_with_policy",
           "expected_batch_rows", "parse_thresholds"]

DEFAULT_K = 4.0
#: Before any batch is seen, calibrate for batches of this many rows.
DEFAULT_BATCH_ROWS = 1000
#: Fewer finite chunk values than this and a metric falls back.
MIN_VALUES = 3


def expected_batch_rows(recent: list[int], setting: int | None = None) -> int:
    """The batch size to calibrate for: the setting when given, else the median of recent
    batch sizes, else :data:`DEFAULT_BATCH_ROWS`."""
    if setting:
        return int(setting)
    sizes = [r for r in recent if r and r > 0]
    return int(np.median(sizes)) if sizes else DEFAULT_BATCH_ROWS


@dataclass(frozen=True)
class ThresholdPolicy:
    """One of :data:`POLICIES`; ``thresholds`` (signal -> feature type -> metric -> value) are
    the fixed values (and, for ``calibrated``, which metrics are judged and the fallback)."""

    name: PolicyName = "calibrated"
    k: float = DEFAULT_K
    quantile: float | None = None
    thresholds: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)
    #: A batch's false alarm rate to aim at (``calibrated``): k follows from it per profile.
    false_alarm_rate: float | None = None

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"unknown threshold policy {self.name!r}; known: "
                             + ", ".join(POLICIES))
        if not self.k > 0:
            raise ValueError("k must be positive")
        if self.quantile is not None and not 0.5 <= self.quantile < 1:
            raise ValueError("quantile must be in [0.5, 1)")
        if self.false_alarm_rate is not None and not 0 < self.false_alarm_rate < 1:
            raise ValueError("false_alarm_rate must be in (0, 1)")

    # ------------------------------------------------------------------ the config
    def config(self, profile: ReferenceProfile, production_rows: int,
               **kwargs: Any) -> DriftConfig:
        """The DriftConfig judging a batch of ``production_rows`` rows against ``profile``
        under this policy; ``kwargs`` go to DriftConfig (signals, features, ...)."""
        return self.prepare(profile, production_rows, **kwargs)[0]

    def prepare(self, profile: ReferenceProfile, production_rows: int,
                **kwargs: Any) -> tuple[DriftConfig, dict[str, Any]]:
        """:meth:`config` and how its thresholds were derived (the result's ``policy``)."""
        thresholds = {} if self.name == "azure" else dict(self.thresholds)
        base = DriftConfig(thresholds=thresholds, **kwargs)
        if self.name != "calibrated":
            return base, {"name": self.name}
        policy, judged = self, 0
        if self.false_alarm_rate is not None:
            judged = judged_metrics(base, profile)
            policy = replace(self, k=family_k(self.false_alarm_rate, judged),
                             false_alarm_rate=None)
        per_feature, warnings, sources, notes = policy._calibrated(base, profile,
                                                                   production_rows)
        config = replace(base, feature_thresholds=per_feature, warning_thresholds=warnings,
                         threshold_sources=sources)
        if self.false_alarm_rate is not None:
            notes.append(f"k = {policy.k:.3g} for a false alarm rate of "
                         f"{self.false_alarm_rate:g} a batch over {judged} judged metrics")
        description = policy._description(profile, production_rows, notes)
        if self.false_alarm_rate is not None:
            description.update(false_alarm_rate=self.false_alarm_rate, judged_metrics=judged)
        return config, description

    def _description(self, profile: ReferenceProfile, production_rows: int,
                     notes: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        cal = profile.calibration
        out.update(k=self.k, quantile=self.quantile, production_rows=production_rows,
                   quality_tail=float(sps.norm.sf(self.k)), notes=notes)
        if cal is not None:
            out.update(batch_rows=cal.batch_rows, chunk_rows=cal.chunk_rows,
                       rest_rows=cal.rest_rows, chunks=cal.chunks, method=cal.method,
                       bins=cal.bins)
        return out

    def _calibrated(
        self, base: DriftConfig, profile: ReferenceProfile, n: int
    ) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, dict[str, dict[str, float]]],
               dict[str, dict[str, dict[str, str]]], list[str]]:
        cal = profile.calibration
        notes: list[str] = []
        per_feature: dict[str, dict[str, dict[str, float]]] = {}
        warnings: dict[str, dict[str, dict[str, float]]] = {}
        sources: dict[str, dict[str, dict[str, str]]] = {}
        fell_back: list[str] = []
        if cal is None:
            notes.append("no calibration in the reference profile (too few reference rows, "
                         "or built without one): drift thresholds fall back to the fixed "
                         "values")
        else:
            notes.extend(cal.notes)
        if n < 30:
            notes.append(f"small batch ({n} rows): calibrated thresholds are wide")
        types = {c: base.feature_overrides.get(c, t) for c, t in profile.feature_types.items()}
        for signal in base.signals:
            given = base.thresholds_for(signal)
            for feature, ftype in types.items():
                for metric, fixed in given.get(ftype, {}).items():
                    if signal_kind(signal) == "quality":
                        got = self._quality(profile, feature, ftype, metric, n)
                    else:
                        got = self._drift(cal, profile, feature, ftype, metric, n, base.bins)
                    if got is None:
                        if signal_kind(signal) != "quality" and cal is not None \
                                and registry.get(metric).direction == "above":
                            fell_back.append(f"{feature}.{metric}")
                        per_feature.setdefault(signal, {}).setdefault(feature, {})[metric] = \
                            fixed
                        sources.setdefault(signal, {}).setdefault(feature, {})[metric] = \
                            "fallback"
                        continue
                    threshold, warning, source = got
                    per_feature.setdefault(signal, {}).setdefault(feature, {})[metric] = \
                        threshold
                    warnings.setdefault(signal, {}).setdefault(feature, {})[metric] = warning
                    sources.setdefault(signal, {}).setdefault(feature, {})[metric] = source
        if fell_back:
            uniq = sorted(set(fell_back))
            notes.append("not calibrated, fixed threshold used: " + ", ".join(uniq[:10])
                         + (f" and {len(uniq) - 10} more" if len(uniq) > 10 else ""))
        return per_feature, warnings, sources, notes

    def _drift(self, cal: Calibration | None, profile: ReferenceProfile, feature: str,
               ftype: str, metric: str, n: int,
               bins: int | None) -> tuple[float, float, str] | None:
        if cal is None or n < 1:
            return None
        row = cal.row(feature, metric)
        if row is None:
            return None
        values = row[np.isfinite(row)]
        if values.size < MIN_VALUES:
            return None
        mean = float(values.mean())
        std = float(values.std(ddof=1))
        top = float(values.max())
        # Chunks smaller than the batch (a small reference): scaled up, so one std wider.
        widened = cal.chunk_rows < cal.batch_rows
        k = self.k + (1.0 if widened else 0.0)
        if self.quantile is not None:
            threshold = float(np.quantile(values, self.quantile))
            warning = float(np.quantile(values, max(0.5, 2 * self.quantile - 1)))
        else:
            threshold, warning = _tail(mean, std, k), _tail(mean, std, max(k - 1.0, 0.5))
        threshold = max(threshold, top)
        warning = min(warning, threshold)
        big_n = profile.n_rows
        scale = math.sqrt((1 / n + 1 / big_n) / (1 / cal.chunk_rows + 1 / cal.rest_rows))
        if ftype == "numerical" and metric != "normalized_wasserstein_distance" and cal.bins > 1:
            k_n = bins or stats.sturges_bins(min(n, big_n))
            scale *= math.sqrt(max(k_n - 1, 1) / (cal.bins - 1))
        if metric == "population_stability_index":
            scale *= scale
        source = "calibrated_widened" if widened else "calibrated"
        return threshold * scale, warning * scale, source

    def _quality(self, profile: ReferenceProfile, feature: str, ftype: str, metric: str,
                 n: int) -> tuple[float, float, str] | None:
        if n < 1 or profile.n_rows < 1:
            return None
        big_n = profile.n_rows
        # The reference's own rate as a Beta distribution (a, b): the batch's count is then
        # beta-binomial, which keeps the uncertainty of a rate seen on N rows (a binomial at
        # the point estimate does not: with a 284-row reference it gave 17% false alarms).
        if metric == "null_value_rate":
            seen = profile.null_counts.get(feature, 0)
            a, b = float(seen), float(big_n - seen + 1)
        elif metric == "data_type_error_rate":
            a, b = 0.0, float(big_n + 1)
        elif ftype == "numerical" and feature in profile.numeric:
            # Exact for continuous values: the mass outside the range of N is Beta(2, N - 1).
            a, b = 2.0, float(max(big_n - 1, 1))
        elif feature in profile.categorical:
            counts = profile.categorical[feature].counts
            present = int(counts.sum())
            once = int((counts == 1).sum())  # Good-Turing: unseen mass ~ categories seen once
            a, b = float(once + 1), float(max(present - once, 1))
        else:
            return None

        def bound(tail: float) -> float:
            # A rate of 0 in the reference (a column that never had a null or a type error)
            # breaches on the first one.
            count = 0 if a == 0 else _betabinom_isf(tail, n, a, b)
            return (count + 0.5) / n  # between counts: immune to the rate's 5-digit rounding

        return bound(sps.norm.sf(self.k)), bound(sps.norm.sf(max(self.k - 1, 0.5))), \
            "calibrated"


def judged_metrics(base: DriftConfig, profile: ReferenceProfile) -> int:
    """How many (signal, feature, metric) pairs a batch against ``profile`` is judged on with
    a threshold to exceed (the distances and rates k sets; p-values keep their level)."""
    types = {c: base.feature_overrides.get(c, t) for c, t in profile.feature_types.items()}
    outputs = set(base.prediction_columns)
    chosen = set(base.features) if base.features is not None else None
    count = 0
    for signal in base.signals:
        given = base.thresholds_for(signal)
        for feature in signal_columns(signal, types, outputs, chosen):
            count += sum(1 for metric in given.get(types[feature], {})
                         if registry.get(metric).direction == "above")
    return count


def family_k(false_alarm_rate: float, judged: int) -> float:
    """The k whose tail ``norm.sf(k)`` on each of ``judged`` metrics keeps a batch's chance of
    any breach at most ``false_alarm_rate`` (Bonferroni: ``norm.isf(rate / judged)``)."""
    return float(sps.norm.isf(false_alarm_rate / max(judged, 1)))


@functools.lru_cache(maxsize=4096)
def _betabinom_isf(tail: float, n: int, a: float, b: float) -> int:
    """The smallest count ``c`` with ``P(X > c) <= tail`` for ``X ~ BetaBinomial(n, a, b)``:
    the pmf by its recurrence from 0 (the count is small where it matters; scipy's isf costs
    about 5 ms a call, and a batch asks for hundreds)."""
    if n > 50_000:
        return int(sps.betabinom.isf(tail, n, a, b))
    log_p0 = (math.lgamma(a + b) - math.lgamma(b) + math.lgamma(b + n)
              - math.lgamma(a + b + n))
    p, cdf, k = math.exp(log_p0), 0.0, 0
    while k < n:
        cdf += p
        if 1.0 - cdf <= tail:
            return k
        p *= (n - k) * (k + a) / ((k + 1) * (n - k - 1 + b))
        k += 1
    return n


def _tail(mean: float, std: float, k: float) -> float:
    """The value a metric with this mean and std exceeds with probability ``norm.sf(k)``,
    read from a gamma distribution with the same mean and std: distances under no drift are
    right-skewed (a chi-like Jensen-Shannon, a heavy-tailed feature's Wasserstein), and
    ``mean + k std`` under-covers that tail (measured: 3.5% false alarms on a skewed count
    feature). Falls back to ``mean + k std`` when the fit is degenerate."""
    if not (mean > 0 and std > 0):
        return mean + k * std
    shape = (mean / std) ** 2
    return float(sps.gamma.isf(sps.norm.sf(k), shape, scale=std * std / mean))


def compare_with_policy(profile: ReferenceProfile, production: pa.Table,
                        policy: ThresholdPolicy, **kwargs: Any) -> DriftResult:
    """:func:`~core.drift.engine.compare` under ``policy``; the result says how it judged
    (``result.policy``)."""
    rows = production.num_rows
    max_rows = kwargs.get("max_rows")
    if max_rows is not None:
        rows = min(rows, int(max_rows))
    config, description = policy.prepare(profile, rows, **kwargs)
    result = compare(profile, production, config)
    return replace(result, policy=description)
