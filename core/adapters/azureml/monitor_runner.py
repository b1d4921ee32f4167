"""The Azure backend's `MonitorRunner`: Azure ML runs monitor schedules itself; running one now
means asking it to (`schedules.trigger`). The breach, if any, arrives later as the monitor's
`RunStatusChanged` event."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.adapters.azureml.workspace import AzureMLWorkspace
from core.domain.monitoring import MonitorRunResult, MonitorSpec


class AzureMonitorRunner:
    fires_schedules = False  # Azure ML fires its own schedules

    def __init__(self, workspace: AzureMLWorkspace, *, clock: Callable[[], float] = time.time):
        self._ws = workspace
        self._clock = clock

    def run(self, spec: MonitorSpec, *, run_id: str, trigger: str) -> MonitorRunResult:
        started = self._clock()
        job = self._ws.trigger_monitor(spec.name)
        return MonitorRunResult(
            run_id=job or run_id, monitor=spec.name, model=spec.model_name, trigger=trigger,
            started_at=started, finished_at=self._clock(), completed=False, job=job,
            reference=str(spec.reference_data), production=str(spec.production_data),
        )
