"""Telemetry through the registered functions, on Azurite and the local workspace, read back
from OpenTelemetry's in-memory span exporter, metric reader and log exporter: what Application
Insights would receive (spans become requests and dependencies, span and log attributes
customDimensions, metrics customMetrics)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from core.domain.events import MODEL_REGISTERED, event_grid_event
from tests.functions.test_early_drift import CLEAN, DRIFTED, REFERENCE
from tests.functions.test_retraining import MODEL as RETRAIN_MODEL
from tests.functions.test_retraining import alert, fraud, run_event, svc  # noqa: F401
from tests.otel import InMemoryTelemetry

ROOT = Path(__file__).resolve().parents[2]
MODEL = "loans"
HOST_TRACE = "0af7651916cd43dd8448eb211c80319c"
HOST_PARENT = f"00-{HOST_TRACE}-b7ad6b7169203331-01"


@pytest.fixture
def otel(app_env):
    from core.bootstrap import build_services, reset_services

    memory = InMemoryTelemetry.create()
    reset_services(build_services(telemetry=memory.telemetry))
    yield memory
    memory.close()


@pytest.fixture
def model(otel, reference):
    reference(MODEL, REFERENCE)
    return MODEL


def test_a_blob_invocation_is_a_trace_under_the_hosts_with_the_files_dimensions(
        otel, host, upload, model, services):
    host.trace_parent = HOST_PARENT
    assert host.blob(upload(f"{MODEL}/clean.csv", CLEAN.encode())).ok
    record = next(iter(services.ledger.list(model=MODEL)))

    root = otel.span("ingest_inference_blob")
    assert root.kind is SpanKind.CONSUMER
    assert format(root.context.trace_id, "032x") == HOST_TRACE  # under the host's request
    assert root.parent.span_id == int("b7ad6b7169203331", 16)
    invocation_id = root.attributes["invocation_id"]
    assert len(invocation_id) == 36
    (ingest,) = otel.children(root)
    assert ingest.name == "ingest"
    assert {k: ingest.attributes[k] for k in ("model", "ingestion_id", "blob", "data_version",
                                              "outcome")} == {
        "model": MODEL, "ingestion_id": record.ingestion_id,
        "blob": f"{record.blob.container}/{MODEL}/clean.csv",
        "data_version": f"{MODEL}-inference:{record.asset_version}", "outcome": "registered"}
    assert [s.name for s in otel.children(ingest)] == ["early_drift_check", "ensure_monitor"]

    # The use case's log line carries the span's dimensions and the trace.
    (line,) = otel.logs("registered ")
    assert line.attributes["model"] == MODEL
    assert line.attributes["ingestion_id"] == record.ingestion_id
    assert line.attributes["invocation_id"] == invocation_id
    assert line.trace_id == root.context.trace_id

    assert otel.total("autopilot.ingestion.files", model=MODEL, outcome="registered") == 1
    assert otel.total("autopilot.ingestion.rows", outcome="registered") == 2000
    ((attrs, duration),) = otel.points("autopilot.drift.check.duration")
    assert attrs == {"model": MODEL, "outcome": "clean"} and duration.count == 1


def test_a_drifted_batch_records_values_per_feature_and_signal_and_its_alert(
        otel, host, upload, model, services, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.txt").write_text("a model")
    services.workspace.register_model(MODEL, folder)  # so the early check's alert counts
    assert host.blob(upload(f"{MODEL}/drifted.csv", DRIFTED.encode())).ok

    values = {(a["signal"], a["feature"], a["metric"]): p
              for a, p in otel.points("autopilot.drift.value")}
    assert ("data_drift", "income", "normalized_wasserstein_distance") in values
    assert values[("data_drift", "income", "normalized_wasserstein_distance")].max > 0.1
    assert otel.total("autopilot.drift.breaches", feature="income", signal="data_drift",
                      source="early_check") == 1
    assert otel.total("autopilot.alerts", model=MODEL, source="early_check",
                      decision="requested") == 1
    ingest = otel.span("ingest")
    assert ingest.attributes["decision"] == "requested"
    assert ingest.attributes["request_id"]


def test_a_quarantined_file_is_counted_by_reason_and_its_warning_has_the_dimensions(
        otel, host, upload, model):
    assert host.blob(upload(f"{MODEL}/bad.csv", b"age,city\n30,rome\n")).ok

    assert otel.total("autopilot.ingestion.files", outcome="rejected",
                      reason="missing_columns") == 1
    (warning,) = otel.logs("rejected ")
    assert warning.severity_text == "WARN"
    assert warning.attributes["model"] == MODEL and warning.attributes["blob"]
    # The autopilot's own event, without an endpoint, is a log line of the CloudEvent.
    (event_line,) = otel.logs("autopilot event Autopilot.Ingestion.Quarantined")
    cloud = json.loads(str(event_line.body).split(" ", 3)[3])
    assert cloud["specversion"] == "1.0" and cloud["subject"].startswith(f"models/{MODEL}/")


def test_an_event_invocation_carries_the_event_id_and_links_the_upstream_trace(
        otel, host, services, tmp_path):
    upstream = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    cloud = {"specversion": "1.0", "id": "evt-42", "source": "/subscriptions/x/workspaces/w",
             "type": MODEL_REGISTERED, "subject": "models/nobody:1", "time": None,
             "data": {"modelName": "nobody", "modelVersion": "1"}, "traceparent": upstream}
    host.event_grid(cloud, function="on_model_registered")

    root = otel.span("on_model_registered")
    assert root.attributes["event_id"] == "evt-42"
    (link,) = root.links
    assert format(link.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    (ensure,) = otel.children(root)
    assert ensure.name == "ensure_monitor"
    assert ensure.attributes["model"] == "nobody"

    event = event_grid_event(MODEL_REGISTERED, "models/other:1",
                             {"modelName": "other", "modelVersion": "1"}, topic="t")
    host.event_grid(event, function="on_model_registered")
    roots = otel.spans("on_model_registered")
    assert roots[1].attributes["event_id"] == event["id"] and roots[1].links == ()


def test_a_failed_invocation_is_a_failed_span_with_the_exception(otel, host, upload, app_env):
    from core.bootstrap import build_services, reset_services
    from core.ports import WorkspaceError

    class Unreachable:
        def ingest(self, ref):
            raise WorkspaceError("workspace unreachable")

    reset_services(build_services(telemetry=otel.telemetry, ingest=Unreachable()))
    result = host.blob(upload(f"{MODEL}/clean.csv", CLEAN.encode()))

    assert not result.ok  # the host retries it
    root = otel.span("ingest_inference_blob")
    assert root.status.status_code is StatusCode.ERROR
    (exception,) = [e for e in root.events if e.name == "exception"]
    assert exception.attributes["exception.type"].endswith("WorkspaceError")


def test_every_admin_request_is_a_server_span_with_route_and_status(otel, host, model):
    assert host.http("GET", f"/api/models/{MODEL}/ingestions").status_code == 200
    assert host.http("GET", f"/api/models/{MODEL}/ingestions/nope").status_code == 404

    ok, missing = otel.spans("list_model_ingestions") + otel.spans("get_ingestion")
    assert ok.kind is SpanKind.SERVER
    assert ok.attributes["http.route"] == "/api/models/{model}/ingestions"
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.attributes["model"] == MODEL
    assert missing.attributes["http.response.status_code"] == 404
    assert missing.status.status_code is StatusCode.UNSET  # the caller's mistake, not ours


def test_the_timer_is_one_span_per_step_and_samples_the_queues(otel, host, services):
    services.retrain_queue.send("{}")
    assert host.timer("monitor_scheduler").ok

    root = otel.span("monitor_scheduler")
    assert [s.name for s in otel.children(root)] == [
        "reconcile_monitors", "run_due_monitors", "repair_retraining", "redrive_ingestions",
        "sample_queues"]
    ((attrs, depth),) = otel.points("autopilot.queue.depth")
    assert attrs == {"queue": services.settings.retrain_queue} and depth.value == 1
    ((_, poison),) = otel.points("autopilot.queue.poison")
    assert poison.value == 0


def test_a_whole_retraining_reports_its_outcome_and_scores(fraud, otel, host, svc):  # noqa: F811
    """A monitor's breach event, then the local retrainer on real data: one request, a
    challenger judged on the holdout, both scores recorded."""
    alert(host, run_event(event_id="ev-7"))
    results = host.drain(svc.settings.retrain_queue)
    assert [r.ok for r in results] == [True]

    (decided,) = otel.spans("drift_alert")
    assert decided.attributes["event_id"] == "ev-7"
    retrain = otel.span("retrain")
    assert retrain.attributes["model"] == RETRAIN_MODEL
    assert retrain.attributes["correlation_id"] == "ev-7"
    status = retrain.attributes["status"]
    assert status in ("registered", "rejected")
    assert otel.total("autopilot.retraining.outcomes", model=RETRAIN_MODEL, status=status) == 1
    roles = {(a["role"], a["metric"]) for a, _ in otel.points("autopilot.retraining.score")}
    assert {("champion", "f1"), ("challenger", "f1")} <= roles
    assert otel.total("autopilot.drift.breaches", source="azureml_monitor",
                      feature="amount") == 1
    worker_lines = [r for r in otel.logs() if r.attributes.get("request_id")
                    == retrain.attributes["request_id"]]
    assert worker_lines


def test_without_the_setting_an_ingestion_never_imports_opentelemetry(app_env, upload,
                                                                      reference, tmp_path):
    """A fresh process, as the worker is: no APPLICATIONINSIGHTS_CONNECTION_STRING, one blob
    invocation; then no opentelemetry or azure.monitor module may be loaded."""
    reference(MODEL, REFERENCE)
    path = upload(f"{MODEL}/clean.csv", CLEAN.encode())
    code = ("import sys, json\n"
            "from devtools.invoke import LocalHost\n"
            f"result = LocalHost().blob({path!r})\n"
            "assert result.ok, result.error\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith("
            "('opentelemetry', 'azure.monitor', 'azure.eventgrid')))))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLICATIONINSIGHTS")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=180)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
