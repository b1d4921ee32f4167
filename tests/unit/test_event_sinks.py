"""Event sinks (core/adapters/event_sink.py): how the local backend delivers the events Event Grid
would. The webhook sink is exercised against a real HTTP server on loopback."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from core.adapters.local.event_sink import (
    InProcessEventSink,
    NullEventSink,
    WebhookEventSink,
    route_of,
)
from core.domain.events import (
    DATASET_DRIFT_DETECTED,
    MODEL_REGISTERED,
    RUN_COMPLETED,
    RUN_STATUS_CHANGED,
)


def event(event_type, event_id="e-1", **extra):
    return {"id": event_id, "eventType": event_type, "subject": "s", "data": {"k": "v"},
            "eventTime": "2027-01-15T08:00:00Z", "dataVersion": "2", **extra}


MODEL = event(MODEL_REGISTERED, "e-model")
RUN = event(RUN_STATUS_CHANGED, "e-run")
COMPLETED = event(RUN_COMPLETED, "e-completed")
DRIFT = event(DATASET_DRIFT_DETECTED, "e-drift")
BLOB = event("Microsoft.Storage.BlobCreated", "e-blob")


def test_routes():
    assert route_of(MODEL) == "on_model_registered"
    for e in (RUN, COMPLETED, DRIFT):
        assert route_of(e) == "on_azureml_run_event"
    assert route_of(BLOB) is None
    # CloudEvents 1.0 carry the type in `type`.
    assert route_of({"id": "c", "type": MODEL_REGISTERED, "specversion": "1.0"}) == (
        "on_model_registered")


# --------------------------------------------------------------------------- webhook


class Recorder(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(SimpleNamespace(
            path=self.path, headers={k.lower(): v for k, v in self.headers.items()},
            body=json.loads(body)))
        status = self.server.status
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.received = []
    httpd.status = 202
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def base_url(httpd, suffix=""):
    return f"http://127.0.0.1:{httpd.server_address[1]}{suffix}"


def test_webhook_posts_each_event_to_its_function(server):
    WebhookEventSink(base_url(server, "/"), timeout=5).publish([MODEL, RUN, DRIFT])

    assert [r.path for r in server.received] == [
        "/runtime/webhooks/eventgrid?functionName=on_model_registered",
        "/runtime/webhooks/eventgrid?functionName=on_azureml_run_event",
        "/runtime/webhooks/eventgrid?functionName=on_azureml_run_event",
    ]
    assert [r.body for r in server.received] == [[MODEL], [RUN], [DRIFT]]
    for r in server.received:
        assert r.headers["aeg-event-type"] == "Notification"
        assert r.headers["content-type"] == "application/json"


def test_webhook_skips_event_types_without_a_route(server):
    WebhookEventSink(base_url(server), timeout=5).publish([BLOB, COMPLETED])
    assert [r.body for r in server.received] == [[COMPLETED]]


def test_webhook_logs_an_error_response_and_goes_on(server, caplog):
    server.status = 500
    with caplog.at_level(logging.ERROR, logger="core.adapters.local.event_sink"):
        WebhookEventSink(base_url(server), timeout=5).publish([MODEL, RUN])
    assert len(server.received) == 2
    assert any("e-model" in r.getMessage() for r in caplog.records)


def test_webhook_logs_an_unreachable_url_instead_of_raising(caplog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with caplog.at_level(logging.ERROR, logger="core.adapters.local.event_sink"):
        WebhookEventSink(f"http://127.0.0.1:{port}", timeout=2).publish([MODEL])
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "e-model" in record.getMessage()
    assert f"127.0.0.1:{port}" in record.getMessage()


# --------------------------------------------------------------------------- in process


class Dispatch:
    def __init__(self, results=None, error=None):
        self.calls: list[tuple[list[dict], str]] = []
        self.results = results if results is not None else [SimpleNamespace(ok=True)]
        self.error = error

    def __call__(self, events, function):
        self.calls.append((events, function))
        if self.error:
            raise self.error
        return self.results


def test_in_process_routes_each_event_to_its_function():
    dispatch = Dispatch()
    InProcessEventSink(lambda: dispatch).publish([MODEL, RUN, COMPLETED, DRIFT, BLOB])
    assert dispatch.calls == [
        ([MODEL], "on_model_registered"),
        ([RUN], "on_azureml_run_event"),
        ([COMPLETED], "on_azureml_run_event"),
        ([DRIFT], "on_azureml_run_event"),
    ]


def test_in_process_dispatch_that_raises_does_not_reach_the_producer(caplog):
    dispatch = Dispatch(error=RuntimeError("function crashed"))
    with caplog.at_level(logging.ERROR, logger="core.adapters.local.event_sink"):
        InProcessEventSink(lambda: dispatch).publish([MODEL, RUN])
    assert len(dispatch.calls) == 2  # the second event is still delivered
    assert sum("failed" in r.getMessage() for r in caplog.records) == 2


def test_in_process_failed_result_is_logged_not_raised(caplog):
    dispatch = Dispatch(results=[SimpleNamespace(ok=False, error="bad event")])
    with caplog.at_level(logging.ERROR, logger="core.adapters.local.event_sink"):
        InProcessEventSink(lambda: dispatch).publish([RUN])
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "e-run" in record.getMessage() and "bad event" in record.getMessage()


def test_in_process_successful_results_log_no_error(caplog):
    with caplog.at_level(logging.ERROR, logger="core.adapters.local.event_sink"):
        InProcessEventSink(lambda: Dispatch()).publish([MODEL])
    assert caplog.records == []


# --------------------------------------------------------------------------- null


def test_null_sink_keeps_what_was_published():
    sink = NullEventSink()
    sink.publish([MODEL, BLOB])
    sink.publish([RUN])
    assert sink.published == [MODEL, BLOB, RUN]
