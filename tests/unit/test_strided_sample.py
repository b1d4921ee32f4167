from __future__ import annotations

import pyarrow as pa

from core.services.drift_checks import StridedSample


def _batches(total: int, size: int):
    for start in range(0, total, size):
        n = min(size, total - start)
        yield pa.record_batch({"i": pa.array(range(start, start + n)), "x": pa.array([0.5] * n)})


def test_under_the_limit_every_row_is_kept():
    sample = StridedSample(limit=1000, columns=["i"])
    for b in _batches(999, 100):
        sample.add(b)
    assert not sample.sampled
    assert sample.table().column("i").to_pylist() == list(range(999))
    assert sample.table().column_names == ["i"]


def test_over_the_limit_keeps_every_stride_th_row_within_the_limit():
    sample = StridedSample(limit=1000, columns=None)
    for b in _batches(10_000, 333):
        sample.add(b)
    kept = sample.table().column("i").to_pylist()
    assert sample.sampled and sample.stride == 16
    assert kept == list(range(0, 10_000, 16))
    assert len(kept) <= 1000


def test_same_stream_same_sample_whatever_the_batch_sizes():
    a, b = StridedSample(limit=500, columns=None), StridedSample(limit=500, columns=None)
    for batch in _batches(7_777, 1000):
        a.add(batch)
    for batch in _batches(7_777, 77):
        b.add(batch)
    assert a.table().column("i").to_pylist() == b.table().column("i").to_pylist()
