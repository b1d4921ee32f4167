"""The admin surface as an adversarial caller sees it (issue 10, items 12-14): path traversal,
hostile names on every route, deeply nested bodies, and a health answer that says only up or
down, within 5 s, whatever the storage does. Through the registered routes, on real Azurite
and a real local workspace."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from tests.samples import GOOD_CSV, REFERENCE_CSV

MODEL = "churn"

HOSTILE_NAMES = [
    "my model", "..", ".hidden", "-lead", "end.", "a" * 256, "x\\y", "ü-model", "a;b",
    "a\x00b", "a%2F..", "*", "a:b", "a" * 300,
]
# Every route that names a model, with its method and a body where it takes one.
MODEL_ROUTES = [
    ("GET", "/api/models/{m}/ingestions", None),
    ("GET", "/api/models/{m}/ingestions/0123456789abcdef01234567", None),
    ("POST", "/api/models/{m}/ingestions/0123456789abcdef01234567/replay", None),
    ("GET", "/api/models/{m}/drift", None),
    ("GET", "/api/models/{m}/drift/report", None),
    ("POST", "/api/models/{m}/drift/check", {}),
    ("GET", "/api/models/{m}/monitor", None),
    ("POST", "/api/models/{m}/monitor/ensure", None),
    ("POST", "/api/models/{m}/monitor/run", None),
    ("POST", "/api/models/{m}/monitor/enable", None),
    ("POST", "/api/models/{m}/monitor/disable", None),
    ("GET", "/api/models/{m}/alerts", None),
    ("POST", "/api/models/{m}/retrain", {"reason": "x"}),
    ("GET", "/api/models/{m}/retraining", None),
    ("GET", "/api/models/{m}/retraining/some-id", None),
]


def _json(response):
    return json.loads(response.get_body())


def _no_host_path(response, services):
    text = response.get_body().decode()
    root = str(services.workspace.root)
    assert root not in text and str(services.workspace.root.parent) not in text, text
    assert "/tmp/" not in text and "/home/" not in text and "/work/" not in text, text


@pytest.fixture
def ready(host, upload, reference, services):
    """A model with reference data and one registered batch."""
    reference(MODEL, REFERENCE_CSV)
    assert host.blob(upload(f"{MODEL}/good.csv", GOOD_CSV.encode())).ok
    return services


# ---------------------------------------------------------------- 12: path traversal

def _outside_asset(tmp_path):
    """A data spec and CSV outside the workspace, where a traversal would find them."""
    outside = tmp_path / "outside"
    (outside / "evil").mkdir(parents=True)
    (outside / "evil" / "secret.csv").write_text("age,income,city,approved\n1,2.0,SECRET,1\n")
    (outside / "evil" / "MLTable").write_text(
        "paths:\n- file: ./secret.csv\ntransformations:\n- read_delimited:\n    delimiter: ','\n")
    (outside / "evil.yml").write_text("name: evil\nversion: evil\ntype: mltable\npath: ./evil\n")
    return outside


@pytest.mark.parametrize("part", ["production", "baseline"])
@pytest.mark.parametrize("fmt", ["", "?format=html"])
def test_drift_check_with_a_traversing_version_is_400_and_reads_nothing_outside(
    host, ready, tmp_path, part, fmt
):
    _outside_asset(tmp_path)
    depth = len(ready.workspace.root.relative_to(tmp_path).parts) + 2  # data/<asset>/
    for version in ["../" * depth + "outside/evil", "../" * depth + "outside/missing",
                    "..", "1/../../x", "1\\..\\x"]:
        body = {part: {"version": version}}
        response = host.http("POST", f"/api/models/{MODEL}/drift/check{fmt}", body)
        assert response.status_code == 400, response.get_body()
        error = _json(response)["error"]
        assert error["code"] == "invalid_name"
        assert "SECRET" not in response.get_body().decode()
        _no_host_path(response, ready)
    # The answer is the same whether or not the target exists: nothing was looked up.
    existing = host.http("POST", f"/api/models/{MODEL}/drift/check",
                         {part: {"version": "../" * depth + "outside/evil"}})
    missing = host.http("POST", f"/api/models/{MODEL}/drift/check",
                        {part: {"version": "../" * depth + "outside/nothing"}})
    assert existing.status_code == missing.status_code == 400
    assert _json(existing)["error"]["code"] == _json(missing)["error"]["code"]


def test_drift_check_with_a_traversing_asset_name_is_400(host, ready):
    response = host.http("POST", f"/api/models/{MODEL}/drift/check",
                         {"production": {"name": "../../outside", "version": "1"}})
    assert response.status_code == 400
    assert _json(response)["error"]["code"] == "invalid_name"


def test_local_workspace_refuses_any_path_resolving_outside_its_root(services, tmp_path):
    from core.ports import InvalidName

    ws = services.workspace
    outside = _outside_asset(tmp_path)
    for call in (lambda: ws.get_data("x", "../../../outside/evil"),
                 lambda: ws.get_model("m", "../../x"),
                 lambda: ws.latest_data("../outside"),
                 lambda: ws.get_monitor("../../evil")):
        with pytest.raises(InvalidName) as info:
            call()
        assert str(tmp_path) not in str(info.value)
    # A valid name that resolves outside (a symlink planted in the workspace) is refused too.
    (ws.root / "data" / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidName, match="outside the workspace"):
        ws.get_data("linked", "evil")


def test_model_registered_with_a_traversing_version_is_acknowledged_and_recorded(
    host, services
):
    event = {"id": "evt-traversal", "topic": "/t", "subject": "models/m:1",
             "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
             "eventTime": "2026-11-23T10:00:00Z", "dataVersion": "2",
             "data": {"modelName": "fraud", "modelVersion": "../../../outside/evil"}}
    [result] = host.event_grid(event, function="on_model_registered")
    assert result.ok, result.error  # acknowledged: a retry can never succeed
    [refused] = services.monitors.refused_events()
    assert refused["event_id"] == "evt-traversal" and "not a valid model version" in \
        refused["reason"]
    listed = _json(host.http("GET", "/api/monitors"))
    assert listed["refused_events"][0]["event_id"] == "evt-traversal"


# ---------------------------------------------------------------- 13: client errors

def test_hostile_model_names_on_every_route_are_client_errors_without_host_paths(
    host, ready
):
    seen = set()
    for method, route, body in MODEL_ROUTES:
        for name in HOSTILE_NAMES:
            response = host.http(method, route.replace("{m}", name), body)
            assert response.status_code in (400, 404, 422), (method, route, name,
                                                             response.get_body())
            error = _json(response)["error"]
            assert error["code"] and error["message"]
            _no_host_path(response, ready)
            seen.add(response.status_code)
    assert seen == {400}  # names are refused by rule, before anything is looked up


def test_a_typo_model_is_404_and_leaves_no_row(host, ready):
    response = host.http("POST", "/api/models/typo/monitor/ensure")
    assert response.status_code == 404
    listed = _json(host.http("GET", "/api/monitors"))
    assert "typo" not in [m["model"] for m in listed["monitors"]]
    assert host.http("GET", "/api/models/typo/monitor").status_code == 404


@pytest.mark.parametrize("route", ["/api/models/churn/drift/check", "/api/models/churn/retrain"])
def test_deeply_nested_json_is_400(host, ready, route):
    for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        response = host.http("POST", route, body)
        assert response.status_code == 400, (route, body[:8], response.get_body()[:300])
        assert _json(response)["error"]["code"] == "bad_request", response.get_body()[:300]


def test_an_unexpected_error_is_500_without_details(host, ready, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError(f"[Errno 36] File name too long: '{ready.workspace.root}/data/x'")

    monkeypatch.setattr(ready.workspace, "list_monitors", boom)
    response = host.http("GET", "/api/monitors")
    assert response.status_code == 500
    assert "incident" in _json(response)["error"]["message"]
    _no_host_path(response, ready)


# ---------------------------------------------------------------- 14: health

def test_anonymous_health_says_up_or_down_per_dependency_and_nothing_else(host, ready):
    response = host.http("GET", "/api/health")
    assert response.status_code == 200
    body = _json(response)
    assert body == {"status": "up", "dependencies": {
        "table_storage": "up", "inference_storage": "up", "queue_storage": "up",
        "workspace": "up"}}


def test_health_details_are_behind_the_function_key(host, ready):
    import azure.functions as func

    auth = {name: fn.get_trigger().auth_level for name, fn in host.functions.items()
            if name in ("health", "health_details")}
    assert auth == {"health": func.AuthLevel.ANONYMOUS, "health_details": func.AuthLevel.FUNCTION}
    details = _json(host.http("GET", "/api/health/details"))
    assert details["status"] == "up" and details["backend"] == "local"
    assert "azure-functions" in details["versions"] and "settings" in details
    assert "AccountKey" not in json.dumps(details)


class _BlackHole:
    """A TCP port that accepts connections and never answers (a hung storage endpoint)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def close(self):
        self._stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("fault", ["refused", "hung"])
