"""The streamed comparison (core/drift/stream.py): exact within its budget, a bounded,
deterministic sample beyond it with exact data quality counts and drift within its stated
error. (The tests of the strided sample it replaced were moved here and adapted.)"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from golden_cases import _frame

from core.drift import DriftConfig, build_profile, compare
from core.drift.stream import StreamedComparison, dkw_bound


def _batches(table: pa.Table, size: int):
    yield from table.to_batches(max_chunksize=size)


def _streamed(profile, table, size, config, **kw) -> StreamedComparison:
    stream = StreamedComparison(profile, config, **kw)
    for batch in _batches(table, size):
        stream.add(batch)
    return stream


@pytest.fixture(scope="module")
def frames():
    ref = _frame(np.random.default_rng(1), 30_000, 0.0, 0.01)
    prod = _frame(np.random.default_rng(2), 40_000, 0.2, 0.01)
    return build_profile(ref), prod


@pytest.mark.parametrize("parity", ["azure", "corrected"])
@pytest.mark.parametrize("size", [997, 40_000])
def test_within_the_budget_streamed_equals_in_memory(frames, parity, size):
    profile, prod = frames
    config = DriftConfig(parity=parity)
    stream = _streamed(profile, prod, size, config, budget_bytes=10**9)
    assert not stream.sampled
    assert stream.result().to_json() == compare(profile, prod, config).to_json()


def test_over_the_budget_drift_is_sampled_and_quality_counts_stay_exact(frames):
    profile, prod = frames
    config = DriftConfig()
    stream = _streamed(profile, prod, 1000, config, budget_bytes=400_000)
    assert stream.sampled
    assert stream.held_bytes <= 400_000
    result, exact = stream.result(), compare(profile, prod, config)
    assert result.sampling is not None and result.sampling.method == "bottom_k"
    assert result.sampling.rows_total == 40_000
    assert result.sampling.rows_used == result.rows_production < 40_000
    numerical = sum(f.feature_type == "numerical" for f in result.signal("data_drift").features)
    assert result.sampling.ks_error_bound == pytest.approx(
        dkw_bound(result.rows_production, 0.99, numerical))
    ours, theirs = result.signal("data_quality"), exact.signal("data_quality")
    assert json.dumps(ours.to_dict(), sort_keys=True) == json.dumps(theirs.to_dict(),
                                                                      sort_keys=True)
    assert any("production sampled" in n for n in result.notes)


def test_sampled_ks_and_wasserstein_stay_within_their_stated_error(frames):
    profile, prod = frames
    exact = compare(profile, prod, DriftConfig())
    for seed in range(5):
        result = _streamed(profile, prod, 1500, DriftConfig(sample_seed=seed),
                           budget_bytes=300_000).result()
        bound = result.sampling.ks_error_bound
        assert 0 < bound < 0.05
        for f in result.signal("data_drift").features:
            if f.feature_type != "numerical":
                continue
            full = exact.signal("data_drift").feature(f.name)
            ks, ks_full = (x.metric("two_sample_kolmogorov_smirnov_test") for x in (f, full))
            assert abs(ks.effect_size - ks_full.effect_size) <= bound
            values = prod.column(f.name).drop_null().to_numpy()
            std = max(profile.std(f.name, ()), 0.001)
            w_bound = bound * (values.max() - values.min()) / std
            w, w_full = (x.metric("normalized_wasserstein_distance") for x in (f, full))
            assert abs(w.value - w_full.value) <= w_bound
            assert any("within" in n for n in f.notes)


def test_same_file_same_sample(frames):
    profile, prod = frames
    a = _streamed(profile, prod, 1000, DriftConfig(), budget_bytes=300_000).result()
    b = _streamed(profile, prod, 1000, DriftConfig(), budget_bytes=300_000).result()
    assert a.to_json() == b.to_json()


def test_the_rows_kept_depend_on_their_place_in_the_file_not_on_the_batches():
    # Keys come from one seeded stream over the rows: however the file is cut, the sample is
    # the rows with the smallest keys (its size follows the bytes held when sampling began).
    table = pa.table({"i": pa.array(np.arange(20_000, dtype=np.float64))})
    profile = build_profile(table)
    kept = []
    for size in (1000, 77, 4096):
        stream = _streamed(profile, table, size, DriftConfig(), budget_bytes=30_000)
        kept.append(set(np.concatenate([b.column(0).to_numpy() for b in stream._held])))
    kept.sort(key=len)
    assert kept[0] <= kept[1] <= kept[2]


def test_over_the_row_limit_the_sample_keeps_at_most_the_limit(frames):
    profile, prod = frames
    stream = _streamed(profile, prod, 333, DriftConfig(), budget_bytes=10**9, row_limit=1000)
    assert stream.sampled
    assert stream.result().sampling.rows_used <= 1000


def test_a_sample_is_uniform_over_the_file():
    # Keys drawn per row: the kept rows spread over the whole file, not its beginning.
    ref = pa.table({"i": pa.array(np.arange(10_000, dtype=np.float64))})
    profile = build_profile(ref)
    stream = _streamed(profile, ref, 500, DriftConfig(), budget_bytes=20_000)
    kept = np.concatenate([b.column(0).to_numpy() for b in stream._held])
    assert stream.sampled and 0 < kept.size <= 20_000 / 8
    assert np.all(np.diff(kept) > 0)  # in file order
    assert kept.min() < 1000 and kept.max() > 9000
