"""Settings are read once; a missing or malformed one fails with its name."""

from __future__ import annotations

import json
import re

import pytest

from core.settings import SettingsError, load_settings

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def test_defaults_choose_the_local_backend_without_a_subscription():
    settings = load_settings(BASE)
    assert settings.backend == "local"
    assert settings.inference_container == "inference"
    assert settings.inference_connection == settings.storage_connection
    assert settings.storage_connection.connection_string == BASE["AzureWebJobsStorage"]
    assert settings.inference_asset("m") == "m-inference"
    assert settings.reference_asset("m") == "m-training"


def test_a_subscription_selects_the_azure_backend():
    settings = load_settings({**BASE, "AZURE_SUBSCRIPTION_ID": "sub", "AZURE_RESOURCE_GROUP": "rg",
                              "AZUREML_WORKSPACE_NAME": "ws", "RETRAIN_JOB_FILE": "job.yml"})
    assert settings.backend == "azureml"


def test_both_backends_run_the_same_retraining_job_by_default():
    azure = load_settings({**BASE, "AZURE_SUBSCRIPTION_ID": "sub", "AZURE_RESOURCE_GROUP": "rg",
                           "AZUREML_WORKSPACE_NAME": "ws"})
    local = load_settings({**BASE, "RETRAIN_JOB_FILE": " "})
    assert azure.retrain_job_file == local.retrain_job_file == "jobs/retrain.yml"


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
        ({**BASE, "LEDGER_TABLE_PREFIX": "1bad"}, "LEDGER_TABLE_PREFIX"),
        ({**BASE, "PERFORMANCE_THRESHOLDS": "f1=high"}, "PERFORMANCE_THRESHOLDS"),
        ({**BASE, "PERFORMANCE_THRESHOLDS": "loss=0.1"}, "PERFORMANCE_THRESHOLDS"),
        ({**BASE, "CORRELATION_ID_COLUMN": "a,b"}, "CORRELATION_ID_COLUMN"),
        ({**BASE, "GROUND_TRUTH_WAIT_DAYS": "0"}, "GROUND_TRUTH_WAIT_DAYS"),
        ({**BASE, "GROUND_TRUTH_WAIT_DAYS": "soon"}, "GROUND_TRUTH_WAIT_DAYS"),
        ({**BASE, "LABELLED_ASSET_NAME": "labels"}, "LABELLED_ASSET_NAME"),
        ({**BASE, "DRIFT_THRESHOLD_POLICY": "nannyml"}, "DRIFT_THRESHOLD_POLICY"),
        ({**BASE, "DRIFT_THRESHOLD_K": "0"}, "DRIFT_THRESHOLD_K"),
        ({**BASE, "DRIFT_THRESHOLD_QUANTILE": "0.2"}, "DRIFT_THRESHOLD_QUANTILE"),
        ({**BASE, "DRIFT_THRESHOLDS": "numerical.null_value_rate=0.1"}, "DRIFT_THRESHOLDS"),
        ({**BASE, "DRIFT_THRESHOLDS": "numerical.jsd=high"}, "DRIFT_THRESHOLDS"),
        ({**BASE, "EXPECTED_BATCH_ROWS": "-5"}, "EXPECTED_BATCH_ROWS"),
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


# ------------------------------------------------------------------ storage connections

CLIENT = "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
HOST_MI = {
    "AzureWebJobsStorage__accountName": "sthost01",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": CLIENT,
}
INFERENCE_MI = {
    "INFERENCE_STORAGE__blobServiceUri": "https://stinf01.blob.core.windows.net/",
    "INFERENCE_STORAGE__queueServiceUri": "https://stinf01.queue.core.windows.net",
    "INFERENCE_STORAGE__credential": "managedidentity",
    "INFERENCE_STORAGE__clientId": CLIENT,
}


def test_identity_based_connections_parse_into_service_uris_credential_and_client_id():
    settings = load_settings({**HOST_MI, **INFERENCE_MI})
    host, inference = settings.storage_connection, settings.inference_connection
    assert host.uses_identity and host.connection_string is None
    assert (host.blob_uri, host.queue_uri, host.table_uri) == (
        "https://sthost01.blob.core.windows.net", "https://sthost01.queue.core.windows.net",
        "https://sthost01.table.core.windows.net")
    assert (host.credential, host.client_id) == ("managedidentity", CLIENT)
    assert inference.name == "INFERENCE_STORAGE"
    assert inference.blob_uri == "https://stinf01.blob.core.windows.net"
    assert inference.account == "stinf01" and host.account == "sthost01"
    # Azure ML's DefaultAzureCredential signs in as the same user-assigned identity.
    assert settings.azure_client_id == CLIENT
    other = "11111111-2222-4333-8444-555555555555"
    assert load_settings({**HOST_MI, "AZURE_CLIENT_ID": other}).azure_client_id == other


