"""Our engine equals Azure's computation (``azure_reference``) on varied generated data."""

from __future__ import annotations

import math

import azure_reference as azure
import numpy as np
import pyarrow as pa
import pytest

from core.drift import DriftConfig, build_profile, compare
from core.drift import stats as st

REL = 1e-9
ABS_FLOOR = 1e-14  # values at rounding level (e.g. PSI of identical shapes) compare absolutely


def close(a: float, b: float) -> bool:
    if math.isnan(b):
        return a is None or math.isnan(a)
    return a is not None and math.isclose(a, b, rel_tol=REL, abs_tol=ABS_FLOOR)


def ours(ref: pa.Table, prod: pa.Table, **kw) -> dict[tuple[str, str], float]:
    result = compare(build_profile(ref), prod, DriftConfig(signals=("data_drift",), **kw))
    return {(m.feature, m.metric): m.value for _, m in result.metrics()}


def with_nulls(values: np.ndarray, rng, rate: float) -> list:
    out = values.tolist()
    for i in np.flatnonzero(rng.random(len(out)) < rate):
        out[i] = None
    return out


def make_case(name: str, n_ref: int, n_prod: int, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)

    def frame(n: int, shift: float) -> pa.Table:
        if name == "normal":
            return pa.table({"x": rng.normal(shift, 1, n), "y": rng.normal(0, 3, n)})
        if name == "skewed":
            return pa.table({"x": rng.lognormal(shift, 1.2, n), "y": rng.exponential(2, n)})
        if name == "discrete":
            return pa.table({
                "small_int": rng.poisson(3 + shift, n),  # categorical (few distinct)
                "wide_int": rng.integers(0, 10 * n, n),  # numerical (many distinct)
                "x": rng.poisson(20 + shift, n).astype(float),
            })
        if name == "grid":
            return pa.table({
                "x": np.round(rng.uniform(0, 1 + shift, n), 1),
                "y": np.round(rng.normal(0, 1, n) * 4) / 4,
            })
        if name == "heavy_tailed":
            return pa.table({"x": rng.standard_cauchy(n) + shift, "y": rng.standard_t(2, n)})
        if name == "categories":
            cats = np.array([f"c{i}" for i in range(400)])
            p = 1 / np.arange(1, 401) ** (1.1 + shift)
            return pa.table({
                "cat": pa.array(rng.choice(cats, n, p=p / p.sum())),
                "flag": pa.array(rng.random(n) < 0.3 + shift / 5),
                "x": rng.normal(shift, 1, n),
            })
        if name == "nulls":
            return pa.table({
                "x": pa.array(with_nulls(rng.normal(shift, 1, n), rng, 0.1), pa.float64()),
                "y": pa.array(with_nulls(rng.gamma(2, 2, n), rng, 0.05), pa.float64()),
                "cat": pa.array(with_nulls(rng.choice(["a", "b", "c"], n), rng, 0.08)),
            })
        if name == "zero_centred":
            return pa.table({f"z{i}": rng.normal(0, 1 + shift, n) for i in range(8)})
        raise ValueError(name)

    return frame(n_ref, 0.0), frame(n_prod, 0.3)


CASES = [
    ("normal", 5, 7),
    ("normal", 50, 40),
    ("skewed", 999, 1500),
    ("discrete", 2000, 1800),
    ("grid", 300, 777),
    ("heavy_tailed", 1000, 1000),
    ("categories", 5000, 3000),
    ("nulls", 800, 1200),
    ("zero_centred", 200, 333),
    ("normal", 20_000, 12_000),
    ("categories", 30_000, 25_000),
]


@pytest.mark.parametrize(("name", "n_ref", "n_prod"), CASES)
def test_drift_metrics_equal_azure(name, n_ref, n_prod):
    ref, prod = make_case(name, n_ref, n_prod)
    expected = azure.data_drift(ref, prod)
    got = ours(ref, prod)
    assert set(got) == set(expected)
    bad = {k: (got[k], v) for k, v in expected.items() if not close(got[k], v)}
    assert not bad


