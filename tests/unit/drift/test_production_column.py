"""The production column's counts read off its sorted values equal the row-order passes, and
a column is sorted in place only when its values are its own and no row is missing."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from core.drift import DriftConfig, build_profile, compare
from core.drift.batch import ProductionColumn


def _column(values, chunks: int = 1) -> ProductionColumn:
    parts = np.array_split(np.asarray(values, dtype=np.float64), chunks)
    table = pa.table({"x": pa.chunked_array([pa.array(p, from_pandas=True) for p in parts])})
    return ProductionColumn.read(table, "x", numeric_reference=True)


def _counts(col: ProductionColumn, lo: float, hi: float) -> tuple[int, int, int, bool]:
    return col.count_outside(lo, hi), col.nan_count(), col.inf_count(), col.any_missing


@pytest.mark.parametrize("chunks", [1, 3])
@pytest.mark.parametrize("special", [[], [np.nan], [np.inf, -np.inf, np.nan, np.inf]])
def test_counts_from_the_sorted_values_equal_the_passes(chunks, special):
    rng = np.random.default_rng(len(special) + chunks)
    values = np.concatenate([rng.normal(0, 1, 5_000), special, [-3.0, 3.0, 3.0]])
    rng.shuffle(values)
    unsorted, sorted_ = _column(values, chunks), _column(values, chunks)
    sorted_.sorted_values(None)
    for lo, hi in [(-1.0, 1.0), (-3.0, 3.0), (0.5, 0.5), (-np.inf, np.inf), (5.0, 9.0)]:
        assert _counts(sorted_, lo, hi) == _counts(unsorted, lo, hi)
    finite = values[np.isfinite(values)]
    assert unsorted.count_outside(-1.0, 1.0) == int(((finite < -1) | (finite > 1)).sum() +
                                                     np.isinf(values).sum())
    assert unsorted.nan_count() == int(np.isnan(values).sum())
    assert unsorted.any_missing == bool(special)


def test_a_sum_that_overflows_is_not_taken_for_a_missing_value():
    col = _column([1e308, 1e308, 5.0])
    assert col.any_missing is False
    assert not col.missing.any()


def test_a_column_is_sorted_in_place_only_when_its_values_are_its_own():
    own = _column(np.arange(10.0)[::-1], chunks=2)  # joined by numpy: its own copy
    view = _column(np.arange(10.0)[::-1], chunks=1)  # a read-only view of Arrow's buffer
    with_nan = _column([3.0, np.nan, 1.0], chunks=2)
    assert own.sorted_values(None) is own.values
    with pytest.raises(RuntimeError, match="sorted in place"):
        _ = own.floats
    assert view.sorted_values(None) is not view.values
    assert list(view.floats) == list(np.arange(10.0)[::-1])  # row order kept
    with_nan.sorted_values(None)
    assert np.isnan(with_nan.floats[1])  # rows still in order: the drop needs them


def test_the_comparison_is_the_same_whether_columns_are_sorted_in_place_or_copied():
    rng = np.random.default_rng(5)
    ref = pa.table({"a": rng.normal(0, 1, 20_000), "b": rng.gamma(2, 2, 20_000)})
    prod_values = {"a": rng.normal(0.1, 1, 9_000), "b": rng.gamma(2.2, 2, 9_000)}
    one_chunk = pa.table(prod_values)
    chunked = pa.table({k: pa.chunked_array(np.array_split(v, 4))
                        for k, v in prod_values.items()})
    profile = build_profile(ref)
    config = DriftConfig()
    assert compare(profile, chunked, config).to_dict() == compare(
        profile, one_chunk, config).to_dict()