def test_service_uris_without_credential_mean_the_default_identity():
    settings = load_settings({
        "AzureWebJobsStorage__blobServiceUri": "https://127.0.0.1:10000/devstoreaccount1",
        "AzureWebJobsStorage__queueServiceUri": "https://127.0.0.1:10001/devstoreaccount1",
        "AzureWebJobsStorage__tableServiceUri": "https://127.0.0.1:10002/devstoreaccount1",
    })
    conn = settings.storage_connection
    assert conn.credential is None and conn.client_id is None
    assert conn.account == "devstoreaccount1"  # the emulator's path-style URL
    assert settings.azure_client_id is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        # Half one way, half the other.
        ({"AzureWebJobsStorage": "UseDevelopmentStorage=true",
          "AzureWebJobsStorage__accountName": "sthost01"}, "configured both ways"),
        ({**BASE, "INFERENCE_STORAGE": "UseDevelopmentStorage=true",
          "INFERENCE_STORAGE__credential": "managedidentity"}, "INFERENCE_STORAGE__credential"),
        ({**HOST_MI, "AzureWebJobsStorage__blobServiceUri": "https://x.blob.core.windows.net"},
         "AzureWebJobsStorage__accountName and AzureWebJobsStorage__blobServiceUri"),
        # A missing part.
        ({"AzureWebJobsStorage__credential": "managedidentity",
          "AzureWebJobsStorage__clientId": CLIENT}, "AzureWebJobsStorage names no account"),
        ({"AzureWebJobsStorage__blobServiceUri": "https://h.blob.core.windows.net",
          "AzureWebJobsStorage__queueServiceUri": "https://h.queue.core.windows.net"},
         "AzureWebJobsStorage__tableServiceUri is missing"),
        ({**BASE, "INFERENCE_STORAGE__blobServiceUri": "https://i.blob.core.windows.net"},
         "INFERENCE_STORAGE__queueServiceUri is missing"),
        ({"AzureWebJobsStorage__accountName": "sthost01",
          "AzureWebJobsStorage__clientId": CLIENT}, "AzureWebJobsStorage__credential"),
        # Malformed parts.
        ({**HOST_MI, "AzureWebJobsStorage__credential": "secret"},
         "AzureWebJobsStorage__credential must be managedidentity"),
        ({**HOST_MI, "AzureWebJobsStorage__clientId": "my-identity"},
         "AzureWebJobsStorage__clientId must be the identity's client id"),
        ({"AzureWebJobsStorage__accountName": "Not_An_Account"},
         "AzureWebJobsStorage__accountName must be a storage account name"),
        ({**BASE, "INFERENCE_STORAGE__blobServiceUri": "stinf01.blob.core.windows.net",
          "INFERENCE_STORAGE__queueServiceUri": "https://stinf01.queue.core.windows.net"},
         "INFERENCE_STORAGE__blobServiceUri must be an https:// endpoint"),
        ({**HOST_MI, "AzureWebJobsStorage__tenantId": "t"}, "AzureWebJobsStorage__tenantId"),
        # The blob binding extension derives a URI from accountName only for the host storage.
        ({**BASE, "INFERENCE_STORAGE__accountName": "stinf01"},
         "AzureWebJobsStorage only; for INFERENCE_STORAGE set"),
        ({}, "AzureWebJobsStorage__accountName or AzureWebJobsStorage__blobServiceUri"),
    ],
)
def test_a_connection_configured_wrongly_names_the_connection_and_the_part(env, named):
    with pytest.raises(SettingsError, match=re.escape(named)):
        load_settings(env)


def test_describe_shows_each_connection_form_account_and_identity_without_secrets():
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    conn = (f"DefaultEndpointsProtocol=https;AccountName=stkeyed;AccountKey={key};"
            "EndpointSuffix=core.windows.net")
    settings = load_settings({"AzureWebJobsStorage": conn, **INFERENCE_MI})
    described = settings.describe()
    text = json.dumps(described)
    assert key not in text and "AccountKey" not in text
    assert key not in repr(settings)
    assert described["storage_connection"] == {"form": "connection string",
                                               "account": "stkeyed"}
    assert described["inference_connection"] == {
        "form": "identity", "account": "stinf01",
        "endpoints": {"blob": "https://stinf01.blob.core.windows.net",
                      "queue": "https://stinf01.queue.core.windows.net"},
        "credential": "managedidentity", "client_id": CLIENT}


# ------------------------------------------------------------------ Spark runtime