@pytest.mark.parametrize(("name", "n_ref", "n_prod"), CASES[:9])
def test_histogram_counts_equal_spark(name, n_ref, n_prod):
    ref, prod = make_case(name, n_ref, n_prod, seed=1)
    result = compare(build_profile(ref), prod, DriftConfig(signals=("data_drift",)))
    sig = result.signal("data_drift")
    cols = [f.name for f in sig.features if f.feature_type == "numerical"]
    r, p = azure.dropna(ref, azure.common_columns(ref, prod)), azure.dropna(
        prod, azure.common_columns(ref, prod))
    for c in cols:
        edges, rc, pc_ = azure.histogram_counts([float(v) for v in r[c]], [float(v) for v in p[c]])
        dist = sig.feature(c).distribution
        assert list(dist.edges) == edges
        assert list(dist.reference) == rc
        assert list(dist.production) == pc_


def test_data_quality_rates_equal_azure():
    rng = np.random.default_rng(3)
    ref = pa.table({
        "x": rng.normal(0, 1, 500),
        "n": rng.integers(0, 50, 500),
        "s": rng.choice(["a", "b", "c"], 500),
    })
    prod = pa.table({
        "x": pa.array(with_nulls(rng.normal(0.5, 1.2, 700), rng, 0.07), pa.float64()),
        "n": pa.array(with_nulls(rng.integers(-5, 60, 700), rng, 0.01), pa.int64()),
        "s": pa.array(with_nulls(rng.choice(["a", "b", "c", "zz"], 700), rng, 0.03)),
    })
    expected = azure.data_quality(ref, prod)
    result = compare(build_profile(ref), prod, DriftConfig(signals=("data_quality",)))
    got = {(m.feature, m.metric): m.value for _, m in result.metrics()}
    for key, value in expected.items():
        assert got[key] == value, key
    assert got[("x", "data_type_error_rate")] == 0.0


def _find_quirk_case():
    """A zero-centred sample where ``lo + k*w`` rounds below the maximum."""
    for seed in range(200):
        ref, prod = make_case("zero_centred", 200, 333, seed=seed)
        for c in ref.column_names:
            rv, pv = ref.column(c).to_pylist(), prod.column(c).to_pylist()
            k = azure.num_bins(200)
            edges = azure.bin_edges(rv, pv, k)
            if edges[-1] < max(max(rv), max(pv)):
                return ref.select([c]), prod.select([c])
    raise AssertionError("no last-edge case found")


def test_last_edge_quirk_reproduced_and_corrected():
    ref, prod = _find_quirk_case()
    c = ref.column_names[0]
    expected = azure.data_drift(ref, prod)
    result = compare(build_profile(ref), prod, DriftConfig(signals=("data_drift",)))
    feat = result.signal("data_drift").feature(c)
    dist = feat.distribution
    # The rows holding the maximum are outside every bin but the totals still count them.
    assert sum(dist.reference) + sum(dist.production) == 200 + 333 - 1
    assert any("last-edge" in n for n in feat.notes)
    for m in feat.metrics:
        assert close(m.value, expected[(c, m.metric)])
    corrected = compare(build_profile(ref), prod,
                        DriftConfig(signals=("data_drift",), binning="corrected"))
    cdist = corrected.signal("data_drift").feature(c).distribution
    assert sum(cdist.reference) == 200 and sum(cdist.production) == 333
    assert cdist.edges[-1] == max(max(ref.column(c).to_pylist()), max(prod.column(c).to_pylist()))


def test_spark_bucket_index_differs_from_edge_comparison():
    """On a grid, Spark's ``int((x - lo) / inc)`` and ``np.histogram``'s edge test disagree."""
    found = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(20, 200))
        rv = (rng.integers(0, 37, n) * 0.1).tolist()
        pv = (rng.integers(0, 41, n + 3) * 0.1).tolist()
        k = azure.num_bins(n)
        edges = azure.bin_edges(rv, pv, k)
        spark = azure.rdd_histogram(rv, edges)
        numpy_counts = np.histogram(rv, bins=np.array(edges))[0].tolist()
        if spark == numpy_counts:
            continue
        found += 1
        binning = st.azure_binning(min(min(rv), min(pv)), max(max(rv), max(pv)), k)
        counts, _ = st.bin_counts(np.sort(np.array(rv)), binning)
        assert counts.tolist() == spark
        if found >= 3:
            break
    assert found >= 1


