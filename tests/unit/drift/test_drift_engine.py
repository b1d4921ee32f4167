"""Golden values on tiny inputs, the better-than-Azure behaviours, profiles, configs, results."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import ks_2samp

from core.drift import (
    DriftConfig,
    DriftResult,
    ProfileFormatError,
    ReferenceProfile,
    build_profile,
    compare,
    thresholds_from_azure,
)
from core.drift import metrics as registry
from core.drift import stats as st
from core.drift.profile import MAGIC

ALL = DriftConfig(signals=("data_drift",))


def drift(ref: dict | pa.Table, prod: dict | pa.Table, config: DriftConfig = ALL):
    ref = ref if isinstance(ref, pa.Table) else pa.table(ref)
    prod = prod if isinstance(prod, pa.Table) else pa.table(prod)
    return compare(build_profile(ref), prod, config)


def value(result, feature, metric, signal="data_drift"):
    return result.signal(signal).feature(feature).metric(metric).value


# ------------------------------------------------------------------------------- golden values


def test_golden_numerical():
    r = drift({"x": [0.0, 1.0, 2.0, 3.0]}, {"x": [1.0, 2.0, 3.0, 4.0]})
    f = r.signal("data_drift").feature("x")
    # k = ceil(log2(4)+1) = 3, edges 0, 4/3, 8/3, 4: ref -> [2, 1, 1], prod -> [1, 1, 2]
    assert f.distribution.reference == (2, 1, 1)
    assert f.distribution.production == (1, 1, 2)
    jsd = math.sqrt(0.5 * math.log2(0.5 / 0.375) + 0.25 * math.log2(0.25 / 0.375))
    assert f.metric("jensen_shannon_distance").value == pytest.approx(jsd, rel=1e-12)
    assert f.metric("population_stability_index").value == pytest.approx(
        2 * math.log(1.5) / 7, rel=1e-12)
    assert f.metric("normalized_wasserstein_distance").value == pytest.approx(
        math.sqrt(0.6), rel=1e-12)
    ks = f.metric("two_sample_kolmogorov_smirnov_test")
    assert ks.effect_size == 0.25
    assert ks.value == ks_2samp([0, 1, 2, 3], [1, 2, 3, 4]).pvalue


def test_golden_categorical():
    r = drift({"c": ["a", "a", "b", "c"]}, {"c": ["a", "b", "b", "d"]})
    f = r.signal("data_drift").feature("c")
    assert f.metric("population_stability_index").value == pytest.approx(math.log(3) / 4)
    chi = f.metric("pearsons_chi_squared_test")
    assert chi.value == 0.0  # 'd' is unseen in the reference: expected count 0
    assert chi.effect_size == 0.5  # total variation distance
    assert any("unseen categories: 'd'" in n for n in f.notes)
    p, q = np.array([0.5, 0.25, 0.25, 0]), np.array([0.25, 0.5, 0, 0.25])
    m = (p + q) / 2
    kl = lambda a: sum(x * math.log2(x / y) for x, y in zip(a, m, strict=True) if x)  # noqa: E731
    assert f.metric("jensen_shannon_distance").value == pytest.approx(
        math.sqrt((kl(p) + kl(q)) / 2), rel=1e-12)


def test_golden_quality_and_rounding():
    ref = pa.table({"x": [0.0, 4.0, 2.0], "s": ["a", "b", "a"]})
    prod = pa.table({"x": [1.0, None, 5.0, float("nan"), -1.0], "s": ["a", "z", None, "b", "a"]})
    r = compare(build_profile(ref), prod, DriftConfig(signals=("data_quality",)))
    q = r.signal("data_quality")
    # Azure counts nulls only (Spark's isNull is false for NaN); corrected counts NaN too.
    assert q.feature("x").metric("null_value_rate").value == 0.2
    corrected = compare(build_profile(ref), prod,
                        DriftConfig(signals=("data_quality",), parity="corrected"))
    cx = corrected.signal("data_quality").feature("x")
    assert cx.metric("null_value_rate").value == 0.4
    assert [d.code for d in cx.departures] == ["nan_counted_as_null"]
    assert q.feature("x").metric("out_of_bounds_rate").value == 0.4
    assert q.feature("x").metric("out_of_bounds_rate").count == 2
    assert q.feature("s").metric("null_value_rate").value == 0.2
    assert q.feature("s").metric("out_of_bounds_rate").value == 0.2
    assert q.breached  # Azure's quality thresholds are 0.0
    assert st.round5(1 / 200_000) == 0.00001  # half up, not Python's round-half-even
    assert st.round5(1 / 3) == 0.33333


def test_sturges_and_constant_binning():
    assert st.sturges_bins(1) == 1
    assert st.sturges_bins(4) == 3
    assert st.sturges_bins(1000) == 11
    b = st.azure_binning(0.0, 0.0, 5)
    assert b.edges.tolist() == [-0.005, 0.005]
    b = st.azure_binning(-200.0, -200.0, 5)
    assert b.edges.tolist() == [-201.0, -199.0]


# ------------------------------------------------------------------------------- better than Azure


def test_constant_columns_are_defined():
    r = drift({"x": [3.0] * 20, "c": ["k"] * 20}, {"x": [3.0] * 10, "c": ["k"] * 10})
    x = r.signal("data_drift").feature("x")
    assert x.metric("jensen_shannon_distance").value == 0.0
    assert x.metric("population_stability_index").value == 0.0
    assert x.metric("normalized_wasserstein_distance").value == 0.0
    assert x.metric("two_sample_kolmogorov_smirnov_test").value == 1.0
    assert any("constant column" in n for n in x.notes)
    c = r.signal("data_drift").feature("c")
    assert c.metric("pearsons_chi_squared_test").value == 1.0
    assert c.metric("jensen_shannon_distance").value == 0.0
    assert not r.breached


def test_constant_integer_column_azure_fails_on():
    ref = pa.table({"i": pa.array([7] * 50, pa.int64()), "x": np.linspace(0, 1, 50)})
    prod = pa.table({"i": pa.array([7] * 30, pa.int64()), "x": np.linspace(0, 1, 30)})
    r = drift(ref, prod)
    i = r.signal("data_drift").feature("i")
    assert i.feature_type == "categorical" and not i.breached and not i.skipped


def test_all_null_column_does_not_wipe_out_rows():
    ref = pa.table({"x": np.arange(100.0), "dead": pa.nulls(100, pa.float64())})
    prod = pa.table({"x": np.arange(100.0) + 5, "dead": pa.nulls(100, pa.float64())})
    r = compare(build_profile(ref), prod)
    sig = r.signal("data_drift")
    assert sig.rows_reference == 100 and sig.rows_production == 100
    assert sig.feature("dead").skipped
    assert "all values missing" in sig.feature("dead").notes[0]
    assert r.signal("data_quality").feature("dead").metric("null_value_rate").value == 1.0


def test_unseen_category_effect_size_beside_p_value():
    rng = np.random.default_rng(0)
    ref = {"c": rng.choice(["a", "b"], 5000).tolist()}
    prod = {"c": [*rng.choice(["a", "b"], 5000).tolist(), "new"]}
    cfg = DriftConfig.from_azure(
        data_drift={"categorical": {"pearsons_chi_squared_test": 0.05}}, signals=("data_drift",))
    f = drift(ref, prod, cfg).signal("data_drift").feature("c")
    chi = f.metric("pearsons_chi_squared_test")
    assert chi.value == 0.0 and chi.effect_size < 0.01
    assert any("significant but small" in n for n in chi.notes)


def test_ks_computed_beyond_azure_limit_and_flagged_small_effect():
    rng = np.random.default_rng(1)
    ref = {"x": rng.normal(0, 1, 200_000)}
    prod = {"x": rng.normal(0.02, 1, 200_000)}
    cfg = DriftConfig.from_azure(data_drift={"numerical": {
        "two_sample_kolmogorov_smirnov_test": 0.05, "normalized_wasserstein_distance": 0.1}},
        signals=("data_drift",))
    f = drift(ref, prod, cfg).signal("data_drift").feature("x")
    ks = f.metric("two_sample_kolmogorov_smirnov_test")
    expected = ks_2samp(ref["x"], prod["x"])
    assert ks.value == pytest.approx(expected.pvalue, rel=1e-9)
    assert ks.effect_size == expected.statistic
    assert ks.breached and any("Azure refuses KS" in n for n in ks.notes)
    assert any("significant but small" in n for n in ks.notes)
    # The distance says what the p-value hides: the drift is tiny.
    assert not f.metric("normalized_wasserstein_distance").breached


def test_tiny_samples():
    r = drift({"x": [1.0]}, {"x": [2.0]})
    f = r.signal("data_drift").feature("x")
    assert f.metric("normalized_wasserstein_distance").value == pytest.approx(1 / 0.001)
    assert any("tiny sample" in n for n in f.notes)
    assert r.signal("data_drift").feature("x").distribution.reference == (1,)


def test_infinities_are_missing_for_drift_and_out_of_bounds_for_quality():
    ref = pa.table({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    prod = pa.table({"x": [0.5, float("inf"), 2.5, -float("inf"), 4.5, 1.0]})
    r = compare(build_profile(ref), prod)
    f = r.signal("data_drift").feature("x")
    assert r.signal("data_drift").rows_production == 4
    assert any("infinite" in n for n in f.notes)
    assert all(m.value is not None and math.isfinite(m.value) for m in f.metrics)
    oob = r.signal("data_quality").feature("x").metric("out_of_bounds_rate")
    assert oob.count == 2


def test_high_cardinality_top_n_and_exact_metrics():
    rng = np.random.default_rng(2)
    ref = {"id": [f"u{i}" for i in rng.integers(0, 3000, 6000)]}
    prod = {"id": [f"u{i}" for i in rng.integers(0, 3500, 6000)]}
    f = drift(ref, prod).signal("data_drift").feature("id")
    d = f.distribution
    assert len(d.categories) == 20 and d.total_categories > 3000
    assert sum(d.reference) + d.other_reference == 6000
    assert any("high cardinality" in n for n in f.notes)


def test_mixed_types_excluded_from_drift_counted_as_type_errors():
    ref = pa.table({"x": [1.0, 2.0, 3.0], "n": pa.array([1, 2, 3], pa.int64()), "y": [1.0, 2, 3]})
    prod = pa.table({"x": ["1.5", "oops", None], "n": [1.0, 2.5, 3.0], "y": [1.0, 2.0, 2.5]})
    r = compare(build_profile(ref), prod)
    assert "type mismatch" in r.excluded["x"]
    assert "integer in one frame" in r.excluded["n"]
    assert [f.name for f in r.signal("data_drift").features] == ["y"]
    q = r.signal("data_quality")
    assert q.feature("x").metric("data_type_error_rate").count == 1
    assert q.feature("n").metric("data_type_error_rate").count == 1


def test_row_wise_null_drop_over_selected_columns():
    ref = pa.table({"x": [1.0, None, 3.0, 4.0, 5.0, 6.0], "y": [1.0, 2.0, None, 4.0, 5.0, 6.0]})
    prod = pa.table({"x": [1.0, 2.0, 3.0, None], "y": [2.0, 2.0, 3.0, 4.0]})
    r = compare(build_profile(ref), prod)
    sig = r.signal("data_drift")
    assert (sig.rows_reference, sig.rows_production) == (4, 3)
    # Only y selected: nothing dropped in the reference from x's nulls.
    only_y = compare(build_profile(ref), prod, DriftConfig(features=("y",)))
    assert only_y.signal("data_drift").rows_reference == 5


def test_prediction_drift_signal_on_output_columns():
    rng = np.random.default_rng(4)
    ref = pa.table({"x": rng.normal(0, 1, 500), "score": rng.uniform(0, 1, 500)})
    prod = pa.table({"x": rng.normal(0, 1, 500), "score": rng.uniform(0.3, 1, 500)})
    r = compare(build_profile(ref), prod, DriftConfig(prediction_columns=("score",)))
    assert [f.name for f in r.signal("data_drift").features] == ["x"]
    pred = r.signal("prediction_drift")
    assert [f.name for f in pred.features] == ["score"] and pred.breached
    msg = r.breach_message("m1_prediction", signal="prediction_drift")
    assert "has failed due to one or more features violating metric thresholds" in msg
    assert '"metric_name": "NormalizedWassersteinDistance"' in msg


def test_compare_time_override_to_categorical_and_back():
    ref = pa.table({"i": pa.array(list(range(100)) * 2, pa.int64())})  # numerical (50%)
    prod = pa.table({"i": pa.array(list(range(50)) * 4, pa.int64())})
    p = build_profile(ref)
    assert p.feature_types["i"] == "numerical"
    cfg = DriftConfig(signals=("data_drift",), feature_overrides={"i": "categorical"})
    r = compare(p, prod, cfg)
    f = r.signal("data_drift").feature("i")
    assert f.feature_type == "categorical"
    assert f.metric("jensen_shannon_distance").value == pytest.approx(
        math.sqrt((0.5 * math.log2(2 / 3) + 0.5 + math.log2(4 / 3)) / 2), rel=1e-12)


def test_sampling_is_deterministic_and_reported():
    rng = np.random.default_rng(5)
    ref = build_profile(pa.table({"x": rng.normal(0, 1, 1000)}))
    prod = pa.table({"x": rng.normal(0, 1, 50_000)})
    cfg = DriftConfig(max_rows=5000, sample_seed=9)
    a, b = compare(ref, prod, cfg), compare(ref, prod, cfg)
    assert a.to_dict() == b.to_dict()
    assert a.sampling.rows_total == 50_000 and a.sampling.rows_used == 5000
    assert a.signal("data_drift").rows_production == 5000
    assert any("sampled" in n for n in a.notes)


def test_progress_callback():
    calls = []
    drift({"x": [1.0, 2.0], "c": ["a", "b"]}, {"x": [1.0, 3.0], "c": ["a", "a"]},
          DriftConfig(progress=lambda *a: calls.append(a)))
    assert calls[-1][1] == calls[-1][2] == 4  # 2 drift + 2 quality features


def test_no_rows_left_after_drop():
    r = drift({"x": [1.0, None], "y": [None, 2.0]}, {"x": [1.0], "y": [2.0]})
    sig = r.signal("data_drift")
    assert sig.rows_reference == 0
    assert all(f.skipped for f in sig.features)


# ------------------------------------------------------------------------------- profile format


def test_profile_round_trip_with_nulls_and_categories():
    rng = np.random.default_rng(6)
    ref = pa.table({
        "x": pa.array([None if i % 7 == 0 else float(v)
                       for i, v in enumerate(rng.normal(size=300))]),
        "c": pa.array([None if i % 11 == 0 else s
                       for i, s in enumerate(rng.choice(["a", "b"], 300))]),
        "t": pa.array(np.arange(300).astype("datetime64[s]")),
        "b": pa.array(rng.random(300) < 0.5),
    })
    p = build_profile(ref)
    q = ReferenceProfile.from_bytes(p.to_bytes())
    assert q.schema == {"x": "double", "c": "string", "t": "timestamp[s]", "b": "bool"}
    assert q.feature_types == {"x": "numerical", "c": "categorical", "t": "categorical",
                               "b": "categorical"}
    prod = ref.slice(0, 200)
    assert compare(p, prod).to_dict() == compare(q, prod).to_dict()


def test_profile_rejects_newer_or_foreign_bytes():
    data = bytearray(build_profile(pa.table({"x": [1.0, 2.0]})).to_bytes())
    data[len(MAGIC):len(MAGIC) + 4] = (99).to_bytes(4, "little")
    with pytest.raises(ProfileFormatError, match="format 99"):
        ReferenceProfile.from_bytes(bytes(data))
    with pytest.raises(ProfileFormatError, match="not a drift reference profile"):
        ReferenceProfile.from_bytes(b"PK\x03\x04 a zip file")
    good = build_profile(pa.table({"x": [1.0, 2.0]})).to_bytes()
    with pytest.raises(ProfileFormatError, match="corrupt or truncated"):
        ReferenceProfile.from_bytes(good[:-8])


def test_bad_override_is_rejected():
    with pytest.raises(ValueError, match="cannot be treated as numerical"):
        build_profile(pa.table({"s": ["a"]}), feature_overrides={"s": "numerical"})
    with pytest.raises(ValueError, match="not in the data"):
        build_profile(pa.table({"s": ["a"]}), feature_overrides={"zz": "categorical"})


# ------------------------------------------------------------------------------- config, registry


def test_registry_defaults_and_directions():
    assert registry.get("normalized_wasserstein_distance").default_threshold == 0.1
    assert registry.get("jensen_shannon_distance").azure_default
    assert registry.get("pearsons_chi_squared_test").breached(0.01, 0.05)
    assert not registry.get("pearsons_chi_squared_test").breached(0.2, 0.05)
    assert registry.get("population_stability_index").breached(0.3, 0.2)
    assert registry.get("chi_squared_test").name == "pearsons_chi_squared_test"
    assert all(registry.get(m).default_threshold == 0.0 for m in registry.QUALITY_METRICS)


def test_config_from_azure_thresholds():
    cfg = DriftConfig.from_azure(
        data_drift={"numerical": {"population_stability_index": 0.25},
                    "categorical": {"pearsons_chi_squared_test": 0.01}},
        metrics=("population_stability_index",),
    )
    assert cfg.thresholds_for("data_drift")["numerical"] == {"population_stability_index": 0.25}
    assert cfg.metrics_for("data_drift", "categorical") == (
        "population_stability_index", "pearsons_chi_squared_test")
    assert cfg.thresholds_for("prediction_drift") == registry.AZURE_DEFAULT_THRESHOLDS[
        "prediction_drift"]
    partial = DriftConfig.from_azure(data_drift={"numerical": {"jensen_shannon_distance": 0.2}})
    assert partial.thresholds_for("data_drift") == {
        "numerical": {"jensen_shannon_distance": 0.2},
        "categorical": {"jensen_shannon_distance": 0.1},  # not given: Azure's default
    }
    with pytest.raises(ValueError, match="does not apply to categorical"):
        thresholds_from_azure({"categorical": {"normalized_wasserstein_distance": 0.1}})
    with pytest.raises(ValueError, match="unknown metric"):
        thresholds_from_azure({"numerical": {"nope": 0.1}})


# ------------------------------------------------------------------------------- results


def test_result_json_round_trip_and_float32_view():
    rng = np.random.default_rng(8)
    ref = pa.table({"x": rng.normal(0, 1, 400), "c": rng.choice(["a", "b", "c"], 400)})
    prod = pa.table({"x": rng.normal(1, 1, 300), "c": rng.choice(["a", "b", "d"], 300)})
    r = compare(build_profile(ref), prod)
    text = r.to_json()
    back = DriftResult.from_json(text)
    assert back.to_dict() == r.to_dict()
    assert json.loads(text)["breached"] is True
    f32 = r.azure_float32()
    x = f32.signal("data_drift").feature("x").metric("normalized_wasserstein_distance")
    assert x.value == float(np.float32(
        r.signal("data_drift").feature("x").metric("normalized_wasserstein_distance").value))
    assert f32.value_precision == "float32"
    tiny = DriftResult.from_dict({**r.to_dict()}).azure_float32()
    assert tiny.breached == r.breached
