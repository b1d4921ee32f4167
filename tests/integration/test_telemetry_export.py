"""The Azure Monitor OpenTelemetry distro as the app configures it, exporting to a loopback
Application Insights ingestion endpoint that records the envelopes (`/v2.1/track`): what an
operator's Application Insights would store, and what becomes of an endpoint that refuses or
cannot be reached (named in health; no file lost, the invocation not held up).

Each case runs in a fresh process, as the worker is: OpenTelemetry's providers are global and
set once per process. The SDK's own side channels (statistics, remote configuration) are
switched off by their settings so nothing leaves the machine; live metrics go to the loopback.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.azurite import self_signed_certificate
from tests.functions.test_early_drift import CLEAN, REFERENCE
from tests.identity import FakeIdentityEndpoint
from tests.loopback import LoopbackServer, closed_port

ROOT = Path(__file__).resolve().parents[2]
IKEY = "3b8e4c2a-9f1d-4e6b-8a7c-5d2f1e0b9c34"
APP_IDENTITY = "5b3c8f2e-7a41-4d3b-9c8e-2f6a1d4e8b90"

_RUN = r"""
import json, logging, os, sys
sys.path.insert(0, os.getcwd())
logged = []
class Keep(logging.Handler):
    def emit(self, record):
        logged.append(record.getMessage())
logging.getLogger("core.adapters.telemetry").addHandler(Keep(logging.WARNING))
from core.bootstrap import services
from devtools.invoke import LocalHost
svc = services()
container = os.environ["INFERENCE_CONTAINER"]
svc.workspace.register_file_version("loans-training", "1", os.environ["REF_FILE"], tags={})
svc.blob_store.upload(container, "loans/clean.csv", open(os.environ["BATCH_FILE"], "rb").read())
host = LocalHost()
result = host.blob(container + "/loans/clean.csv")
assert result.ok, result.error
from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider
for provider in (trace.get_tracer_provider(), metrics.get_meter_provider(),
                 get_logger_provider()):
    provider.force_flush()
health = json.loads(host.http("GET", "/api/health").get_body())
details = json.loads(host.http("GET", "/api/health/details").get_body())
record = next(iter(svc.ledger.list(model="loans")))
print(json.dumps({"health": health, "errors": details["errors"],
                  "telemetry": details["settings"]["telemetry"], "status": record.status,
                  "ingestion_id": record.ingestion_id, "logged": logged}))
