"""Shared fixtures: a real Azurite (the one `./dev test` started, or our own), and a fresh,
isolated configuration per test (own containers, own tables, own workspace folder)."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def azurite_connection():
    """Connection string of a running Azurite on loopback."""
    conn = os.environ.get("AzureWebJobsStorage", "")
    if "127.0.0.1" in conn:
        yield conn
        return
    from devtools.azurite import running_azurite

    with running_azurite() as conn:
        yield conn


@pytest.fixture
def app_env(azurite_connection, tmp_path, monkeypatch):
    """Settings for one test, isolated from every other test, in the process environment
    (as the Functions host provides them)."""
    from core.bootstrap import reset_services

    suffix = uuid.uuid4().hex[:10]
    values = {
        "AzureWebJobsStorage": azurite_connection,
        "INFERENCE_STORAGE": azurite_connection,
        "INFERENCE_CONTAINER": f"inference-{suffix}",
        "QUARANTINE_CONTAINER": f"quarantine-{suffix}",
        "ARTIFACTS_CONTAINER": f"artifacts-{suffix}",
        "LEDGER_TABLE_PREFIX": f"t{suffix}",
        "AUTOPILOT_BACKEND": "local",
        "LOCAL_WORKSPACE_DIR": str(tmp_path / "workspace"),
        "RETRAIN_QUEUE": f"retrain-{suffix}",
    }
    for key in ("AZURE_SUBSCRIPTION_ID", "MAX_INFERENCE_FILE_BYTES", "EARLY_DRIFT_CHECK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    reset_services()
    yield values
    reset_services()


@pytest.fixture
def services(app_env):
    from core.bootstrap import services as get_services

    return get_services()


@pytest.fixture
def host(app_env):
    from devtools.invoke import LocalHost

    return LocalHost()


@pytest.fixture
def upload(services, app_env):
    """Upload bytes to the inference container; returns the blob path for the invoker."""

    def _upload(name: str, data: bytes, container: str | None = None) -> str:
        container = container or app_env["INFERENCE_CONTAINER"]
        services.blob_store.upload(container, name, data)
        return f"{container}/{name}"

    return _upload


@pytest.fixture
def reference(services, tmp_path):
    """Register reference (training) data for a model in the local workspace."""

    def _reference(model: str, csv_text: str, version: str = "1"):
        path = tmp_path / f"{model}-training-{version}.csv"
        path.write_text(csv_text)
        return services.workspace.register_file_version(
            f"{model}-training", version, path, tags={"purpose": "reference"}
        )

    return _reference


@contextlib.contextmanager
def env_vars(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# Every admin API response a test receives through LocalHost.http is checked against the
# OpenAPI document (tests/openapi_check.py): a route, status or body the document does not
# describe fails the test that received it.
CHECKED_RESPONSES: list[tuple[str, int]] = []


@pytest.fixture(autouse=True)
def _responses_match_the_openapi_document(monkeypatch):
    from devtools.invoke import LocalHost
    from tests.openapi_check import check_response

    original = LocalHost.http

    def http(self, method, url, body=None, headers=None):
        response = original(self, method, url, body, headers)
        template = check_response(method, url, response)
        if template is not None:
            CHECKED_RESPONSES.append((f"{method.upper()} {template}", response.status_code))
        return response

    monkeypatch.setattr(LocalHost, "http", http)
