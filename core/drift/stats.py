"""The numerical kernels: Azure's histogram, the drift metrics and the rate rounding.

Everything here works on *sorted* float64 arrays (numerical) or on count vectors
(categorical), so a batch costs one sort of its own values and never re-reads the reference.
Each function states the Azure step it reproduces; ``tests/unit/drift/azure_reference.py``
re-implements the same steps the slow, obvious way and the tests hold the two equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import cast

import numpy as np
from numpy.typing import NDArray

#: Azure refuses the KS test when either frame has this many rows or more.
AZURE_KS_MAX_ROWS = 10_000
#: scipy's ks_2samp uses its exact distribution up to this sample size, else Smirnov's asymptotics.
SCIPY_KS_EXACT_MAX = 10_000

#: Values of a numerical feature (sorted where a function says so), frequencies, bin edges.
Floats = NDArray[np.float64]
#: Counts per bin or per category.
Counts = NDArray[np.int64]


def sturges_bins(n_small: int) -> int:
    """Azure's bin count: ``ceil(log2(n_small) + 1)``, n_small = rows of the smaller frame."""
    if n_small < 1:
        raise ValueError("Sturges' rule needs at least one row")
    return math.ceil(math.log2(n_small) + 1)


@dataclass(frozen=True)
class Binning:
    """Bin edges for one numerical feature and how values are assigned to them.

    ``mode``:
    - ``even``: Spark's ``RDD.histogram`` with evenly spaced edges: bin ``int((x-lo)/inc)``,
      values above the last edge are skipped (Azure's last-edge quirk);
    - ``bisect``: Spark's path when the edge steps differ by 1e-10 or more: bisect on the edges,
      values above the last edge are skipped;
    - ``corrected``: edges ``linspace(lo, hi, k+1)`` (last edge forced to hi), edge comparison,
      every value counted;
    - ``constant``: one bin ``[lo - d, lo + d]`` holding every value.
    """

    edges: Floats
    mode: str
    lo: float
    inc: float
    degenerate: bool = False

    @property
    def k(self) -> int:
        return len(self.edges) - 1


def azure_binning(lo: float, hi: float, k: int) -> Binning:
    """Edges exactly as Azure's ``get_dual_histogram_bin_edges`` builds them (see module doc)."""
    lo, hi = float(lo), float(hi)
    if lo == hi:
        d = 0.005 if lo == 0 else abs(lo) * 0.005
        edges = np.array([lo - d, lo + d])
        return Binning(edges, "constant", lo - d, 2 * d)
    w = (hi - lo) / k
    edges = np.array([lo + i * w for i in range(k + 1)], dtype=np.float64)
    steps = np.diff(edges)
    if np.any(steps <= 0):
        # Spark refuses duplicated edges ("buckets should not contain duplicated values"): the
        # range is within floating-point resolution of lo. We keep the distinct edges.
        edges = np.unique(edges)
        if len(edges) < 2:
            edges = np.array([lo, hi])
        return Binning(edges, "bisect", lo, float("nan"), degenerate=True)
    if float(steps.max() - steps.min()) < 1e-10:
        inc = (float(edges[-1]) - lo) / k
        return Binning(edges, "even", lo, inc)
    return Binning(edges, "bisect", lo, float("nan"))


def corrected_binning(lo: float, hi: float, k: int) -> Binning:
    """Equal-width edges whose last edge is exactly ``hi``, so every value lands in a bin."""
    lo, hi = float(lo), float(hi)
    if lo == hi:
        d = 0.005 if lo == 0 else abs(lo) * 0.005
        return Binning(np.array([lo - d, lo + d]), "constant", lo - d, 2 * d)
    edges = lo + (hi - lo) * (np.arange(k + 1, dtype=np.float64) / k)
    edges[0], edges[-1] = lo, hi
    edges = np.maximum.accumulate(edges)
    if np.any(np.diff(edges) <= 0):
        edges = np.unique(edges)
        return Binning(edges, "corrected", lo, float("nan"), degenerate=True)
    return Binning(edges, "corrected", lo, float("nan"))


