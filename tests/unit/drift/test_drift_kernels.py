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


def test_merge_free_kernels_equal_scipy():
    u, v = _samples(3, 50_000, 12_345, "ties")
    cdf = st.cdf_stats(u, v)
    assert cdf.ks_statistic == pytest.approx(sps.ks_2samp(u, v).statistic, rel=1e-12)
    assert cdf.wasserstein == pytest.approx(sps.wasserstein_distance(u, v), rel=1e-12)
