"""The trends store on Azurite (core/adapters/storage/trends.py): appends read back in order,
a key recorded twice kept once, segments rolled over, instances appending to one history,
the latest point without the history, and models listed."""

from __future__ import annotations

import uuid

import pytest

from core.domain.trends import MetricPoint, TrendPoint


@pytest.fixture
def service(azurite_connection):
    from core.adapters.storage import blob_service
    from core.settings import load_settings

    settings = load_settings({"AzureWebJobsStorage": azurite_connection})
    return blob_service(settings.storage_connection, None)


@pytest.fixture
def container():
    return f"trends-{uuid.uuid4().hex[:10]}"


def point(i: int, *, key: str | None = None, value: float = 0.05) -> TrendPoint:
    return TrendPoint(
        model="churn", key=key or f"early_check:ing-{i}", kind="early_check", at=1000.0 + i,
        metrics=(MetricPoint("data_drift", "amount", "jensen_shannon_distance", value, 0.1,
                             "breach" if value > 0.1 else "ok"),
                 MetricPoint("data_quality", "amount", "null_value_rate", 0.0, None, "info")),
        data=f"churn-inference:{i}", ingestion=f"ing-{i}", rows=100)


def test_points_read_back_oldest_first_one_per_key(service, container):
    from core.adapters.storage import BlobTrendStore

    store = BlobTrendStore(service, container)
    assert store.read("churn") == [] and store.models() == [] and store.latest("churn") is None
    store.append("churn", [point(2), point(1)])
    store.append("churn", [point(3), point(1, value=0.3)])  # ing-1 recorded again
    got = store.read("churn")
    assert [p.key for p in got] == ["early_check:ing-1", "early_check:ing-2",
                                    "early_check:ing-3"]
    assert got[0].metrics[0].value == 0.3 and got[0].status == "breach"
    assert got[1] == point(2)
    assert store.latest("churn") == point(3)
    store.append("fraud", [point(1)])
    assert store.models() == ["churn", "fraud"]


def names(service, container) -> list[str]:
    return sorted(b.name.removeprefix("trends/churn/") for b in
                  service.get_container_client(container).list_blobs(
                      name_starts_with="trends/churn/"))


def test_full_segments_are_compacted_into_chunks_and_read_in_order(service, container):
    from core.adapters.storage import BlobTrendStore

    first = BlobTrendStore(service, container, segment_appends=3)
    for i in range(7):
        first.append("churn", [point(i)])
    assert names(service, container) == ["chunk-000000.bin", "chunk-000001.bin",
                                         "latest.bin", "seg-000002.bin"]
    second = BlobTrendStore(service, container, segment_appends=3)
    second.append("churn", [point(7), point(8)])  # one block: segment 2 has room for it
    first.append("churn", [point(9)])  # this instance's count is stale: it appends anyway
    assert [p.key for p in second.read("churn")] == [f"early_check:ing-{i}" for i in range(10)]


def test_an_instance_whose_segment_was_compacted_by_another_moves_on(service, container):
    from core.adapters.storage import BlobTrendStore

    stale = BlobTrendStore(service, container, segment_appends=2)
    stale.append("churn", [point(0)])  # it knows segment 0 with one append
    busy = BlobTrendStore(service, container, segment_appends=2)
    for i in (1, 2, 3):  # fills segment 0, compacts it, goes on in segment 1
        busy.append("churn", [point(i)])
    stale.append("churn", [point(4)])  # segment 0 is gone: it finds the live one
    assert [p.key for p in busy.read("churn")] == [f"early_check:ing-{i}" for i in range(5)]
    assert names(service, container) == ["chunk-000000.bin", "chunk-000001.bin", "latest.bin",
                                         "seg-000002.bin"]


def test_a_segment_left_sealed_by_an_interrupted_compaction_is_finished(service, container):
    from core.adapters.storage import BlobTrendStore

    store = BlobTrendStore(service, container, segment_appends=10)
    store.append("churn", [point(0), point(1)])
    service.get_blob_client(container, "trends/churn/seg-000000.bin").seal_append_blob()
    assert [p.key for p in store.read("churn")] == ["early_check:ing-0", "early_check:ing-1"]
    BlobTrendStore(service, container, segment_appends=10).append("churn", [point(2)])
    assert names(service, container) == ["chunk-000000.bin", "latest.bin", "seg-000001.bin"]
    assert len(store.read("churn")) == 3
