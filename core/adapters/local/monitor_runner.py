"""The local backend's `MonitorRunner`: what Azure ML's monitoring pipeline does for a
`MonitorSchedule`, done with our drift engine on the local workspace.

A run compares the pinned production data version with the pinned reference version for each
of the schedule's signals (thresholds and features from the schedule), keeps the full result as
an artifact, and for every signal that breached emits the `RunStatusChanged` event Azure ML
would: run tag ``azureml_modelmonitor_threshold_breached`` holding Azure's message for the
signal (``<monitor>_<signal>``), delivered through the event sink like any Event Grid event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from core.domain import tags
from core.domain.assets import DataAssetVersion
from core.domain.events import (
    RUN_STATUS_CHANGED,
    THRESHOLD_BREACHED_TAG,
    breach_message,
    event_grid_event,
)
from core.domain.monitoring import MonitorRunResult, MonitorSpec, SignalKind
from core.ports import DataAssets, EventSink

if TYPE_CHECKING:
    import pyarrow as pa

    from core.drift import DriftConfig, DriftResult, ReferenceProfile

log = logging.getLogger(__name__)


class LocalMonitorRunner:
    fires_schedules = True  # nobody else runs local schedules: the scheduler timer does

    def __init__(self, workspace: DataAssets, events: EventSink, *,
                 profile: Callable[[DataAssetVersion], ReferenceProfile],
                 save_result: Callable[[str, str, DriftResult], str],
                 clock: Callable[[], float] = time.time, workspace_label: str = "local",
                 correlation_column: str = "correlationid",
                 compare: Callable[[ReferenceProfile, pa.Table, DriftConfig], DriftResult]
                 | None = None):
        self._ws = workspace
        self._correlation_column = correlation_column
        self._events = events
        self._profile = profile
        self._save_result = save_result
        self._clock = clock
        self._label = workspace_label
        # None: the spec's thresholds as Azure applies them; else the configured threshold
        # policy over them (core.services.thresholds.DriftThresholds.compare_over).
        self._compare_with = compare

    def run(self, spec: MonitorSpec, *, run_id: str, trigger: str) -> MonitorRunResult:
        from core.drift import DriftConfig

        started = self._clock()
        reference = self._ws.get_data(spec.reference_data.name, spec.reference_data.version)
        production = self._ws.get_data(spec.production_data.name, spec.production_data.version)
        config = DriftConfig.from_azure(
            data_drift=spec.data_drift_thresholds,
            data_quality=spec.data_quality_thresholds,
            signals=("data_drift", "data_quality"),
            features=spec.features,
        )
        results = [("data", self._compare(
            self._profile(reference), self._ws.read_table(production), config))]
        outputs = spec.production_outputs
        pred_ref = spec.effective_prediction_reference()
        if outputs is not None and pred_ref is not None:
            out_table = self._ws.read_table(self._ws.get_data(outputs.name, outputs.version))
            pred_config = DriftConfig.from_azure(
                prediction_drift=spec.prediction_drift_thresholds,
                signals=("prediction_drift",),
                # The id column that joins outputs to labels is no prediction.
                prediction_columns=tuple(c for c in out_table.column_names
                                         if c != self._correlation_column),
            )
            ref_asset = self._ws.get_data(pred_ref.name, pred_ref.version)
            results.append(("outputs", self._compare(self._profile(ref_asset), out_table,
                                                     pred_config)))
        signals: dict[str, bool] = {}
        breaches: list[dict] = []
        events: list[dict] = []
        messages: dict[str, str] = {}
        keys = []
        if spec.performance_data is not None:
            self._performance(spec, run_id, signals, breaches, events, messages)
        for part, res in results:
            keys.append(self._save_result(spec.model_name, f"monitor-run-{run_id}-{part}", res))
            for signal in res.signals:
                signal_name = spec.signal_name(cast(SignalKind, signal.name))
                signals[signal_name] = signal.breached
                if not signal.breached:
                    continue
                breaches += [
                    {"signal": signal_name, "feature": m.feature, "metric": m.azure_name,
                     "value": m.value, "threshold": m.threshold}
                    for s, m in res.breaches() if s == signal.name
                ]
                message = res.breach_message(signal_name, signal.name) or ""
                messages[signal_name] = message
                events.append(self._breach_event(spec, run_id, signal.name, message))
        run = MonitorRunResult(
            run_id=run_id, monitor=spec.name, model=spec.model_name, trigger=trigger,
            started_at=started, finished_at=self._clock(), completed=True,
            breached=bool(events), signals=signals, breaches=breaches[:50],
            reference=str(spec.reference_data), production=str(spec.production_data),
            result=keys[0], events=[e["id"] for e in events], messages=messages,
        )
        if events:
            log.warning("monitor %s breached: %s", spec.name,
                        ", ".join(k for k, v in signals.items() if v))
            self._events.publish(events)
        return run

    def _compare(self, profile: ReferenceProfile, table: pa.Table,
                 config: DriftConfig) -> DriftResult:
        """The spec's thresholds as Azure applies them, or the configured policy over them
        (``calibrated``: the spec names the metrics and the fallback values)."""
        from core.drift import compare

        if self._compare_with is None:
            return compare(profile, table, config)
        return self._compare_with(profile, table, config)

    def _performance(self, spec: MonitorSpec, run_id: str, signals: dict[str, bool],
                     breaches: list[dict], events: list[dict], messages: dict[str, str]) -> None:
        """The model performance signal, as Azure's component computes it: the prediction
        column against the actual column of the pinned labelled version (pre-joined rows,
        so the correlation-id join pairs each row with itself)."""
        from core.domain.performance import AZURE_SIGNAL_METRICS
        from core.domain.retraining import LOWER_IS_BETTER
        from core.training.performance import azure_signal_metrics

        assert spec.performance_data is not None
        ref = spec.performance_data
        name = spec.signal_name("model_performance")
        table = self._ws.read_table(self._ws.get_data(ref.name, ref.version))
        try:
            values, _ = azure_signal_metrics(
                table, prediction_column=str(spec.prediction_column),
                actual_column=str(spec.target_column), task=spec.ml_task)
        except ValueError as exc:  # the version lacks the columns, or no row has both
            log.warning("monitor %s: model performance not computed: %s", spec.name, exc)
            signals[name] = False
            messages[name] = f"not computed: {exc}"
            return
        rows = []
        for metric, threshold in spec.performance_thresholds.items():
            value = values[metric]
            worse = value > threshold if metric in LOWER_IS_BETTER | {"mse"} \
                else value < threshold
            if worse:
                wire = AZURE_SIGNAL_METRICS[spec.ml_task].get(metric, metric)
                rows.append({"feature_name": spec.prediction_column, "metric_value": value,
                             "metric_name": wire, "threshold_value": threshold})
        signals[name] = bool(rows)
        if not rows:
            return
        breaches += [{"signal": name, "feature": r["feature_name"], "metric": r["metric_name"],
                      "value": r["metric_value"], "threshold": r["threshold_value"]}
                     for r in rows]
        message = breach_message(name, rows)
        messages[name] = message
        events.append(self._breach_event(spec, run_id, "model_performance", message))

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
                "runProperties": {tags.RUN_MONITOR: spec.name, tags.RUN_MODEL: str(spec.model)},
                "runStatus": "Completed",
            },
            topic=f"/local/workspaces/{self._label}",
        )
