from dataclasses import replace

import pytest

from core.domain.assets import DataAssetVersion, ModelVersion
from core.domain.monitor_decision import (
    InvalidOverride,
    MissingProductionData,
    MissingReference,
    MonitorConfig,
    OptedOut,
    desired_monitor,
    production_wanted,
    reference_wanted,
)
from core.domain.monitoring import AssetRef, MonitorSpec, MonitorTrigger

CONFIG = MonitorConfig()


def model(version="2", **tags) -> ModelVersion:
    return ModelVersion(name="churn", version=version, path="/m", tags=dict(tags))


def data(name, version) -> DataAssetVersion:
    return DataAssetVersion(name=name, version=version, type="mltable", path="/d")


REF = data("churn-training", "1")
PROD = data("churn-inference", "7")


def test_default_monitor():
    spec = desired_monitor(model(), REF, PROD, CONFIG)
    assert spec == MonitorSpec(
        name="churn-monitor",
        model_name="churn",
        model_version="2",
        reference_data=AssetRef("churn-training", "1"),
        production_data=AssetRef("churn-inference", "7"),
    )


def test_same_inputs_same_spec_and_versions_matter():
    assert desired_monitor(model(), REF, PROD, CONFIG) == desired_monitor(
        model(), REF, PROD, CONFIG
    )
    newer = desired_monitor(model("3"), REF, data("churn-inference", "8"), CONFIG)
    assert desired_monitor(model(), REF, PROD, CONFIG).differences(newer) == [
        "model_version",
        "production_data",
    ]


def test_config_defaults_flow_through():
    config = MonitorConfig(
        monitor_name_template="mon-{model}",
        ml_task="regression",
        trigger=MonitorTrigger(cron="0 4 * * *"),
        alert_emails=("ops@x.com",),
        lookback_window="P1D",
    )
    spec = desired_monitor(model(), REF, PROD, config)
    assert spec.name == "mon-churn"
    assert spec.ml_task == "regression"
    assert spec.trigger.cron == "0 4 * * *"
    assert spec.alert_emails == ("ops@x.com",)
    assert spec.lookback_window == "P1D"


def test_tag_overrides():
    spec = desired_monitor(
        model(
            **{
                "autopilot.features": "age, city",
                "autopilot.ml_task": "Regression",
                "autopilot.schedule": "02:30",
                "autopilot.alert_emails": "a@x.com; b@x.com",
                "autopilot.drift_threshold": "0.25",
            }
        ),
        REF,
        PROD,
        CONFIG,
    )
    assert isinstance(spec, MonitorSpec)
    assert spec.features == ("age", "city")
    assert spec.ml_task == "regression"
    assert spec.trigger == MonitorTrigger.daily("02:30")
    assert spec.alert_emails == ("a@x.com", "b@x.com")
    assert spec.data_drift_thresholds == {
        "numerical": {"normalized_wasserstein_distance": 0.25},
        "categorical": {"jensen_shannon_distance": 0.25},
    }
    cron = desired_monitor(model(**{"autopilot.schedule": "0 */6 * * *"}), REF, PROD, CONFIG)
    assert cron.trigger.cron == "0 */6 * * *"


@pytest.mark.parametrize("value", ["false", "False", "0", "off"])
def test_opt_out(value):
    decision = desired_monitor(model(**{"autopilot.monitor": value}), REF, PROD, CONFIG)
    assert isinstance(decision, OptedOut)
    assert decision.model == "churn:2"


def test_opt_in_when_not_watching_all():
    config = MonitorConfig(watch_all_models=False)
    assert isinstance(desired_monitor(model(), REF, PROD, config), OptedOut)
    opted_in = model(**{"autopilot.monitor": "true"})
    assert isinstance(desired_monitor(opted_in, REF, PROD, config), MonitorSpec)


def test_missing_reference_names_what_was_looked_for():
    decision = desired_monitor(model(), None, PROD, CONFIG)
    assert decision == MissingReference(
        "churn:2", "churn-training", "reference data asset churn-training not found"
    )
    pinned = model(**{"autopilot.reference_data": "golden:4"})
    assert desired_monitor(pinned, None, PROD, CONFIG).reference_asset == "golden:4"


def test_missing_production_data():
    decision = desired_monitor(model(), REF, None, CONFIG)
    assert isinstance(decision, MissingProductionData)
    assert decision.production_asset == "churn-inference"


def test_reference_and_production_wanted():
    assert reference_wanted(model(), CONFIG) == ("churn-training", None)
    assert reference_wanted(model(**{"autopilot.reference_data": "gold"}), CONFIG) == (
        "gold",
        None,
    )
    assert reference_wanted(model(**{"autopilot.reference_data": "azureml:gold:3"}), CONFIG) == (
        "gold",
        "3",
    )
    assert production_wanted(model(), CONFIG) == "churn-inference"


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        ("autopilot.ml_task", "clustering"),
        ("autopilot.features", "a,a"),
        ("autopilot.schedule", "25:00"),
        ("autopilot.schedule", "every day"),
        ("autopilot.schedule", "a b c d e"),
        ("autopilot.schedule", "99 99 * * *"),
        ("autopilot.schedule", "0 3 31 2 * *"),
        ("autopilot.alert_emails", "nobody"),
        ("autopilot.drift_threshold", "0"),
        ("autopilot.drift_threshold", "high"),
    ],
)
def test_invalid_overrides_are_reported_not_raised(tag, value):
    decision = desired_monitor(model(**{tag: value}), REF, PROD, CONFIG)
    assert isinstance(decision, InvalidOverride)
    assert decision.tag == tag and decision.model == "churn:2"