def _first_index_at_least(x: Floats, lo: float, inc: float, targets: Floats) -> Counts:
    """For each integer target b, the first index i with ``(x[i] - lo) / inc >= b``.

    ``int(v) >= b`` iff ``v >= b`` for v >= 0, and ``(x - lo) / inc`` is monotone in x, so a
    vectorised bisection over the sorted values finds Spark's bin boundaries exactly.
    """
    n = x.size
    left = np.zeros(targets.size, dtype=np.int64)
    right = np.full(targets.size, n, dtype=np.int64)
    if n == 0:
        return left
    while True:
        active = left < right
        if not active.any():
            return left
        mid = (left + right) // 2
        cond = ((x[np.minimum(mid, n - 1)] - lo) / inc) >= targets
        right = np.where(active & cond, mid, right)
        left = np.where(active & ~cond, mid + 1, left)


def _spark_boundaries(x: Floats, lo: float, inc: float, targets: Floats) -> Counts:
    """:func:`_first_index_at_least`, found by one search of the edges ``lo + b * inc``.

    Spark's bin test ``(x - lo) / inc >= b`` and ``x >= lo + b * inc`` can disagree for values
    within a rounding step of an edge, so each found index is checked with Spark's own test at
    it and just before it (the test is monotone in x); the bisection settles the rare target
    where the check fails.
    """
    n = x.size
    if n == 0:
        return np.zeros(targets.size, dtype=np.int64)
    found = np.searchsorted(x, lo + targets * inc, "left").astype(np.int64)
    here = np.ones(targets.size, dtype=bool)  # the test holds at found (vacuously at n)
    inside = found < n
    here[inside] = ((x[found[inside]] - lo) / inc) >= targets[inside]
    before = np.zeros(targets.size, dtype=bool)  # the test holds just before found
    after_first = found > 0
    before[after_first] = ((x[found[after_first] - 1] - lo) / inc) >= targets[after_first]
    wrong = ~here | before
    if wrong.any():
        found[wrong] = _first_index_at_least(x, lo, inc, targets[wrong])
    return found


def bin_counts(x_sorted: Floats, binning: Binning) -> tuple[Counts, int]:
    """Histogram counts of sorted values; returns ``(counts, n_outside)``.

    ``n_outside`` is how many values fell outside every bin (only Azure's last-edge quirk
    produces any: values above ``lo + k*w``).
    """
    n = x_sorted.size
    k = binning.k
    if binning.mode == "constant":
        inside = int(
            np.searchsorted(x_sorted, binning.edges[-1], "right")
            - np.searchsorted(x_sorted, binning.edges[0], "left")
        )
        return np.array([inside], dtype=np.int64), n - inside
    if binning.mode == "even":
        targets = np.arange(1, k, dtype=np.float64)
        inner = _spark_boundaries(x_sorted, binning.lo, binning.inc, targets)
        n_in = int(np.searchsorted(x_sorted, binning.edges[-1], "right"))
    else:  # bisect and corrected: compare against the edges
        inner = np.searchsorted(x_sorted, binning.edges[1:-1], "left")
        n_in = n if binning.mode == "corrected" else int(
            np.searchsorted(x_sorted, binning.edges[-1], "right")
        )
    inner = np.minimum(inner, n_in)
    bounds = np.concatenate(([0], inner, [n_in]))
    return np.diff(bounds).astype(np.int64), n - n_in


def jensen_shannon(p_counts: Counts, q_counts: Counts, n_p: int, n_q: int) -> float:
    """``scipy.spatial.distance.jensenshannon(p/n_p, q/n_q, base=2)`` as Azure calls it: its
    body, step for step (the call's argument handling costs more than its sums over a few
    bins, with the GIL held; ``tests/unit/drift/test_drift_kernels.py`` compares the two)."""
    from scipy.special import rel_entr  # scipy loads on the first comparison only

    p, q = p_counts / n_p, q_counts / n_q
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    js = np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))
    js /= np.log(2)
    return float(np.sqrt(js / 2.0))


