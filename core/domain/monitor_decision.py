"""Which monitor a model should have: a pure decision, no I/O.

`desired_monitor` turns a registered model version, its resolved reference and production data
versions and the service's monitor configuration (with per-model overrides from the model's
tags) into the `MonitorSpec` the model should be watched by, or into the reason it cannot or
should not be (`MissingReference`, `MissingProductionData`, `OptedOut`, `InvalidOverride`).

The use case around it (not written yet) resolves the data versions through the ports, compares
the result with the workspace's actual monitor and creates, updates or leaves it.

Model tags read here (values are strings, as Azure ML stores tags):

| tag | meaning | example |
|---|---|---|
| `autopilot.monitor` | `false` opts the model out | `false` |
| `autopilot.reference_data` | reference asset, optionally pinned | `churn-train:3` |
| `autopilot.features` | comma-separated feature names | `age,city` |
| `autopilot.ml_task` | `classification` or `regression` | `regression` |
| `autopilot.schedule` | daily `HH:MM` or a 5-field cron expression | `02:30` |
| `autopilot.alert_emails` | comma- or semicolon-separated | `a@x.com;b@x.com` |
| `autopilot.drift_threshold` | one threshold for both default drift metrics | `0.2` |
| `autopilot.performance_threshold` | model performance thresholds (`metric=value,...`) | `f1=0.6` |

`with_performance` adds the model performance signal when the model's labelled data (ground
truth joined to its collected inputs) carries the deployment's logged predictions and a
threshold Azure's signal evaluates is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import NotRequired, TypedDict, cast

from core.domain import tags as _tags
from core.domain.assets import DataAssetVersion, ModelVersion
from core.domain.ground_truth import DEFAULT_CORRELATION_COLUMN, logged_prediction_column
from core.domain.monitoring import (
    DEFAULT_DATA_QUALITY_THRESHOLDS,
    DEFAULT_DRIFT_THRESHOLDS,
    AssetRef,
    MLTask,
    MonitorSpec,
    MonitorTrigger,
    parse_emails,
)
from core.domain.performance import azure_signal_thresholds, parse_thresholds, thresholds_for

TAG_OPT = "autopilot.monitor"
TAG_REFERENCE = "autopilot.reference_data"
TAG_FEATURES = "autopilot.features"
TAG_ML_TASK = "autopilot.ml_task"
TAG_SCHEDULE = "autopilot.schedule"
TAG_EMAILS = "autopilot.alert_emails"
TAG_DRIFT_THRESHOLD = "autopilot.drift_threshold"
TAG_PERFORMANCE_THRESHOLD = "autopilot.performance_threshold"

_FALSE = {"false", "0", "no", "off", "disabled"}


@dataclass(frozen=True)
class MonitorConfig:
    """Service-wide monitor settings (the defaults model tags override)."""

    monitor_name_template: str = "{model}-monitor"
    reference_asset_template: str = "{model}-training"
    inference_asset_template: str = "{model}-inference"
    outputs_asset_template: str = "{model}-outputs"
    watch_all_models: bool = True  # False: only models tagged autopilot.monitor=true
    ml_task: MLTask = "classification"
    trigger: MonitorTrigger = field(default_factory=MonitorTrigger.daily)
    lookback_window: str = "P7D"
    alert_emails: tuple[str, ...] = ()
    data_drift_thresholds: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_DRIFT_THRESHOLDS.items()}
    )
    data_quality_thresholds: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_DATA_QUALITY_THRESHOLDS.items()}
    )
    instance_type: str = "standard_e4s_v3"
    runtime_version: str = "3.4"
    labelled_asset_template: str = "{model}-labelled"
    performance_thresholds: dict[str, float] = field(default_factory=dict)  # parsed setting
    correlation_column: str = DEFAULT_CORRELATION_COLUMN

    def monitor_name(self, model: str) -> str:
        return self.monitor_name_template.format(model=model)


@dataclass(frozen=True)
class MissingReference:
    model: str  # "<name>:<version>"
    reference_asset: str  # "<asset>" (latest wanted) or "<asset>:<version>"
    reason: str


@dataclass(frozen=True)
class MissingProductionData:
    model: str
    production_asset: str
    reason: str


@dataclass(frozen=True)
class OptedOut:
    model: str
    reason: str


@dataclass(frozen=True)
class InvalidOverride:
    model: str
    tag: str
    reason: str


Decision = MonitorSpec | MissingReference | MissingProductionData | OptedOut | InvalidOverride


def watched(model: ModelVersion, config: MonitorConfig) -> bool:
    value = model.tags.get(TAG_OPT)
    if value is None:
        return config.watch_all_models
    return value.strip().lower() not in _FALSE


def reference_wanted(model: ModelVersion, config: MonitorConfig) -> tuple[str, str | None]:
    """The reference data asset to look up: (name, pinned version or None for latest).
    Raises ValueError for a malformed tag."""
    tagged = (model.tags.get(TAG_REFERENCE) or "").strip()
    if not tagged:
        return config.reference_asset_template.format(model=model.name), None
    if ":" in tagged:
        ref = AssetRef.parse(tagged)
        return ref.name, ref.version
    return tagged, None


def production_wanted(model: ModelVersion, config: MonitorConfig) -> str:
    """The inference data asset whose latest version is the production data."""
    return config.inference_asset_template.format(model=model.name)


def labelled_wanted(model: ModelVersion, config: MonitorConfig) -> str:
    """The labelled data asset (ground truth joined to the collected inputs)."""
    return config.labelled_asset_template.format(model=model.name)


def with_performance(spec: MonitorSpec, model: ModelVersion,
                     labelled: DataAssetVersion | None, *, target: str | None,
                     prediction_columns: tuple[str, ...], config: MonitorConfig) -> MonitorSpec:
    """`spec` with the model performance signal on the latest labelled version, when that
    version carries the logged predictions (`predicted_<column>`, from model_outputs) and the
    target, and a threshold Azure's signal evaluates applies (accuracy, precision, recall;
    MAE, RMSE: from the tag, else the setting). Otherwise `spec` as it is."""
    if labelled is None or not target:
        return spec
    columns = [c for c in labelled.tags.get(_tags.DATA_COLUMNS, "").split(",") if c]
    column = logged_prediction_column(prediction_columns, columns)
    if column is None or target not in columns:
        return spec
    parsed = config.performance_thresholds
    tag = model.tags.get(TAG_PERFORMANCE_THRESHOLD, "").strip()
    if tag:
        try:
            parsed = parse_thresholds(tag, what=TAG_PERFORMANCE_THRESHOLD)
        except ValueError:
            return spec  # desired_monitor reported it
    thresholds = azure_signal_thresholds(spec.ml_task, thresholds_for(spec.ml_task, parsed))
    if not thresholds:
        return spec
    return replace(spec, performance_data=AssetRef(labelled.name, labelled.version),
                   performance_thresholds=thresholds, prediction_column=column,
                   target_column=target, correlation_column=config.correlation_column)


def outputs_wanted(model: ModelVersion, config: MonitorConfig) -> str:
    """The model-outputs asset (data collector `model_outputs`); when it has a version, the
    monitor gets a prediction drift signal."""
    return config.outputs_asset_template.format(model=model.name)


def desired_monitor(
    model: ModelVersion,
    reference: DataAssetVersion | None,
    production: DataAssetVersion | None,
    config: MonitorConfig,
    outputs: DataAssetVersion | None = None,
) -> Decision:
    model_id = f"{model.name}:{model.version}"
    if not watched(model, config):
        return OptedOut(model_id, f"tag {TAG_OPT}={model.tags.get(TAG_OPT)!r}")
    if reference is None:
        try:
            name, version = reference_wanted(model, config)
        except ValueError as exc:
            return InvalidOverride(model_id, TAG_REFERENCE, str(exc))
        wanted = f"{name}:{version}" if version else name
        return MissingReference(model_id, wanted, f"reference data asset {wanted} not found")
    if production is None:
        asset = production_wanted(model, config)
        return MissingProductionData(
            model_id, asset, f"no version of inference data asset {asset} yet"
        )
    try:
        overrides = _overrides(model.tags, config)
    except _BadTag as exc:
        return InvalidOverride(model_id, exc.tag, exc.reason)
    try:
        return MonitorSpec(
            name=config.monitor_name(model.name),
            model_name=model.name,
            model_version=model.version,
            reference_data=AssetRef(reference.name, reference.version),
            production_data=AssetRef(production.name, production.version),
            production_outputs=AssetRef(outputs.name, outputs.version) if outputs else None,
            lookback_window=config.lookback_window,
            data_quality_thresholds=config.data_quality_thresholds,
            instance_type=config.instance_type,
            runtime_version=config.runtime_version,
            **overrides,
        )
    except ValueError as exc:
        return InvalidOverride(model_id, "", str(exc))


class _BadTag(ValueError):
    def __init__(self, tag: str, reason: str):
        super().__init__(f"{tag}: {reason}")
        self.tag = tag
        self.reason = reason


class _Overrides(TypedDict):
    """The monitor spec fields a model's tags may override, with the service-wide defaults."""

    ml_task: MLTask
    trigger: MonitorTrigger
    alert_emails: tuple[str, ...]
    data_drift_thresholds: dict[str, dict[str, float]]
    features: NotRequired[tuple[str, ...]]


