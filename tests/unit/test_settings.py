"""Settings are read once; a missing or malformed one fails with its name."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def test_defaults_choose_the_local_backend_without_a_subscription():
    settings = load_settings(BASE)
    assert settings.backend == "local"
    assert settings.inference_container == "inference"
    assert settings.inference_connection == BASE["AzureWebJobsStorage"]
    assert settings.inference_asset("m") == "m-inference"
    assert settings.reference_asset("m") == "m-training"


def test_a_subscription_selects_the_azure_backend():
    settings = load_settings({**BASE, "AZURE_SUBSCRIPTION_ID": "sub", "AZURE_RESOURCE_GROUP": "rg",
                              "AZUREML_WORKSPACE_NAME": "ws", "RETRAIN_JOB_FILE": "job.yml"})
    assert settings.backend == "azureml"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "AzureWebJobsStorage"),
        ({**BASE, "MAX_INFERENCE_FILE_BYTES": "lots"}, "MAX_INFERENCE_FILE_BYTES"),
        ({**BASE, "MAX_INFERENCE_FILE_BYTES": "0"}, "MAX_INFERENCE_FILE_BYTES"),
        ({**BASE, "INGEST_LEASE_SECONDS": "-5"}, "INGEST_LEASE_SECONDS"),
        ({**BASE, "AUTOPILOT_BACKEND": "cloud"}, "AUTOPILOT_BACKEND"),
        ({**BASE, "AUTOPILOT_BACKEND": "azureml"}, "AZURE_SUBSCRIPTION_ID"),
        ({**BASE, "AZURE_SUBSCRIPTION_ID": "s"}, "AZURE_RESOURCE_GROUP"),
        ({**BASE, "INFERENCE_CONTAINER": "Bad_Name"}, "INFERENCE_CONTAINER"),
        ({**BASE, "QUARANTINE_CONTAINER": "ab"}, "QUARANTINE_CONTAINER"),
        ({**BASE, "INFERENCE_ASSET_NAME": "fixed-name"}, "INFERENCE_ASSET_NAME"),
        ({**BASE, "EARLY_DRIFT_CHECK": "maybe"}, "EARLY_DRIFT_CHECK"),
        ({**BASE, "MONITOR_SCHEDULE": "25:00"}, "MONITOR_SCHEDULE"),
        ({**BASE, "MONITOR_SCHEDULE": "* * *"}, "MONITOR_SCHEDULE"),
        ({**BASE, "MONITOR_SCHEDULE": "99 99 * * *"}, "MONITOR_SCHEDULE"),
        ({**BASE, "MONITOR_SCHEDULE": "a b c d e"}, "MONITOR_SCHEDULE"),
        ({**BASE, "MONITOR_TIME_ZONE": "Mars/Olympus"}, "MONITOR_TIME_ZONE"),
        ({**BASE, "MONITOR_TIME_ZONE": "../../etc/passwd"}, "MONITOR_TIME_ZONE"),
        ({**BASE, "MONITOR_ML_TASK": "ranking"}, "MONITOR_ML_TASK"),
        ({**BASE, "MONITOR_ALERT_EMAILS": "ops"}, "MONITOR_ALERT_EMAILS"),
        ({**BASE, "MONITOR_LOOKBACK": "7 days"}, "MONITOR_LOOKBACK"),
        ({**BASE, "MONITOR_NAME": "one-monitor"}, "MONITOR_NAME"),
        ({**BASE, "EVENT_SINK": "kafka"}, "EVENT_SINK"),
        ({**BASE, "RETRAIN_COOLDOWN_HOURS": "-1"}, "RETRAIN_COOLDOWN_HOURS"),
        ({**BASE, "RETRAIN_BREACHES_IN_A_ROW": "0"}, "RETRAIN_BREACHES_IN_A_ROW"),
        ({**BASE, "RETRAIN_MIN_IMPROVEMENT": "x"}, "RETRAIN_MIN_IMPROVEMENT"),
        ({**BASE, "RETRAIN_PRIMARY_METRIC": "loss"}, "RETRAIN_PRIMARY_METRIC"),
        ({**BASE, "AZURE_SUBSCRIPTION_ID": "s", "AZURE_RESOURCE_GROUP": "r",
          "AZUREML_WORKSPACE_NAME": "w"}, "RETRAIN_JOB_FILE"),
        ({**BASE, "LEDGER_TABLE_PREFIX": "1bad"}, "LEDGER_TABLE_PREFIX"),
    ],
)
def test_missing_or_malformed_settings_name_the_setting(env, named):
    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_the_function_app_refuses_to_start_without_storage(monkeypatch):
    import importlib
    import sys

    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.delitem(sys.modules, "function_app", raising=False)
    with pytest.raises(SettingsError, match="AzureWebJobsStorage"):
        importlib.import_module("function_app")
    sys.modules.pop("function_app", None)


def test_the_example_local_settings_load_and_the_readme_documents_each():
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    values = json.loads((root / "local.settings.example.json").read_text())["Values"]
    settings = load_settings(values)
    assert settings.backend == "local" and settings.event_sink == "inprocess"
    readme = (root / "README.md").read_text()
    host_only = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags",
                 "PYTHON_ENABLE_INIT_INDEXING"}
    undocumented = [k for k in values if k not in host_only
                    and not re.search(rf"`{re.escape(k)}`", readme)]
    assert undocumented == []


def test_the_azure_ml_time_zone_names_are_the_sdks():
    from azure.ai.ml.constants import TimeZone

    from core.domain.time_zones import AZURE_ML_TIME_ZONES

    assert {t.value for t in TimeZone} == AZURE_ML_TIME_ZONES


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "W. Europe Standard Time"])
def test_time_zones_of_either_naming_are_accepted(zone):
    assert load_settings({**BASE, "MONITOR_TIME_ZONE": zone}).monitor_time_zone == zone
