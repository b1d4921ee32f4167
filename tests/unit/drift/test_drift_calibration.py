"""Calibrated thresholds: hand-built chunk values give known thresholds, the scaling to the batch
size, data quality against the reference's own rate, small references and batches, each policy,
and the profile format that stores the calibration."""

from __future__ import annotations

import math
import struct

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as sps

from core.drift import build_profile
from core.drift.calibration import MIN_CHUNKS, build_calibrated_profile, calibrate
from core.drift.policy import ThresholdPolicy, compare_with_policy, expected_batch_rows
from core.drift.profile import MAGIC, Calibration, ProfileFormatError, ReferenceProfile


def _table(n: int, rng: np.random.Generator, shift: float = 0.0, nulls: float = 0.0):
    x = rng.normal(shift, 1.0, n)
    mask = rng.random(n) < nulls if nulls else None  # nulls (Azure's null rate counts no NaN)
    return pa.table({"x": pa.array(x, mask=mask),
                     "c": rng.choice(list("abcd"), n, p=[0.4, 0.3, 0.2, 0.1])})


def _hand_built(profile: ReferenceProfile, values: list[float], *, chunk_rows: int,
                rest_rows: int, batch_rows: int | None = None) -> ReferenceProfile:
    profile.calibration = Calibration(
        batch_rows=batch_rows or chunk_rows, chunk_rows=chunk_rows, rest_rows=rest_rows,
        reference_rows=profile.n_rows, bins=11, method="disjoint", parity="azure", seed=0,
        keys=[("x", "normalized_wasserstein_distance"), ("c", "jensen_shannon_distance")],
        values=np.array([values, [v / 2 for v in values]], dtype=np.float64))
    return profile


def _threshold(result, signal, feature, metric):
    return result.signal(signal).feature(feature).metric(metric)


def _gamma_tail(mean: float, std: float, k: float) -> float:
    """The gamma distribution with this mean and std, its value past which norm.sf(k) lies."""
    shape, scale = (mean / std) ** 2, std * std / mean
    return float(sps.gamma.isf(sps.norm.sf(k), shape, scale=scale))


def test_known_chunk_variability_gives_the_known_threshold():
    rng = np.random.default_rng(0)
    profile = build_profile(_table(1000, rng))
    values = [0.02, 0.04, 0.06, 0.08, 0.10]  # mean 0.06, sample std 0.0316
    # chunk 100 rows against the whole reference: a 100-row batch scales by exactly 1
    _hand_built(profile, values, chunk_rows=100, rest_rows=1000)
    mean, std = 0.06, float(np.std(values, ddof=1))
    for k in (2.0, 4.0):
        result = compare_with_policy(profile, _table(100, rng), ThresholdPolicy(k=k))
        nwd = _threshold(result, "data_drift", "x", "normalized_wasserstein_distance")
        expected = max(_gamma_tail(mean, std, k), 0.10)
        assert nwd.threshold == pytest.approx(expected)
        # right-skewed: further out than a normal's mean + k std
        assert expected > mean + k * std
        assert nwd.warning_threshold == pytest.approx(
            min(max(_gamma_tail(mean, std, k - 1), 0.0), expected))
        assert nwd.threshold_source == "calibrated"
        jsd = _threshold(result, "data_drift", "c", "jensen_shannon_distance")
        assert jsd.threshold == pytest.approx(max(_gamma_tail(mean / 2, std / 2, k), 0.05))
    # the quantile variant, never below the largest chunk value
    result = compare_with_policy(profile, _table(100, rng), ThresholdPolicy(quantile=0.5))
    assert _threshold(result, "data_drift", "x",
                      "normalized_wasserstein_distance").threshold == pytest.approx(0.10)
    # a degenerate spread (every chunk equal) gives the chunk value itself
    _hand_built(profile, [0.05] * 5, chunk_rows=100, rest_rows=1000)
    result = compare_with_policy(profile, _table(100, rng), ThresholdPolicy())
    assert _threshold(result, "data_drift", "x",
                      "normalized_wasserstein_distance").threshold == pytest.approx(0.05)


def test_threshold_scales_with_the_batch_size():
    rng = np.random.default_rng(1)
    profile = build_profile(_table(1000, rng))
    _hand_built(profile, [0.02, 0.04, 0.06, 0.08, 0.10], chunk_rows=100, rest_rows=1000)
    small = compare_with_policy(profile, _table(100, rng), ThresholdPolicy())
    large = compare_with_policy(profile, _table(400, rng), ThresholdPolicy())
    t_small = _threshold(small, "data_drift", "x", "normalized_wasserstein_distance").threshold
    t_large = _threshold(large, "data_drift", "x", "normalized_wasserstein_distance").threshold
    expected = math.sqrt((1 / 400 + 1 / 1000) / (1 / 100 + 1 / 1000))
    assert t_large / t_small == pytest.approx(expected)
    assert large.policy["production_rows"] == 400 and large.policy["batch_rows"] == 100


