"""What operators see of each use case (core/services/reporting.py), through the use cases as
bootstrap wires them: spans and their dimensions, metrics, and the autopilot's own events, with
publishing best effort (a refusing or broken destination never fails or stalls the loop, and
is recorded)."""

from __future__ import annotations

import pytest

from core.domain.ingestion import BlobRef
from core.domain.observability import (
    BATCH_BREACHED,
    CHALLENGER_REGISTERED,
    CHALLENGER_REJECTED,
    DIMENSIONS,
    EVENT_TYPES,
    MONITOR_CREATED,
    MONITOR_REAIMED,
    QUARANTINED,
    RETRAINING_FAILED,
    RETRAINING_REQUESTED,
    RETRAINING_SUPPRESSED,
    AutopilotEvent,
)
from core.domain.retraining import Reason, RequestStatus, RetrainResult
from core.ports import EventsUnavailable
from core.services.reporting import STATUS_KEY, STATUS_KIND, BestEffortEvents, check_events
from tests.fakes import (
    FakeAutopilotEvents,
    FakeClock,
    FakeStateStore,
    FakeTelemetry,
    FakeWorkspace,
)
from tests.unit.services.conftest import (
    CLEAN_CSV,
    DRIFTED_CSV,
    INFERENCE,
    MODEL,
    World,
    deliver,
)

MISSING_COLUMNS_CSV = "age,city\n30,rome\n31,oslo\n"


@pytest.fixture
def watched(world):
    world.model()
    world.reference()
    return world


# --------------------------------------------------------------------------- ingestion


def test_a_registered_file_is_one_span_with_its_dimensions_and_counted(watched):
    outcome = watched.ingest("clean.csv", CLEAN_CSV)

    span = watched.telemetry.span_named("ingest")
    record = outcome.record
    assert {k: span.dimensions[k] for k in ("model", "ingestion_id", "blob", "data_version",
                                             "outcome")} == {
        "model": MODEL, "ingestion_id": record.ingestion_id,
        "blob": f"{INFERENCE}/{MODEL}/batches/clean.csv",
        "data_version": f"{MODEL}-inference:1", "outcome": "registered"}
    assert watched.telemetry.values("autopilot.ingestion.files", model=MODEL,
                                    outcome="registered", reason="") == [1]
    assert watched.telemetry.values("autopilot.ingestion.rows", outcome="registered") == \
        [record.rows]
    assert watched.topic.of_type(QUARANTINED) == []


def test_a_quarantined_file_is_counted_by_reason_and_announced(watched):
    outcome = watched.ingest("bad.csv", MISSING_COLUMNS_CSV)

    assert outcome.kind == "rejected"
    record = outcome.record
    assert watched.telemetry.values("autopilot.ingestion.files", outcome="rejected",
                                    reason="missing_columns") == [1]
    (event,) = watched.topic.of_type(QUARANTINED)
    assert event.subject == f"models/{MODEL}/ingestions/{record.ingestion_id}"
    assert event.data["reason_code"] == "missing_columns"
    assert event.data["quarantine_record"] == record.quarantine_record
    assert event.data["replay"] == \
        f"POST /api/models/{MODEL}/ingestions/{record.ingestion_id}/replay"
    assert set(event.data) == set(EVENT_TYPES[QUARANTINED].data)


def test_a_replayed_rejection_announces_the_same_event_id_again(watched):
    first = watched.ingest("bad.csv", MISSING_COLUMNS_CSV)
    svc = watched.services()
    svc.ingest.replay(MODEL, first.record.ingestion_id)

    events = watched.topic.of_type(QUARANTINED)
    assert len(events) == 2 and events[0].id == events[1].id  # a subscriber can drop it


def test_a_duplicate_delivery_announces_nothing(watched):
    watched.ingest("bad.csv", MISSING_COLUMNS_CSV)
    svc = watched.services()
    outcome = svc.ingest.ingest(BlobRef(INFERENCE, f"{MODEL}/batches/bad.csv"))

    assert outcome.kind == "duplicate"
    assert len(watched.topic.of_type(QUARANTINED)) == 1
    assert watched.telemetry.values("autopilot.ingestion.files", outcome="duplicate") == [1]


