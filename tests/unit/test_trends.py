"""Trend points (core/domain/trends.py): the binary record round-trips, a key recorded twice
keeps its last record, the batch's status is its worst metric's, series follow batch order
(batches with other metrics included)."""

from __future__ import annotations

import json
import math
import struct

import pytest

from core.domain.trends import (
    MetricColumns,
    MetricPoint,
    TrendPoint,
    decode_records,
    series,
    worst,
)


def point(key: str, at: float, *metrics: MetricPoint, kind: str = "early_check") -> TrendPoint:
    return TrendPoint(model="m", key=key, kind=kind, at=at, metrics=metrics, data="m-inf:1",
                      ingestion=key, rows=10)


JSD = MetricPoint("data_drift", "amount", "jensen_shannon_distance", 0.2, 0.1, "breach")
NULLS = MetricPoint("data_quality", "amount", "null_value_rate", 0.0, None, "info")


def test_a_point_is_one_record_of_columns_and_reads_back_the_same():
    p = TrendPoint(model="m", key="early_check:i1", kind="early_check", at=12.5,
                   metrics=(JSD, NULLS), data="m-inf:3", ingestion="i1", rows=40,
                   notes=("sampled",))
    record = p.to_record()
    magic, header_len, _ = struct.unpack_from("<4sII", record)
    assert magic == b"TRP1"
    assert json.loads(record[12:12 + header_len])["k"] == "early_check:i1"
    assert p.columns.names == ("data_drift", "amount", "jensen_shannon_distance",
                               "data_quality", "null_value_rate")
    assert p.columns.codes == b"bi"
    [back] = decode_records("m", [record])
    assert back == p and back.metrics == (JSD, NULLS)
    assert back.breached_features() == ["amount"]


def test_infinity_is_kept_and_nan_or_none_read_as_none():
    inf = MetricPoint("data_drift", "x", "population_stability_index", math.inf, 0.2, "breach")
    nan = MetricPoint("data_drift", "x", "jensen_shannon_distance", math.nan, 0.1, "undefined")
    [back] = decode_records("m", [point("k", 1.0, inf, nan).to_record()])
    assert [m.value for m in back.metrics] == [math.inf, None]
    assert [m.status for m in back.metrics] == ["breach", "undefined"]
    assert MetricColumns.of([]).to_bytes() == MetricColumns.of(()).to_bytes()


def test_the_status_of_a_batch_is_its_worst_metric():
    warn = MetricPoint("data_drift", "age", "jensen_shannon_distance", 0.08, 0.1, "warning")
    ok = MetricPoint("data_drift", "city", "jensen_shannon_distance", 0.01, 0.1, "ok")
    assert point("a", 1, ok, NULLS).status == "ok"
    assert point("b", 1, ok, warn).status == "warning"
    assert point("c", 1, warn, JSD, ok).status == "breach"
    assert point("d", 1).status == "ok"
    assert worst(["info", "undefined"]) == "ok"


def test_unknown_status_or_kind_is_refused():
    with pytest.raises(ValueError):
        MetricPoint("data_drift", "x", "jensen_shannon_distance", 0.1, 0.1, "red")
    with pytest.raises(ValueError):
        point("k", 1.0, kind="weekly")


def test_decoding_keeps_one_point_per_key_sorted_by_time_across_blobs():
    first = point("b", 2.0, JSD).to_record() + point("a", 1.0, JSD).to_record()
    again = MetricPoint("data_drift", "amount", "jensen_shannon_distance", 0.05, 0.1, "ok")
    future = json.dumps({"f": 99, "k": "future"}).encode()
    second = point("b", 2.0, again).to_record() + struct.pack("<4sII", b"TRP1", len(future),
                                                              0) + future
    points = decode_records("m", [first, second])
    assert [p.key for p in points] == ["a", "b"]
    assert points[1].metrics == (again,) and points[1].status == "ok"
    assert decode_records("m", [b"", b"\x00" * 5]) == []


def test_series_follow_the_batches_per_signal_feature_and_metric():
    low = MetricPoint("data_drift", "amount", "jensen_shannon_distance", 0.05, 0.1, "ok")
    # Batch b has other metrics than a and d (a feature left out): its own layout.
    points = [point("a", 1.0, low, NULLS), point("b", 2.0, JSD),
              point("d", 2.5, low, NULLS),
              point("c", 3.0, MetricPoint("model_performance", "champion", "f1", 0.4, 0.5,
                                          "breach"), kind="performance")]
    drift = series(points, kinds=("early_check",))
    assert [(s.signal, s.feature, s.metric) for s in drift] == [
        ("data_drift", "amount", "jensen_shannon_distance"),
        ("data_quality", "amount", "null_value_rate")]
    jsd, nulls = drift
    assert jsd.values == (0.05, 0.2, 0.05) and jsd.thresholds == (0.1, 0.1, 0.1)
    assert jsd.statuses == ("ok", "breach", "ok") and jsd.latest_status == "ok"
    assert jsd.codes == "obo"
    assert jsd.keys == ("a", "b", "d") and jsd.at == (1.0, 2.0, 2.5)
    assert nulls.keys == ("a", "d") and nulls.thresholds == (None, None)
    assert [s.metric for s in series(points, kinds=("performance",))] == ["f1"]


def test_a_chunk_holds_the_same_points_in_columns_as_the_records_it_was_made_of():
    from core.domain.trends import CHUNK_MAGIC, encode_chunk

    other = MetricPoint("data_drift", "city", "jensen_shannon_distance", 0.01, 0.1, "ok")
    inf = MetricPoint("data_drift", "amount", "jensen_shannon_distance", math.inf, 0.1,
                      "breach")
    written = [point("a", 1.0, JSD, NULLS), point("b", 2.0, other),
               point("c", 3.0, JSD, NULLS), point("a", 4.0, inf, NULLS)]  # a again, later
    records = b"".join(p.to_record() for p in written)
    chunk = encode_chunk("m", records)
    assert chunk[:4] == CHUNK_MAGIC
    assert len(chunk) < len(records)  # names and index once per layout
    assert decode_records("m", [chunk]) == decode_records("m", [records])
    assert [p.key for p in decode_records("m", [chunk])] == ["b", "c", "a"]
    assert decode_records("m", [chunk])[-1].metrics[0].value == math.inf
    # A chunk, then the live segment after it: the segment's record of a key wins.
    later = point("b", 5.0, JSD).to_record()
    assert decode_records("m", [chunk, later])[-1].key == "b"
