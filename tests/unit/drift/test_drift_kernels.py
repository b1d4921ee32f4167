"""The merge-free KS and Wasserstein kernels equal the merge (scipy's definition) exactly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from core.drift import stats as st


def _samples(seed: int, n: int, m: int, kind: str):
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        u, v = rng.normal(0, 1, n), rng.normal(0.05, 1.1, m)
    elif kind == "ties":  # rounded values: long runs of equal values in and across samples
        u, v = np.round(rng.gamma(2, 2, n), 1), np.round(rng.gamma(2.1, 2, m), 1)
    elif kind == "same":  # one distribution: the KS maximum sits at noise level
        u, v = rng.normal(0, 1, n), rng.normal(0, 1, m)
    elif kind == "disjoint":
        u, v = rng.normal(0, 1, n), rng.normal(100, 1, m)
    else:  # integers with few values
        u, v = rng.integers(0, 5, n).astype(float), rng.integers(1, 6, m).astype(float)
    return np.sort(u), np.sort(v)


@pytest.mark.parametrize("kind", ["continuous", "ties", "same", "disjoint", "few"])
@pytest.mark.parametrize(("n", "m"), [(20_000, 20_000), (30_001, 7_919), (5_000, 64_000)])
def test_merge_free_kernels_equal_the_merge(kind, n, m):
    u, v = _samples(n + m, n, m, kind)
    fast, merged = st.cdf_stats(u, v), st.cdf_stats_merged(u, v)
    assert fast.ks_statistic == merged.ks_statistic  # the same counts at the same points
    assert fast.wasserstein == pytest.approx(merged.wasserstein, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("kind", ["same", "ties", "continuous"])
def test_the_refined_ks_grid_equals_the_merge_on_large_samples(kind, monkeypatch):
    # Large enough for two refinements of the open intervals before the merge, and once more
    # with every refinement forced (no merge until single values are left).
    u, v = _samples(7, 400_000, 300_000, kind)
    merged = st.cdf_stats_merged(u, v).ks_statistic
    assert st._ks_statistic(u, v) == merged
    monkeypatch.setattr(st, "_KS_MERGE_AT_MOST", 0)
    assert st._ks_statistic(u, v) == merged
    assert st._ks_statistic(v, u) == merged


def test_merge_free_kernels_equal_scipy():
    u, v = _samples(3, 50_000, 12_345, "ties")
    cdf = st.cdf_stats(u, v)
    assert cdf.ks_statistic == pytest.approx(sps.ks_2samp(u, v).statistic, rel=1e-12)
    assert cdf.wasserstein == pytest.approx(sps.wasserstein_distance(u, v), rel=1e-12)


@pytest.mark.parametrize("kind", ["continuous", "ties", "few", "at_edges"])
def test_spark_bin_boundaries_by_search_equal_the_bisection(kind):
    # Spark's bin test `(x - lo) / inc >= b` against the search of the edges `lo + b * inc`:
    # values on and one rounding step either side of every edge, where the two can disagree.
    rng = np.random.default_rng(7)
    lo, hi, k = 0.1, 7.3, 19
    inc = (hi - lo) / k
    edges = lo + np.arange(1, k) * inc
    if kind == "at_edges":
        x = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
                            np.repeat(edges, 3), rng.uniform(lo, hi, 500)])
    else:
        x = _samples(11, 5_000, 10, kind)[0]
        lo, hi = float(x[0]), float(x[-1])
        inc = (hi - lo) / k
    x = np.sort(x)
    targets = np.arange(1, k, dtype=np.float64)
    expected = st._first_index_at_least(x, lo, inc, targets)
    np.testing.assert_array_equal(st._spark_boundaries(x, lo, inc, targets), expected)
    assert st._spark_boundaries(x[:0], lo, inc, targets).tolist() == [0] * targets.size


@pytest.mark.parametrize("seed", range(5))
def test_jensen_shannon_is_scipys_to_the_bit(seed):
    from scipy.spatial import distance as spd

    rng = np.random.default_rng(seed)
    p = rng.integers(0, 500, 13 + seed)
    q = rng.integers(0, 500, 13 + seed)
    p[seed] = 0  # an empty bin on one side
    n_p, n_q = int(p.sum()), int(q.sum())
    assert st.jensen_shannon(p, q, n_p, n_q) == float(
        spd.jensenshannon(p / n_p, q / n_q, base=2))


@pytest.mark.parametrize("seed", range(5))
def test_chi_squared_p_value_is_scipys_chisquare(seed):
    rng = np.random.default_rng(seed)
    ref = rng.integers(1, 400, 6 + seed)
    prod = rng.integers(0, 300, 6 + seed)
    n_ref = int(ref.sum())
    expected = sps.chisquare(prod, f_exp=ref / n_ref * prod.sum()).pvalue
    assert st.chi_squared_pvalue(ref, prod, n_ref) == float(expected)
