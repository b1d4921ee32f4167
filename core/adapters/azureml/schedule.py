"""`MonitorSpec` <-> azure-ai-ml `MonitorSchedule`, with the SDK's pitfalls worked around.

`azure.ai.ml` is imported inside the functions (about 1.5 s; cold starts that only ingest a file
must not pay for it). The workaround classes subclass SDK classes, so they are built on first use.

Pitfalls of azure-ai-ml 1.35.2 handled here (azure-facts section 2):

1. A drift threshold of 0.0 loses its metric name: `NumericalDriftMetrics` and
   `CategoricalDriftMetrics._find_name_and_threshold` test `if self.<metric>:`, so 0.0 is
   "unset" and the wire gets ``{"dataType": "Numerical"}`` with no metric and no threshold.
   -> `_ZeroSafeNumericalDriftMetrics` / `_ZeroSafeCategoricalDriftMetrics` test `is not None`.
2. `DataQualityMetricThreshold._to_rest_object` copies the numerical values into the categorical
   thresholds, and drops categorical thresholds when there are no numerical ones. In 1.35.2
   `DataQualitySignal` serialises through `_to_rest_data_quality_metrics` and does not call it,
   but other callers (and other SDK versions) do. -> `_DataQualityMetricThreshold` serialises
   each feature type from its own values.
3. `PredictionDriftSignal` always sends ``modelType: "classification"``.
   -> `_PredictionDriftSignal` sends the monitor's ml_task (lower case, as the SDK does).
4. The compute's `runtime_version` must be "3.4" for 1.26.0-1.35.1 (1.35.2 also takes "3.5"),
   checked only at create time -> `MonitorSpec` validates it up front, and the app's setting
   `MONITOR_SPARK_RUNTIME` (default "3.5": serverless Spark 3.4 support ended 2026-03-31) is
   checked at start against what the pinned SDK accepts (`core.settings.SPARK_RUNTIMES`).
5. `MonitorSchedule._to_rest_object` fails when `tags` is None -> we always pass tags.
6. A schedule read back from the service (`schedules.get`) has lost its target's `model_id`
   (`MonitorDefinition._from_rest_object` keeps only the deployment id). -> The model and data
   versions are also written to the schedule's tags (`MonitorSpec.schedule_tags`) and read from
   there; and enable/disable rebuild the full schedule from the spec instead of calling
   `schedules.begin_enable/begin_disable`, which re-send the GET result without the model id.
"""

from __future__ import annotations

import functools
import json
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from core.adapters.local.schedule_yaml import monitor_spec_from_dict
from core.domain.monitoring import MonitorSpec

if TYPE_CHECKING:  # pragma: no cover
    from azure.ai.ml.entities import MonitorSchedule


