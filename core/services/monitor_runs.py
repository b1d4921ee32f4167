"""Use case: run a model's monitor now (operators), or every monitor whose schedule fired
(the scheduler timer).

The runner (`core.ports.MonitorRunner`) does the run: locally with our drift engine, emitting
the breach events Azure ML would; on Azure ML by asking it to run the schedule. A monitor is
due when its trigger (daily ``HH:MM`` or cron, in its time zone) fired since its last
scheduled run, or since it was created (or first seen, when its creation was not recorded);
only runners that do not schedule themselves are driven this way.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from core.domain.monitoring import MonitorRunResult, MonitorSpec
from core.ports import MonitorRunner, Monitors, NotFound
from core.services.monitors import MonitorService

log = logging.getLogger(__name__)


def cron_of(spec: MonitorSpec) -> str:
    if spec.trigger.daily_at is not None:
        hour, minute = spec.trigger.hour_minute
        return f"{minute} {hour} * * *"
    assert spec.trigger.cron is not None
    return spec.trigger.cron


def last_fire_before(spec: MonitorSpec, now: float) -> float:
    """When the monitor's schedule last fired at or before `now` (epoch seconds)."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    zone = ZoneInfo(spec.trigger.time_zone)
    local_now = datetime.fromtimestamp(now, zone)
    fired: datetime = croniter(cron_of(spec), local_now).get_prev(datetime)
    return fired.timestamp()


class MonitorRuns:
    def __init__(self, workspace: Monitors, runner: MonitorRunner, monitors: MonitorService, *,
                 clock: Callable[[], float] = time.time):
        self._ws = workspace
        self._runner = runner
        self._monitors = monitors  # names and state
        self._clock = clock

    def run(self, model: str, *, trigger: str = "on_demand") -> MonitorRunResult:
        name = self._monitors.monitor_name(model)
        spec = self._ws.get_monitor(name)
        if spec is None:
            raise NotFound(f"model {model} has no monitor ({name}); ensure it first")
        started = self._clock()
        run_id = f"{name}-{datetime.fromtimestamp(started, UTC):%Y%m%dT%H%M%S}-" \
                 f"{uuid.uuid4().hex[:6]}"
        run = self._runner.run(spec, run_id=run_id, trigger=trigger)
        self._monitors.record(model, last_run=run.to_json())
        return run

    def run_due(self, now: float | None = None) -> list[MonitorRunResult]:
        """Run every enabled monitor whose schedule fired since its last scheduled run (or
        since it was created): one run per monitor however many fires were missed, as a
        scheduler that was down catches up."""
        if not self._runner.fires_schedules:
            return []
        now = self._clock() if now is None else now
        runs = []
        for spec in self._ws.list_monitors():
            if not spec.enabled:
                continue
            state = self._monitors.state(spec.model_name) or {}
            since = state.get("last_scheduled_fire") or state.get("created_at")
            try:
                fire = last_fire_before(spec, now)
                if since is None:
                    # A monitor we have no creation time for (its state was lost, or it was
                    # made by another tool): count its fires from now on.
                    self._monitors.record(spec.model_name, last_scheduled_fire=fire)
                    continue
                if fire <= since:
                    continue
                self._monitors.record(spec.model_name, last_scheduled_fire=fire)
                runs.append(self.run(spec.model_name, trigger="schedule"))
            except Exception:  # one broken monitor must not stop the others
                log.exception("scheduled run of %s failed", spec.name)
        return runs