def test_the_spark_runtimes_accepted_are_those_the_installed_azure_ai_ml_accepts():
    from azure.ai.ml.entities import ServerlessSparkCompute
    from azure.ai.ml.entities._monitoring import compute
    from azure.ai.ml.exceptions import MlException

    from core.settings import SPARK_RUNTIMES

    assert tuple(compute._SUPPORTED_RUNTIME_VERSIONS) == SPARK_RUNTIMES
    for runtime in SPARK_RUNTIMES:  # the SDK's own check passes ...
        ServerlessSparkCompute(runtime_version=runtime, instance_type="standard_e4s_v3")._validate()
    # ... and refuses what the setting refuses (log_and_raise_error re-raises it formatted)
    with pytest.raises(MlException, match="runtime version must be one of"):
        ServerlessSparkCompute(runtime_version="3.3", instance_type="standard_e4s_v3")._validate()


def test_the_spark_runtime_default_is_supported_and_a_refused_one_stops_the_start():
    from core.settings import SPARK_RUNTIMES

    assert load_settings(BASE).monitor_runtime_version == "3.5" in SPARK_RUNTIMES
    assert load_settings({**BASE, "MONITOR_SPARK_RUNTIME": "3.4"}).monitor_runtime_version == "3.4"
    with pytest.raises(SettingsError, match=r"MONITOR_SPARK_RUNTIME .*\(3\.4, 3\.5\)"):
        load_settings({**BASE, "MONITOR_SPARK_RUNTIME": "3.3"})


def test_ground_truth_settings_default_to_the_collectors_join_column():
    settings = load_settings(BASE)
    assert (settings.correlation_column, settings.labelled_asset("m"),
            settings.ground_truth_wait_days, settings.performance_thresholds) == (
        "correlationid", "m-labelled", 30.0, {})
    tuned = load_settings({**BASE, "PERFORMANCE_THRESHOLDS": "f1=0.6, rmse=12",
                           "CORRELATION_ID_COLUMN": "request_id"})
    assert tuned.performance_thresholds == {"f1": 0.6, "rmse": 12.0}
    assert tuned.correlation_column == "request_id"


def test_drift_threshold_settings():
    default = load_settings(BASE)
    assert (default.drift_threshold_policy, default.drift_threshold_k,
            default.drift_threshold_quantile, default.drift_thresholds,
            default.expected_batch_rows) == ("calibrated", 4.0, None, {}, 0)
    given = load_settings({**BASE, "DRIFT_THRESHOLD_POLICY": "Fixed", "DRIFT_THRESHOLD_K": "3.5",
                           "DRIFT_THRESHOLD_QUANTILE": "0.99", "EXPECTED_BATCH_ROWS": "5000",
                           "DRIFT_THRESHOLDS": "numerical.jsd=0.2, data_quality:"
                                               "categorical.out_of_bounds_rate=0.01"})
    assert given.drift_threshold_policy == "fixed" and given.drift_threshold_k == 3.5
    assert given.drift_threshold_quantile == 0.99 and given.expected_batch_rows == 5000
    assert given.drift_thresholds == {
        "data_drift": {"numerical": {"jensen_shannon_distance": 0.2}},
        "data_quality": {"categorical": {"out_of_bounds_rate": 0.01}}}


def test_azure_monitors_get_per_type_thresholds_from_drift_thresholds():
    from core.bootstrap import _monitor_thresholds

    assert _monitor_thresholds({}) == {}
    sent = _monitor_thresholds({
        "data_drift": {"numerical": {"jensen_shannon_distance": 0.2}},
        "data_quality": {"categorical": {"out_of_bounds_rate": 0.01}}})
    assert sent["data_drift_thresholds"] == {
        "numerical": {"jensen_shannon_distance": 0.2},
        "categorical": {"jensen_shannon_distance": 0.1}}
    assert sent["data_quality_thresholds"]["categorical"] == {
        "null_value_rate": 0.0, "data_type_error_rate": 0.0, "out_of_bounds_rate": 0.01}
    assert sent["data_quality_thresholds"]["numerical"]["out_of_bounds_rate"] == 0.0


def test_a_false_alarm_rate_replaces_the_fixed_k():
    from core.services.thresholds import DriftThresholds

    settings = load_settings({**BASE, "DRIFT_FALSE_ALARM_RATE": "0.01"})
    assert settings.drift_false_alarm_rate == 0.01
    assert DriftThresholds.from_settings(settings, None).policy.false_alarm_rate == 0.01
    assert load_settings(BASE).drift_false_alarm_rate is None
    for bad in ("0", "1", "2", "x"):
        with pytest.raises(SettingsError, match="DRIFT_FALSE_ALARM_RATE"):
            load_settings({**BASE, "DRIFT_FALSE_ALARM_RATE": bad})