@functools.cache
def _sdk() -> SimpleNamespace:
    from azure.ai.ml import Input
    from azure.ai.ml._restclient.arm_ml_service.models import (
        CategoricalDataQualityMetricThreshold,
        MonitoringThreshold,
        NumericalDataQualityMetricThreshold,
    )
    from azure.ai.ml._utils.utils import snake_to_camel
    from azure.ai.ml.entities import (
        AlertNotification,
        BaselineDataRange,
        CategoricalDriftMetrics,
        CronTrigger,
        DataDriftMetricThreshold,
        DataDriftSignal,
        DataQualityMetricsCategorical,
        DataQualityMetricsNumerical,
        DataQualityMetricThreshold,
        DataQualitySignal,
        ModelPerformanceClassificationThresholds,
        ModelPerformanceMetricThreshold,
        ModelPerformanceRegressionThresholds,
        ModelPerformanceSignal,
        MonitorDefinition,
        MonitoringTarget,
        MonitorSchedule,
        NumericalDriftMetrics,
        PredictionDriftMetricThreshold,
        PredictionDriftSignal,
        ProductionData,
        RecurrencePattern,
        RecurrenceTrigger,
        ReferenceData,
        ServerlessSparkCompute,
    )

    def _first_set(metrics: Any, names: tuple[str, ...]) -> tuple:
        # Same precedence as the SDK's own method, but 0.0 counts as set (pitfall 1).
        for name in names:
            value = getattr(metrics, name, None)
            if value is not None:
                return name, MonitoringThreshold(value=value)
        return None, None

    class _ZeroSafeNumericalDriftMetrics(NumericalDriftMetrics):
        def _find_name_and_threshold(self) -> tuple:
            return _first_set(
                self,
                (
                    "jensen_shannon_distance",
                    "normalized_wasserstein_distance",
                    "population_stability_index",
                    "two_sample_kolmogorov_smirnov_test",
                ),
            )

    class _ZeroSafeCategoricalDriftMetrics(CategoricalDriftMetrics):
        def _find_name_and_threshold(self) -> tuple:
            return _first_set(
                self,
                (
                    "jensen_shannon_distance",
                    "population_stability_index",
                    "pearsons_chi_squared_test",
                ),
            )

    class _DataQualityMetricThreshold(DataQualityMetricThreshold):
        # Pitfall 2: each feature type keeps its own values.
        def _to_rest_object(self) -> list:  # type: ignore[override]  # the SDK's base returns one object; its caller (the signal) takes the list we send
            out: list = []
            for metrics, rest_cls in (
                (self.numerical, NumericalDataQualityMetricThreshold),
                (self.categorical, CategoricalDataQualityMetricThreshold),
            ):
                if metrics is None:
                    continue
                for name in ("null_value_rate", "data_type_error_rate", "out_of_bounds_rate"):
                    value = getattr(metrics, name, None)
                    if value is not None:
                        out.append(
                            rest_cls(
                                metric=snake_to_camel(name) or name,
                                threshold=MonitoringThreshold(value=value),
                            )
                        )
            return out

    class _PredictionDriftSignal(PredictionDriftSignal):
        # Pitfall 3: the SDK hard-codes modelType "classification".
        def __init__(self, *, model_type: str = "classification", **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._model_type = model_type

        def _to_rest_object(self, **kwargs: Any) -> Any:
            rest = super()._to_rest_object(**kwargs)
            rest["modelType"] = self._model_type
            return rest

    class _ModelPerformanceMetricThreshold(ModelPerformanceMetricThreshold):
        # Pitfall 7: send the thresholds it holds, 0.0 included.
        def _thresholds(self) -> list[tuple[str, str, float]]:
            out = []
            for task, group, names in (
                ("classification", self.classification, _CLASSIFICATION_WIRE),
                ("regression", self.regression, _REGRESSION_WIRE),
            ):
                for attr, wire in names:
                    value = getattr(group, attr, None) if group is not None else None
                    if value is not None:
                        out.append((task, wire, float(value)))
            return out

        def _to_rest_object(self, **kwargs: Any) -> dict:
            thresholds = self._thresholds()
            if not thresholds:
                return {}
            task, metric, value = thresholds[0]
            return {"metric": metric, "modelType": task.capitalize(),
                    "threshold": {"value": value}}

        def _to_str_object(self, **kwargs: Any) -> str | None:
            items = [json.dumps({"modelType": t, "metric": m, "threshold": {"value": v}},
                                separators=(",", ":")) for t, m, v in self._thresholds()]
            return "[" + ", ".join(items) + "]" if items else None

    return SimpleNamespace(
        Input=Input,
        ModelPerformanceClassificationThresholds=ModelPerformanceClassificationThresholds,
        ModelPerformanceRegressionThresholds=ModelPerformanceRegressionThresholds,
        ModelPerformanceMetricThreshold=ModelPerformanceMetricThreshold,
        ModelPerformanceSignal=ModelPerformanceSignal,
        _ModelPerformanceMetricThreshold=_ModelPerformanceMetricThreshold,
        AlertNotification=AlertNotification,
        BaselineDataRange=BaselineDataRange,
        CronTrigger=CronTrigger,
        DataDriftMetricThreshold=DataDriftMetricThreshold,
        DataDriftSignal=DataDriftSignal,
        DataQualityMetricsCategorical=DataQualityMetricsCategorical,
        DataQualityMetricsNumerical=DataQualityMetricsNumerical,
        DataQualityMetricThreshold=DataQualityMetricThreshold,
        DataQualitySignal=DataQualitySignal,
        MonitorDefinition=MonitorDefinition,
        MonitoringTarget=MonitoringTarget,
        MonitorSchedule=MonitorSchedule,
        PredictionDriftMetricThreshold=PredictionDriftMetricThreshold,
        PredictionDriftSignal=PredictionDriftSignal,
        ProductionData=ProductionData,
        RecurrencePattern=RecurrencePattern,
        RecurrenceTrigger=RecurrenceTrigger,
        ReferenceData=ReferenceData,
        ServerlessSparkCompute=ServerlessSparkCompute,
        _ZeroSafeNumericalDriftMetrics=_ZeroSafeNumericalDriftMetrics,
        _ZeroSafeCategoricalDriftMetrics=_ZeroSafeCategoricalDriftMetrics,
        _DataQualityMetricThreshold=_DataQualityMetricThreshold,
        _PredictionDriftSignal=_PredictionDriftSignal,
    )


# (entity attribute, wire metric name) of Azure's model performance thresholds.
_CLASSIFICATION_WIRE = (("accuracy", "Accuracy"), ("precision", "Precision"),
                        ("recall", "Recall"))
_REGRESSION_WIRE = (("mean_absolute_error", "MeanAbsoluteError"),
                    ("mean_squared_error", "MeanSquaredError"),
                    ("root_mean_squared_error", "RootMeanSquaredError"))
# The spec's (the schedule YAML's) regression names -> the entity's.
_REGRESSION_ATTRS = {"mae": "mean_absolute_error", "mse": "mean_squared_error",
                     "rmse": "root_mean_squared_error"}


def _performance_signal(sdk: SimpleNamespace, spec: MonitorSpec) -> Any:
    from core.adapters.local.schedule_yaml import ACTUAL_KEY, CORRELATION_KEY, PREDICTION_KEY

    assert spec.performance_data is not None
    thresholds = spec.performance_thresholds
    if spec.ml_task == "classification":
        metric = sdk._ModelPerformanceMetricThreshold(
            classification=sdk.ModelPerformanceClassificationThresholds(**thresholds))
    else:
        metric = sdk._ModelPerformanceMetricThreshold(
            regression=sdk.ModelPerformanceRegressionThresholds(
                **{_REGRESSION_ATTRS[k]: v for k, v in thresholds.items()}))
    path = spec.performance_data.asset_id
    return sdk.ModelPerformanceSignal(
        production_data=sdk.ProductionData(
            input_data=sdk.Input(type="mltable", path=path), data_context="model_outputs",
            data_window=sdk.BaselineDataRange(lookback_window_size=spec.lookback_window,
                                              lookback_window_offset="P0D"),
            data_column_names={PREDICTION_KEY: spec.prediction_column,
                               CORRELATION_KEY: spec.correlation_column}),
        reference_data=sdk.ReferenceData(
            input_data=sdk.Input(type="mltable", path=path), data_context="ground_truth",
            data_column_names={ACTUAL_KEY: spec.target_column,
                               CORRELATION_KEY: spec.correlation_column}),
        metric_thresholds=metric,
        alert_enabled=True,
    )


def _drift_thresholds(sdk: SimpleNamespace, cls: Any, thresholds: dict) -> Any:
    numerical = thresholds.get("numerical")
    categorical = thresholds.get("categorical")
    return cls(
        numerical=sdk._ZeroSafeNumericalDriftMetrics(**numerical) if numerical else None,
        categorical=sdk._ZeroSafeCategoricalDriftMetrics(**categorical) if categorical else None,
    )


def _trigger(sdk: SimpleNamespace, spec: MonitorSpec) -> Any:
    trigger = spec.trigger
    if trigger.cron is not None:
        return sdk.CronTrigger(expression=trigger.cron, time_zone=trigger.time_zone)
    hour, minute = trigger.hour_minute
    return sdk.RecurrenceTrigger(
        frequency="day",
        interval=1,
        schedule=sdk.RecurrencePattern(hours=[hour], minutes=[minute]),
        time_zone=trigger.time_zone,
    )


def build_monitor_schedule(spec: MonitorSpec) -> MonitorSchedule:
    """The `MonitorSchedule` for `spec`: data drift + data quality (+ prediction drift when
    model outputs are collected), each named `<monitor>_<signal>` and alerting; serverless Spark
    compute; an explicit model target (so every signal carries production and reference data)."""
    sdk = _sdk()

    def production(ref: Any, context: str) -> Any:
        return sdk.ProductionData(
            input_data=sdk.Input(type="mltable", path=ref.asset_id),
            data_context=context,
            data_window=sdk.BaselineDataRange(
                lookback_window_size=spec.lookback_window, lookback_window_offset="P0D"
            ),
        )

    def reference(ref: Any, context: str) -> Any:
        return sdk.ReferenceData(
            input_data=sdk.Input(type="mltable", path=ref.asset_id), data_context=context
        )

    features: Any = list(spec.features) if spec.features else "all_features"
    quality = spec.data_quality_thresholds
    signals: dict[str, Any] = {
        spec.signal_name("data_drift"): sdk.DataDriftSignal(
            production_data=production(spec.production_data, "model_inputs"),
            reference_data=reference(spec.reference_data, "training"),
            features=features,
            metric_thresholds=_drift_thresholds(
                sdk, sdk.DataDriftMetricThreshold, spec.data_drift_thresholds
            ),
            alert_enabled=True,  # the SDK default is False ("mode: Disabled" on the wire)
        ),
        spec.signal_name("data_quality"): sdk.DataQualitySignal(
            production_data=production(spec.production_data, "model_inputs"),
            reference_data=reference(spec.reference_data, "training"),
            features=features,
            metric_thresholds=sdk._DataQualityMetricThreshold(
                numerical=sdk.DataQualityMetricsNumerical(**quality["numerical"])
                if "numerical" in quality
                else None,
                categorical=sdk.DataQualityMetricsCategorical(**quality["categorical"])
                if "categorical" in quality
                else None,
            ),
            alert_enabled=True,
        ),
    }
    prediction_reference = spec.effective_prediction_reference()
    if spec.production_outputs is not None and prediction_reference is not None:
        signals[spec.signal_name("prediction_drift")] = sdk._PredictionDriftSignal(
            model_type=spec.ml_task,
            production_data=production(spec.production_outputs, "model_outputs"),
            reference_data=reference(
                prediction_reference,
                "training" if spec.prediction_reference is None else "validation",
            ),
            metric_thresholds=_drift_thresholds(
                sdk, sdk.PredictionDriftMetricThreshold, spec.prediction_drift_thresholds
            ),
            alert_enabled=True,
        )
    if spec.performance_data is not None:
        signals[spec.signal_name("model_performance")] = _performance_signal(sdk, spec)
    definition = sdk.MonitorDefinition(
        compute=sdk.ServerlessSparkCompute(
            instance_type=spec.instance_type, runtime_version=spec.runtime_version
        ),
        monitoring_target=sdk.MonitoringTarget(ml_task=spec.ml_task, model_id=spec.model_id),
        monitoring_signals=signals,
        alert_notification=sdk.AlertNotification(emails=list(spec.alert_emails))
        if spec.alert_emails
        else None,
    )
    return sdk.MonitorSchedule(
        name=spec.name,
        trigger=_trigger(sdk, spec),
        create_monitor=definition,
        description=spec.description or None,
        tags=spec.schedule_tags(),
        is_enabled=spec.enabled,
    )


def apply_sdk_workarounds(schedule: MonitorSchedule) -> MonitorSchedule:
    """Swap the SDK's threshold and prediction-drift objects in `schedule` (for example one from
    the SDK's YAML loader or from `schedules.get`) for the fixed subclasses above, in place."""
    sdk = _sdk()
    definition = schedule.create_monitor
    ml_task = str(
        (definition.monitoring_target.ml_task if definition.monitoring_target else None)
        or "classification"
    ).lower()
    for name, signal in list((definition.monitoring_signals or {}).items()):
        thresholds = signal.metric_thresholds
        if isinstance(thresholds, sdk.ModelPerformanceMetricThreshold) and not isinstance(
            thresholds, sdk._ModelPerformanceMetricThreshold
        ):
            fixed_mp = sdk._ModelPerformanceMetricThreshold.__new__(
                sdk._ModelPerformanceMetricThreshold)
            fixed_mp.__dict__.update(vars(thresholds))
            signal.metric_thresholds = fixed_mp
            continue
        if isinstance(
            thresholds, (sdk.DataDriftMetricThreshold, sdk.PredictionDriftMetricThreshold)
        ):
            for attr, cls in (
                ("numerical", sdk._ZeroSafeNumericalDriftMetrics),
                ("categorical", sdk._ZeroSafeCategoricalDriftMetrics),
            ):
                metrics = getattr(thresholds, attr)
                if metrics is not None and not isinstance(metrics, cls):
                    fixed = cls.__new__(cls)
                    fixed.__dict__.update(vars(metrics))
                    setattr(thresholds, attr, fixed)
        elif isinstance(thresholds, sdk.DataQualityMetricThreshold) and not isinstance(
            thresholds, sdk._DataQualityMetricThreshold
        ):
            fixed = sdk._DataQualityMetricThreshold.__new__(sdk._DataQualityMetricThreshold)
            fixed.__dict__.update(vars(thresholds))
            signal.metric_thresholds = fixed
        if isinstance(signal, sdk.PredictionDriftSignal) and not isinstance(
            signal, sdk._PredictionDriftSignal
        ):
            fixed_signal = sdk._PredictionDriftSignal.__new__(sdk._PredictionDriftSignal)
            fixed_signal.__dict__.update(vars(signal))
            fixed_signal._model_type = ml_task
            definition.monitoring_signals[name] = fixed_signal
    return schedule


def schedule_to_dict(schedule: MonitorSchedule) -> dict[str, Any]:
    """The SDK's own YAML-shaped dump of a schedule, as plain dicts (its `_to_dict()` returns
    OrderedDicts that `yaml.safe_dump` refuses)."""
    return json.loads(json.dumps(schedule._to_dict(), default=str))


def monitor_spec_from_schedule(schedule: MonitorSchedule) -> MonitorSpec:
    """Back from an SDK entity (built here, loaded from YAML, or returned by `schedules.get`).

    The model comes from the target when present, else from the schedule's tags (pitfall 6)."""
    return monitor_spec_from_dict(schedule_to_dict(schedule))
