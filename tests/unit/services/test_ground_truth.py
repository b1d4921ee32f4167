"""GroundTruth (core/services/ground_truth.py) over the fakes: labels join the inputs they
belong to whichever arrives first, duplicates and unknown ids are counted, waiting labels
expire, one file gives at most one labelled version (also when it is processed again after a
crash), and each labelled version is measured."""

from __future__ import annotations

import pyarrow as pa
import pytest

from core.domain.ingestion import BlobRef, IngestionRecord
from core.services.ground_truth import GroundTruth, GroundTruthConfig, LabelsRefused
from tests.fakes import FakeClock, FakeGroundTruthStore, FakeLedger, FakeWorkspace

MODEL = "churn"
DAY = 86400.0


class World:
    def __init__(self, target=("churned", "int64")):
        self.clock = FakeClock()
        self.ws = FakeWorkspace()
        self.store = FakeGroundTruthStore()
        self.ledger = FakeLedger(self.clock)
        self.measured: list[str] = []
        self.target = target
        self.service = GroundTruth(
            GroundTruthConfig(labelled_asset=lambda m: f"{m}-labelled", wait_seconds=30 * DAY),
            self.ws, self.store, self.ledger, target_for=lambda m: self.target,
            evaluate=self._evaluate, clock=self.clock)

    def _evaluate(self, model, labelled):
        self.measured.append(f"{labelled.name}:{labelled.version}")
        return {"labelled_data": f"{labelled.name}:{labelled.version}", "metrics": {}}

    def record(self, name: str) -> IngestionRecord:
        return IngestionRecord(model=MODEL, ingestion_id=f"ing-{name}",
                               blob=BlobRef("inference", f"{MODEL}/{name}"),
                               status="processing", created_at=0.0, updated_at=0.0)

    def inputs(self, name: str, rows: list[dict], *, outputs: bool = False):
        observer = self.service.observer_for(MODEL, outputs=outputs)
        observer.add(pa.RecordBatch.from_pylist(rows))
        return observer.finish(self.record(name))

    def labels(self, name: str, rows: list[dict]):
        target, _ = self.service.label_schema(MODEL)
        spool = self.service.label_spool(target)
        spool.add(pa.RecordBatch.from_pylist(rows))
        return self.service.join_labels(MODEL, self.record(name), target, spool)

    def labelled(self, version: str) -> list[dict]:
        return self.ws.tables[(f"{MODEL}-labelled", version)].to_pylist()


def rows(n: int, prefix: str = "c") -> list[dict]:
    return [{"age": 20 + i, "city": "rome", "correlationid": f"{prefix}-0_{i}"}
            for i in range(n)]


def labels(n: int, prefix: str = "c", value=lambda i: i % 2) -> list[dict]:
    return [{"correlationid": f"{prefix}-0_{i}", "churned": value(i)} for i in range(n)]


@pytest.fixture
def world() -> World:
    return World()


def test_labels_after_their_inputs_join_with_the_logged_outputs(world):
    assert world.inputs("in.jsonl", rows(5)).counts.to_doc() == {"inputs": 5}
    out = world.inputs("out.jsonl", [{"churned": 1, "correlationid": f"c-0_{i}"}
                                     for i in range(3)], outputs=True)
    assert out.counts.to_doc() == {"outputs": 3} and out.labelled is None

    outcome = world.labels("gt.csv", labels(5))

    assert outcome.counts.to_doc() == {"labels": 5, "joined": 5}
    assert (outcome.labelled.name, outcome.labelled.version) == (f"{MODEL}-labelled", "1")
    joined = {r["correlationid"]: r for r in world.labelled("1")}
    assert joined["c-0_1"] == {"age": 21, "city": "rome", "predicted_churned": 1,
                               "churned": 1, "correlationid": "c-0_1"}
    assert joined["c-0_4"]["predicted_churned"] is None  # no output logged for it
    assert outcome.labelled.tags["labelled_rows"] == "5"
    assert outcome.labelled.tags["autopilot.target"] == "churned"
    assert world.measured == [f"{MODEL}-labelled:1"] and outcome.performance is not None
    assert outcome.labels_doc() == {"counts": {"labels": 5, "joined": 5},
                                    "labelled_data": f"{MODEL}-labelled:1",
                                    "labelled_rows": 5}


def test_labels_before_their_inputs_wait_then_join(world):
    early = world.labels("gt.csv", labels(4))
    assert early.counts.to_doc() == {"labels": 4, "waiting": 4} and early.labelled is None
    assert world.measured == []

    late = world.inputs("in.jsonl", rows(6))

    assert late.counts.to_doc() == {"inputs": 6, "completed": 4}
    assert sorted(r["correlationid"] for r in world.labelled("1")) == [
        f"c-0_{i}" for i in range(4)]
    assert list(world.store.waiting(MODEL)) == []
    assert world.store.inputs[(MODEL, "c-0_2")].label_source == "ing-gt.csv"
    assert world.measured == [f"{MODEL}-labelled:1"]
    # The two rows no label waited for keep waiting for theirs.
    assert world.labels("gt2.csv", labels(6)).counts.to_doc() == {
        "labels": 6, "joined": 2, "duplicates": 4}


