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
                              "AZUREML_WORKSPACE_NAME": "ws"})
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