def test_uneven_steps_take_the_bisect_path():
    """Large magnitudes make the edge steps differ by >= 1e-10: Spark bisects on the edges."""
    rng = np.random.default_rng(7)
    ref = pa.table({"x": 1e9 + rng.normal(0, 1000, 300)})
    prod = pa.table({"x": 1e9 + rng.normal(300, 1000, 400)})
    rv, pv = ref.column("x").to_pylist(), prod.column("x").to_pylist()
    edges = azure.bin_edges(rv, pv, azure.num_bins(300))
    steps = np.diff(edges)
    assert steps.max() - steps.min() >= 1e-10
    assert st.azure_binning(min(rv + pv), max(rv + pv), azure.num_bins(300)).mode == "bisect"
    expected = azure.data_drift(ref, prod)
    got = ours(ref, prod)
    assert all(close(got[k], v) for k, v in expected.items())


def test_integer_typing_threshold():
    # 4 distinct in 100 rows (4%) -> categorical; 5 distinct in 100 rows (5%) -> numerical.
    ref = pa.table({"a": [i % 4 for i in range(100)], "b": [i % 5 for i in range(100)],
                    "c": [None if i % 25 == 0 else i % 4 for i in range(100)]})
    profile = build_profile(ref)
    assert profile.feature_types == {"a": "categorical", "b": "numerical", "c": "numerical"}
    # c: 4 values + null = 5 distinct (null counted) -> numerical, as Azure's set() does.
    assert azure.feature_type(ref.column("c").to_pylist(), pa.int64()) == "numerical"


@pytest.mark.slow
def test_million_rows_histogram_metrics_and_wasserstein():
    rng = np.random.default_rng(11)
    n = 1_000_000
    ref = pa.table({"x": rng.normal(0, 1, n)})
    prod = pa.table({"x": rng.normal(0.05, 1.1, n)})
    got = ours(ref, prod, metrics=("jensen_shannon_distance", "population_stability_index",
                                   "normalized_wasserstein_distance"))
    rv, pv = ref.column("x").to_numpy(), prod.column("x").to_numpy()
    edges = azure.bin_edges([rv.min()], [rv.max(), pv.min(), pv.max()], azure.num_bins(n))
    rc = azure.rdd_histogram(rv.tolist(), edges)
    pc_ = azure.rdd_histogram(pv.tolist(), edges)
    from scipy.spatial import distance

    jsd = distance.jensenshannon(np.array(rc) / n, np.array(pc_) / n, base=2)
    assert close(got[("x", "jensen_shannon_distance")], float(jsd))
    assert close(got[("x", "population_stability_index")], azure.psi_from_counts(rc, pc_, n, n))
    from scipy.stats import wasserstein_distance

    nwd = wasserstein_distance(rv, pv) / max(np.std(rv, ddof=1), 0.001)
    assert close(got[("x", "normalized_wasserstein_distance")], float(nwd))


# ------------------------------------------------------------------ parity quirks, per mode


def _quirk_frames(seed: int = 2):
    """x, y compared; m string in the reference and float in production (left out for its
    type), with nulls in both frames where x and y have none."""
    rng = np.random.default_rng(seed)
    n_ref, n_prod = 600, 500
    ref = pa.table({
        "x": rng.normal(0, 1, n_ref),
        "y": rng.choice(["a", "b", "c"], n_ref),
        "m": pa.array(with_nulls(rng.choice(["u", "v"], n_ref), rng, 0.2)),
    })
    prod = pa.table({
        "x": rng.normal(0.4, 1, n_prod),
        "y": rng.choice(["a", "b", "c", "d"], n_prod),
        "m": pa.array(with_nulls(rng.normal(0, 1, n_prod), rng, 0.3), pa.float64()),
    })
    return ref, prod


