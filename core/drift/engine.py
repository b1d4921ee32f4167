"""Compare a production batch with a reference profile: Azure ML's numbers, computed fast.

``compare(profile, production, config)`` runs up to three signals:

- ``data_drift``: every common feature except the configured model output columns;
- ``prediction_drift``: the same drift metrics on the model output columns
  (``DriftConfig.prediction_columns``);
- ``data_quality``: null value, data type error and out-of-bounds rates of production.

Azure's steps, reproduced (azure-facts section 3): common columns with compatible types; feature
typing from the reference; per drift signal, rows with a missing value in any of its columns are
dropped from both frames; Sturges bins from the smaller frame over the combined range with
Spark's bucket index and last-edge behaviour; +1 smoothing for PSI; sample standard deviation
with the 0.001 floor; breach directions. Where Azure crashes or misleads, the behaviour is
defined instead (see ``core/drift/README.md``), and each such case leaves a note in the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.drift import metrics as registry
from core.drift import stats
from core.drift import types as ftypes
from core.drift.profile import (
    ReferenceProfile,
    canonical_keys,
    numeric_values,
)
from core.drift.result import (
    Distribution,
    DriftResult,
    FeatureResult,
    MetricValue,
    Sampling,
    SignalResult,
)

SIGNALS = ("data_drift", "prediction_drift", "data_quality")
Progress = Callable[[str, int, int], None]

#: Below this many rows (after the null drop) a drift metric gets a "tiny sample" note.
TINY_SAMPLE = 30
#: Above this many categories a categorical feature gets a "high cardinality" note.
HIGH_CARDINALITY = 100


@dataclass(frozen=True)
class DriftConfig:
    """What to compute and how to judge it.

    ``thresholds``: signal -> feature type -> metric -> threshold (Azure's YAML keys). Signals
    or feature types not given take Azure's defaults
    (:data:`core.drift.metrics.AZURE_DEFAULT_THRESHOLDS`). A
    metric without a threshold is computed for information and never breaches.

    ``metrics``: which metrics to compute (None: every metric that applies); metrics named in
    ``thresholds`` are always computed.

    ``binning``: ``"azure"`` reproduces Azure's histogram, quirks included; ``"corrected"`` puts
    the last edge at the maximum so every row is counted. ``bins`` overrides Sturges' rule.

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
    binning: Literal["azure", "corrected"] = "azure"
    bins: int | None = None
    max_rows: int | None = None
    sample_seed: int = 0
    top_categories: int = 20
    small_effect: float = 0.1
    progress: Progress | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.signals) - set(SIGNALS)
        if unknown:
            raise ValueError(f"unknown signals {sorted(unknown)}; known: {', '.join(SIGNALS)}")
        if self.binning not in ("azure", "corrected"):
            raise ValueError("binning must be 'azure' or 'corrected'")
        if self.bins is not None and self.bins < 1:
            raise ValueError("bins must be at least 1")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        if self.metrics is not None:
            object.__setattr__(
                self, "metrics", tuple(registry.get(m).name for m in self.metrics)
            )
        normalized = {}
        for signal, per_type in self.thresholds.items():
            if signal not in SIGNALS:
                raise ValueError(f"thresholds for unknown signal {signal!r}")
            kind = "quality" if signal == "data_quality" else "drift"
            normalized[signal] = registry.normalize_thresholds(per_type, kind)
        object.__setattr__(self, "thresholds", normalized)
        for name, ftype in self.feature_overrides.items():
            if ftype not in ftypes.FEATURE_TYPES:
                raise ValueError(f"override for {name!r} must be numerical or categorical")
        object.__setattr__(self, "prediction_columns", tuple(self.prediction_columns))

    def thresholds_for(self, signal: str) -> dict[str, dict[str, float]]:
        """Thresholds per feature type; a feature type not configured keeps Azure's default."""
        given = self.thresholds.get(signal, {})
        defaults = registry.AZURE_DEFAULT_THRESHOLDS[signal]
        return {t: dict(given[t] if t in given else defaults[t]) for t in ftypes.FEATURE_TYPES}

    def metrics_for(self, signal: str, feature_type: str) -> tuple[str, ...]:
        kind = "quality" if signal == "data_quality" else "drift"
        applicable = registry.metrics_for(feature_type, kind)
        chosen = set(applicable if self.metrics is None else self.metrics)
        chosen |= set(self.thresholds_for(signal).get(feature_type, {}))
        return tuple(m for m in applicable if m in chosen)

    @classmethod
    def from_azure(
        cls,
        data_drift: Mapping[str, Mapping[str, float]] | None = None,
        prediction_drift: Mapping[str, Mapping[str, float]] | None = None,
        data_quality: Mapping[str, Mapping[str, float]] | None = None,
        **kwargs,
    ) -> DriftConfig:
        """A config from Azure-style threshold dicts, one per signal, e.g.
        ``{"numerical": {"normalized_wasserstein_distance": 0.1},
        "categorical": {"jensen_shannon_distance": 0.1}}``. Signals given None keep Azure's
        defaults."""
        thresholds = {}
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
    kind = "quality" if signal == "data_quality" else "drift"
    return registry.normalize_thresholds(thresholds, kind)


