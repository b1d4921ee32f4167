"""The KS p-value beyond scipy's exact limit equals scipy's ``kstwo.sf`` (1e-12 relative),
including the branch where scipy sums Smirnov's exact formula term by term."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps

from core.drift import stats

# (n, n*d^2): sizes across the fast branch's range, statistics across its band [2.2, 370)
# where d < 1/2 (the branch's domain).
SMIRNOV_GRID = [(n, nx2) for n in (141, 1_000, 10_001, 50_000, 200_000)
                for nx2 in (2.2, 2.5, 4.0, 10.0, 60.0, 200.0, 369.0) if nx2 / n < 0.25]


@pytest.mark.parametrize(("n", "nx2"), SMIRNOV_GRID)
def test_the_vectorised_sum_equals_scipys_smirnov(n, nx2):
    d = math.sqrt(nx2 / n) * 1.000123  # off any lattice point
    expected = float(special.smirnov(n, d))
    got = stats.smirnov_sf(n, d)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(("n", "d"), [
    (100_000, 0.003),     # n d^2 = 0.9: scipy's Pelz-Good CDF branch
    (100_000, 0.0005),    # tiny statistic: Durbin's matrix branch
    (100_000, 0.07),      # n d^2 = 490: 0 by scipy's cut-off
    (100_000, 0.6),       # beyond one half: scipy's own smirnov
    (120, 0.1),           # n <= 140: scipy's small-n branches
    (2_000_000, 0.0012),  # above scipy's exact Smirnov limit: its asymptotic form
    (100_000, 0.0),
    (100_000, 1.0),
])
def test_other_cases_are_scipys_own_value(n, d):
    assert stats.kstwo_sf(d, float(n)) == float(sps.kstwo.sf(d, n))


@pytest.mark.parametrize(("n", "d"), [(50_000, 0.01), (100_000, 0.0052), (30_000, 0.05)])
def test_the_fast_branch_equals_kstwo_sf(n, d):
    assert stats.kstwo_sf(d, float(n)) == pytest.approx(float(sps.kstwo.sf(d, n)), rel=1e-12)


def test_the_engine_p_value_equals_ks_2samp_on_a_mild_drift():
    # 40,000 rows a side (n_eff 20,000) with a small shift: n d^2 lands inside the fast band.
    rng = np.random.default_rng(3)
    u = np.sort(rng.normal(0.0, 1.0, 40_000))
    v = np.sort(rng.normal(0.03, 1.0, 40_000))
    cdf = stats.cdf_stats(u, v)
    assert 2.2 <= 20_000 * cdf.ks_statistic ** 2 < 370  # the case this test is about
    expected = sps.ks_2samp(u, v)
    assert cdf.ks_statistic == pytest.approx(expected.statistic, rel=1e-12)
    got = stats.ks_pvalue(cdf.ks_statistic, u, v)
    assert got == pytest.approx(expected.pvalue, rel=1e-12)