def test_azure_drops_rows_on_features_left_out_for_their_type():
    ref, prod = _quirk_frames()
    result = compare(build_profile(ref), prod, DriftConfig(signals=("data_drift",)))
    assert "m" in result.excluded
    sig = result.signal("data_drift")
    expected = azure.data_drift(ref, prod)  # dropna over x, y and m
    got = {(m.feature, m.metric): m.value for _, m in result.metrics()}
    assert set(got) == set(expected)
    assert all(close(got[k], v) for k, v in expected.items())
    m_ref_nulls = ref.column("m").null_count
    assert sig.rows_reference == 600 - m_ref_nulls
    assert sig.rows_production == 500 - prod.column("m").null_count

    corrected = compare(build_profile(ref), prod,
                        DriftConfig(signals=("data_drift",), parity="corrected"))
    csig = corrected.signal("data_drift")
    assert (csig.rows_reference, csig.rows_production) == (600, 500)
    without_m = azure.data_drift(ref.drop_columns(["m"]), prod.drop_columns(["m"]))
    cgot = {(m.feature, m.metric): m.value for _, m in corrected.metrics()}
    assert all(close(cgot[k], v) for k, v in without_m.items())
    assert [d.code for d in csig.departures] == ["row_drop_compared_features_only"]
    # The mismatch changes the numbers: the quirk matters.
    assert any(not close(cgot[k], got[k]) for k in got)


def test_azure_computes_no_out_of_bounds_rate_for_boolean_or_integer_categorical():
    rng = np.random.default_rng(4)
    ref = pa.table({
        "flag": pa.array(rng.random(800) < 0.5),
        "code": pa.array(rng.integers(0, 5, 800)),  # 5 distinct in 800 rows: categorical
        "s": rng.choice(["a", "b"], 800),
        "x": rng.normal(0, 1, 800),
    })
    prod = pa.table({
        "flag": pa.array([True] * 300),
        "code": pa.array(rng.integers(3, 9, 300)),  # 5..8 never seen
        "s": rng.choice(["a", "b", "zz"], 300),
        "x": rng.normal(0, 2, 300),
    })
    expected = azure.data_quality(ref, prod)
    assert ("flag", "out_of_bounds_rate") not in expected
    assert ("code", "out_of_bounds_rate") not in expected
    result = compare(build_profile(ref), prod, DriftConfig(signals=("data_quality",)))
    got = {(m.feature, m.metric): m.value for _, m in result.metrics()}
    assert {k: got[k] for k in got if k[1] != "data_type_error_rate"} == expected
    assert not result.signal("data_quality").feature("flag").breached

    corrected = compare(build_profile(ref), prod,
                        DriftConfig(signals=("data_quality",), parity="corrected"))
    q = corrected.signal("data_quality")
    unseen = sum(1 for v in prod.column("code").to_pylist() if v > 4)
    assert q.feature("code").metric("out_of_bounds_rate").count == unseen
    assert q.feature("flag").metric("out_of_bounds_rate").count == 0
    assert {d.code for d in q.feature("code").departures} == {"out_of_bounds_computed"}


def test_azure_splits_category_sets_on_comma_space():
    cities = ["New York, NY", "Paris", "Berlin"]
    rng = np.random.default_rng(8)
    ref = pa.table({"city": rng.choice(cities, 400)})
    prod = pa.table({"city": rng.choice([*cities, "Oslo"], 250)})
    expected = azure.data_quality(ref, prod)
    result = compare(build_profile(ref), prod, DriftConfig(signals=("data_quality",)))
    oob = result.signal("data_quality").feature("city").metric("out_of_bounds_rate")
    assert oob.value == expected[("city", "out_of_bounds_rate")]
    ny = prod.column("city").to_pylist().count("New York, NY")
    oslo = prod.column("city").to_pylist().count("Oslo")
    assert oob.count == ny + oslo  # every "New York, NY" row counts, as in Azure
    corrected = compare(build_profile(ref), prod,
                        DriftConfig(signals=("data_quality",), parity="corrected"))
    cf = corrected.signal("data_quality").feature("city")
    assert cf.metric("out_of_bounds_rate").count == oslo
    assert [d.code for d in cf.departures] == ["category_set_not_split"]


def test_azure_null_value_rate_counts_nulls_not_nan():
    ref = pa.table({"x": [1.0, 2.0, 3.0, 4.0]})
    prod = pa.table({"x": pa.array([1.0, None, float("nan"), float("nan"), 2.0])})
    expected = azure.data_quality(ref, prod)
    result = compare(build_profile(ref), prod, DriftConfig(signals=("data_quality",)))
    got = result.signal("data_quality").feature("x").metric("null_value_rate").value
    assert got == expected[("x", "null_value_rate")] == 0.2