def test_calibration_on_clean_data_holds_false_alarms_and_catches_a_shift():
    rng = np.random.default_rng(2)
    profile = build_calibrated_profile(_table(20_000, rng), 1000)
    cal = profile.calibration
    assert cal is not None and cal.chunks >= MIN_CHUNKS and cal.chunk_rows == 1000
    assert cal.rest_rows == 19_000  # each chunk against the rest of the reference
    policy = ThresholdPolicy()
    alarms = sum(compare_with_policy(profile, _table(1000, rng), policy).breached
                 for _ in range(40))
    azure = sum(compare_with_policy(profile, _table(1000, rng), ThresholdPolicy("azure"))
                .breached for _ in range(40))
    assert alarms <= 1 < azure  # Azure's 0.0 out-of-bounds threshold fires on clean batches
    shifted = compare_with_policy(profile, _table(1000, rng, shift=0.5), policy)
    assert shifted.breached and shifted.status == "breach"
    [(signal, mv)] = shifted.breaches()
    assert (signal, mv.feature, mv.metric) == ("data_drift", "x",
                                               "normalized_wasserstein_distance")
    assert mv.past_by > 0 and mv.severity > 1


def test_data_quality_is_judged_against_the_reference_rate():
    rng = np.random.default_rng(3)
    n_ref, n = 10_000, 1000
    profile = build_calibrated_profile(_table(n_ref, rng, nulls=0.10), n)
    policy = ThresholdPolicy()
    null_t = _threshold(compare_with_policy(profile, _table(n, rng, nulls=0.1), policy),
                        "data_quality", "x", "null_value_rate")
    seen = profile.null_counts["x"]
    count = sps.betabinom.isf(sps.norm.sf(4.0), n, seen, n_ref - seen + 1)
    assert null_t.threshold == pytest.approx((count + 0.5) / n)
    assert 0.1 < null_t.threshold < 0.2
    assert null_t.status in ("ok", "warning")
    doubled = compare_with_policy(profile, _table(n, rng, nulls=0.2), policy)
    assert _threshold(doubled, "data_quality", "x", "null_value_rate").breached
    # a column without nulls in the reference: its own rate is 0, the first null breaches
    clean_ref = build_calibrated_profile(_table(n_ref, rng), n)
    one_null = _table(n, rng)
    x = one_null.column("x").to_numpy().copy()
    one_null = one_null.set_column(0, "x", pa.array(x, mask=np.arange(n) == 0))
    assert _threshold(compare_with_policy(clean_ref, one_null, policy),
                      "data_quality", "x", "null_value_rate").breached
    # out of bounds: a value or two past the reference range is expected, not a breach
    batch = _table(n, rng)
    x = batch.column("x").to_numpy().copy()
    x[:2] = [100.0, -100.0]
    batch = batch.set_column(0, "x", pa.array(x))
    oob = _threshold(compare_with_policy(clean_ref, batch, policy),
                     "data_quality", "x", "out_of_bounds_rate")
    assert oob.value == 0.002 and not oob.breached
    # the mass outside the range of n_ref continuous values is Beta(2, n_ref - 1)
    assert oob.threshold == pytest.approx(
        (sps.betabinom.isf(sps.norm.sf(4.0), n, 2, n_ref - 1) + 0.5) / n)
    assert _threshold(compare_with_policy(clean_ref, batch, ThresholdPolicy("azure")),
                      "data_quality", "x", "out_of_bounds_rate").breached
    x[:50] = 100.0
    many = batch.set_column(0, "x", pa.array(x))
    assert _threshold(compare_with_policy(clean_ref, many, policy),
                      "data_quality", "x", "out_of_bounds_rate").breached


def test_each_policy_says_where_its_thresholds_come_from():
    rng = np.random.default_rng(4)
    profile = build_calibrated_profile(_table(5000, rng), 500)
    batch = _table(500, rng)
    azure = compare_with_policy(profile, batch, ThresholdPolicy("azure"))
    nwd = _threshold(azure, "data_drift", "x", "normalized_wasserstein_distance")
    assert (nwd.threshold, nwd.threshold_source) == (0.1, "azure")
    assert azure.policy == {"name": "azure"}
    fixed = ThresholdPolicy("fixed", thresholds={
        "data_drift": {"numerical": {"normalized_wasserstein_distance": 0.3}}})
    res = compare_with_policy(profile, batch, fixed)
    nwd = _threshold(res, "data_drift", "x", "normalized_wasserstein_distance")
    assert (nwd.threshold, nwd.threshold_source) == (0.3, "fixed")
    jsd = _threshold(res, "data_drift", "c", "jensen_shannon_distance")
    assert (jsd.threshold, jsd.threshold_source) == (0.1, "azure")
    calibrated = compare_with_policy(profile, batch, ThresholdPolicy())
    sources = {m.threshold_source for _, m in calibrated.metrics() if m.threshold is not None}
    assert sources == {"calibrated"}
    assert calibrated.policy["name"] == "calibrated" and calibrated.policy["k"] == 4.0
    assert calibrated.to_dict()["policy"]["chunks"] == profile.calibration.chunks
    with pytest.raises(ValueError, match="unknown threshold policy"):
        ThresholdPolicy("nannyml")  # type: ignore[arg-type]


