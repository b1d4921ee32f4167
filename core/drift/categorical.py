"""Drift of one categorical feature: JSD, PSI and Pearson's chi-squared over the categories.

The reference counts come from the profile (one ``bincount`` over the rows the signal keeps),
the production counts from one Arrow hash count. Metrics run over the union of categories seen
in either frame after the drop (Azure's steps); a category seen only in production gives a
chi-squared p-value of 0, as in Azure, with the total variation distance beside it. The result
keeps the top ``config.top_categories`` plus an "other" bucket for the report.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from core.drift import stats
from core.drift.batch import ProductionColumn, SignalRows
from core.drift.config import DriftConfig, judge, note_small_effect, tiny_sample_note
from core.drift.profile import ReferenceProfile, canonical_keys
from core.drift.result import Departure, Distribution, FeatureResult, MetricValue

#: Above this many categories a categorical feature gets a "high cardinality" note.
HIGH_CARDINALITY = 100


def categorical_feature(
    config: DriftConfig,
    profile: ReferenceProfile,
    signal: str,
    c: str,
    column: ProductionColumn,
    rows: SignalRows,
) -> FeatureResult:
    """Compare categorical feature ``c``; ``column`` is its production column (every row:
    ``rows.keep`` selects those compared)."""
    selection, keep, n_ref, n_prod = rows.selection, rows.keep, rows.n_ref, rows.n_prod
    wanted = config.metrics_for(signal, "categorical")
    cats, ref_counts = profile.category_counts(c, selection)
    values, counts = column.value_counts(keep)
    keys = canonical_keys(values)
    idx = pc.index_in(keys, value_set=pa.array(cats, type=pa.string()))
    idx_np: NDArray[np.int64] = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    seen = idx_np >= 0
    n_cats = len(cats)
    unseen_keys: list[str] = [k for k, s in zip(keys.to_pylist(), seen, strict=True) if not s]
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
    departures: list[Departure] = []
    if len(keys_u) == 1:
        notes.append(f"constant column (single category {keys_u[0]!r}): distances are 0 and "
                     "the chi-squared p-value is 1 (Azure's test is undefined here)")
        departures.append(Departure("constant_column", f"single category {keys_u[0]!r}"))
    if len(unseen_keys):
        shown = ", ".join(repr(k) for k in unseen_keys[:5])
        more = f" and {len(unseen_keys) - 5} more" if len(unseen_keys) > 5 else ""
        notes.append(
            f"unseen categories: {shown}{more} ({int(unseen_counts.sum())} production rows "
            "in categories absent from the reference)"
        )
    if len(keys_u) > HIGH_CARDINALITY:
        notes.append(f"high cardinality: {len(keys_u)} categories (the report shows the top "
                     f"{config.top_categories})")
    tiny = tiny_sample_note(n_ref, n_prod)
    if tiny:
        notes.append(tiny)
    out: list[MetricValue] = []
    p_freq, q_freq = ref_u / n_ref, prod_u / n_prod
    if "jensen_shannon_distance" in wanted:
        out.append(judge(config, signal, c, "categorical", "jensen_shannon_distance",
                         stats.safe_jensen_shannon(ref_u, prod_u, n_ref, n_prod)))
    if "population_stability_index" in wanted:
        out.append(judge(config, signal, c, "categorical", "population_stability_index",
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
        mv = judge(config, signal, c, "categorical", "pearsons_chi_squared_test", p,
                   effect_size=stats.total_variation(p_freq, q_freq))
        out.append(note_small_effect(config, mv, n_ref, n_prod, mv_notes))
    top = config.top_categories
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
    return FeatureResult(c, "categorical", tuple(out), dist, tuple(notes),
                         departures=tuple(departures))
