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


def test_segments_roll_over_and_a_second_instance_appends_to_the_newest(service, container):
    from core.adapters.storage import BlobTrendStore

    first = BlobTrendStore(service, container, segment_appends=3)
    for i in range(7):
        first.append("churn", [point(i)])
    names = sorted(b.name for b in service.get_container_client(container).list_blobs(
        name_starts_with="trends/churn/seg-"))
    assert names == [f"trends/churn/seg-00000{i}.jsonl" for i in range(3)]
    second = BlobTrendStore(service, container, segment_appends=3)
    second.append("churn", [point(7), point(8)])  # one block: segment 2 has room for it
    first.append("churn", [point(9)])  # this instance's count is stale: it appends anyway
    assert [p.key for p in second.read("churn")] == [f"early_check:ing-{i}" for i in range(10)]
