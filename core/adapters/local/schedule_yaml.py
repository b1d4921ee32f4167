"""`MonitorSpec` <-> the monitor-schedule YAML that `az ml schedule create -f` accepts.

Pure: only `yaml`, never `azure.ai.ml` (the local workspace reads schedules on cold starts).
The document is the `create_monitor` form of azure-ai-ml's `MonitorScheduleSchema`; tests load
it with the SDK's own schedule loader and compare the REST body with the Azure adapter's.

Besides the schema's keys the document carries `is_enabled`, which the SDK writes when it dumps a
schedule (a dump-only field, ignored by its loader): the local workspace keeps the enabled state
there, the way `az ml schedule disable` keeps it on the service.
"""

from __future__ import annotations

import json
from typing import Any, cast

import yaml

from core.domain.monitoring import (
    TAG_MODEL,
    TAG_PERFORMANCE_THRESHOLDS,
    AssetRef,
    MLTask,
    MonitorSpec,
    MonitorTrigger,
)

SCHEDULE_SCHEMA_URL = "http://azureml/sdk-2-0/Schedule.json"
ALL_FEATURES = "all_features"
_LOOKBACK_OFFSET = "P0D"


def _input(ref: AssetRef) -> dict[str, str]:
    return {"path": ref.asset_id, "type": "mltable"}


def _production(ref: AssetRef, context: str, lookback: str) -> dict[str, Any]:
    return {
        "input_data": _input(ref),
        "data_context": context,
        "data_window": {
            "lookback_window_size": lookback,
            "lookback_window_offset": _LOOKBACK_OFFSET,
        },
    }


def _reference(ref: AssetRef, context: str) -> dict[str, Any]:
    # No data_window: the whole fixed asset version is the reference ("Fixed" input on the wire).
    return {"input_data": _input(ref), "data_context": context}