def safe_jensen_shannon(
    p_counts: Counts, q_counts: Counts, n_p: int, n_q: int
) -> float | None:
    """:func:`jensen_shannon`, or None when either frame has no count in any bin."""
    if p_counts.sum() == 0 or q_counts.sum() == 0:
        return None  # every row fell outside Azure's bins: undefined (Azure writes NaN)
    return jensen_shannon(p_counts, q_counts, n_p, n_q)


def psi(ref_counts: Counts, prod_counts: Counts, n_ref: int, n_prod: int) -> float:
    """Azure's PSI: ``b=(cb+1)/(Nb+k)``, ``p=(cp+1)/(Np+k)``, ``sum((p-b)*ln(p/b))``."""
    k = ref_counts.size
    b = (ref_counts + 1) / (n_ref + k)
    p = (prod_counts + 1) / (n_prod + k)
    return float(np.sum((p - b) * np.log(p / b)))


@dataclass(frozen=True)
class CdfStats:
    wasserstein: float
    ks_statistic: float


def cdf_stats(u: Floats, v: Floats) -> CdfStats:
    """Wasserstein-1 distance and the two-sided KS statistic of two sorted samples, exactly.

    Neither needs the two samples merged (a merge costs several times the production sort):
    the Wasserstein distance is the area between the quantile functions
    (:func:`_wasserstein_quantiles`), and the KS statistic is bounded on a coarse grid and
    evaluated exactly only where the bound says the maximum can be (:func:`_ks_statistic`).
    Small samples take the merge (:func:`cdf_stats_merged`), which is scipy's definition
    term for term.
    """
    n, m = u.size, v.size
    if n + m <= _MERGE_BELOW or n * m >= 2**62:
        return cdf_stats_merged(u, v)
    return CdfStats(_wasserstein_quantiles(u, v), _ks_statistic(u, v))


#: Below this many values in both samples, one merge is cheaper than the two-step methods.
_MERGE_BELOW = 4096
#: The KS grid takes every this-many-th value of the larger sample (more apart in samples so
#: large that the grid would outgrow ``_KS_GRID_MAX`` points). Measured on the drift
#: benchmark's columns (200k-1M rows): a coarse first grid refined where needed costs half of
#: one fine grid (32 apart, up to 8192 points: 2.0 ms at 200k rows, 5 ms at 1M, more than
#: the sort of the production values on the 200k columns).
_KS_GRID_STEP = 256
_KS_GRID_MAX = 4096
#: Each refinement of the open intervals takes a grid this many times finer.
_KS_REFINE = 8
#: Open intervals holding at most this many values in all are merged rather than refined.
_KS_MERGE_AT_MOST = 4096
#: Elements per block of the blockwise kernels (512 KiB of float64).
_BLOCK = 65536


def cdf_stats_merged(u: Floats, v: Floats) -> CdfStats:
    """:func:`cdf_stats` by one merge of the two sorted arrays.

    The terms are exactly scipy's (``wasserstein_distance`` and ``ks_2samp`` evaluate the
    right-continuous CDFs at the merged values; where two merged values are equal the
    Wasserstein term is multiplied by a zero step and KS reads the CDFs at the end of each run
    of equal values, which is what ``searchsorted(side="right")`` returns).
    """
    n, m = u.size, v.size
    both = np.concatenate((u, v))
    # A stable sort of two sorted runs is a merge (timsort); equal values keep u before v.
    perm = np.argsort(both, kind="stable")
    is_v = perm >= n
    merged = both[perm]
    cv = np.cumsum(is_v[:-1], dtype=np.int64)
    cu = np.arange(1, n + m, dtype=np.int64) - cv
    deltas = np.diff(merged)
    diff = cu / n - cv / m
    w = float(np.sum(np.abs(diff) * deltas))
    ends = deltas != 0
    # The last merged value closes a run too; both CDFs are 1 there (difference 0).
    dvals = diff[ends]
    return CdfStats(w, _ks_from_differences(dvals))


def _ks_from_differences(dvals: Floats) -> float:
    """scipy's two-sided statistic from ``F_u - F_v`` at the evaluated points."""
    max_s = max(float(dvals.max()), 0.0) if dvals.size else 0.0
    min_s = min(max(-float(dvals.min()), 0.0), 1.0) if dvals.size else 0.0
    return max(max_s, min_s)


