"""The ground-truth join's pending side on Azurite (core/adapters/storage/ground_truth.py):
more rows than a transaction takes, more ids than a query takes, rows over a property's
64 KiB, ids of any characters, duplicates and retries, labels that wait across partitions."""

from __future__ import annotations

import uuid

import pytest

from core.domain.ground_truth import row_key


@pytest.fixture
def store(azurite_connection):
    from core.adapters.storage import TableGroundTruthStore, table_service
    from core.settings import load_settings

    settings = load_settings({"AzureWebJobsStorage": azurite_connection})
    return TableGroundTruthStore(table_service(settings.storage_connection, None),
                                 f"gt{uuid.uuid4().hex[:10]}")


def ids(n: int, prefix: str = "req") -> list[str]:
    return [f"{prefix}-{i // 25}_{i % 25}" for i in range(n)]


def test_inputs_are_kept_by_id_and_found_again(store):
    rows = [(i, {"amount": n * 1.5, "city": "rome", "n": n}) for n, i in enumerate(ids(450))]
    # 450 rows: several transactions per partition; lookups of 450 ids: 14 per query.
    assert store.put_inputs("m", rows, source="ing-a") == []
    found = store.get_inputs("m", [i for i, _ in rows] + ["never-seen_0"])
    assert len(found) == 450 and "never-seen_0" not in found
    assert found["req-3_7"].row == {"amount": 82 * 1.5, "city": "rome", "n": 82}
    assert found["req-3_7"].source == "ing-a" and found["req-3_7"].label_source is None
    assert store.get_inputs("other-model", ["req-3_7"]) == {}
    assert {row_key(i)[0] for i, _ in rows} == set("0123456789abcdef")  # all 16 partitions


def test_the_first_row_for_an_id_stays_and_a_retry_is_no_duplicate(store):
    store.put_inputs("m", [("a_0", {"v": 1}), ("b_0", {"v": 2})], source="ing-a")
    assert store.put_inputs("m", [("a_0", {"v": 1}), ("b_0", {"v": 2})], source="ing-a") == []
    duplicates = store.put_inputs("m", [("a_0", {"v": 9}), ("c_0", {"v": 3}),
                                        ("c_0", {"v": 4})], source="ing-b")
    assert sorted(duplicates) == ["a_0", "c_0"]  # another file's, and twice in this call
    found = store.get_inputs("m", ["a_0", "c_0"])
    assert (found["a_0"].row, found["a_0"].source) == ({"v": 1}, "ing-a")
    assert found["c_0"].row == {"v": 3}


def test_rows_of_any_size_and_ids_of_any_characters(store):
    wide = {f"feature_{k}": "x" * 200 for k in range(400)}  # ~90K characters of JSON
    odd = ["a/b#c?d\\e_0", "ünïcødé_1", "'quoted' \"twice\"_2", "x" * 700 + "_3"]
    store.put_inputs("m", [(i, wide) for i in odd], source="ing-a")
    found = store.get_inputs("m", odd)
    assert sorted(found) == sorted(odd) and all(f.row == wide for f in found.values())


def test_labels_are_recorded_on_their_inputs(store):
    store.put_inputs("m", [("a_0", {"v": 1}), ("b_0", {"v": 2})], source="ing-a",
                     labelled={"b_0": (True, "ing-gt0")})
    store.mark_labelled("m", [("a_0", 0)], source="ing-gt1")
    found = store.get_inputs("m", ["a_0", "b_0"])
    assert (found["a_0"].label, found["a_0"].label_source) == (0, "ing-gt1")
    assert (found["b_0"].label, found["b_0"].label_source) == (True, "ing-gt0")
    assert found["a_0"].row == {"v": 1}  # merged, not replaced


def test_outputs_are_kept_and_the_last_one_written_stays(store):
    store.put_outputs("m", [("a_0", {"y": 1}), ("a_0", {"y": 0}), ("b_0", {"y": 1})],
                      source="ing-o")
    assert store.get_outputs("m", ["a_0", "b_0", "c_0"]) == {"a_0": {"y": 0}, "b_0": {"y": 1}}
    assert store.get_inputs("m", ["a_0"]) == {}  # outputs are not inputs


def test_waiting_labels_are_listed_removed_and_their_duplicates_counted(store):
    waiting = [(i, n % 2) for n, i in enumerate(ids(230, prefix="early"))]
    assert store.put_waiting("m", waiting, source="ing-gt", at=100.0) == []
    assert store.put_waiting("m", waiting[:5], source="ing-gt", at=101.0) == []  # a retry
    assert sorted(store.put_waiting("m", [waiting[0], ("new_0", 1), ("new_0", 0)],
                                    source="ing-gt2", at=102.0)) == [waiting[0][0], "new_0"]
    listed = {w.row_id: w for w in store.waiting("m")}
    assert len(listed) == 231
    assert (listed["early-1_3"].label, listed["early-1_3"].source, listed["early-1_3"].at) == (
        28 % 2, "ing-gt", 100.0)
    store.remove_waiting("m", [i for i, _ in waiting[:200]])
    store.remove_waiting("m", [i for i, _ in waiting[:10]])  # gone already: a retry
    assert sorted(w.row_id for w in store.waiting("m")) == sorted(
        [i for i, _ in waiting[200:]] + ["new_0"])
    assert list(store.waiting("other-model")) == []