def _thresholds(t: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {data_type: dict(metrics) for data_type, metrics in t.items()}


def trigger_to_dict(trigger: MonitorTrigger) -> dict[str, Any]:
    if trigger.cron is not None:
        return {"type": "cron", "expression": trigger.cron, "time_zone": trigger.time_zone}
    hour, minute = trigger.hour_minute
    return {
        "type": "recurrence",
        "frequency": "day",
        "interval": 1,
        "schedule": {"hours": [hour], "minutes": [minute]},
        "time_zone": trigger.time_zone,
    }


def monitor_spec_to_dict(spec: MonitorSpec) -> dict[str, Any]:
    """The schedule document (plain dicts/lists/str/float/bool, `yaml.safe_dump`-able)."""

    def features() -> list[str] | str:  # a fresh list per signal: no YAML anchors
        return list(spec.features) if spec.features else ALL_FEATURES

    signals: dict[str, Any] = {
        spec.signal_name("data_drift"): {
            "type": "data_drift",
            "production_data": _production(
                spec.production_data, "model_inputs", spec.lookback_window
            ),
            "reference_data": _reference(spec.reference_data, "training"),
            "features": features(),
            "metric_thresholds": _thresholds(spec.data_drift_thresholds),
            "alert_enabled": True,
        },
        spec.signal_name("data_quality"): {
            "type": "data_quality",
            "production_data": _production(
                spec.production_data, "model_inputs", spec.lookback_window
            ),
            "reference_data": _reference(spec.reference_data, "training"),
            "features": features(),
            "metric_thresholds": _thresholds(spec.data_quality_thresholds),
            "alert_enabled": True,
        },
    }
    prediction_reference = spec.effective_prediction_reference()
    if spec.production_outputs is not None and prediction_reference is not None:
        signals[spec.signal_name("prediction_drift")] = {
            "type": "prediction_drift",
            "production_data": _production(
                spec.production_outputs, "model_outputs", spec.lookback_window
            ),
            "reference_data": _reference(
                prediction_reference,
                "training" if spec.prediction_reference is None else "validation",
            ),
            "metric_thresholds": _thresholds(spec.prediction_drift_thresholds),
            "alert_enabled": True,
        }
    if spec.performance_data is not None:
        signals[spec.signal_name("model_performance")] = performance_signal_dict(spec)
    create_monitor: dict[str, Any] = {
        "compute": {"instance_type": spec.instance_type, "runtime_version": spec.runtime_version},
        "monitoring_target": {"ml_task": spec.ml_task, "model_id": spec.model_id},
        "monitoring_signals": signals,
    }
    if spec.alert_emails:
        create_monitor["alert_notification"] = {"emails": list(spec.alert_emails)}
    doc: dict[str, Any] = {"$schema": SCHEDULE_SCHEMA_URL, "name": spec.name}
    if spec.description:
        doc["description"] = spec.description
    doc["trigger"] = trigger_to_dict(spec.trigger)
    doc["create_monitor"] = create_monitor
    doc["tags"] = spec.schedule_tags()
    doc["is_enabled"] = spec.enabled
    return doc


# The model performance signal's column roles, as Azure's docs write them in the schedule YAML
# (`data_column_names`; [unverified] the service's exact keys: the Python docs write
# target_column/join_column instead).
PREDICTION_KEY, ACTUAL_KEY, CORRELATION_KEY = "prediction", "actual", "correlation_id"


def performance_signal_dict(spec: MonitorSpec) -> dict[str, Any]:
    """The model performance signal (preview) over the labelled data version: the logged
    prediction column against the ground truth, both in the same pre-joined rows, joined by
    the correlation id. Thresholds by the SDK schema's keys, under the task's group."""
    assert spec.performance_data is not None
    production = _production(spec.performance_data, "model_outputs", spec.lookback_window)
    production["data_column_names"] = {PREDICTION_KEY: spec.prediction_column,
                                       CORRELATION_KEY: spec.correlation_column}
    reference = _reference(spec.performance_data, "ground_truth")
    reference["data_column_names"] = {ACTUAL_KEY: spec.target_column,
                                      CORRELATION_KEY: spec.correlation_column}
    return {
        "type": "model_performance",
        "production_data": production,
        "reference_data": reference,
        "metric_thresholds": {spec.ml_task: dict(spec.performance_thresholds)},
        "alert_enabled": True,
    }


def monitor_spec_to_yaml(spec: MonitorSpec) -> str:
    return yaml.safe_dump(monitor_spec_to_dict(spec), sort_keys=False, default_flow_style=False)


# -- reading ------------------------------------------------------------------------------


class MonitorYamlError(ValueError):
    """The document is not a monitor schedule this product can represent."""


def _signal_of_type(signals: dict[str, Any], kind: str) -> dict[str, Any] | None:
    found = [s for s in signals.values() if isinstance(s, dict) and s.get("type") == kind]
    if len(found) > 1:
        raise MonitorYamlError(f"more than one {kind} signal")
    return found[0] if found else None


def _asset(block: dict[str, Any] | None, where: str) -> AssetRef:
    try:
        if block is None:
            raise TypeError("no block")
        return AssetRef.parse(str(block["input_data"]["path"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise MonitorYamlError(f"{where}: no versioned input_data.path") from exc


def trigger_from_dict(doc: dict[str, Any]) -> MonitorTrigger:
    kind = str(doc.get("type", "")).lower()
    time_zone = doc.get("time_zone") or "UTC"
    if kind == "cron":
        return MonitorTrigger(cron=str(doc["expression"]), time_zone=time_zone)
    if kind == "recurrence":
        schedule = doc.get("schedule") or {}
        hours, minutes = schedule.get("hours") or [], schedule.get("minutes") or []
        if (
            str(doc.get("frequency", "")).lower() == "day"
            and int(doc.get("interval", 1)) == 1
            and len(hours) == 1
            and len(minutes) == 1
        ):
            return MonitorTrigger(
                daily_at=f"{int(hours[0]):02d}:{int(minutes[0]):02d}", time_zone=time_zone
            )
        raise MonitorYamlError(f"unsupported recurrence trigger: {doc!r}")
    raise MonitorYamlError(f"unsupported trigger type {kind!r}")


def monitor_spec_from_dict(doc: dict[str, Any]) -> MonitorSpec:
    """Inverse of `monitor_spec_to_dict`. Also reads the SDK's own dump of a schedule
    (`MonitorSchedule._to_dict()`), where asset paths may be ``name:version`` or ARM ids and the
    model id may be missing (then the model comes from the schedule's tags)."""
    try:
        monitor = doc["create_monitor"]
        signals = monitor["monitoring_signals"]
    except (KeyError, TypeError) as exc:
        raise MonitorYamlError(
            "not a monitor schedule: no create_monitor.monitoring_signals"
        ) from exc
    tags = {str(k): str(v) for k, v in (doc.get("tags") or {}).items()}
    target = monitor.get("monitoring_target") or {}
    if target.get("model_id"):
        model = AssetRef.parse(str(target["model_id"]))
    elif TAG_MODEL in tags:
        model = AssetRef.parse(tags[TAG_MODEL])
    else:
        raise MonitorYamlError("no monitoring_target.model_id and no model tag")

    drift = _signal_of_type(signals, "data_drift")
    quality = _signal_of_type(signals, "data_quality")
    prediction = _signal_of_type(signals, "prediction_drift")
    if drift is None or quality is None:
        raise MonitorYamlError("a monitor needs a data_drift and a data_quality signal")

    production = _asset(drift.get("production_data"), "data_drift production_data")
    reference = _asset(drift.get("reference_data"), "data_drift reference_data")
    window = (drift.get("production_data") or {}).get("data_window") or {}
    features = drift.get("features")
    outputs = prediction_reference = None
    prediction_thresholds = None
    if prediction is not None:
        outputs = _asset(prediction.get("production_data"), "prediction_drift production_data")
        prediction_reference = _asset(
            prediction.get("reference_data"), "prediction_drift reference_data"
        )
        prediction_thresholds = prediction.get("metric_thresholds") or {}

    compute = monitor.get("compute") or {}
    emails = (monitor.get("alert_notification") or {}).get("emails") or []
    kwargs: dict[str, Any] = {}
    if prediction_thresholds is not None:
        kwargs["prediction_drift_thresholds"] = prediction_thresholds
    performance = _signal_of_type(signals, "model_performance")
    if performance is not None:
        kwargs.update(_performance_from_dict(performance, tags))
    try:
        return MonitorSpec(
            name=str(doc["name"]),
            model_name=model.name,
            model_version=model.version,
            reference_data=reference,
            production_data=production,
            production_outputs=outputs,
            prediction_reference=prediction_reference,
            ml_task=cast(MLTask, str(target.get("ml_task") or "classification").lower()),
            features=tuple(features) if isinstance(features, list) and features else None,
            data_drift_thresholds=drift.get("metric_thresholds") or {},
            data_quality_thresholds=quality.get("metric_thresholds") or {},
            trigger=trigger_from_dict(doc.get("trigger") or {}),
            alert_emails=tuple(str(e) for e in emails),
            lookback_window=str(window.get("lookback_window_size") or "P7D"),
            instance_type=str(compute.get("instance_type") or "standard_e4s_v3"),
            runtime_version=str(compute.get("runtime_version") or "3.4"),
            enabled=doc.get("is_enabled") is not False,  # absent/null: the service default
            tags=MonitorSpec.user_tags(tags),
            description=str(doc.get("description") or ""),
            **kwargs,
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MonitorYamlError):
            raise
        raise MonitorYamlError(f"invalid monitor schedule {doc.get('name')!r}: {exc}") from exc


def _performance_from_dict(signal: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    """The model performance signal's fields. Its thresholds come from the schedule's tag
    when present: azure-ai-ml reads back only one threshold from the service (as accuracy)
    and cannot dump regression thresholds (its schema and entity name them differently)."""
    production = signal.get("production_data") or {}
    reference = signal.get("reference_data") or {}
    produced = production.get("data_column_names") or {}
    actual = reference.get("data_column_names") or {}
    if TAG_PERFORMANCE_THRESHOLDS in tags:
        try:
            thresholds = {str(k): float(v) for k, v in
                          json.loads(tags[TAG_PERFORMANCE_THRESHOLDS]).items()}
        except (ValueError, AttributeError, TypeError) as exc:
            raise MonitorYamlError(f"tag {TAG_PERFORMANCE_THRESHOLDS} is not a JSON object of "
                                   "thresholds") from exc
    else:
        grouped = signal.get("metric_thresholds") or {}
        thresholds = {str(k): float(v) for group in grouped.values() if isinstance(group, dict)
                      for k, v in group.items() if v is not None}
    return {
        "performance_data": _asset(production, "model_performance production_data"),
        "performance_thresholds": thresholds,
        "prediction_column": produced.get(PREDICTION_KEY),
        "target_column": actual.get(ACTUAL_KEY),
        "correlation_column": produced.get(CORRELATION_KEY) or actual.get(CORRELATION_KEY),
    }


def monitor_spec_from_yaml(text: str) -> MonitorSpec:
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise MonitorYamlError("a schedule document must be a mapping")
    return monitor_spec_from_dict(doc)


__all__ = [
    "MonitorYamlError",
    "monitor_spec_from_dict",
    "monitor_spec_from_yaml",
    "monitor_spec_to_dict",
    "monitor_spec_to_yaml",
]