def test_a_transient_failure_is_counted_and_fails_the_span(world):
    from core.ports import WorkspaceError

    class Throttled(FakeWorkspace):
        def create_mltable_version(self, *args, **kw):
            raise WorkspaceError("throttled")

    world.ws = Throttled()
    world.model()
    world.reference()
    with pytest.raises(WorkspaceError):
        world.ingest("clean.csv", CLEAN_CSV)
    watched = world

    assert watched.telemetry.values("autopilot.ingestion.files", model=MODEL,
                                    outcome="failed", reason="WorkspaceError") == [1]
    assert isinstance(watched.telemetry.span_named("ingest").error, WorkspaceError)


# --------------------------------------------------------------------------- drift and alerts


def test_a_drifted_batch_reports_its_check_values_breaches_alert_and_request(watched):
    outcome = watched.ingest("drifted.csv", DRIFTED_CSV)
    t = watched.telemetry

    assert len(t.values("autopilot.drift.check.duration", model=MODEL,
                        outcome="breached")) == 1
    ages = t.values("autopilot.drift.value", model=MODEL, signal="data_drift", feature="age")
    assert ages and all(v > 0 for v in ages)
    assert t.values("autopilot.drift.breaches", model=MODEL, signal="data_drift",
                    feature="age", source="early_check")
    (breached,) = watched.topic.of_type(BATCH_BREACHED)
    assert breached.data["ingestion_id"] == outcome.record.ingestion_id
    assert "data_drift" in breached.data["signals"]
    assert breached.data["breach_count"] >= 1
    assert t.values("autopilot.alerts", model=MODEL, source="early_check",
                    decision="requested", code="drift_breach") == [1]
    (requested,) = watched.topic.of_type(RETRAINING_REQUESTED)
    (message,) = watched.queue.bodies()
    assert requested.subject == f"models/{MODEL}/retraining/{message['request_id']}"
    assert requested.data["alert_key"] == f"early:{MODEL}:{outcome.record.ingestion_id}"
    assert "age" in requested.data["features"]


def test_a_clean_batch_reports_a_clean_check_and_no_breach(watched):
    watched.ingest("clean.csv", CLEAN_CSV)

    assert len(watched.telemetry.values("autopilot.drift.check.duration",
                                        outcome="clean")) == 1
    assert watched.telemetry.values("autopilot.drift.breaches") == []
    assert watched.topic.of_type(BATCH_BREACHED) == []


def test_a_second_breach_is_suppressed_and_announced_with_its_reason(watched):
    watched.ingest("drifted-1.csv", DRIFTED_CSV)
    watched.ingest("drifted-2.csv", DRIFTED_CSV.replace("tokyo", "kyoto"))

    (suppressed,) = watched.topic.of_type(RETRAINING_SUPPRESSED)
    assert suppressed.subject == f"models/{MODEL}/alerts"
    assert suppressed.data["code"] == "open_request"
    assert watched.telemetry.values("autopilot.alerts", decision="suppressed",
                                    code="open_request") == [1]


def test_a_monitor_alert_counts_its_breaching_features(watched):
    from core.domain.alerts import BreachedFeature, DriftAlert

    svc = watched.services()
    alert = DriftAlert("run-1:data_drift", "azureml_monitor", model=MODEL,
                       signal="churn-monitor_data_drift", event_id="evt-1",
                       features=(BreachedFeature("age", "jensen_shannon_distance", 0.4, 0.1),))
    svc.retraining.on_alert(alert)

    span = watched.telemetry.span_named("drift_alert")
    assert span.dimensions["event_id"] == "evt-1"
    assert span.dimensions["alert_key"] == "run-1:data_drift"
    assert watched.telemetry.values("autopilot.drift.breaches", feature="age",
                                    source="azureml_monitor") == [1]


# --------------------------------------------------------------------------- retraining


def run_one(world: World, result: RetrainResult):
    world.retrainer.result = result
    svc = world.services()
    outcome = svc.retraining.request(MODEL, reason="by hand")
    deliver(world, svc.retraining)
    return outcome.request_id


