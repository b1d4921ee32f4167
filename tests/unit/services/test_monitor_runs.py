"""MonitorRuns (core/services/monitor_runs.py): run a model's monitor now, or every monitor
whose schedule fired (the scheduler timer), once however many fires were missed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.ports import NotFound
from tests.fakes import FakeMonitorRunner, FakeStateStore
from tests.unit.services.conftest import MODEL

MONITOR = f"{MODEL}-monitor"
HOUR = 3600.0


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture
def watched(world):
    """churn's monitor, created now (2027-01-15 08:00 UTC), daily at 03:00 UTC."""
    world.model()
    world.reference()
    world.inference()
    world.services().monitors.ensure(MODEL, reason="test")
    return world


def runs(world, **env):
    return world.services(**env).monitor_runs


def state(world, model=MODEL):
    return world.services().monitors.state(model)


# --------------------------------------------------------------------------- run


def test_run_runs_the_monitor_and_records_the_last_run(watched):
    watched.runner.breached = ("data_drift",)

    run = runs(watched).run(MODEL)

    assert run.completed and run.breached and run.trigger == "on_demand"
    assert run.run_id.startswith(f"{MONITOR}-20270115T080000-")
    assert run.signals == {f"{MONITOR}_data_drift": True, f"{MONITOR}_data_quality": False}
    (seen,) = watched.runner.runs
    assert seen is run
    assert state(watched)["last_run"] == run.to_json()
    assert state(watched)["status"] == "active"  # the rest of the state is kept


def test_run_runs_the_monitor_as_it_is_in_the_workspace(watched):
    watched.inference()  # not ensured yet: the monitor still pins inference:1

    run = runs(watched).run(MODEL)

    assert run.production == f"{MODEL}-inference:1"


def test_run_of_a_model_without_a_monitor_is_not_found(world):
    with pytest.raises(NotFound, match="ensure it first"):
        runs(world).run(MODEL)
    assert world.runner.runs == []


def test_on_azure_run_asks_the_workspace_and_returns_a_run_not_completed_with_its_job(watched):
    watched.runner = FakeMonitorRunner(fires_schedules=False, clock=watched.clock)

    run = runs(watched).run(MODEL, trigger="admin API")

    assert run.completed is False
    assert run.job == f"job-{run.run_id}"
    assert state(watched)["last_run"]["job"] == run.job


# --------------------------------------------------------------------------- run_due


def test_a_monitor_is_not_due_before_its_schedule_fires_after_creation(watched):
    assert runs(watched).run_due() == []  # 03:00 today was before its creation at 08:00
    assert runs(watched).run_due(now=at("2027-01-16T02:59:59")) == []
    assert watched.runner.runs == []


def test_a_monitor_runs_once_when_its_schedule_fires(watched):
    svc = runs(watched)

    due = svc.run_due(now=at("2027-01-16T03:00:01"))

    assert [(r.monitor, r.trigger) for r in due] == [(MONITOR, "schedule")]
    assert state(watched)["last_scheduled_fire"] == at("2027-01-16T03:00:00")
    assert state(watched)["last_run"]["run_id"] == due[0].run_id
    assert svc.run_due(now=at("2027-01-16T09:00:00")) == []  # not again before the next fire
    assert len(svc.run_due(now=at("2027-01-17T03:00:01"))) == 1


def test_missed_fires_are_caught_up_with_one_run(watched):
    due = runs(watched).run_due(now=at("2027-01-20T12:00:00"))  # four fires missed

    assert len(due) == 1
    assert state(watched)["last_scheduled_fire"] == at("2027-01-20T03:00:00")


def test_run_due_uses_the_clock_by_default(watched):
    watched.clock.now = at("2027-01-16T03:05:00")

    assert len(runs(watched).run_due()) == 1


def test_the_schedule_is_read_in_its_time_zone(world):
    world.model()
    world.reference()
    world.inference()
    world.services(MONITOR_TIME_ZONE="Europe/Paris").monitors.ensure(MODEL, reason="t")
    svc = runs(world)

    assert svc.run_due(now=at("2027-01-16T01:59:00")) == []
    assert len(svc.run_due(now=at("2027-01-16T02:00:30"))) == 1  # 03:00 in Paris (UTC+1)


def test_a_cron_schedule_from_the_model_tag(world):
    world.model(**{"autopilot.schedule": "*/10 * * * *"})
    world.reference()
    world.inference()
    world.services().monitors.ensure(MODEL, reason="t")
    svc = runs(world)

    assert svc.run_due(now=world.clock() + 599) == []
    assert len(svc.run_due(now=world.clock() + 601)) == 1
    assert len(svc.run_due(now=world.clock() + 1201)) == 1


def test_disabled_monitors_are_not_run(watched):
    watched.services().monitors.set_enabled(MODEL, False)

    assert runs(watched).run_due(now=at("2027-01-16T03:00:01")) == []


def test_a_runner_that_fires_no_schedules_is_never_driven(watched):
    watched.runner = FakeMonitorRunner(fires_schedules=False, clock=watched.clock)

    assert runs(watched).run_due(now=at("2027-01-18T03:00:01")) == []
    assert watched.runner.runs == []
    assert "last_scheduled_fire" not in state(watched)


def test_one_failing_monitor_does_not_stop_the_others(watched):
    watched.model("fraud")
    watched.reference("fraud")
    watched.inference("fraud")
    watched.services().monitors.ensure("fraud", reason="t")
    watched.runner.errors[MONITOR] = RuntimeError("reference data unreadable")

    due = runs(watched).run_due(now=at("2027-01-16T03:00:01"))

    assert [r.model for r in due] == ["fraud"]
    # The failed one counts as fired: it is not retried on every tick until the next fire.
    assert state(watched)["last_scheduled_fire"] == at("2027-01-16T03:00:00")
    assert "last_run" not in state(watched)


def test_a_monitor_whose_state_was_lost_is_scheduled_again(watched):
    # The state store was reset (a new Azurite, another table prefix) but the workspace kept
    # the monitor: ensure finds it up to date and writes a state without a creation time.
    watched.state = FakeStateStore()
    assert watched.services().monitors.ensure(MODEL, reason="reconcile").action == "unchanged"
    svc = runs(watched)

    assert svc.run_due(now=at("2027-01-15T09:00:00")) == []  # counting starts now
    due = svc.run_due(now=at("2027-01-16T03:00:01"))

    assert [r.trigger for r in due] == ["schedule"]


def test_a_monitor_made_by_another_tool_is_scheduled_from_when_it_is_first_seen(watched):
    made_elsewhere = watched.ws.monitors[MONITOR]
    watched.ws = type(watched.ws)()
    watched.ws.monitors[MONITOR] = made_elsewhere
    watched.state = FakeStateStore()  # no state at all for it
    svc = runs(watched)

    assert svc.run_due(now=at("2027-01-16T03:00:01")) == []
    assert state(watched)["last_scheduled_fire"] == at("2027-01-16T03:00:00")
    assert len(svc.run_due(now=at("2027-01-17T03:00:01"))) == 1