def test_invalid_reference_tag():
    decision = desired_monitor(
        model(**{"autopilot.reference_data": "bad name:"}), None, PROD, CONFIG
    )
    assert isinstance(decision, InvalidOverride)


def test_spec_is_replaceable_by_the_use_case():
    spec = desired_monitor(model(), REF, PROD, CONFIG)
    assert replace(spec, enabled=False).enabled is False


@pytest.mark.parametrize("tags, outputs", [
    ({}, None),
    ({"autopilot.schedule": "05:45", "autopilot.alert_emails": "a@x.com;b@y.org",
      "autopilot.drift_threshold": "0.3", "autopilot.ml_task": "regression",
      "autopilot.features": "age,city"}, data("churn-outputs", "4")),
    ({"autopilot.schedule": "*/30 * * * 1-5"}, data("churn-outputs", "1")),
], ids=["defaults", "every-override-with-outputs", "cron"])
def test_every_monitor_we_decide_serialises_to_rest_and_round_trips_as_yaml(tags, outputs):
    """What `desired_monitor` decides (every tag override, with and without collected model
    outputs) becomes a valid REST body and YAML the SDK loads back to the same schedule."""
    import json

    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import SdkJSONEncoder

    from core.adapters.azureml.schedule import build_monitor_schedule, monitor_spec_from_schedule
    from core.adapters.local.schedule_yaml import monitor_spec_from_yaml, monitor_spec_to_yaml
    from tests.unit.test_monitoring_yaml import _load_with_sdk

    spec = desired_monitor(model(**tags), REF, PROD, CONFIG, outputs)
    assert isinstance(spec, MonitorSpec)
    assert (spec.production_outputs is not None) == (outputs is not None)
    body = json.loads(json.dumps(build_monitor_schedule(spec)._to_rest_object(),
                                 cls=SdkJSONEncoder))
    signals = body["properties"]["action"]["monitorDefinition"]["signals"]
    assert set(signals) == set(spec.signal_names())
    assert all(s["mode"] == "Enabled" for s in signals.values())
    text = monitor_spec_to_yaml(spec)
    assert monitor_spec_from_yaml(text) == spec
    assert monitor_spec_from_schedule(_load_with_sdk(text)) == spec


# -- the model performance signal ------------------------------------------------------------


def labelled(version="3", columns="amount,churned,correlationid,predicted_churned"):
    return DataAssetVersion(name="churn-labelled", version=version, type="mltable", path="/l",
                            tags={"columns": columns})


def test_the_performance_signal_joins_when_labelled_data_carries_the_logged_predictions():
    from core.domain.monitor_decision import with_performance

    config = MonitorConfig(performance_thresholds={"f1": 0.5, "accuracy": 0.9})
    spec = desired_monitor(model(), REF, PROD, config)
    with_it = with_performance(spec, model(), labelled(), target="churned",
                               prediction_columns=("churned",), config=config)
    assert with_it.performance_data == AssetRef("churn-labelled", "3")
    # F1 is ours only: Azure's signal gets the thresholds it evaluates.
    assert with_it.performance_thresholds == {"accuracy": 0.9}
    assert (with_it.prediction_column, with_it.target_column, with_it.correlation_column) == (
        "predicted_churned", "churned", "correlationid")
    assert with_it.signal_names()[-1] == "churn-monitor_model_performance"
    # The tag wins over the setting; one number is the primary metric (F1: not Azure's).
    tagged = model(**{"autopilot.performance_threshold": "recall=0.4"})
    assert with_performance(spec, tagged, labelled(), target="churned",
                            prediction_columns=("churned",),
                            config=config).performance_thresholds == {"recall": 0.4}
    primary = model(**{"autopilot.performance_threshold": "0.6"})
    for quiet in (
        dict(labelled=None),
        dict(labelled=labelled(columns="amount,churned,correlationid")),  # no outputs logged
        dict(labelled=labelled(columns="amount,correlationid,predicted_churned")),  # no target
        dict(target=None),
        dict(version=primary),  # no threshold Azure evaluates
        dict(version=model(**{"autopilot.performance_threshold": "f1=x"})),  # malformed
    ):
        args = {"labelled": labelled(), "target": "churned", "version": model(), **quiet}
        assert with_performance(spec, args["version"], args["labelled"], target=args["target"],
                                prediction_columns=("churned",), config=config) == spec, quiet
    assert with_performance(spec, model(), labelled(), target="churned",
                            prediction_columns=("churned",),
                            config=MonitorConfig()) == spec  # no thresholds at all


def test_a_malformed_performance_tag_is_an_invalid_configuration():
    decision = desired_monitor(model(**{"autopilot.performance_threshold": "f1=high"}), REF,
                               PROD, CONFIG)
    assert isinstance(decision, InvalidOverride)
    assert decision.tag == "autopilot.performance_threshold" and "not a number" in decision.reason
