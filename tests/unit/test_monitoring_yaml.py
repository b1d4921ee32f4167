"""MonitorSpec <-> CLI YAML <-> azure-ai-ml MonitorSchedule <-> REST body.

The SDK's schedule loader is not exported from `azure.ai.ml` in 1.35.2; it lives in
`azure.ai.ml.entities._load_functions.load_schedule` (what `az ml schedule create -f` uses).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from core.adapters.local.schedule_yaml import (
    MonitorYamlError,
    monitor_spec_from_yaml,
    monitor_spec_to_dict,
    monitor_spec_to_yaml,
)
from core.domain.monitoring import AssetRef, MonitorSpec, MonitorTrigger

ROOT = Path(__file__).resolve().parents[2]


def _base(**overrides) -> MonitorSpec:
    spec = MonitorSpec(
        name="m-monitor",
        model_name="m",
        model_version="2",
        reference_data=AssetRef("m-training", "1"),
        production_data=AssetRef("m-inference", "7"),
    )
    return replace(spec, **overrides)


SPECS = {
    "defaults": _base(),
    "cron-outputs-emails": _base(
        production_outputs=AssetRef("m-outputs", "7"),
        trigger=MonitorTrigger(cron="15 2 * * 1", time_zone="W. Europe Standard Time"),
        alert_emails=("a@example.com", "b@example.com"),
        features=("age", "city"),
        tags={"owner": "team-a"},
        description="watch m",
    ),
    "pitfalls": _base(
        production_outputs=AssetRef("m-outputs", "7"),
        prediction_reference=AssetRef("m-validation", "3"),
        ml_task="regression",
        data_drift_thresholds={
            "numerical": {"jensen_shannon_distance": 0.0},
            "categorical": {"pearsons_chi_squared_test": 0.0},
        },
        data_quality_thresholds={
            "categorical": {"null_value_rate": 0.05, "out_of_bounds_rate": 0.01}
        },
        prediction_drift_thresholds={"numerical": {"two_sample_kolmogorov_smirnov_test": 0.05}},
        trigger=MonitorTrigger.daily("23:59", "UTC"),
        lookback_window="P14D",
        enabled=False,
    ),
    "psi-everywhere": _base(
        data_drift_thresholds={
            "numerical": {"population_stability_index": 0.2},
            "categorical": {"population_stability_index": 0.25},
        },
        data_quality_thresholds={
            "numerical": {"null_value_rate": 0.1},
            "categorical": {"data_type_error_rate": 0.2},
        },
    ),
}
PERFORMANCE = {
    "performance_data": AssetRef("m-labelled", "3"), "prediction_column": "predicted_y",
    "target_column": "y",
}
SPECS["performance-classification"] = _base(
    **PERFORMANCE, performance_thresholds={"accuracy": 0.9, "precision": 0.0, "recall": 0.5})
# The SDK cannot load regression performance thresholds from YAML (test below): YAML and REST
# round trips only.
REGRESSION_PERFORMANCE = _base(**PERFORMANCE, ml_task="regression",
                               performance_thresholds={"rmse": 12.0, "mae": 3.5})
# Specs whose thresholds avoid every SDK pitfall: the loader's entity needs no workaround.
PITFALL_FREE = ["defaults", "psi-everywhere"]


def _rest(schedule) -> dict:
    """The REST body as the SDK serialises it for the wire."""
    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import SdkJSONEncoder

    return json.loads(json.dumps(schedule._to_rest_object(), cls=SdkJSONEncoder))


def _strip_azureml_prefix(body: dict) -> dict:
    # The loader's ArmVersionedStr stores `azureml:name:version` as `name:version`; both are
    # resolved to the same ARM id by `schedules.begin_create_or_update` (the integration test
    # compares the bodies actually sent).
    return json.loads(re.sub(r'"azureml:([^/"]+:[^"]+)"', r'"\1"', json.dumps(body)))


def _load_with_sdk(text: str):
    from azure.ai.ml.entities import MonitorSchedule
    from azure.ai.ml.entities._load_functions import load_schedule

    schedule = load_schedule(io.StringIO(text))
    assert isinstance(schedule, MonitorSchedule)
    return schedule


# -- the spec ------------------------------------------------------------------------------


def test_signal_names_follow_the_event_grid_convention():
    assert _base().signal_names() == ("m-monitor_data_drift", "m-monitor_data_quality")
    assert SPECS["cron-outputs-emails"].signal_names() == (
        "m-monitor_data_drift",
        "m-monitor_data_quality",
        "m-monitor_prediction_drift",
    )


def test_equality_sees_every_field():
    spec = SPECS["cron-outputs-emails"]
    assert spec == replace(spec)
    for change in (
        {"model_version": "3"},
        {"production_data": AssetRef("m-inference", "8")},
        {"production_outputs": None},
        {"features": ("age",)},
        {
            "data_drift_thresholds": {
                "numerical": {"jensen_shannon_distance": 0.1},
                "categorical": {"jensen_shannon_distance": 0.1},
            }
        },
        {"alert_emails": ()},
        {"trigger": MonitorTrigger(cron="15 3 * * 1")},
        {"enabled": False},
        {"tags": {}},
        {"lookback_window": "P1D"},
        {"runtime_version": "3.5"},
    ):
        other = replace(spec, **change)
        assert other != spec, change
        assert spec.differences(other) == list(change), change


def test_spec_normalises_and_validates():
    spec = _base(
        model_version=2, data_drift_thresholds={"numerical": {"normalized_wasserstein_distance": 1}}
    )  # type: ignore[arg-type]
    assert spec.model_version == "2"
    assert spec.data_drift_thresholds == {"numerical": {"normalized_wasserstein_distance": 1.0}}
    assert _base(prediction_reference=None) == _base()
    assert (
        replace(SPECS["cron-outputs-emails"], prediction_reference=AssetRef("m-training", "1"))
        == SPECS["cron-outputs-emails"]
    )  # "same as the reference" has one spelling
    bad = [
        {
            "data_drift_thresholds": {
                "numerical": {"jensen_shannon_distance": 0.1, "population_stability_index": 0.1}
            }
        },
        {"data_drift_thresholds": {"categorical": {"chi_squared_test": 0.1}}},
        {"data_drift_thresholds": {}},
        {"data_quality_thresholds": {"numerical": {"null_value_rate": -1}}},
        {"runtime_version": "3.3"},
        {"tags": {"monitor_autopilot.model": "x"}},
        {"lookback_window": "7 days"},
        {"ml_task": "question_answering"},
        {"features": ()},
        {"prediction_reference": AssetRef("m-validation", "1")},  # without outputs
    ]
    for change in bad:
        with pytest.raises(ValueError):
            replace(_base(), **change)
    with pytest.raises(ValueError):
        MonitorTrigger(cron="0 3 * * *", daily_at="03:00")
    with pytest.raises(ValueError):
        MonitorTrigger(daily_at="25:00")


def test_asset_ref_parses_every_spelling():
    arm = (
        "azureml:/subscriptions/s/resourceGroups/r/providers/"
        "Microsoft.MachineLearningServices/workspaces/w/data/m-inference/versions/7"
    )
    for text in ("m-inference:7", "azureml:m-inference:7", arm, arm[len("azureml:") :]):
        assert AssetRef.parse(text) == AssetRef("m-inference", "7")


# -- YAML ----------------------------------------------------------------------------------


ROUND_TRIPS = {**SPECS, "performance-regression": REGRESSION_PERFORMANCE}


@pytest.mark.parametrize("key", list(ROUND_TRIPS))
def test_yaml_round_trip(key):
    spec = ROUND_TRIPS[key]
    text = monitor_spec_to_yaml(spec)
    assert "&id" not in text  # plain YAML, no anchors
    assert monitor_spec_from_yaml(text) == spec


def test_yaml_uses_the_cli_keys():
    doc = monitor_spec_to_dict(SPECS["pitfalls"])
    signals = doc["create_monitor"]["monitoring_signals"]
    drift = signals["m-monitor_data_drift"]
    assert drift["type"] == "data_drift" and drift["alert_enabled"] is True
    assert drift["metric_thresholds"]["categorical"] == {"pearsons_chi_squared_test": 0.0}
    assert drift["production_data"]["data_window"] == {
        "lookback_window_size": "P14D",
        "lookback_window_offset": "P0D",
    }
    assert drift["reference_data"] == {
        "input_data": {"path": "azureml:m-training:1", "type": "mltable"},
        "data_context": "training",
    }
    assert signals["m-monitor_prediction_drift"]["reference_data"]["input_data"]["path"] == (
        "azureml:m-validation:3"
    )
    assert doc["create_monitor"]["compute"] == {
        "instance_type": "standard_e4s_v3",
        "runtime_version": "3.4",
    }
    assert doc["create_monitor"]["monitoring_target"] == {
        "ml_task": "regression",
        "model_id": "azureml:m:2",
    }
    assert doc["trigger"] == {
        "type": "recurrence",
        "frequency": "day",
        "interval": 1,
        "schedule": {"hours": [23], "minutes": [59]},
        "time_zone": "UTC",
    }
    assert doc["is_enabled"] is False
    assert doc["tags"]["monitor_autopilot.model"] == "m:2"


def test_yaml_errors_are_clear():
    with pytest.raises(MonitorYamlError, match="create_monitor"):
        monitor_spec_from_yaml("name: x\ntrigger: {type: cron, expression: '0 * * * *'}\n")
    with pytest.raises(MonitorYamlError):
        monitor_spec_from_yaml("- not a mapping\n")
    text = monitor_spec_to_yaml(_base()).replace("type: data_quality", "type: custom")
    with pytest.raises(MonitorYamlError, match="data_quality"):
        monitor_spec_from_yaml(text)


def test_yaml_module_does_not_import_the_sdk():
    code = (
        "import sys, core.adapters.local.schedule_yaml, core.domain.monitoring; "
        "print(any(m.startswith('azure.ai.ml') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_adapter_modules_import_the_sdk_lazily():
    code = (
        "import sys, core.adapters.azureml.workspace, core.adapters.azureml.schedule; "
        "print(any(m.startswith('azure.ai.ml') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# -- SDK entity and REST body --------------------------------------------------------------


@pytest.mark.parametrize("key", list(ROUND_TRIPS))
def test_every_schedule_serialises_to_a_valid_rest_body(key):
    from azure.ai.ml._restclient.arm_ml_service.models import Schedule as RestSchedule
    from azure.ai.ml.entities import MonitorSchedule

    from core.adapters.azureml.schedule import build_monitor_schedule, monitor_spec_from_schedule

    spec = ROUND_TRIPS[key]
    body = _rest(build_monitor_schedule(spec))
    props = body["properties"]
    definition = props["action"]["monitorDefinition"]
    assert props["action"]["actionType"] == "CreateMonitor"
    assert props["isEnabled"] is spec.enabled
    assert definition["computeConfiguration"] == {
        "computeType": "ServerlessSpark",
        "instanceType": "standard_e4s_v3",
        "runtimeVersion": "3.4",
        "computeIdentity": {"computeIdentityType": "AmlToken"},
    }
    assert definition["monitoringTarget"] == {"taskType": spec.ml_task, "modelId": spec.model_id}
    assert sorted(definition["signals"]) == sorted(spec.signal_names())
    for name, signal in definition["signals"].items():
        assert signal["mode"] == "Enabled", name
        if signal["signalType"] == "ModelPerformance":  # its own shape (test below)
            continue
        assert signal["productionData"]["inputDataType"] == "Trailing"
        assert signal["productionData"]["windowSize"] == spec.lookback_window
        assert signal["referenceData"]["inputDataType"] == "Fixed"
        assert signal["metricThresholds"], name
        for threshold in signal["metricThresholds"]:
            # every threshold names its metric and carries its value (0.0 included)
            assert threshold["metric"] and "value" in threshold["threshold"], (name, threshold)
            assert threshold["dataType"] in ("Numerical", "Categorical")
    if "prediction_drift" in spec.signal_kinds():
        assert definition["signals"]["m-monitor_prediction_drift"]["modelType"] == spec.ml_task
    if spec.alert_emails:
        assert definition["alertNotificationSetting"]["emailNotificationSetting"]["emails"] == list(
            spec.alert_emails
        )
    else:
        assert "alertNotificationSetting" not in definition

    # The body deserialises with the SDK's REST model and converts back to the same spec
    # (the service's GET drops the model id from the target: it is read from the tags).
    rest = RestSchedule(body)
    rest["name"] = spec.name
    back = MonitorSchedule._from_rest_object(rest)
    assert back.create_monitor.monitoring_target.model_id is None  # the SDK's loss
    assert monitor_spec_from_schedule(back) == spec


def test_thresholds_on_the_wire():
    from core.adapters.azureml.schedule import build_monitor_schedule

    signals = _rest(build_monitor_schedule(SPECS["pitfalls"]))["properties"]["action"][
        "monitorDefinition"
    ]["signals"]
    assert signals["m-monitor_data_drift"]["metricThresholds"] == [
        {"metric": "jensenShannonDistance", "threshold": {"value": 0.0}, "dataType": "Numerical"},
        {
            "metric": "pearsonsChiSquaredTest",
            "threshold": {"value": 0.0},
            "dataType": "Categorical",
        },
    ]
    assert signals["m-monitor_data_quality"]["metricThresholds"] == [
        {"metric": "nullValueRate", "threshold": {"value": 0.05}, "dataType": "Categorical"},
        {"metric": "outOfBoundsRate", "threshold": {"value": 0.01}, "dataType": "Categorical"},
    ]
    assert signals["m-monitor_prediction_drift"]["metricThresholds"] == [
        {
            "metric": "twoSampleKolmogorovSmirnovTest",
            "threshold": {"value": 0.05},
            "dataType": "Numerical",
        },
    ]


@pytest.mark.parametrize("spec", [SPECS["performance-classification"],
                                  REGRESSION_PERFORMANCE], ids=["classification", "regression"])
def test_the_model_performance_signal_on_the_wire(spec):
    """Azure's model performance signal (preview) over the labelled version: the logged
    prediction column and the ground truth column, joined by the correlation id; the first
    threshold as `metricThreshold` (pitfall 7), every one in the properties string."""
    from core.adapters.azureml.schedule import build_monitor_schedule

    signal = _rest(build_monitor_schedule(spec))["properties"]["action"]["monitorDefinition"][
        "signals"]["m-monitor_model_performance"]
    assert signal["signalType"] == "ModelPerformance" and signal["mode"] == "Enabled"
    assert signal["productionData"] == [{
        "dataContext": "model_outputs", "columns": {"prediction": "predicted_y",
                                                    "correlation_id": "correlationid"},
        "jobInputType": "mltable", "uri": "azureml:m-labelled:3", "windowSize": "P7D",
        "windowOffset": "P0D", "inputDataType": "Trailing"}]
    assert signal["referenceData"] == {
        "dataContext": "ground_truth", "columns": {"actual": "y",
                                                   "correlation_id": "correlationid"},
        "jobInputType": "mltable", "uri": "azureml:m-labelled:3", "inputDataType": "Fixed"}
    thresholds = signal["properties"]["azureml.modelmonitor.model_performance_thresholds"]
    if spec.ml_task == "classification":
        assert signal["metricThreshold"] == {"metric": "Accuracy", "modelType": "Classification",
                                             "threshold": {"value": 0.9}}
        assert json.loads(thresholds) == [
            {"modelType": "classification", "metric": m, "threshold": {"value": v}}
            for m, v in (("Accuracy", 0.9), ("Precision", 0.0), ("Recall", 0.5))]
    else:
        assert signal["metricThreshold"] == {"metric": "MeanAbsoluteError",
                                             "modelType": "Regression",
                                             "threshold": {"value": 3.5}}
        assert json.loads(thresholds) == [
            {"modelType": "regression", "metric": m, "threshold": {"value": v}}
            for m, v in (("MeanAbsoluteError", 3.5), ("RootMeanSquaredError", 12.0))]
    assert spec.signal_names()[-1] == "m-monitor_model_performance"
    assert spec.schedule_tags()["monitor_autopilot.performance_thresholds"] == json.dumps(
        spec.performance_thresholds, sort_keys=True)


def test_the_model_performance_pitfalls_are_real():
    """Guards pitfalls 7 and 8: the SDK sends a fixed threshold, drops 0.0, reads back one
    value as accuracy, and cannot load regression thresholds from YAML."""
    from azure.ai.ml.entities import (
        ModelPerformanceClassificationThresholds,
        ModelPerformanceMetricThreshold,
    )
    from azure.ai.ml.entities._monitoring.thresholds import ModelPerformanceMetricThreshold as T
    from azure.ai.ml.exceptions import ValidationException
    from marshmallow.exceptions import ValidationError

    sdk = ModelPerformanceMetricThreshold(classification=ModelPerformanceClassificationThresholds(
        precision=0.4, recall=0.0))
    assert sdk._to_rest_object() == {"metric": "Accuracy", "modelType": "Classification",
                                     "threshold": {"value": 0.9}}
    assert "Recall" not in sdk._to_str_object()
    back = T._from_rest_object({"metric": "Precision", "modelType": "Classification",
                                "threshold": {"value": 0.4}})
    assert (back.classification.accuracy, back.classification.precision) == (0.4, None)
    with pytest.raises((ValidationError, ValidationException, NotImplementedError)):
        _load_with_sdk(monitor_spec_to_yaml(REGRESSION_PERFORMANCE))


def test_performance_settings_need_their_signal_and_azures_metrics():
    for change in (
        {"performance_thresholds": {"accuracy": 0.9}},  # without performance_data
        {**PERFORMANCE, "performance_thresholds": {}},
        {**PERFORMANCE, "performance_thresholds": {"f1": 0.5}},  # ours only, not Azure's
        {**PERFORMANCE, "performance_thresholds": {"rmse": 1.0}},  # regression, on a classifier
        {**PERFORMANCE, "prediction_column": None, "performance_thresholds": {"accuracy": 1}},
        {**PERFORMANCE, "performance_thresholds": {"accuracy": -1}},
    ):
        with pytest.raises(ValueError):
            replace(_base(), **change)


def test_the_sdk_pitfalls_are_real():
    """Guards the workarounds: if a future SDK fixes these, the workarounds can go."""
    from azure.ai.ml.entities import (
        CategoricalDriftMetrics,
        DataDriftMetricThreshold,
        DataQualityMetricsCategorical,
        DataQualityMetricsNumerical,
        DataQualityMetricThreshold,
        NumericalDriftMetrics,
        PredictionDriftSignal,
    )

    drift = DataDriftMetricThreshold(
        numerical=NumericalDriftMetrics(jensen_shannon_distance=0.0),
        categorical=CategoricalDriftMetrics(pearsons_chi_squared_test=0.0),
    )
    assert [t.get("metric") for t in drift._to_rest_object()] == [None, None]
    quality = DataQualityMetricThreshold(
        numerical=DataQualityMetricsNumerical(null_value_rate=0.5),
        categorical=DataQualityMetricsCategorical(null_value_rate=0.1),
    )
    values = [(t["dataType"], t["threshold"]["value"]) for t in quality._to_rest_object()]
    assert values == [("Numerical", 0.5), ("Categorical", 0.5)]  # categorical value lost
    only_cat = DataQualityMetricThreshold(
        categorical=DataQualityMetricsCategorical(null_value_rate=0.1)
    )
    assert only_cat._to_rest_object() == []

    from core.adapters.azureml.schedule import _sdk

    fixed = _sdk()._DataQualityMetricThreshold(
        numerical=DataQualityMetricsNumerical(null_value_rate=0.5),
        categorical=DataQualityMetricsCategorical(null_value_rate=0.1),
    )
    assert [(t["dataType"], t["threshold"]["value"]) for t in fixed._to_rest_object()] == [
        ("Numerical", 0.5),
        ("Categorical", 0.1),
    ]
    signal = PredictionDriftSignal(metric_thresholds=None)  # type: ignore[arg-type]
    assert signal._to_rest_object()["modelType"] == "classification"


@pytest.mark.parametrize("key", list(SPECS))
def test_cli_yaml_loads_with_the_sdk_to_the_same_schedule(key):
    from core.adapters.azureml.schedule import apply_sdk_workarounds, build_monitor_schedule

    spec = SPECS[key]
    text = monitor_spec_to_yaml(spec)
    loaded = _load_with_sdk(text)
    # `is_enabled` is dump-only in the SDK's schema: its loader ignores it (the CLI sends no
    # isEnabled and the service keeps what it has). Take it from the document.
    assert loaded._is_enabled is None
    loaded._is_enabled = yaml.safe_load(text)["is_enabled"]
    expected = _strip_azureml_prefix(_rest(build_monitor_schedule(spec)))
    assert _strip_azureml_prefix(_rest(apply_sdk_workarounds(loaded))) == expected
    if key in PITFALL_FREE:  # nothing to work around: the SDK's own entity is already equal
        plain = _load_with_sdk(text)
        plain._is_enabled = spec.enabled
        assert _strip_azureml_prefix(_rest(plain)) == expected


@pytest.mark.parametrize("key", list(ROUND_TRIPS))
def test_sdk_dump_reads_back(key):
    """The SDK's own YAML dump of our schedule (`_to_dict`) reads back to the spec, and loads."""
    from core.adapters.azureml.schedule import (
        build_monitor_schedule,
        monitor_spec_from_schedule,
        schedule_to_dict,
    )

    spec = ROUND_TRIPS[key]
    schedule = build_monitor_schedule(spec)
    assert monitor_spec_from_schedule(schedule) == spec
    dumped = yaml.safe_dump(schedule_to_dict(schedule), sort_keys=False)
    assert monitor_spec_from_yaml(dumped) == spec
    if spec is REGRESSION_PERFORMANCE:  # the SDK's dump drops them; its loader refuses them
        return
    # The loader drops `is_enabled` (dump-only), so a reloaded entity reads as enabled.
    assert monitor_spec_from_schedule(_load_with_sdk(dumped)) == replace(spec, enabled=True)