def test_health_with_storage_unreachable_answers_503_within_5_seconds(
    app_env, monkeypatch, fault
):
    from core.bootstrap import reset_services
    from devtools.azurite import connection_string
    from devtools.invoke import LocalHost

    hole = _BlackHole() if fault == "hung" else None
    port = hole.port if hole else _closed_port()
    dead = connection_string(port, port, port)
    monkeypatch.setenv("AzureWebJobsStorage", dead)
    monkeypatch.setenv("INFERENCE_STORAGE", dead)
    reset_services()
    try:
        started = time.monotonic()
        response = LocalHost().http("GET", "/api/health")
        elapsed = time.monotonic() - started
    finally:
        if hole:
            hole.close()
    assert response.status_code == 503
    body = _json(response)
    assert body["status"] == "down"
    assert set(body["failing"]) == {"table_storage", "inference_storage", "queue_storage"}
    assert set(body) == {"status", "dependencies", "failing"}
    assert elapsed < 5.0, elapsed


# ---------------------------------------------------------------- 11: refused model names

@pytest.mark.parametrize("name", ["my model", "team/fraud", "../../etc", "a" * 300])
def test_model_registered_for_a_name_the_workspace_refuses_is_acknowledged_and_recorded(
    host, services, name
):
    event = {"id": f"evt-{len(name)}", "topic": "/t", "subject": "",
             "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
             "eventTime": "2026-11-23T10:00:00Z", "dataVersion": "2",
             "data": {"modelName": name, "modelVersion": "1"}}
    [result] = host.event_grid(event, function="on_model_registered")
    assert result.ok, result.error  # Event Grid does not retry what can never succeed
    [refused] = services.monitors.refused_events()
    assert refused["event_id"] == event["id"]
    assert "not a valid model name" in refused["reason"]
    assert str(services.workspace.root) not in refused["reason"]


def test_a_workspace_4xx_on_model_registered_is_acknowledged_and_recorded(
    host, services, monkeypatch
):
    from core.ports import PermanentError

    def refused(name):
        raise PermanentError(f"model {name}: the workspace refused it (HTTP 403): Forbidden")

    monkeypatch.setattr(services.workspace, "list_model_versions", refused)
    event = {"id": "evt-403", "topic": "/t", "subject": "models/fraud:1",
             "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
             "eventTime": "2026-11-23T10:00:00Z", "dataVersion": "2",
             "data": {"modelName": "fraud", "modelVersion": "1"}}
    [result] = host.event_grid(event, function="on_model_registered")
    assert result.ok, result.error
    assert services.monitors.refused_events()[0]["reason"].endswith("Forbidden")
