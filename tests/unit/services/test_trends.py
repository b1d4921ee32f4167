"""Trends (core/services/trends.py): what lands is recorded (an ingested batch's early check,
the champion's performance on labelled data, a local monitor run), recording never fails the
batch, and models from before trends were kept are backfilled from their stored results."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.services.trends import AlsoRecordTrends, metric_status, point_from_performance
from tests.fakes import FakeTrendStore
from tests.unit.services.conftest import CLEAN_CSV, DRIFTED_CSV, MODEL


@pytest.fixture
def svc(world):
    world.model()
    world.reference()
    return world.services()


def test_every_ingested_batch_is_recorded_with_its_metrics_thresholds_and_statuses(world, svc):
    clean = world.ingest("clean.csv", CLEAN_CSV, svc=svc, advance=60).record
    drifted = world.ingest("drifted.csv", DRIFTED_CSV, svc=svc, advance=60).record

    points = svc.trends.history(MODEL)

    assert [p.key for p in points] == [f"early_check:{clean.ingestion_id}",
                                       f"early_check:{drifted.ingestion_id}"]
    first, second = points
    assert first.kind == "early_check" and first.ingestion == clean.ingestion_id
    assert first.data == f"{MODEL}-inference:1" and second.data == f"{MODEL}-inference:2"
    assert second.status == "breach" and second.at == drifted.updated_at
    by_metric = {(m.signal, m.feature, m.metric): m for m in second.metrics}
    age = by_metric[("data_drift", "age", "normalized_wasserstein_distance")]
    # What the stored result says, metric for metric (threshold and status as judged).
    result = svc.drift.result_for(MODEL, drifted.ingestion_id)
    judged = result.signal("data_drift").feature("age").metric("normalized_wasserstein_distance")
    assert age.status == judged.status == "breach"
    assert age.threshold == judged.threshold and age.value > age.threshold
    assert len(second.metrics) == sum(len(f.metrics) for s in result.signals
                                      for f in s.features)
    assert world.trends.latest(MODEL) == second


def test_a_metric_reports_its_own_status_when_the_engine_gives_one():
    def metric(**kw):
        return SimpleNamespace(**{"undefined": False, "threshold": 0.1, "breached": False,
                                  **kw})

    assert metric_status(metric(status="warning")) == "warning"
    assert metric_status(metric(breached=True)) == "breach"
    assert metric_status(metric()) == "ok"
    assert metric_status(metric(threshold=None)) == "info"
    assert metric_status(metric(undefined=True, threshold=0.1)) == "undefined"
    assert metric_status(metric(status="weird", breached=True)) == "breach"


def test_a_store_that_fails_never_fails_the_batch(world):
    class Broken(FakeTrendStore):
        def append(self, model, points):
            raise ConnectionError("storage down")

    world.trends = Broken()
    world.model()
    world.reference()
    svc = world.services()
    record = world.ingest("clean.csv", CLEAN_CSV, svc=svc, advance=60).record
    assert record.status == "registered" and record.drift["breached"] is False


def test_the_follow_up_runs_first_and_a_failing_one_is_still_recorded():
    seen = []

    class Trends:
        def record_batch(self, record):
            seen.append(("trends", record))

    def follow_up(record):
        seen.append(("follow-up", record))
        raise RuntimeError("monitor not re-aimed")

    with pytest.raises(RuntimeError):
        AlsoRecordTrends(follow_up, Trends())("rec")  # type: ignore[arg-type]
    assert seen == [("follow-up", "rec"), ("trends", "rec")]


def test_a_local_monitor_run_is_recorded_through_the_save_it_wraps(world, svc):
    world.ingest("drifted.csv", DRIFTED_CSV, svc=svc, advance=60)
    result = svc.drift.result_for(MODEL)
    saved = []

    def save(model, name, res):
        saved.append(name)
        return f"drift-results/{model}/{name}.json"

    key = svc.trends.recording(save)(MODEL, "monitor-run-r1-data", result)

    assert key == f"drift-results/{MODEL}/monitor-run-r1-data.json" and saved == [
        "monitor-run-r1-data"]
    last = world.trends.read(MODEL)[-1]
    assert last.key == "monitor_run:monitor-run-r1-data" and last.kind == "monitor_run"
    assert last.status == "breach" and last.ingestion is None


def test_performance_records_become_points_of_the_champion():
    doc = {"labelled_data": "churn-labelled:2", "model_version": "3", "rows": 400,
           "metrics": {"f1": 0.3, "accuracy": 0.81, "auc": None},
           "thresholds": {"f1": 0.5, "accuracy": 0.7},
           "breaches": [{"metric": "f1", "value": 0.3, "threshold": 0.5}],
           "evaluated_at": 1234.0}
    p = point_from_performance(MODEL, doc, at=99.0, ingestion="gt-1")
    assert p is not None and p.kind == "performance" and p.at == 1234.0
    assert p.key == "performance:churn-labelled:2" and p.status == "breach"
    statuses = {m.metric: (m.status, m.threshold) for m in p.metrics}
    assert statuses == {"f1": ("breach", 0.5), "accuracy": ("ok", 0.7),
                        "auc": ("undefined", None)}
    assert {m.signal for m in p.metrics} == {"model_performance"}
    assert point_from_performance(MODEL, {"skipped": "no model"}, at=1, ingestion=None) is None


def test_models_from_before_trends_are_backfilled_once_and_idempotently(world, svc):
    records = [world.ingest(f"b{i}.csv", CLEAN_CSV if i % 2 else DRIFTED_CSV, svc=svc,
                            advance=60).record for i in range(3)]
    recorded = world.trends.read(MODEL)
    world.trends = FakeTrendStore()  # as if trends had not been kept then
    fresh = world.services()

    assert fresh.trends.history(MODEL) == recorded  # the first read backfills
    appends = world.trends.appends
    fresh.trends.history(MODEL)
    assert world.trends.appends == appends  # once

    again = fresh.trends.backfill(MODEL)
    assert again["batches"] == 3 and again["points"] == 3 and again["complete"] is True
    assert fresh.trends.history(MODEL) == recorded  # recorded twice, kept once
    assert [p.ingestion for p in recorded] == [r.ingestion_id for r in records]


def test_a_backfill_skips_batches_whose_result_is_gone(world, svc):
    record = world.ingest("b.csv", DRIFTED_CSV, svc=svc, advance=60).record
    world.ws.artifacts.pop(record.drift["result"])
    world.trends = FakeTrendStore()
    summary = world.services().trends.backfill(MODEL)
    assert summary["missing_results"] == 1 and summary["points"] == 0