# --------------------------------------------------------------------------------------------
# The comparison


@dataclass
class _ProdColumn:
    name: str
    column: pa.ChunkedArray
    group: str | None
    values: np.ndarray | None = None  # float64 for numeric columns (NaN where null)
    _missing: np.ndarray | None = None

    @property
    def missing(self) -> np.ndarray:
        if self._missing is None:
            if self.values is not None:
                self._missing = ~np.isfinite(self.values)
            else:
                col = self.column
                mask = col.is_null()
                if pa.types.is_floating(col.type):
                    mask = pc.or_(mask, pc.fill_null(pc.is_nan(col), False))
                self._missing = mask.to_numpy(zero_copy_only=False)
        return self._missing


class _Comparison:
    def __init__(self, profile: ReferenceProfile, production: pa.Table, config: DriftConfig):
        self.profile = profile
        self.config = config
        self.notes: list[str] = []
        self.sampling: Sampling | None = None
        if config.max_rows is not None and production.num_rows > config.max_rows:
            rng = np.random.default_rng(config.sample_seed)
            rows = np.sort(rng.choice(production.num_rows, size=config.max_rows, replace=False))
            self.sampling = Sampling(production.num_rows, config.max_rows, config.sample_seed)
            self.notes.append(
                f"production sampled: {config.max_rows} of {production.num_rows} rows "
                f"(deterministic, seed {config.sample_seed})"
            )
            production = production.take(pa.array(rows))
        self.production = production
        self.n_prod = production.num_rows
        self._prod: dict[str, _ProdColumn] = {}
        self._done = 0
        self._total = 0

        ref_cols = [c for c in profile.columns]
        prod_cols = production.column_names
        self.missing_columns = tuple(c for c in ref_cols if c not in prod_cols)
        self.extra_columns = tuple(c for c in prod_cols if c not in ref_cols)
        self.excluded: dict[str, str] = {}
        self.common: list[str] = []  # common, compatible, supported columns
        self.feature_types: dict[str, str] = {}
        for c in ref_cols:
            if c in profile.unsupported:
                self.excluded[c] = profile.unsupported[c]
                continue
            if c not in prod_cols:
                self.excluded[c] = "missing in production"
                continue
            ok, why = ftypes.compatible(
                _arrow_type(profile.schema[c]), production.schema.field(c).type
            )
            if not ok:
                self.excluded[c] = why
                continue
            ftype = config.feature_overrides.get(c, profile.feature_types[c])
            if ftype == "numerical" and c not in profile.numeric:
                raise ValueError(
                    f"column {c!r} ({profile.schema[c]}) cannot be treated as numerical"
                )
            self.common.append(c)
            self.feature_types[c] = ftype
        if config.features is not None:
            unknown = [c for c in config.features if c not in ref_cols]
            if unknown:
                raise ValueError(f"features not in the reference: {unknown}")

    # ---------------------------------------------------------------- helpers
    def prod(self, name: str) -> _ProdColumn:
        if name not in self._prod:
            column = self.production.column(name)
            group = ftypes.type_group(column.type)
            pc_ = _ProdColumn(name, column, group)
            if ftypes.is_numeric_group(group) or (group == "null" and name in self.profile.numeric):
                pc_.values = numeric_values(column)
            self._prod[name] = pc_
        return self._prod[name]

    def tick(self, stage: str) -> None:
        self._done += 1
        if self.config.progress is not None:
            self.config.progress(stage, self._done, self._total)

    def _threshold(self, signal: str, ftype: str, metric: str) -> float | None:
        return self.config.thresholds_for(signal).get(ftype, {}).get(metric)

    def metric(
        self, signal: str, feature: str, ftype: str, name: str, value: float | None, **extra
    ) -> MetricValue:
        spec = registry.get(name)
        if value is not None and isinstance(value, float) and math.isnan(value):
            value = None
        threshold = self._threshold(signal, ftype, name)
        return MetricValue(
            feature=feature,
            feature_type=ftype,
            metric=name,
            value=value,
            threshold=threshold,
            breached=spec.breached(value, threshold),
            direction=spec.direction,
            effect_size_name=spec.effect_size,
            **extra,
        )

    # ---------------------------------------------------------------- run
    def run(self) -> DriftResult:
        cfg = self.config
        wanted = set(cfg.features) if cfg.features is not None else None
        outputs = set(cfg.prediction_columns)
        unknown_outputs = [c for c in cfg.prediction_columns if c not in self.profile.columns]
        if unknown_outputs:
            raise ValueError(f"prediction columns not in the reference: {unknown_outputs}")
        plans: list[tuple[str, list[str]]] = []
        for signal in cfg.signals:
            if signal == "data_drift":
                cols = [c for c in self.common if c not in outputs]
            elif signal == "prediction_drift":
                if not outputs:
                    continue
                cols = [c for c in self.common if c in outputs]
            else:
                cols = [c for c in self.profile.columns if c in self.production.column_names]
                cols = [c for c in cols if c not in self.profile.unsupported]
            if wanted is not None and signal != "prediction_drift":
                cols = [c for c in cols if c in wanted]
            plans.append((signal, cols))
        self._total = sum(len(cols) for _, cols in plans)
        signals = []
        for signal, cols in plans:
            if signal == "data_quality":
                signals.append(self.quality(cols))
            else:
                signals.append(self.drift(signal, cols))
        return DriftResult(
            signals=tuple(signals),
            rows_reference=self.profile.n_rows,
            rows_production=self.n_prod,
            binning=cfg.binning,
            sampling=self.sampling,
            missing_columns=self.missing_columns,
            extra_columns=self.extra_columns,
            excluded=self.excluded,
            notes=tuple(self.notes),
        )

    # ---------------------------------------------------------------- drift signals
    def drift(self, signal: str, columns: list[str]) -> SignalResult:
        profile = self.profile
        notes: list[str] = []
        features: list[FeatureResult] = []
        selected: list[str] = []
        # All-null columns would drop every row (Azure then fails): leave them out, say why.
        for c in columns:
            ftype = self.feature_types[c]
            ref_present = profile.n_rows - profile.kept_rows((c,)) < profile.n_rows
            prod_missing = self.prod(c).missing
            prod_present = self.n_prod > 0 and not prod_missing.all()
            if not ref_present or not prod_present:
                where = "reference" if not ref_present else "production"
                features.append(
                    FeatureResult(
                        c, ftype, skipped=True,
                        notes=(f"all values missing in {where}: left out of the row-wise null "
                               "drop (Azure would drop every row); see data quality",),
                    )
                )
                self.tick(signal)
            else:
                selected.append(c)
        selection = tuple(selected)
        drop = None
        for c in selection:
            m = self.prod(c).missing
            if m.any():
                drop = m.copy() if drop is None else (drop | m)
        keep = None if drop is None else ~drop
        n_ref = profile.kept_rows(selection)
        n_prod = self.n_prod if keep is None else int(keep.sum())
        if selection and (n_ref != profile.n_rows or n_prod != self.n_prod):
            notes.append(
                f"rows with a missing value in any of the {len(selection)} features dropped: "
                f"reference {profile.n_rows - n_ref}, production {self.n_prod - n_prod}"
            )
        if selection and (n_ref == 0 or n_prod == 0):
            for c in selection:
                features.append(
                    FeatureResult(c, self.feature_types[c], skipped=True,
                                  notes=("no rows left after dropping rows with missing values",))
                )
                self.tick(signal)
            selection = ()
        k = None
        if selection:
            k = self.config.bins or stats.sturges_bins(min(n_ref, n_prod))
        for c in selection:
            if self.feature_types[c] == "numerical":
                features.append(self.numerical(signal, c, selection, keep, n_ref, n_prod, k))
            else:
                features.append(self.categorical(signal, c, selection, keep, n_ref, n_prod))
            self.tick(signal)
        order = {c: i for i, c in enumerate(columns)}
        features.sort(key=lambda f: order[f.name])
        return SignalResult(signal, tuple(features), n_ref, n_prod, tuple(notes))

    def numerical(self, signal, c, selection, keep, n_ref, n_prod, k) -> FeatureResult:
        profile = self.profile
        wanted = self.config.metrics_for(signal, "numerical")
        ref = profile.sorted_values(c, selection)
        pvals = self.prod(c).values
        prod = np.sort(pvals if keep is None else pvals[keep])
        notes: list[str] = []
        lo, hi = min(ref[0], prod[0]), max(ref[-1], prod[-1])
        if self.config.binning == "azure":
            binning = stats.azure_binning(lo, hi, k)
        else:
            binning = stats.corrected_binning(lo, hi, k)
        rc, r_out = stats.bin_counts(ref, binning)
        qc, q_out = stats.bin_counts(prod, binning)
        if lo == hi:
            notes.append(
                f"constant column (every value is {lo:g}): distances are 0 and the KS p-value "
                "is 1 (Azure's monitor fails on constant columns)"
            )
        elif ref[0] == ref[-1]:
            notes.append("reference is constant: the Wasserstein distance is normalised by "
                         "the 0.001 floor")
        if r_out or q_out:
            notes.append(
                f"Azure's last-edge quirk: {r_out} reference and {q_out} production rows at the "
                "maximum fall outside every bin but count in the totals (binning='corrected' "
                "counts them)"
            )
        if binning.degenerate:
            notes.append("range within floating-point resolution: duplicate bin edges merged "
                         "(Azure's job fails here)")
        infs = profile.numeric[c].inf_count + int(np.isinf(pvals).sum())
        if infs:
            notes.append(f"{infs} infinite values treated as missing (Azure's bins break on them)")
        if min(n_ref, n_prod) < TINY_SAMPLE:
            notes.append(f"tiny sample ({min(n_ref, n_prod)} rows): metrics are noisy")
        out: list[MetricValue] = []
        cdf = None
        if "jensen_shannon_distance" in wanted:
            out.append(self.metric(signal, c, "numerical", "jensen_shannon_distance",
                                   _safe_jsd(rc, qc, n_ref, n_prod)))
        if "population_stability_index" in wanted:
            out.append(self.metric(signal, c, "numerical", "population_stability_index",
                                   stats.psi(rc, qc, n_ref, n_prod)))
        if "normalized_wasserstein_distance" in wanted:
            cdf = stats.cdf_stats(ref, prod)
            std = profile.std(c, selection)
            norm = max(std if std is not None else 0.0, 0.001)
            mv_notes = ()
            if std is None:
                mv_notes = ("one reference row: standard deviation taken as 0, floored to 0.001",)
            out.append(self.metric(signal, c, "numerical", "normalized_wasserstein_distance",
                                   cdf.wasserstein / norm, notes=mv_notes))
        if "two_sample_kolmogorov_smirnov_test" in wanted:
            cdf = cdf or stats.cdf_stats(ref, prod)
            p = stats.ks_pvalue(cdf.ks_statistic, ref, prod)
            ks_notes = []
            if max(n_ref, n_prod) >= stats.AZURE_KS_MAX_ROWS:
                ks_notes.append("Azure refuses KS at 10,000 rows or more; computed here")
            mv = self.metric(signal, c, "numerical", "two_sample_kolmogorov_smirnov_test", p,
                             effect_size=cdf.ks_statistic)
            out.append(self._effect_note(mv, n_ref, n_prod, ks_notes))
        dist = Distribution(
            kind="histogram",
            reference=tuple(int(x) for x in rc),
            production=tuple(int(x) for x in qc),
            reference_total=n_ref,
            production_total=n_prod,
            edges=tuple(float(e) for e in binning.edges),
        )
        return FeatureResult(c, "numerical", tuple(out), dist, tuple(notes))

    def _effect_note(
        self, mv: MetricValue, n_ref: int, n_prod: int, notes: list[str]
    ) -> MetricValue:
        if mv.breached and mv.effect_size is not None and mv.effect_size < self.config.small_effect:
            notes.append(
                f"significant but small: {mv.effect_size_name} = {mv.effect_size:.3g} "
                f"(< {self.config.small_effect:g}); with {n_ref} and {n_prod} rows a p-value "
                "test flags even negligible differences, prefer a distance metric"
            )
        if notes:
            mv = replace(mv, notes=mv.notes + tuple(notes))
        return mv

    def categorical(self, signal, c, selection, keep, n_ref, n_prod) -> FeatureResult:
        wanted = self.config.metrics_for(signal, "categorical")
        cats, ref_counts = self.profile.category_counts(c, selection)
        column = self.prod(c).column
        if keep is not None:
            column = column.filter(pa.array(keep))
        vc = pc.value_counts(column)
        values = vc.field("values")
        counts = vc.field("counts").to_numpy(zero_copy_only=False).astype(np.int64)
        if values.null_count:
            valid = values.is_valid().to_numpy(zero_copy_only=False)
            values = values.filter(pa.array(valid))
            counts = counts[valid]
        keys = canonical_keys(values)
        idx = pc.index_in(keys, value_set=pa.array(cats, type=pa.string()))
        idx_np = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        seen = idx_np >= 0
        n_cats = len(cats)
        unseen_keys = [k for k, s in zip(keys.to_pylist(), seen, strict=True) if not s]
        unseen_counts = counts[~seen]
        all_keys = list(cats) + unseen_keys
        ref_full = np.concatenate([np.asarray(ref_counts, dtype=np.int64),
                                   np.zeros(len(unseen_keys), dtype=np.int64)])
        prod_full = np.zeros(n_cats + len(unseen_keys), dtype=np.int64)
        np.add.at(prod_full, idx_np[seen], counts[seen])
        prod_full[n_cats:] = unseen_counts
        # The union of categories observed in either frame (after the drop).
        present = (ref_full > 0) | (prod_full > 0)
        ref_u, prod_u = ref_full[present], prod_full[present]
        keys_u = [k for k, p in zip(all_keys, present, strict=True) if p]
        notes: list[str] = []
        if len(keys_u) == 1:
            notes.append(f"constant column (single category {keys_u[0]!r}): distances are 0 and "
                         "the chi-squared p-value is 1 (Azure's test is undefined here)")
        if len(unseen_keys):
            shown = ", ".join(repr(k) for k in unseen_keys[:5])
            more = f" and {len(unseen_keys) - 5} more" if len(unseen_keys) > 5 else ""
            notes.append(
                f"unseen categories: {shown}{more} ({int(unseen_counts.sum())} production rows "
                "in categories absent from the reference)"
            )
        if len(keys_u) > HIGH_CARDINALITY:
            notes.append(f"high cardinality: {len(keys_u)} categories (the report shows the top "
                         f"{self.config.top_categories})")
        if min(n_ref, n_prod) < TINY_SAMPLE:
            notes.append(f"tiny sample ({min(n_ref, n_prod)} rows): metrics are noisy")
        out: list[MetricValue] = []
        p_freq, q_freq = ref_u / n_ref, prod_u / n_prod
        if "jensen_shannon_distance" in wanted:
            out.append(self.metric(signal, c, "categorical", "jensen_shannon_distance",
                                   _safe_jsd(ref_u, prod_u, n_ref, n_prod)))
        if "population_stability_index" in wanted:
            out.append(self.metric(signal, c, "categorical", "population_stability_index",
                                   stats.psi(ref_u, prod_u, n_ref, n_prod)))
        if "pearsons_chi_squared_test" in wanted:
            mv_notes: list[str] = []
            if len(keys_u) == 1:
                p = 1.0
            else:
                p = stats.chi_squared_pvalue(ref_u, prod_u, n_ref)
                if unseen_keys:
                    mv_notes.append("a category absent from the reference has an expected count "
                                    "of 0: p-value 0, as in Azure; see the effect size")
            mv = self.metric(signal, c, "categorical", "pearsons_chi_squared_test", p,
                             effect_size=stats.total_variation(p_freq, q_freq))
            out.append(self._effect_note(mv, n_ref, n_prod, mv_notes))
        top = self.config.top_categories
        order = np.argsort(-(p_freq + q_freq), kind="stable")
        head, tail = order[:top], order[top:]
        dist = Distribution(
            kind="categorical",
            reference=tuple(int(ref_u[i]) for i in head),
            production=tuple(int(prod_u[i]) for i in head),
            reference_total=n_ref,
            production_total=n_prod,
            categories=tuple(keys_u[i] for i in head),
            other_reference=int(ref_u[tail].sum()),
            other_production=int(prod_u[tail].sum()),
            total_categories=len(keys_u),
        )
        return FeatureResult(c, "categorical", tuple(out), dist, tuple(notes))

    # ---------------------------------------------------------------- data quality
    def quality(self, columns: list[str]) -> SignalResult:
        profile = self.profile
        rows = self.n_prod
        features = []
        notes: list[str] = []
        if rows == 0:
            notes.append("production has no rows: rates are undefined")
        for c in columns:
            ftype = self.feature_types.get(c, self.config.feature_overrides.get(
                c, profile.feature_types.get(c, "categorical")))
            wanted = self.config.metrics_for("data_quality", ftype)
            ref_type = _arrow_type(profile.schema[c])
            prod_col = self.prod(c)
            fnotes: list[str] = []
            counts: dict[str, int] = {}
            counts["null_value_rate"] = (
                int(np.isnan(prod_col.values).sum()) if prod_col.values is not None
                else int(prod_col.missing.sum())
            )
            errors, why = _type_errors(prod_col.column, ref_type)
            counts["data_type_error_rate"] = errors
            if why:
                fnotes.append(why)
            counts["out_of_bounds_rate"] = self._out_of_bounds(c, prod_col, ref_type, fnotes)
            out = []
            for m in wanted:
                value = None if rows == 0 else stats.round5(counts[m] / rows)
                out.append(self.metric("data_quality", c, ftype, m, value, count=counts[m]))
            features.append(FeatureResult(c, ftype, tuple(out), None, tuple(fnotes)))
            self.tick("data_quality")
        return SignalResult("data_quality", tuple(features), profile.n_rows, rows, tuple(notes))

    def _out_of_bounds(self, c: str, prod: _ProdColumn, ref_type: pa.DataType,
                       notes: list[str]) -> int:
        ref_group = ftypes.type_group(ref_type)
        ok, _ = ftypes.compatible(ref_type, prod.column.type)
        if not ok or prod.group == "null":
            return 0
        if ftypes.is_numeric_group(ref_group):
            lo, hi = self.profile.bounds(c)
            if lo is None:
                return 0
            v = prod.values
            with np.errstate(invalid="ignore"):
                return int(np.count_nonzero((v < lo) | (v > hi)))
        if ref_group == "string":
            value_set = pa.array(self.profile.value_set(c), type=pa.string())
            col = pc.cast(prod.column, pa.string()).drop_null()
            inside = pc.is_in(col, value_set=value_set)
            return int(len(col) - (pc.sum(inside).as_py() or 0))
        return 0


