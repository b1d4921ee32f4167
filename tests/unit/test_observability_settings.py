"""Settings of telemetry and of the autopilot's own events: read once, a malformed one stops the
app at start naming it, secrets never shown; and the composition root's choices (nothing
without the setting, a telemetry that cannot be configured left off and named in health)."""

from __future__ import annotations

import json

import pytest

from core.bootstrap import build_services
from core.ports import NO_TELEMETRY
from core.settings import SettingsError, load_settings

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
IKEY = "3b8e4c2a-9f1d-4e6b-8a7c-5d2f1e0b9c34"
CONNECTION = f"InstrumentationKey={IKEY};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/"
IDENTITY = "5b3c8f2e-7a41-4d3b-9c8e-2f6a1d4e8b90"


def settings(**env: str):
    return load_settings({**BASE, **env})


def test_nothing_set_means_no_telemetry_and_events_to_the_log():
    s = settings()
    assert not s.telemetry.enabled and s.events.endpoint is None
    services = build_services(s)
    assert services.telemetry is NO_TELEMETRY
    assert services.autopilot_events.destination.startswith("the log")
    assert "application_insights" not in services.health_probes
    assert "autopilot_events" not in services.health_probes


@pytest.mark.parametrize("env, says", [
    ({"APPLICATIONINSIGHTS_CONNECTION_STRING": "IngestionEndpoint=https://x/"},
     "APPLICATIONINSIGHTS_CONNECTION_STRING must be an Application Insights connection string"),
    ({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=not-a-guid"},
     "InstrumentationKey"),
    ({"APPLICATIONINSIGHTS_CONNECTION_STRING": f"InstrumentationKey={IKEY};IngestionEndpoint=x"},
     "IngestionEndpoint must be an https:// URL"),
    ({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=Key"},
     "APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be 'Authorization=AAD'"),
    ({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=abc;Authorization=AAD"},
     "ClientId must be the identity's client id"),
    ({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": f"ClientId={IDENTITY};Authorization=AAD",
      "AZURE_CLIENT_ID": "00000000-0000-0000-0000-0000000000aa"},
     "the app uses one identity"),
    ({"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "maybe"},
     "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY must be true or false"),
    ({"AUTOPILOT_EVENTS_ENDPOINT": "evgt-x.westeurope-1.eventgrid.azure.net"},
     "AUTOPILOT_EVENTS_ENDPOINT must be the Event Grid topic's endpoint"),
    ({"AUTOPILOT_EVENTS_KEY": "k"}, "AUTOPILOT_EVENTS_KEY is set but AUTOPILOT_EVENTS_ENDPOINT"),
])
def test_a_malformed_setting_stops_the_app_naming_it(env, says):
    with pytest.raises(SettingsError, match=says.replace("(", r"\(").replace(")", r"\)")):
        settings(**env)


def test_the_authentication_string_names_the_identity_the_app_signs_in_as():
    s = settings(APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION,
                 APPLICATIONINSIGHTS_AUTHENTICATION_STRING=f"ClientId={IDENTITY};Authorization=AAD")
    assert s.telemetry.entra_id and s.azure_client_id == IDENTITY
    assert settings(APPLICATIONINSIGHTS_AUTHENTICATION_STRING="Authorization=AAD",
                    AZURE_CLIENT_ID=IDENTITY).azure_client_id == IDENTITY
    assert settings(PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY="true").telemetry \
        .worker_configured


def test_keys_and_connection_strings_are_never_shown():
    s = settings(APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION,
                 AUTOPILOT_EVENTS_ENDPOINT="https://evgt.westeurope-1.eventgrid.azure.net/api/events",
                 AUTOPILOT_EVENTS_KEY="s3cret-key")
    shown = json.dumps(s.describe())
    assert "s3cret-key" not in shown and IKEY not in shown
    assert "s3cret-key" not in repr(s) and IKEY not in repr(s)
    assert s.describe()["telemetry"]["ingestion_endpoint"].startswith("https://westeurope-5")
    assert s.describe()["events"]["authentication"] == "access key"


def test_a_telemetry_that_cannot_be_configured_is_left_off_and_named_in_health(monkeypatch):
    from core.adapters import telemetry

    def broken(connection_string, credential):
        raise RuntimeError("the distro refused its configuration")

    monkeypatch.setattr(telemetry, "azure_monitor", broken)
    services = build_services(settings(APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION))

    assert services.telemetry is NO_TELEMETRY  # the app runs without it
    with pytest.raises(RuntimeError, match="telemetry could not be configured: RuntimeError: "
                                           "the distro refused its configuration"):
        services.health_probes["application_insights"]()


def test_with_entra_id_the_exporter_gets_the_apps_credential(monkeypatch):
    from core.adapters import telemetry

    seen = {}

    def configure(connection_string, credential):
        seen.update(connection=connection_string, credential=credential)
        return NO_TELEMETRY

    monkeypatch.setattr(telemetry, "azure_monitor", configure)
    services = build_services(settings(
        APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION, AZURE_CLIENT_ID=IDENTITY,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING="Authorization=AAD"))
    assert services.telemetry is NO_TELEMETRY  # built on first use, by the stand-in
    assert seen["credential"] is services.credentials.default()
    assert services.credentials.client_id == IDENTITY

    seen.clear()
    assert build_services(settings(APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION)) \
        .telemetry is NO_TELEMETRY
    assert seen["credential"] is None  # instrumentation key only
