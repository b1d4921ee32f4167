"""Drift of one numerical feature: Azure's histogram, JSD, PSI, normalized Wasserstein, KS.

The reference comes sorted from the profile (over the rows the signal keeps), the production
values are sorted once here. Azure's steps: Sturges bins from the smaller frame after the drop
(``config.bins`` overrides), edges over the combined range with Spark's bucket index and
last-edge behaviour (``parity="corrected"`` counts every row), +1 smoothing for PSI, sample
standard deviation with the 0.001 floor, scipy's KS p-value. The defined cases (constant
column, the last-edge quirk, duplicate edges, infinities, tiny samples, one reference row, KS
above Azure's 10,000 rows) each leave a note.
"""

from __future__ import annotations

from core.drift import stats
from core.drift.batch import ProductionColumn, SignalRows
from core.drift.config import DriftConfig, judge, note_small_effect, tiny_sample_note
from core.drift.profile import ReferenceProfile
from core.drift.result import Departure, Distribution, FeatureResult, MetricValue


def numerical_feature(
    config: DriftConfig,
    profile: ReferenceProfile,
    signal: str,
    c: str,
    column: ProductionColumn,
    rows: SignalRows,
) -> FeatureResult:
    """Compare numerical feature ``c``; ``column`` is its production column (every row:
    ``rows.keep`` selects those compared)."""
    selection, keep, n_ref, n_prod = rows.selection, rows.keep, rows.n_ref, rows.n_prod
    k = config.bins or stats.sturges_bins(min(n_ref, n_prod))
    wanted = config.metrics_for(signal, "numerical")
    ref = profile.sorted_values(c, selection)
    prod = column.sorted_values(keep)
    notes: list[str] = []
    departures: list[Departure] = []
    lo, hi = min(ref[0], prod[0]), max(ref[-1], prod[-1])
    if config.parity == "azure":
        binning = stats.azure_binning(lo, hi, k)
    else:
        binning = stats.corrected_binning(lo, hi, k)
        azure = stats.azure_binning(lo, hi, k)
        lost = stats.bin_counts(ref, azure)[1] + stats.bin_counts(prod, azure)[1]
        if lost:
            departures.append(Departure(
                "last_edge_counted",
                f"{lost} rows at the maximum, outside Azure's last bin, are counted"))
    rc, r_out = stats.bin_counts(ref, binning)
    qc, q_out = stats.bin_counts(prod, binning)
    if lo == hi:
        notes.append(
            f"constant column (every value is {lo:g}): distances are 0 and the KS p-value "
            "is 1 (Azure's monitor fails on constant columns)"
        )
        departures.append(Departure("constant_column", f"every value is {lo:g}"))
    elif ref[0] == ref[-1]:
        notes.append("reference is constant: the Wasserstein distance is normalised by "
                     "the 0.001 floor")
    if r_out or q_out:
        notes.append(
            f"Azure's last-edge quirk: {r_out} reference and {q_out} production rows at the "
            "maximum fall outside every bin but count in the totals (parity='corrected' "
            "counts them)"
        )
    if binning.degenerate:
        notes.append("range within floating-point resolution: duplicate bin edges merged "
                     "(Azure's job fails here)")
        departures.append(Departure("duplicate_bin_edges_merged",
                                    f"range [{lo!r}, {hi!r}] within floating-point resolution"))
    # Infinities are among the missing rows (already found): most columns have none to count.
    prod_infs = column.inf_count()
    infs = profile.numeric[c].inf_count + prod_infs
    if infs:
        notes.append(f"{infs} infinite values treated as missing (Azure's bins break on them)")
        departures.append(Departure("infinite_values_as_missing", f"{infs} infinite values"))
    tiny = tiny_sample_note(n_ref, n_prod)
    if tiny:
        notes.append(tiny)
    out: list[MetricValue] = []
    cdf = None
    if "jensen_shannon_distance" in wanted:
        out.append(judge(config, signal, c, "numerical", "jensen_shannon_distance",
                         stats.safe_jensen_shannon(rc, qc, n_ref, n_prod)))
    if "population_stability_index" in wanted:
        out.append(judge(config, signal, c, "numerical", "population_stability_index",
                         stats.psi(rc, qc, n_ref, n_prod)))
    if "normalized_wasserstein_distance" in wanted:
        cdf = stats.cdf_stats(ref, prod)
        std = profile.std(c, selection)
        norm = max(std if std is not None else 0.0, 0.001)
        mv_notes: tuple[str, ...] = ()
        if std is None:
            mv_notes = ("one reference row: standard deviation taken as 0, floored to 0.001",)
        out.append(judge(config, signal, c, "numerical", "normalized_wasserstein_distance",
                         cdf.wasserstein / norm, notes=mv_notes))
    if "two_sample_kolmogorov_smirnov_test" in wanted:
        cdf = cdf or stats.cdf_stats(ref, prod)
        p = stats.ks_pvalue(cdf.ks_statistic, ref, prod)
        ks_notes = []
        if max(n_ref, n_prod) >= stats.AZURE_KS_MAX_ROWS:
            ks_notes.append("Azure refuses KS at 10,000 rows or more; computed here")
            departures.append(Departure(
                "ks_above_azure_limit", f"{n_ref} reference and {n_prod} production rows",
                metric="two_sample_kolmogorov_smirnov_test"))
        mv = judge(config, signal, c, "numerical", "two_sample_kolmogorov_smirnov_test", p,
                   effect_size=cdf.ks_statistic)
        out.append(note_small_effect(config, mv, n_ref, n_prod, ks_notes))
    dist = Distribution(
        kind="histogram",
        reference=tuple(int(x) for x in rc),
        production=tuple(int(x) for x in qc),
        reference_total=n_ref,
        production_total=n_prod,
        edges=tuple(float(e) for e in binning.edges),
    )
    return FeatureResult(c, "numerical", tuple(out), dist, tuple(notes),
                         departures=tuple(departures))