def _overrides(tags: Mapping[str, str], config: MonitorConfig) -> _Overrides:
    out: _Overrides = {
        "ml_task": config.ml_task,
        "trigger": config.trigger,
        "alert_emails": config.alert_emails,
        "data_drift_thresholds": config.data_drift_thresholds,
    }
    if (task := tags.get(TAG_ML_TASK, "").strip().lower()) != "":
        if task not in ("classification", "regression"):
            raise _BadTag(TAG_ML_TASK, f"must be classification or regression, not {task!r}")
        out["ml_task"] = cast(MLTask, task)  # one of MLTask's values, checked just above
    if (features := tags.get(TAG_FEATURES, "").strip()) != "":
        names = tuple(f.strip() for f in features.split(",") if f.strip())
        if not names or len(set(names)) != len(names):
            raise _BadTag(TAG_FEATURES, f"must be distinct comma-separated names: {features!r}")
        out["features"] = names
    if (schedule := tags.get(TAG_SCHEDULE, "").strip()) != "":
        try:
            out["trigger"] = MonitorTrigger.parse(schedule, config.trigger.time_zone)
        except ValueError as exc:
            raise _BadTag(TAG_SCHEDULE, str(exc)) from exc
    if (emails := tags.get(TAG_EMAILS, "").strip()) != "":
        try:
            out["alert_emails"] = parse_emails(emails)
        except ValueError as exc:
            raise _BadTag(TAG_EMAILS, str(exc)) from exc
    if (performance := tags.get(TAG_PERFORMANCE_THRESHOLD, "").strip()) != "":
        try:
            parse_thresholds(performance, what="the value")
        except ValueError as exc:
            raise _BadTag(TAG_PERFORMANCE_THRESHOLD, str(exc)) from exc
    try:
        drift = tagged_drift_thresholds(tags)
    except ValueError as exc:
        raise _BadTag(TAG_DRIFT_THRESHOLD, str(exc)) from exc
    if drift is not None:
        out["data_drift_thresholds"] = drift
    return out


def tagged_drift_thresholds(tags: Mapping[str, str]) -> dict[str, dict[str, float]] | None:
    """The data drift thresholds the model tag `autopilot.drift_threshold` sets (its value for
    each data type's default metric), None without the tag; ValueError when it is malformed.
    The monitor is sent them, and the early check judges by them as a local monitor run does."""
    threshold = tags.get(TAG_DRIFT_THRESHOLD, "").strip()
    if threshold == "":
        return None
    try:
        value = float(threshold)
    except ValueError:
        raise ValueError(f"not a number: {threshold!r}") from None
    # 0.0 serialises with no metric name in azure-ai-ml (azure-facts section 2).
    if not 0.0 < value < float("inf"):
        raise ValueError(f"must be a positive number, not {threshold!r}")
    return {data_type: dict.fromkeys(metrics, value)
            for data_type, metrics in DEFAULT_DRIFT_THRESHOLDS.items()}
