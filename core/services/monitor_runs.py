"""Local monitor runs: what Azure ML's monitoring pipeline does for a `MonitorSchedule`, done
with our drift engine on the local workspace.

A run reads the schedule, compares the pinned production data version with the pinned
reference version for each of its signals (thresholds and features from the schedule), keeps
the full result as an artifact, records a summary in the monitor's state, and for every signal
that breached emits the `RunStatusChanged` event Azure ML would: run tag
``azureml_modelmonitor_threshold_breached`` holding Azure's message for the signal
(``<monitor>_<signal>``), delivered through the event sink like any Event Grid event.

`run_due` is the scheduler: a monitor is due when its trigger (daily ``HH:MM`` or cron, in its
time zone) fired since its last run, or since it was created.

On the Azure backend runs are Azure's: `trigger` asks Azure ML to run the schedule now.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from core.domain.events import RUN_STATUS_CHANGED, THRESHOLD_BREACHED_TAG, event_grid_event
from core.domain.monitoring import MonitorSpec
from core.ports import EventSink, NotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonitorRun:
    run_id: str
    monitor: str
    model: str
    trigger: str
    started_at: float
    finished_at: float
    breached: bool
    signals: dict  # signal name -> breached
    breaches: list  # [{signal, feature, metric, value, threshold}]
    reference: str
    production: str
    result: str  # artifact key of the full drift result
    events: list  # ids of the events emitted
    messages: dict  # signal name -> the threshold-breached run tag sent for it

    def to_json(self) -> dict:
        return dict(self.__dict__)


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
    return croniter(cron_of(spec), local_now).get_prev(datetime).timestamp()


class MonitorRunner:
    def __init__(self, workspace, drift_checks, monitors, events: EventSink, *,
                 clock=time.time, workspace_label: str = "local"):
        self._ws = workspace
        self._drift = drift_checks
        self._monitors = monitors  # MonitorService: names and state
        self._events = events
        self._clock = clock
        self._label = workspace_label

    def run(self, model: str, *, trigger: str = "on_demand") -> MonitorRun:
        from core.drift import DriftConfig, compare

        name = self._monitors.monitor_name(model)
        spec = self._ws.get_monitor(name)
        if spec is None:
            raise NotFound(f"model {model} has no monitor ({name}); ensure it first")
        started = self._clock()
        run_id = f"{name}-{datetime.fromtimestamp(started, UTC):%Y%m%dT%H%M%S}-" \
                 f"{uuid.uuid4().hex[:6]}"
        reference = self._ws.get_data(spec.reference_data.name, spec.reference_data.version)
        production = self._ws.get_data(spec.production_data.name, spec.production_data.version)
        config = DriftConfig.from_azure(
            data_drift=spec.data_drift_thresholds,
            data_quality=spec.data_quality_thresholds,
            signals=("data_drift", "data_quality"),
            features=spec.features,
        )
        result = compare(self._drift.profile(reference), self._ws.read_table(production), config)
        results = [("data", result)]
        outputs = spec.production_outputs
        if outputs is not None:
            pred_ref = spec.effective_prediction_reference()
            out_asset = self._ws.get_data(outputs.name, outputs.version)
            out_table = self._ws.read_table(out_asset)
            pred_config = DriftConfig.from_azure(
                prediction_drift=spec.prediction_drift_thresholds,
                signals=("prediction_drift",), prediction_columns=tuple(out_table.column_names),
            )
            ref_asset = self._ws.get_data(pred_ref.name, pred_ref.version)
            results.append(
                ("outputs", compare(self._drift.profile(ref_asset), out_table, pred_config))
            )
        signals, breaches, events, messages = {}, [], [], {}
        keys = []
        for part, res in results:
            keys.append(self._drift.save_result(model, f"monitor-run-{run_id}-{part}", res))
            for signal in res.signals:
                signal_name = spec.signal_name(signal.name)  # type: ignore[arg-type]
                signals[signal_name] = signal.breached
                if not signal.breached:
                    continue
                breaches += [
                    {"signal": signal_name, "feature": m.feature, "metric": m.azure_name,
                     "value": m.value, "threshold": m.threshold}
                    for s, m in res.breaches() if s == signal.name
                ]
                message = res.breach_message(signal_name, signal.name)
                messages[signal_name] = message
                events.append(self._breach_event(spec, run_id, signal.name, message))
        run = MonitorRun(
            run_id=run_id, monitor=name, model=model, trigger=trigger, started_at=started,
            finished_at=self._clock(), breached=bool(events), signals=signals,
            breaches=breaches[:50], reference=str(spec.reference_data),
            production=str(spec.production_data), result=keys[0], events=[e["id"] for e in events],
            messages=messages,
        )
        self._monitors.record(model, last_run=run.to_json())
        if events:
            log.warning("monitor %s breached: %s", name, ", ".join(
                k for k, v in signals.items() if v))
            self._events.publish(events)
        return run

    def run_due(self, now: float | None = None) -> list[MonitorRun]:
        """Run every enabled monitor whose schedule fired since its last scheduled run (or
        since it was created): one run per monitor however many fires were missed, as a
        scheduler that was down catches up."""
        now = self._clock() if now is None else now
        runs = []
        for spec in self._ws.list_monitors():
            if not spec.enabled:
                continue
            state = self._monitors.state(spec.model_name) or {}
            since = state.get("last_scheduled_fire") or state.get("created_at")
            if since is None:
                continue
            try:
                fire = last_fire_before(spec, now)
                if fire <= since:
                    continue
                self._monitors.record(spec.model_name, last_scheduled_fire=fire)
                runs.append(self.run(spec.model_name, trigger="schedule"))
            except Exception:  # one broken monitor must not stop the others
                log.exception("scheduled run of %s failed", spec.name)
        return runs

    def _breach_event(self, spec: MonitorSpec, run_id: str, signal: str, message: str) -> dict:
        """The event Azure ML emits when a monitor's evaluation step breaches (Event Grid
        schema, camelCase data, as captured events look; azure-facts section 1)."""
        step_run = f"{run_id}_{signal}"
        return event_grid_event(
            RUN_STATUS_CHANGED, f"experiments/{spec.name}/runs/{step_run}",
            {
                "experimentId": spec.name,
                "experimentName": spec.name,
                "runId": step_run,
                "runType": "azureml.StepRun",
                "runTags": {THRESHOLD_BREACHED_TAG: message},
                "runProperties": {"monitor_autopilot.monitor": spec.name,
                                  "monitor_autopilot.model": str(spec.model)},
                "runStatus": "Completed",
            },
            topic=f"/local/workspaces/{self._label}",
        )