def test_a_registered_challenger_is_announced_with_both_scores(watched):
    request_id = run_one(watched, RetrainResult(
        RequestStatus.REGISTERED, "challenger f1 0.8 beats champion 0.6", Reason.CHALLENGER_WON,
        {"new_version": "2", "champion_version": "1", "metric": "f1", "improvement": 0.2,
         "champion_scores": {"f1": 0.6, "auc": 0.7},
         "challenger_scores": {"f1": 0.8, "auc": 0.9}}))

    (event,) = watched.topic.of_type(CHALLENGER_REGISTERED)
    assert event.subject == f"models/{MODEL}/retraining/{request_id}"
    assert event.data["new_version"] == "2"
    assert event.data["challenger_scores"] == {"f1": 0.8, "auc": 0.9}
    t = watched.telemetry
    assert t.values("autopilot.retraining.score", role="challenger", metric="f1") == [0.8]
    assert t.values("autopilot.retraining.score", role="champion", metric="f1") == [0.6]
    assert t.values("autopilot.retraining.outcomes", model=MODEL, status="registered",
                    code="challenger_won") == [1]
    assert watched.telemetry.span_named("retrain").dimensions["request_id"] == request_id
    assert watched.topic.of_type(RETRAINING_REQUESTED)[0].data["source"] == "manual"


def test_a_rejected_challenger_is_announced_with_its_code(watched):
    run_one(watched, RetrainResult(RequestStatus.REJECTED, "too few labels",
                                   Reason.NOT_ENOUGH_LABELS, {"champion_version": "1"}))

    (event,) = watched.topic.of_type(CHALLENGER_REJECTED)
    assert event.data["code"] == "not_enough_labels"
    assert watched.topic.of_type(CHALLENGER_REGISTERED) == []


def test_a_retraining_that_gives_up_is_announced_once_and_retries_are_counted(watched):
    watched.retrainer.error = RuntimeError("compute quota")
    svc = watched.services()
    svc.retraining.request(MODEL, reason="by hand")
    for _ in range(5):  # host.json maxDequeueCount
        with pytest.raises(RuntimeError):
            deliver(watched, svc.retraining)

    assert watched.telemetry.values("autopilot.retraining.outcomes", status="retrying") == \
        [1, 1, 1, 1]
    (failed,) = watched.topic.of_type(RETRAINING_FAILED)
    assert "compute quota" in failed.data["error"]


# --------------------------------------------------------------------------- monitors, queues


def test_a_monitor_created_then_re_aimed_is_announced_each_time_and_only_then(watched):
    watched.ingest("clean-1.csv", CLEAN_CSV)
    svc = watched.services()
    svc.monitors.ensure(MODEL, reason="nothing new")
    watched.ingest("clean-2.csv", CLEAN_CSV)

    (created,) = watched.topic.of_type(MONITOR_CREATED)
    (reaimed,) = watched.topic.of_type(MONITOR_REAIMED)
    assert created.subject == reaimed.subject == f"models/{MODEL}/monitor"
    assert created.data["production_data"] == f"{MODEL}-inference:1"
    assert reaimed.data["production_data"] == f"{MODEL}-inference:2"
    assert "production_data" in reaimed.data["changes"]
    assert created.id != reaimed.id
    assert watched.telemetry.values("autopilot.monitor.changes", action="created") == [1]
    assert watched.telemetry.values("autopilot.monitor.changes", action="updated") == [1]


def test_the_timer_samples_queue_depth_and_poison_count(world):
    world.queue.send("{}")
    world.queue.send("{}")
    world.poison.send("{}")

    assert world.services().queue_gauges.sample() == {"depth": 2, "poison": 1}
    assert world.telemetry.values("autopilot.queue.depth", queue="retrain-requests") == [2]
    assert world.telemetry.values("autopilot.queue.poison", queue="retrain-requests") == [1]


# --------------------------------------------------------------------------- best effort


def test_a_refusing_topic_never_fails_the_loop_and_is_recorded_for_health(watched):
    watched.topic.refuse = "HTTP 403: the identity lacks EventGrid Data Sender"
    svc = watched.services(AUTOPILOT_EVENTS_ENDPOINT="https://evgt.x.eventgrid.azure.net/api/events")
    outcome = watched.ingest("bad.csv", MISSING_COLUMNS_CSV, svc=svc)

    assert outcome.kind == "rejected"  # quarantined and recorded as ever
    assert watched.ledger.get(MODEL, outcome.record.ingestion_id).status == "rejected"
    with pytest.raises(EventsUnavailable, match="the fake topic answered HTTP 403"):
        check_events(watched.state)
    doc = watched.state.get(STATUS_KIND, STATUS_KEY).doc
    assert doc["failed"] == 1 and doc["last_failures"][0]["type"] == QUARANTINED
    assert watched.telemetry.values("autopilot.events.published", type=QUARANTINED,
                                    outcome="failed") == [1]