def test_duplicates_unknown_ids_and_empty_labels_are_counted(world):
    world.inputs("in.jsonl", rows(3))
    feed = [*labels(3), {"correlationid": "c-0_1", "churned": 0},  # twice, another value
            {"correlationid": "c-0_2", "churned": 0},  # twice, the same value
            {"correlationid": "nobody_0", "churned": 1},  # no input: waits
            {"correlationid": None, "churned": 1}, {"correlationid": "c-0_9", "churned": None}]
    outcome = world.labels("gt.csv", feed)
    assert outcome.counts.to_doc() == {"labels": 8, "empty": 2, "joined": 3, "waiting": 1,
                                       "duplicates": 2, "conflicting": 1}
    assert {r["correlationid"]: r["churned"] for r in world.labelled("1")}["c-0_1"] == 1

    again = world.labels("gt-again.csv", [{"correlationid": "c-0_0", "churned": 1},
                                          {"correlationid": "nobody_0", "churned": 0}])
    assert again.counts.to_doc() == {"labels": 2, "duplicates": 2, "conflicting": 1}
    assert again.labelled is None


def test_the_first_input_stored_for_an_id_stays(world):
    world.inputs("a.jsonl", rows(2))
    second = [{**r, "age": 99} for r in rows(3)]
    assert world.inputs("b.jsonl", second).counts.to_doc() == {"inputs": 1,
                                                               "duplicate_inputs": 2}
    world.labels("gt.csv", labels(3))
    ages = {r["correlationid"]: r["age"] for r in world.labelled("1")}
    assert ages == {"c-0_0": 20, "c-0_1": 21, "c-0_2": 99}


def test_a_waiting_label_whose_id_another_file_stored_joins_that_row(world):
    world.inputs("a.jsonl", rows(1))
    world.labels("gt.csv", labels(1, prefix="z"))  # waits
    # A file with a stored id (duplicate) and the waiting one.
    late = world.inputs("b.jsonl", [*rows(1), *rows(1, prefix="z")])
    assert late.counts.to_doc() == {"inputs": 1, "duplicate_inputs": 1, "completed": 1}
    assert [r["correlationid"] for r in world.labelled("1")] == ["z-0_0"]


def test_labels_that_wait_too_long_expire_as_unknown_ids(world):
    world.labels("gt.csv", labels(2, prefix="lost"))
    world.clock.advance(31 * DAY)
    outcome = world.inputs("in.jsonl", rows(2))
    assert outcome.counts.to_doc() == {"inputs": 2, "expired": 2}
    assert list(world.store.waiting(MODEL)) == []


def test_a_file_processed_again_gives_the_same_version_and_counts_the_same(world):
    world.inputs("in.jsonl", rows(4))
    first = world.labels("gt.csv", labels(4))
    again = world.labels("gt.csv", labels(4))  # the same ingestion, retried
    assert again.counts.to_doc() == first.counts.to_doc() == {"labels": 4, "joined": 4}
    assert again.labelled.version == first.labelled.version == "1"
    assert [v.version for v in world.ws.list_data_versions(f"{MODEL}-labelled")] == ["1"]

    world.labels("early.csv", labels(2, prefix="e"))
    world.inputs("e.jsonl", rows(2, prefix="e"))
    assert world.inputs("e.jsonl", rows(2, prefix="e")).counts.to_doc() == {"inputs": 2}


class CrashOnRemove(FakeGroundTruthStore):
    """Dies the first time it is asked to remove waiting labels."""

    def __init__(self):
        super().__init__()
        self.armed = True

    def remove_waiting(self, model, ids):
        if self.armed and ids:
            self.armed = False
            raise ConnectionError("storage went away")
        super().remove_waiting(model, ids)


def test_a_crash_before_the_waiting_labels_are_removed_loses_nothing():
    world = World()
    world.store = CrashOnRemove()
    world.service._store = world.store
    world.labels("gt.csv", labels(3))
    with pytest.raises(ConnectionError):
        world.inputs("in.jsonl", rows(3))
    # The host delivers the file again: the labels still wait, and join the same version.
    retried = world.inputs("in.jsonl", rows(3))
    assert retried.counts.to_doc() == {"inputs": 3, "completed": 3}
    assert retried.labelled.version == "1" and len(world.labelled("1")) == 3
    assert list(world.store.waiting(MODEL)) == []


def test_labels_for_a_model_without_a_known_target_are_refused():
    world = World(target=None)
    with pytest.raises(LabelsRefused) as caught:
        world.service.label_schema(MODEL)
    assert caught.value.rejection.code == "target_unknown"
    with pytest.raises(LabelsRefused):
        World(target=("correlationid", "string")).service.label_schema(MODEL)


def test_the_label_schema_types_the_target_as_the_reference_does(world):
    target, schema = world.service.label_schema(MODEL)
    assert target == "churned" and dict(schema) == {"correlationid": "string",
                                                    "churned": "int64"}


def test_a_measurement_that_fails_is_recorded_and_the_version_stays(world):
    def broken(model, labelled):
        raise RuntimeError("model folder unreadable")

    world.service._evaluate = broken
    world.inputs("in.jsonl", rows(2))
    outcome = world.labels("gt.csv", labels(2))
    assert outcome.labelled is not None
    assert outcome.performance == {"error": "RuntimeError: model folder unreadable",
                                   "labelled_data": f"{MODEL}-labelled:1"}


def test_rows_without_an_id_are_not_kept(world):
    outcome = world.inputs("in.jsonl", [{"age": 1, "correlationid": None}, {"age": 2}])
    assert outcome is None  # nothing to keep
    assert world.store.inputs == {}
