"""OnBatchRegistered (core/services/batches.py): a registered batch re-aims the model's monitor,
then its early check's verdict goes to retraining (drift breach: an alert; otherwise a clean
check that ends a run of breaches)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.domain.ingestion import BlobRef, IngestionRecord
from core.ports import WorkspaceError
from core.services.batches import OnBatchRegistered
from core.services.retraining.records import GATE
from tests.fakes import FakeWorkspace
from tests.unit.services.conftest import (
    CLEAN_CSV,
    DRIFTED_CSV,
    INFERENCE,
    MODEL,
    NULLS_CSV,
    World,
)

MONITOR = f"{MODEL}-monitor"


def drift_summary(*, data_drift: bool, data_quality: bool = False) -> dict:
    breaches = []
    if data_drift:
        breaches.append({"signal": "data_drift", "feature": "age",
                         "metric": "normalized_wasserstein_distance", "value": 0.4,
                         "threshold": 0.1})
    if data_quality:
        breaches.append({"signal": "data_quality", "feature": "income",
                         "metric": "null_value_rate", "value": 0.05, "threshold": 0.0})
    return {"breached": data_drift or data_quality,
            "signals": {"data_drift": data_drift, "data_quality": data_quality},
            "breaches": breaches, "breach_count": len(breaches),
            "reference": f"azureml:{MODEL}-training:1", "production": f"{MODEL}-inference:1",
            "result": f"drift-results/{MODEL}/i-1.json"}


def registered(world: World, drift: dict | None, *, ingestion: str = "i-1",
               version: str | None = None) -> IngestionRecord:
    """A batch just registered as the next version of churn-inference."""
    asset = world.inference(version=version)
    return IngestionRecord(MODEL, ingestion, BlobRef(INFERENCE, f"{MODEL}/{ingestion}.csv"),
                           "registered", world.clock(), world.clock(),
                           asset_name=asset.name, asset_version=asset.version, drift=drift)


def on_batch(world: World, **env) -> OnBatchRegistered:
    services = world.services(**env)
    return OnBatchRegistered(services.monitors, services.retraining)


def gate(world):
    stored = world.state.get(GATE, MODEL)
    return stored.doc if stored else None


@pytest.fixture
def watched(world):
    world.model()
    world.reference()
    return world


# --------------------------------------------------------------------------- the monitor


def test_the_first_batch_creates_the_monitor_aimed_at_it(watched):
    on_batch(watched)(registered(watched, None))

    spec = watched.ws.monitors[MONITOR]
    assert str(spec.production_data) == f"{MODEL}-inference:1"
    state = watched.services().monitors.state(MODEL)
    assert state["last_trigger"] == f"new inference data {MODEL}-inference:1"


def test_each_new_batch_re_aims_the_monitor(watched):
    on_batch(watched)(registered(watched, None, ingestion="i-1"))
    on_batch(watched)(registered(watched, None, ingestion="i-2"))

    assert str(watched.ws.monitors[MONITOR].production_data) == f"{MODEL}-inference:2"
    assert [str(s.production_data) for s in watched.ws.monitor_writes] == [
        f"{MODEL}-inference:1", f"{MODEL}-inference:2"]


def test_data_before_the_model_is_fine_the_monitor_comes_with_the_model(world):
    world.reference()

    on_batch(world)(registered(world, drift_summary(data_drift=True)))  # does not raise

    assert world.ws.monitors == {}
    world.model()
    world.services().monitors.ensure(MODEL, reason="ModelRegistered churn:1")
    assert str(world.ws.monitors[MONITOR].production_data) == f"{MODEL}-inference:1"


def test_a_breach_before_the_model_opens_no_retraining_and_no_cooldown(world):
    world.reference()
    on_batch(world)(registered(world, drift_summary(data_drift=True), ingestion="i-1"))

    assert world.queue.messages == []  # no champion to retrain
    assert world.services().retraining.alerts(MODEL) == []
    assert gate(world) is None

    world.model()  # registered now: its first breach is acted on, not held by a cooldown
    on_batch(world)(registered(world, drift_summary(data_drift=True), ingestion="i-2"))
    (message,) = world.queue.bodies()
    assert message["correlation_id"] == f"early:{MODEL}:i-2"


# --------------------------------------------------------------------------- the verdict


def test_a_data_drift_breach_becomes_an_early_check_alert_and_a_request(watched):
    outcome_record = registered(watched, drift_summary(data_drift=True))

    on_batch(watched)(outcome_record)

    (message,) = watched.queue.bodies()
    assert message["model"] == MODEL and message["trigger"] == "early_check"
    assert message["reason"].startswith("early drift check on churn-inference:1 vs "
                                        "azureml:churn-training:1: data drift on age")
    (alert,) = watched.services().retraining.alerts(MODEL)
    assert alert["alert_key"] == f"early:{MODEL}:i-1"
    assert alert["status"] == "requested" and alert["request_id"] == message["request_id"]
    assert gate(watched)["open_request"] == message["request_id"]


def test_a_redelivered_batch_counts_once(watched):
    record = registered(watched, drift_summary(data_drift=True))

    on_batch(watched)(record)
    on_batch(watched)(record)

    assert len(watched.queue.messages) == 1
    assert len(watched.services().retraining.alerts(MODEL)) == 1


def test_a_clean_check_resets_the_run_of_breaches(watched):
    env = {"RETRAIN_BREACHES_IN_A_ROW": "2"}
    on_batch(watched, **env)(registered(watched, drift_summary(data_drift=True),
                                        ingestion="i-1"))
    assert gate(watched)["consecutive"] == 1

    on_batch(watched, **env)(registered(watched, drift_summary(data_drift=False),
                                        ingestion="i-2"))
    assert gate(watched)["consecutive"] == 0

    on_batch(watched, **env)(registered(watched, drift_summary(data_drift=True),
                                        ingestion="i-3"))
    assert watched.queue.messages == []  # breach 1 of 2 again, not 2 of 2
    on_batch(watched, **env)(registered(watched, drift_summary(data_drift=True),
                                        ingestion="i-4"))
    assert len(watched.queue.messages) == 1


def test_a_data_quality_only_breach_is_a_clean_check_for_retraining(watched):
    env = {"RETRAIN_BREACHES_IN_A_ROW": "2"}
    on_batch(watched, **env)(registered(watched, drift_summary(data_drift=True),
                                        ingestion="i-1"))

    on_batch(watched, **env)(registered(
        watched, drift_summary(data_drift=False, data_quality=True), ingestion="i-2"))

    assert gate(watched)["consecutive"] == 0
    assert [a["alert_key"] for a in watched.services().retraining.alerts(MODEL)] == [
        f"early:{MODEL}:i-1"]  # no alert for the data-quality breach
    assert watched.queue.messages == []


@pytest.mark.parametrize("drift", [None, {"error": "NotFound: no rows"}])
def test_no_check_or_a_failed_check_leaves_the_gate_alone(watched, drift):
    env = {"RETRAIN_BREACHES_IN_A_ROW": "2"}
    on_batch(watched, **env)(registered(watched, drift_summary(data_drift=True),
                                        ingestion="i-1"))

    on_batch(watched, **env)(registered(watched, drift, ingestion="i-2"))

    assert gate(watched)["consecutive"] == 1


def test_with_retrain_on_early_drift_false_a_breach_is_not_an_alert(watched):
    on_batch(watched, RETRAIN_ON_EARLY_DRIFT="false")(
        registered(watched, drift_summary(data_drift=True)))

    assert watched.queue.messages == []
    assert watched.services().retraining.alerts(MODEL) == []
    assert gate(watched) is None


def test_a_breach_while_a_retraining_is_open_is_suppressed(watched):
    on_batch(watched)(registered(watched, drift_summary(data_drift=True), ingestion="i-1"))

    on_batch(watched)(registered(watched, drift_summary(data_drift=True), ingestion="i-2"))

    alerts = {a["alert_key"]: a for a in watched.services().retraining.alerts(MODEL)}
    assert alerts[f"early:{MODEL}:i-2"]["status"] == "suppressed"
    assert "already open" in alerts[f"early:{MODEL}:i-2"]["reason"]
    assert len(watched.queue.messages) == 1


# --------------------------------------------------------------------------- through ingestion


def test_a_drifted_batch_through_ingestion_opens_one_retraining(watched):
    outcome = watched.ingest("drifted.csv", DRIFTED_CSV)

    (message,) = watched.queue.bodies()
    assert message["evidence"]["signal"] == "early_check_data_drift"
    assert message["correlation_id"] == f"early:{MODEL}:{outcome.record.ingestion_id}"
    assert str(watched.ws.monitors[MONITOR].production_data) == f"{MODEL}-inference:1"


def test_clean_and_null_batches_through_ingestion_open_none(watched):
    watched.ingest("clean.csv", CLEAN_CSV)
    watched.ingest("nulls.csv", NULLS_CSV)

    assert watched.queue.messages == []
    assert str(watched.ws.monitors[MONITOR].production_data) == f"{MODEL}-inference:2"


def test_outputs_batches_re_aim_the_monitor_without_a_verdict(watched):
    on_batch(watched)(registered(watched, None))
    outputs = watched.ws.add_data(f"{MODEL}-outputs", watched.ws.tables[(f"{MODEL}-inference",
                                                                         "1")])
    record = replace(registered(watched, None, ingestion="o-1"), asset_name=outputs.name,
                     asset_version=outputs.version)

    on_batch(watched)(record)

    assert str(watched.ws.monitors[MONITOR].production_outputs) == f"{MODEL}-outputs:1"
    assert watched.queue.messages == []


class MonitorsUnreachable(FakeWorkspace):
    """Schedules cannot be written right now (throttled, unreachable); data and models can."""

    def create_or_update_monitor(self, spec):
        raise WorkspaceError("schedules: 503 Service Unavailable")


def test_a_failed_re_aim_still_acts_on_the_early_check(world):
    world.ws = MonitorsUnreachable()
    world.model()
    world.reference()

    with pytest.raises(WorkspaceError):  # the ingestion logs it; the timer re-aims later
        on_batch(world)(registered(world, drift_summary(data_drift=True)))

    (message,) = world.queue.bodies()  # the batch's alert is not lost with the re-aim
    assert message["correlation_id"] == f"early:{MODEL}:i-1"


def test_through_ingestion_a_failed_re_aim_keeps_the_batch_and_its_alert(world):
    world.ws = MonitorsUnreachable()
    world.model()
    world.reference()

    outcome = world.ingest("drifted.csv", DRIFTED_CSV)

    assert outcome.kind == "registered"
    assert len(world.queue.messages) == 1