def _event(key: str = "k") -> AutopilotEvent:
    return AutopilotEvent.of(MONITOR_CREATED, key, {"model": MODEL, "monitor": "m"})


def test_after_a_failure_publishing_pauses_then_resumes_and_health_clears():
    clock, state, topic = FakeClock(), FakeStateStore(), FakeAutopilotEvents()
    telemetry = FakeTelemetry()
    events = BestEffortEvents(topic, telemetry=telemetry, state=state, clock=clock,
                              pause_seconds=60)
    topic.refuse = "HTTP 500"
    assert events.publish(_event("1")) is False
    topic.refuse = None
    clock.advance(30)
    assert events.publish(_event("2")) is False  # paused: not even tried
    assert topic.attempts == 1
    doc = state.get(STATUS_KIND, STATUS_KEY).doc
    assert doc["failed"] == 2 and "publishing resumes" in doc["last_error"]
    with pytest.raises(EventsUnavailable):
        check_events(state)

    clock.advance(31)
    assert events.publish(_event("3")) is True
    check_events(state)  # recovered: written at once after a failure
    clock.advance(10)
    events.publish(_event("4"))
    assert state.get(STATUS_KIND, STATUS_KEY).doc["last_success_at"] == clock() - 10
    assert [e.id for e in topic.published] == [_event("3").id, _event("4").id]
    assert telemetry.values("autopilot.events.published", outcome="skipped") == [1]
    assert telemetry.values("autopilot.events.published", outcome="sent") == [1, 1]


def test_successes_alone_are_written_down_only_every_few_minutes():
    clock, state, topic = FakeClock(), FakeStateStore(), FakeAutopilotEvents()
    events = BestEffortEvents(topic, state=state, clock=clock)
    events.publish(_event("1"))
    assert state.get(STATUS_KIND, STATUS_KEY) is None  # a cold start's first event: no write
    clock.advance(301)
    events.publish(_event("2"))
    assert state.get(STATUS_KIND, STATUS_KEY).doc["last_success_at"] == clock()


def test_a_destination_raising_anything_and_a_broken_state_store_stay_contained():
    class Broken:
        destination = "a broken destination"

        def publish(self, events):
            raise RuntimeError("socket closed")

    class BrokenState(FakeStateStore):
        def get(self, kind, key):
            raise ConnectionError("table storage is down too")

    events = BestEffortEvents(Broken(), state=BrokenState(), clock=FakeClock())
    assert events.publish(_event()) is False  # logged, never raised


def test_a_report_that_cannot_be_built_is_logged_not_raised(watched, caplog):
    from core.services.reporting import Reporter

    reporter = Reporter(FakeTelemetry(), BestEffortEvents(FakeAutopilotEvents()))
    reporter._publish(MONITOR_CREATED, "k", {"model": MODEL, "no_such_field": 1})
    assert "could not be built" in caplog.text


# --------------------------------------------------------------------------- the catalogue


def test_every_event_type_is_named_subject_filterable_per_model_and_ids_are_stable():
    for event_type in EVENT_TYPES.values():
        assert event_type.type.startswith("Autopilot.")
        assert event_type.subject.startswith("models/{model}/")
        assert "model" in event_type.data
    a = AutopilotEvent.of(QUARANTINED, "ingestion-1", {"model": MODEL, "ingestion_id": "x"})
    b = AutopilotEvent.of(QUARANTINED, "ingestion-1", {"model": MODEL, "ingestion_id": "x"})
    c = AutopilotEvent.of(QUARANTINED, "ingestion-2", {"model": MODEL, "ingestion_id": "y"})
    assert a.id == b.id != c.id
    with pytest.raises(ValueError, match="not an autopilot event type"):
        AutopilotEvent.of("Autopilot.Nope", "k", {})
    assert set(DIMENSIONS) >= {"model", "blob", "ingestion_id", "invocation_id", "event_id"}