def test_small_reference_uses_subsets_widens_and_says_so():
    rng = np.random.default_rng(5)
    profile = build_calibrated_profile(_table(150, rng), 200)
    cal = profile.calibration
    assert cal is not None and cal.method == "subsets" and cal.chunk_rows == 75
    result = compare_with_policy(profile, _table(200, rng), ThresholdPolicy())
    nwd = _threshold(result, "data_drift", "x", "normalized_wasserstein_distance")
    assert nwd.threshold_source == "calibrated_widened"
    assert any("small reference" in note for note in result.policy["notes"])


def test_tiny_reference_falls_back_and_tiny_batch_is_noted():
    rng = np.random.default_rng(6)
    table = _table(10, rng)
    profile = build_calibrated_profile(table, 200)
    assert profile.calibration is None and calibrate(table, profile, 200) is None
    result = compare_with_policy(profile, _table(10, rng), ThresholdPolicy())
    nwd = _threshold(result, "data_drift", "x", "normalized_wasserstein_distance")
    assert (nwd.threshold, nwd.threshold_source) == (0.1, "fallback")
    notes = " ".join(result.policy["notes"])
    assert "no calibration" in notes and "small batch (10 rows)" in notes


def test_expected_batch_rows():
    assert expected_batch_rows([], None) == 1000
    assert expected_batch_rows([100, 300, 200], None) == 200
    assert expected_batch_rows([100, 300, 200], 5000) == 5000


def test_profile_keeps_the_calibration_and_reads_format_1():
    rng = np.random.default_rng(7)
    profile = build_calibrated_profile(_table(3000, rng), 100)
    again = ReferenceProfile.from_bytes(profile.to_bytes())
    assert again.format_version == 2
    assert again.calibration is not None
    assert again.calibration.keys == profile.calibration.keys
    assert again.calibration.values.dtype == np.float64
    assert np.array_equal(again.calibration.values, profile.calibration.values,
                          equal_nan=True)  # full precision
    assert again.calibration.header() == profile.calibration.header()
    # a format 1 profile (no calibration) still reads
    plain = build_profile(_table(300, rng)).to_bytes()
    old = plain[:len(MAGIC)] + struct.pack("<I", 1) + plain[len(MAGIC) + 4:]
    read = ReferenceProfile.from_bytes(old)
    assert read.format_version == 1 and read.calibration is None
    newer = plain[:len(MAGIC)] + struct.pack("<I", 3) + plain[len(MAGIC) + 4:]
    with pytest.raises(ProfileFormatError, match=r"formats 1\.\.2"):
        ReferenceProfile.from_bytes(newer)


def test_a_false_alarm_rate_sets_k_from_the_number_of_judged_metrics():
    rng = np.random.default_rng(3)
    narrow = _hand_built(build_profile(_table(1000, rng)), [0.02, 0.04, 0.06, 0.08, 0.10],
                         chunk_rows=100, rest_rows=1000)
    batch = _table(100, rng)
    policy = ThresholdPolicy(false_alarm_rate=0.01)
    result = compare_with_policy(narrow, batch, policy)
    # x and c: one drift distance each (Azure's default metrics) and three quality rates each
    judged = 2 + 2 * 3
    k = float(sps.norm.isf(0.01 / judged))
    assert result.policy["judged_metrics"] == judged
    assert result.policy["k"] == pytest.approx(k) and result.policy["false_alarm_rate"] == 0.01
    same = compare_with_policy(narrow, batch, ThresholdPolicy(k=k))
    for signal, mv in result.metrics():
        assert mv.threshold == same.signal(signal).feature(mv.feature).metric(mv.metric).threshold
    # a wider model is judged on more metrics: a larger k for the same rate
    wide_table = _table(1000, rng).append_column("y", pa.array(rng.normal(0, 1, 1000)))
    wide = compare_with_policy(build_calibrated_profile(wide_table, 100),
                               _table(100, rng).append_column(
                                   "y", pa.array(rng.normal(0, 1, 100))), policy)
    assert wide.policy["judged_metrics"] == judged + 4
    assert wide.policy["k"] > result.policy["k"]
    assert any("false alarm rate of 0.01" in n for n in wide.policy["notes"])
    with pytest.raises(ValueError, match="false_alarm_rate"):
        ThresholdPolicy(false_alarm_rate=1.5)