def _safe_jsd(p: np.ndarray, q: np.ndarray, n_p: int, n_q: int) -> float | None:
    if p.sum() == 0 or q.sum() == 0:
        return None  # every row fell outside Azure's bins: undefined (Azure writes NaN)
    return stats.jensen_shannon(p, q, n_p, n_q)


_NUMERIC_RE = r"^\s*[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)\s*$"
_INTEGER_RE = r"^\s*[+-]?\d+\s*$"


def _type_errors(column: pa.ChunkedArray, ref_type: pa.DataType) -> tuple[int, str]:
    """Values of ``column`` that cannot be read as the reference type (nulls are not errors).

    Strict reading, not Spark's lenient cast: ``"1.5"`` is an error for an integer reference
    (Spark truncates it to 1), a fractional float is an error for an integer reference.
    """
    prod_type = column.type
    if prod_type == ref_type or pa.types.is_null(prod_type):
        return 0, ""
    ref_group, prod_group = ftypes.type_group(ref_type), ftypes.type_group(prod_type)
    if ref_group == prod_group and ref_group not in ("long",):
        return 0, ""
    if ref_group == "string":
        return 0, ""  # everything reads as a string
    valid = column.drop_null()
    if len(valid) == 0:
        return 0, ""
    if prod_group == "string" and ref_group in ("double", "long"):
        pattern = _INTEGER_RE if ref_group == "long" else _NUMERIC_RE
        ok = pc.match_substring_regex(valid, pattern, ignore_case=True)
        errors = int(len(valid) - pc.sum(ok).as_py())
        return errors, (
            f"production is {prod_type}, reference {ref_type}: {errors} values unreadable"
        )
    if prod_group == "double" and ref_group == "long":
        v = numeric_values(valid)
        with np.errstate(invalid="ignore"):
            errors = int(np.count_nonzero(~np.isfinite(v) | (v != np.floor(v))))
        return errors, f"production is {prod_type}, reference {ref_type}: {errors} non-integral"
    if prod_group == ref_group == "long":
        try:
            pc.cast(valid, ref_type, safe=True)
            return 0, ""
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            v = numeric_values(valid)
            info = np.iinfo(ref_type.to_pandas_dtype())
            errors = int(np.count_nonzero((v < info.min) | (v > info.max)))
            return errors, f"{errors} values overflow {ref_type}"
    # Other combinations: try each distinct value.
    uniq = pc.unique(valid)
    vc = pc.value_counts(valid)
    counts = dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True))
    errors = 0
    for value in uniq.to_pylist():
        try:
            pc.cast(pa.array([value], type=prod_type), ref_type, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            errors += counts.get(value, 0)
    return errors, f"production is {prod_type}, reference {ref_type}: {errors} values unreadable"


def _arrow_type(name: str) -> pa.DataType:
    """An arrow type from its string form (as stored in the profile schema)."""
    simple = {
        "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
        "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(),
        "uint64": pa.uint64(), "halffloat": pa.float16(), "float": pa.float32(),
        "double": pa.float64(), "string": pa.string(), "large_string": pa.large_string(),
        "bool": pa.bool_(), "date32[day]": pa.date32(), "date64[ms]": pa.date64(),
        "binary": pa.binary(), "large_binary": pa.large_binary(), "null": pa.null(),
        "string_view": getattr(pa, "string_view", pa.string)(),
    }
    if name in simple:
        return simple[name]
    if name.startswith("timestamp["):
        inner = name[len("timestamp["):-1]
        unit, _, tz = inner.partition(", tz=")
        return pa.timestamp(unit, tz=tz or None)
    if name.startswith("time32["):
        return pa.time32(name[7:-1])
    if name.startswith("time64["):
        return pa.time64(name[7:-1])
    if name.startswith("decimal"):
        inside = name[name.index("(") + 1 : -1].split(",")
        return pa.decimal128(int(inside[0]), int(inside[1]))
    if name.startswith("dictionary<values="):
        value = name[len("dictionary<values="):].split(",")[0]
        return pa.dictionary(pa.int32(), _arrow_type(value))
    raise ValueError(f"unknown arrow type string {name!r}")


def compare(
    profile: ReferenceProfile,
    production: pa.Table,
    config: DriftConfig | None = None,
) -> DriftResult:
    """Compare one production batch with a reference profile.

    Cost: one pass over the batch (one sort per numerical feature, one hash count per
    categorical feature); the reference side comes sorted and counted from the profile.
    """
    return _Comparison(profile, production, config or DriftConfig()).run()


def feature_names(result: DriftResult) -> Iterable[str]:
    seen: dict[str, None] = {}
    for s in result.signals:
        for f in s.features:
            seen.setdefault(f.name, None)
    return list(seen)