"""


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def run_app(app_env, tmp_path, endpoint: str, **extra: str) -> dict:
    ref, batch = tmp_path / "ref.csv", tmp_path / "batch.csv"
    ref.write_text(REFERENCE)
    batch.write_text(CLEAN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLICATIONINSIGHTS")}
    env.update(
        APPLICATIONINSIGHTS_CONNECTION_STRING=(
            f"InstrumentationKey={IKEY};IngestionEndpoint={endpoint}/;LiveEndpoint={endpoint}/"),
        # The SDK's own statistics and remote configuration channels stay off: nothing but the
        # loopback is ever contacted.
        APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",
        APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED="true",
        TMPDIR=str(tmp_path),  # the exporter's retry storage
        REF_FILE=str(ref), BATCH_FILE=str(batch), **extra)
    out = subprocess.run([sys.executable, "-c", _RUN], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def envelopes(server: LoopbackServer) -> list[dict]:
    return [e for r in server.received if r.path.endswith("/track") for e in r.json()]


def of_type(items: list[dict], base_type: str) -> list[dict]:
    return [e["data"]["baseData"] for e in items if e["data"]["baseType"] == base_type]


def test_spans_logs_and_metrics_reach_application_insights_with_their_dimensions(
        app_env, tmp_path):
    server = LoopbackServer(answer={"itemsReceived": 1, "itemsAccepted": 1, "errors": []})
    with server.running():
        out = run_app(app_env, tmp_path, server.base)

    assert out["status"] == "registered"
    assert out["health"]["status"] == "up" and "degraded" not in out["health"]
    assert out["health"]["dependencies"]["application_insights"] == "up"
    assert out["telemetry"] == {"enabled": True, "ingestion_endpoint": f"{server.base}/",
                                "authentication": "instrumentation key",
                                "worker_configured": False}
    items = envelopes(server)
    assert items and all(e["iKey"] == IKEY for e in items)
    # The invocation is a request; the use case a dependency inside it, with our dimensions.
    (request,) = [r for r in of_type(items, "RequestData")
                  if r["name"] == "ingest_inference_blob"]
    assert request["success"] is True
    (ingest,) = [d for d in of_type(items, "RemoteDependencyData") if d["name"] == "ingest"]
    props = ingest["properties"]
    assert props["model"] == "loans" and props["ingestion_id"] == out["ingestion_id"]
    assert props["outcome"] == "registered" and props["data_version"] == "loans-inference:1"
    operation = {e["tags"]["ai.operation.id"] for e in items
                 if e["data"]["baseType"] in ("RequestData", "RemoteDependencyData",
                                              "MessageData")
                 and e["data"]["baseData"].get("properties", {}).get("model") == "loans"}
    assert len(operation) == 1  # one trace: request, use cases and log lines
    # Log lines are traces with customDimensions.
    (line,) = [m for m in of_type(items, "MessageData")
               if m["message"].startswith("registered ")]
    assert line["properties"]["ingestion_id"] == out["ingestion_id"]
    assert line["properties"]["invocation_id"]
    # Metrics are customMetrics with their dimensions.
    files = [m for d in of_type(items, "MetricData") for m in d["metrics"]
             if m["name"] == "autopilot.ingestion.files"]
    assert files and files[0]["value"] == 1
    (with_dims,) = [d for d in of_type(items, "MetricData")
                    if any(m["name"] == "autopilot.ingestion.files" for m in d["metrics"])]
    assert with_dims["properties"] == {"model": "loans", "outcome": "registered", "reason": ""}


@pytest.mark.parametrize("broken", ["unreachable", "refusing"])
def test_a_broken_ingestion_endpoint_is_named_in_health_and_costs_the_loop_nothing(
        app_env, tmp_path, broken):
    server = LoopbackServer(status=403)
    with server.running():
        endpoint = server.base if broken == "refusing" else f"http://127.0.0.1:{closed_port()}"
        out = run_app(app_env, tmp_path, endpoint)

    assert out["status"] == "registered"  # the file, as ever (no wall-clock bound here: a
    # failing export is a refused or unreachable endpoint, immediate inline or not, and a time
    # limit only measured the machine's load)
    assert out["health"]["status"] == "up"
    assert out["health"]["degraded"] == ["application_insights"]
    error = out["errors"]["application_insights"]
    assert f"Application Insights at {endpoint}/" in error
    if broken == "refusing":
        assert "HTTP 403" in error and "Monitoring Metrics Publisher" in error
    else:
        assert "request error" in error
    assert "the app is unaffected" in error
    assert any(f"not reaching Application Insights at {endpoint}/" in line
               for line in out["logged"]), out["logged"]


def test_with_entra_id_the_exporter_signs_in_as_the_apps_identity(app_env, tmp_path, tls):
    """APPLICATIONINSIGHTS_AUTHENTICATION_STRING as the templates write it: the app's own
    credential (credentials.py) signs the exports, over TLS, for the monitor audience."""
    server = LoopbackServer(tls=tls, answer={"itemsReceived": 1, "itemsAccepted": 1,
                                             "errors": []})
    with server.running(), FakeIdentityEndpoint(with_role={APP_IDENTITY}).running() as identity:
        out = run_app(app_env, tmp_path, server.base,
                      APPLICATIONINSIGHTS_AUTHENTICATION_STRING=(
                          f"ClientId={APP_IDENTITY};Authorization=AAD"),
                      AZURE_CLIENT_ID=APP_IDENTITY, IDENTITY_ENDPOINT=identity.url,
                      IDENTITY_HEADER=identity.SECRET, REQUESTS_CA_BUNDLE=str(tls[0]))

    assert out["telemetry"]["authentication"] == "Entra ID"
    assert out["health"]["dependencies"]["application_insights"] == "up"
    tracks = [r for r in server.received if r.path.endswith("/track")]
    assert tracks
    scheme, token = tracks[0].headers["authorization"].split(" ")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert scheme == "Bearer" and claims["appid"] == APP_IDENTITY
    assert claims["aud"].startswith("https://monitor.azure.com")