@lru_cache(maxsize=4)
def _quantile_steps(n: int, m: int) -> tuple[NDArray[np.intp], NDArray[np.intp], Floats]:
    """For samples of n and m values: the steps of ``t`` in (0, 1] where either quantile
    function changes, as ``(u index, v index, width)`` per step.

    The breakpoints are ``i/n`` and ``j/m``; over the common denominator ``n*m`` they are the
    integers ``i*m`` and ``j*n``, merged here once per pair of sizes (every numerical feature
    of a signal shares it)."""
    a = np.arange(1, n + 1, dtype=np.int64) * m
    b = np.arange(1, m + 1, dtype=np.int64) * n
    t = np.union1d(a, b)
    widths = np.diff(t, prepend=np.int64(0)) / float(n * m)
    # Quantile Q(t) = x[ceil(t * size) - 1]; with t = T / (n*m): ceil(T / m) - 1 for u.
    iu = (-(-t // m) - 1).astype(np.intp)
    iv = (-(-t // n) - 1).astype(np.intp)
    for arr in (iu, iv, widths):
        arr.setflags(write=False)
    return iu, iv, widths


def _wasserstein_quantiles(u: Floats, v: Floats) -> float:
    """W1 as the integral of ``|Q_u(t) - Q_v(t)|`` over (0, 1]: the same area as scipy's
    integral of ``|F_u(x) - F_v(x)|`` over x, with no merge of the values."""
    n, m = u.size, v.size
    total = 0.0
    # In blocks that stay in cache: whole-array temporaries of millions of values cost more in
    # page faults and memory traffic than the arithmetic.
    if n == m:
        d = np.empty(min(n, _BLOCK), dtype=np.float64)
        for start in range(0, n, _BLOCK):
            part = d[: min(_BLOCK, n - start)]
            np.subtract(u[start : start + _BLOCK], v[start : start + _BLOCK], out=part)
            total += float(np.sum(np.abs(part, out=part)))
        return total / n
    iu, iv, widths = _quantile_steps(n, m)
    for start in range(0, iu.size, _BLOCK):
        stop = start + _BLOCK
        part = u[iu[start:stop]]
        part -= v[iv[start:stop]]
        np.abs(part, out=part)
        part *= widths[start:stop]
        total += float(np.sum(part))
    return total


def _ks_statistic(u: Floats, v: Floats) -> float:
    """The KS statistic ``max |F_u(x) - F_v(x)|`` over every value x of either sample, exactly.

    Both CDFs are evaluated exactly at a grid (every ``_KS_GRID_STEP``-th value of the larger
    sample): the largest difference there is a lower bound of the statistic. Between two grid
    points the difference is at most what the CDFs' values at the two ends allow, so only the
    intervals whose bound exceeds the lower bound can hold the maximum. While those still hold
    many values they get a finer grid of their own (``_KS_REFINE`` times finer), which raises
    the lower bound and closes most of them; the values of the intervals left open are merged
    and evaluated exactly. Noise-level differences leave many intervals open: it stays exact,
    only slower (at worst every value is evaluated).
    """
    if v.size > u.size:
        u, v = v, u  # |F_u - F_v| is symmetric (and so is its floating-point value)
    n, m = u.size, v.size
    step = max(_KS_GRID_STEP, -(-n // _KS_GRID_MAX))
    # The intervals still open: u[lo_u:hi_u] and v[lo_v:hi_v] are the values inside each.
    lo_u, hi_u = np.array([0]), np.array([n])
    lo_v, hi_v = np.array([0]), np.array([m])
    lower = 0.0
    while True:
        len_u = hi_u - lo_u
        if step < 2 or int(len_u.sum() + (hi_v - lo_v).sum()) <= _KS_MERGE_AT_MOST:
            break
        # Grid points inside each interval: every step-th of its u values.
        per = len_u // step
        if not per.any():
            break
        owner = np.repeat(np.arange(lo_u.size), per)
        rank = np.arange(owner.size) - np.repeat(np.cumsum(per) - per, per)
        at = lo_u[owner] + (rank + 1) * step - 1
        grid = u[at]
        # Counts at the grid in u from the positions themselves; a search only where ties run.
        ur, ul = at + 1, at.copy()
        tied = u[np.minimum(at + 1, n - 1)] == grid
        tied &= at + 1 < n
        ur[tied] = np.searchsorted(u, grid[tied], "right")
        tied = u[np.maximum(at - 1, 0)] == grid
        tied &= at > 0
        ul[tied] = np.searchsorted(u, grid[tied], "left")
        vr = np.searchsorted(v, grid, "right")
        vl = vr.copy()
        tied = (vr > 0) & (v[np.maximum(vr - 1, 0)] == grid)
        vl[tied] = np.searchsorted(v, grid[tied], "left")
        lower = max(lower, _ks_from_differences(ur / n - vr / m))
        # Each interval splits at its grid points: its own ends outside, the grid's between.
        first = np.cumsum(per + 1) - (per + 1)  # where each interval's pieces start
        last = first + per
        pieces = int(per.sum()) + lo_u.size
        starts = np.ones(pieces, dtype=bool)
        starts[first] = False
        ends = np.ones(pieces, dtype=bool)
        ends[last] = False
        new_lo_u, new_hi_u = np.empty(pieces, np.int64), np.empty(pieces, np.int64)
        new_lo_v, new_hi_v = np.empty(pieces, np.int64), np.empty(pieces, np.int64)
        new_lo_u[first], new_lo_v[first] = lo_u, lo_v
        new_lo_u[starts], new_lo_v[starts] = ur, vr
        new_hi_u[last], new_hi_v[last] = hi_u, hi_v
        new_hi_u[ends], new_hi_v[ends] = ul, vl
        lo_u, hi_u, lo_v, hi_v = new_lo_u, new_hi_u, new_lo_v, new_hi_v
        bound = np.maximum(hi_u / n - lo_v / m, hi_v / m - lo_u / n)
        open_ = np.flatnonzero((bound > lower) & ((hi_u > lo_u) | (hi_v > lo_v)))
        if open_.size == 0:
            return lower
        lo_u, hi_u, lo_v, hi_v = lo_u[open_], hi_u[open_], lo_v[open_], hi_v[open_]
        step //= _KS_REFINE
    return max(lower, _ks_in_intervals(u, v, lo_u, hi_u, lo_v, hi_v))


def _ks_in_intervals(u: Floats, v: Floats, lo_u: NDArray[np.int64], hi_u: NDArray[np.int64],
                     lo_v: NDArray[np.int64], hi_v: NDArray[np.int64]) -> float:
    """The largest ``|F_u - F_v|`` at the values ``u[lo_u:hi_u]`` and ``v[lo_v:hi_v]`` of each
    interval (disjoint, ascending), by merging them: a value's count in its own sample is the
    count below its interval plus those of its interval up to it."""
    n, m = u.size, v.size
    len_u, len_v = hi_u - lo_u, hi_v - lo_v
    pu, pv = _ranges(u, lo_u, hi_u), _ranges(v, lo_v, hi_v)
    both = np.concatenate((pu, pv))
    if both.size == 0:
        return 0.0
    perm = np.argsort(both, kind="stable")  # u first among equals
    merged = both[perm]
    ids = np.concatenate((np.repeat(np.arange(lo_u.size), len_u),
                          np.repeat(np.arange(lo_v.size), len_v)))[perm]
    cv = np.cumsum(perm >= pu.size, dtype=np.int64)
    cu = np.arange(1, both.size + 1, dtype=np.int64) - cv
    cu += (lo_u - (np.cumsum(len_u) - len_u))[ids]
    cv += (lo_v - (np.cumsum(len_v) - len_v))[ids]
    ends = np.empty(both.size, dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=ends[:-1])
    ends[-1] = True
    return _ks_from_differences(cu[ends] / n - cv[ends] / m)


def _ranges(x: Floats, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> Floats:
    """The values ``x[lo[k]:hi[k]]`` of every range k, concatenated."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return x[:0]
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    out: Floats = x[starts + np.arange(total)]
    return out


def ks_pvalue(d: float, u: Floats, v: Floats) -> float:
    """scipy's ``ks_2samp(u, v).pvalue`` given the statistic ``d`` of the sorted samples.

    Small samples go through scipy itself (its exact distribution); beyond scipy's exact limit
    scipy uses ``kstwo.sf(d, round(n*m/(n+m)))``, which :func:`kstwo_sf` evaluates.
    """
    from scipy import stats as sps

    n1, n2 = u.size, v.size
    if max(n1, n2) <= SCIPY_KS_EXACT_MAX:
        return float(sps.ks_2samp(u, v).pvalue)
    m_, n_ = sorted([float(n1), float(n2)], reverse=True)
    en = m_ * n_ / (m_ + n_)
    return float(np.clip(kstwo_sf(d, float(np.round(en))), 0, 1))


#: scipy's ``smirnov(n, d)`` sums every term of the exact formula up to this n (above it, an
#: asymptotic form in microseconds).
SCIPY_SMIRNOV_EXACT_MAX = 1_000_000


def kstwo_sf(d: float, n: float) -> float:
    """``scipy.stats.kstwo.sf(d, n)``, with its slowest branch computed faster.

    For 2.2 <= n*d^2 < 370 (a mild drift at large n) scipy returns ``2 * smirnov(n, d)``, whose
    exact sum it evaluates term by term: 0.1 s at n = 100,000, 1 s at n = 1,000,000, holding
    one core per column. :func:`smirnov_sf` sums the same terms vectorised (within 1e-13 of
    scipy's value, relative; ``tests/unit/drift/test_ks_pvalue.py``). Every other case goes to
    scipy unchanged, in scipy's order of cases (``scipy.stats._ksstats._kolmogn``).
    """
    from scipy import stats as sps

    t = n * d
    if (140 < n <= SCIPY_SMIRNOV_EXACT_MAX and n == int(n) and 0.0 < d < 0.5
            and 1.0 < t < n - 1 and 2.2 <= t * d < 370.0):
        return min(max(2.0 * smirnov_sf(int(n), d), 0.0), 1.0)
    kolmogn = _kolmogn()
    if kolmogn is not None and n == int(n) and n >= 1 and math.isfinite(d):
        # What kstwo.sf calls per value, without rv_continuous's argument handling (0.17 ms
        # a call against 0.05, the GIL held: once per numerical feature).
        return float(kolmogn(int(n), float(d), cdf=False))
    return float(sps.kstwo.sf(d, n))


@lru_cache(maxsize=1)
def _kolmogn() -> Callable[..., float] | None:
    """scipy's own two-sided KS distribution (kstwo's ``_sf`` is ``kolmogn(n, x, cdf=False)``,
    which calls this per value); None in a scipy that moved it (kstwo.sf then: the same value,
    slower). Imported on first use, as scipy is."""
    try:
        from scipy.stats._ksstats import _kolmogn as kolmogn
    except ImportError:
        return None
    return cast(Callable[..., float], kolmogn)


_LN_2PI = math.log(2.0 * math.pi)


def _stirling_remainder(m: Floats) -> Floats:
    """``ln m! - (m ln m - m + ln(2 pi m) / 2)`` for m >= 1: the series from 16 on (its first
    omitted term, 691 / (360360 m^11), is about 1e-16 there), scipy's ``gammaln`` below."""
    from scipy import special

    out = np.empty_like(m)
    big = m >= 16
    x = m[big]
    r = 1.0 / (x * x)
    out[big] = (1 / 12 - r * (1 / 360 - r * (1 / 1260 - r * (1 / 1680 - r / 1188)))) / x
    s = m[~big]
    out[~big] = special.gammaln(s + 1) - (s * np.log(s) - s + 0.5 * (_LN_2PI + np.log(s)))
    return out


@lru_cache(maxsize=1)
def _smirnov_terms(n: int) -> tuple[Floats, Floats, Floats]:
    """For j = 1..n-1: j, j/n and the part of each term's logarithm that does not depend on
    d (Stirling's form of ln C(n, j) less its linear and large logarithmic parts). Every
    numerical feature of a comparison has the same n: computed once, read-only (24 bytes a
    term: 2.4 MB at n = 100,000)."""
    j = np.arange(1, n, dtype=np.float64)
    rest = n - j
    binomial = (0.5 * (np.log(n / (j * rest)) - _LN_2PI)
                + _stirling_remainder(np.array([float(n)]))[0]
                - _stirling_remainder(j)
                - _stirling_remainder(rest))
    u = j / n
    for arr in (j, u, binomial):
        arr.setflags(write=False)
    return j, u, binomial


def smirnov_sf(n: int, d: float) -> float:
    """``P(D+_n > d)``, Smirnov's (Birnbaum-Tingey's) exact sum, as scipy's ``smirnov(n, d)``:

        d * sum_{j=0}^{floor(n(1-d))} C(n, j) (d + j/n)^(j-1) (1 - d - j/n)^(n-j)

    Each term's logarithm is written so that nothing large cancels: with u = j/n and
    g(x) = log1p(x) - x, Stirling's form of C(n, j) turns the three large logarithms into
    ``j g(d/u) + (n-j) g(-d/(1-u))`` (their linear parts cancel exactly), of the size of the
    result's own logarithm (about -2 n d^2), so the sum keeps double precision.
    """
    j_max = math.floor(n * (1 - d))
    j_all, u_all, binomial = _smirnov_terms(n)
    j, u = j_all[:j_max], u_all[:j_max]
    # The last term is 0 when n(1 - d) is an integer (and rounding may push 1 - d - u below 0).
    count = j_max if j_max == 0 or (1 - u[-1]) > d else int(np.count_nonzero((1 - u) > d))
    j, u = j[:count], u[:count]  # (1 - u) > d holds on a prefix: u grows with j
    rest = n - j
    x, y = d / u, d / (1 - u)
    log_terms = (
        j * (np.log1p(x) - x)
        + rest * (np.log1p(-y) + y)
        - np.log(d + u)
        + binomial[:count]
    )
    first = n * math.log1p(-d) - math.log(d)  # j = 0: C(n, 0) d^-1 (1 - d)^n
    top = max(first, float(log_terms.max())) if log_terms.size else first
    total = math.exp(first - top) + float(np.exp(log_terms - top).sum())
    return d * math.exp(top) * total


def chi_squared_pvalue(ref_counts: Counts, prod_counts: Counts, n_ref: int) -> float:
    """``scipy.stats.chisquare(prod_counts, f_exp=ref_counts/n_ref * n_prod).pvalue``.

    A category seen only in production has an expected count of 0: the statistic is infinite
    and the p-value 0, as in scipy (without its divide-by-zero warning).
    """
    n_prod = float(prod_counts.sum())
    f_exp = (ref_counts / n_ref) * n_prod
    f_obs = prod_counts.astype(np.float64)
    zero = f_exp == 0
    if np.any(zero & (f_obs > 0)):
        return 0.0
    keep = ~zero
    stat = float(np.sum((f_obs[keep] - f_exp[keep]) ** 2 / f_exp[keep]))
    dof = prod_counts.size - 1
    from scipy import special

    # chi2.sf's own kernel (``chi2_gen._sf``), without rv_continuous's argument handling
    # (40 us a call against 1, the GIL held; test_drift_kernels.py compares the two).
    return float(special.chdtrc(dof, stat))


def total_variation(p: Floats, q: Floats) -> float:
    """Half the L1 distance between two frequency vectors: an effect size in [0, 1]."""
    return float(0.5 * np.sum(np.abs(p - q)))


def round5(x: float) -> float:
    """Spark's ``round(x, 5)`` (HALF_UP on the double's shortest decimal form)."""
    return float(Decimal(repr(float(x))).quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP))


def sample_std(x: Floats) -> float | None:
    """Spark's ``stddev`` (sample standard deviation); None below two values."""
    if x.size < 2:
        return None
    return float(np.std(x, ddof=1))
