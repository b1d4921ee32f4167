"""The app indexes into exactly the functions and bindings the Functions host expects.

Two ways:
1. In this interpreter (Python 3.11, azure-functions 1.26): `function_app.app.get_functions()`
   and each function's `get_raw_bindings()` / `get_bindings()`, plus the SDK-type marking the
   worker adds through `azurefunctions.extensions.base` (the registry the worker consults).
2. With the real worker library (`azure-functions-runtime`, azure-functions 2.x, Python 3.13) in
   `.venv313`, which `./dev setup` creates when python3.13 is available:
   `tests/functions/index_with_worker.py` runs the worker's init + metadata requests and prints
   the function metadata the host would receive.

Both are checked against the one table below. Adding, removing or renaming a function, or
changing a trigger, route, method, auth level or connection, fails here until the table is
updated in the same change.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV313_PYTHON = ROOT / ".venv313" / "bin" / "python"
WORKER_SCRIPT = Path(__file__).with_name("index_with_worker.py")


def _http(route: str, method: str, auth_level: str) -> list[dict]:
    """An HTTP function's bindings as the host receives them: trigger in, response out."""
    return [
        {"type": "httpTrigger", "direction": "IN", "name": "req",
         "route": route, "methods": [method], "authLevel": auth_level},
        {"type": "http", "direction": "OUT", "name": "$return"},
    ]


HTTP_REQUEST = {"req": "azure.functions.HttpRequest"}

# The contract with the Functions host: function name -> the raw binding JSON the host gets
# (after the worker has marked SDK-type bindings) and the Python type of each bound parameter.
# Health is the only anonymous route; every other HTTP route needs a function key.
EXPECTED: dict[str, dict] = {
    "ingest_inference_blob": {
        "bindings": [
            {
                "type": "blobTrigger",
                "direction": "IN",
                "name": "client",
                "path": "%INFERENCE_CONTAINER%/{name}",
                "connection": "INFERENCE_STORAGE",
                # Low-latency blob trigger: Event Grid posts to the blobs webhook.
                "source": "EventGrid",
                # SDK-type binding: the host sends a reference, the worker builds a BlobClient.
                "properties": {"SupportsDeferredBinding": True},
            }
        ],
        "params": {"client": "azurefunctions.extensions.bindings.blob.BlobClient"},
    },
    "health": {
        "bindings": _http("health", "GET", "ANONYMOUS"),
        "params": HTTP_REQUEST,
    },
    "health_details": {
        "bindings": _http("health/details", "GET", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "list_ingestions": {
        "bindings": _http("ingestions", "GET", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "list_model_ingestions": {
        "bindings": _http("models/{model}/ingestions", "GET", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "get_ingestion": {
        "bindings": _http("models/{model}/ingestions/{id}", "GET", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "replay_ingestion": {
        "bindings": _http("models/{model}/ingestions/{id}/replay", "POST", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "latest_drift": {
        "bindings": _http("models/{model}/drift", "GET", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "drift_report": {
        "bindings": _http("models/{model}/drift/report", "GET", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "check_drift": {
        "bindings": _http("models/{model}/drift/check", "POST", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "model_performance": {
        "bindings": _http("models/{model}/performance", "GET", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "dashboard": {"bindings": _http("dashboard", "GET", "FUNCTION"), "params": HTTP_REQUEST},
    "model_dashboard": {
        "bindings": _http("dashboard/{model}", "GET", "FUNCTION"), "params": HTTP_REQUEST,
    },
    "backfill_trends": {
        "bindings": _http("models/{model}/trends/backfill", "POST", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "openapi": {
        "bindings": _http("openapi.json", "GET", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "on_model_registered": {
        "bindings": [{"type": "eventGridTrigger", "direction": "IN", "name": "event"}],
        "params": {"event": "azure.functions.EventGridEvent"},
    },
    "monitor_scheduler": {
        "bindings": [{"type": "timerTrigger", "direction": "IN", "name": "timer",
                      "schedule": "0 */5 * * * *", "runOnStartup": False}],
        "params": {"timer": "azure.functions.TimerRequest"},
    },
    "list_monitors": {"bindings": _http("monitors", "GET", "FUNCTION"), "params": HTTP_REQUEST},
    "get_monitor": {
        "bindings": _http("models/{model}/monitor", "GET", "FUNCTION"), "params": HTTP_REQUEST,
    },
    "ensure_monitor": {
        "bindings": _http("models/{model}/monitor/ensure", "POST", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "run_monitor": {
        "bindings": _http("models/{model}/monitor/run", "POST", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "enable_monitor": {
        "bindings": _http("models/{model}/monitor/enable", "POST", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "disable_monitor": {
        "bindings": _http("models/{model}/monitor/disable", "POST", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "on_azureml_run_event": {
        "bindings": [{"type": "eventGridTrigger", "direction": "IN", "name": "event"}],
        "params": {"event": "azure.functions.EventGridEvent"},
    },
    "run_retraining": {
        "bindings": [{"type": "queueTrigger", "direction": "IN", "name": "msg",
                      "queueName": "%RETRAIN_QUEUE%", "connection": "AzureWebJobsStorage"}],
        "params": {"msg": "azure.functions.QueueMessage"},
    },
    "request_retraining": {
        "bindings": _http("models/{model}/retrain", "POST", "FUNCTION"), "params": HTTP_REQUEST,
    },
    "list_retraining": {
        "bindings": _http("models/{model}/retraining", "GET", "FUNCTION"), "params": HTTP_REQUEST,
    },
    "get_retraining": {
        "bindings": _http("models/{model}/retraining/{id}", "GET", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
    "list_alerts": {
        "bindings": _http("models/{model}/alerts", "GET", "FUNCTION"), "params": HTTP_REQUEST,
    },
    "list_poison_retraining": {
        "bindings": _http("retraining/poison", "GET", "FUNCTION"), "params": HTTP_REQUEST,
    },
    "requeue_poison_retraining": {
        "bindings": _http("retraining/poison/{id}/requeue", "POST", "FUNCTION"),
        "params": HTTP_REQUEST,
    },
}

# Binding classes of azure-functions for each binding type in the table.
BINDING_CLASSES = {"blobTrigger": "BlobTrigger", "httpTrigger": "HttpTrigger", "http": "HttpOutput",
                   "eventGridTrigger": "EventGridTrigger", "timerTrigger": "TimerTrigger",
                   "queueTrigger": "QueueTrigger"}
# Raw JSON key -> attribute of the typed binding object.
TYPED_ATTRS = {"path": "path", "connection": "connection", "source": "source", "route": "route",
               "methods": "methods", "authLevel": "auth_level", "schedule": "schedule",
               "runOnStartup": "run_on_startup", "queueName": "queue_name"}


def public_name(tp) -> str:
    """Shortest importable dotted name of a class: the package that re-exports it, not the
    private module that defines it (azure.functions._http.HttpRequest -> azure.functions...)."""
    if not isinstance(tp, type):
        return repr(tp)
    module = tp.__module__
    while "." in module:
        parent = module.rsplit(".", 1)[0]
        if getattr(sys.modules.get(parent), tp.__qualname__, None) is not tp:
            break
        module = parent
    return f"{module}.{tp.__qualname__}"


def without_sdk_marking(bindings: list[dict]) -> list[dict]:
    """The bindings as azure-functions itself writes them, before the worker adds
    `properties.SupportsDeferredBinding`."""
    return [{k: v for k, v in b.items() if k != "properties"} for b in bindings]


def _by_name(bindings: list[dict]) -> dict[str, dict]:
    return {b["name"]: b for b in bindings}


# -- 1. Python 3.11, azure-functions 1.26 ------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    """A fresh import of function_app, as the worker does once per process. azure-functions
    1.26 indexes an app only once (a second `get_functions()` reports every name as a
    duplicate), so other tests' `function_app` module is set aside and put back after."""
    storage = os.environ.get("AzureWebJobsStorage") or "UseDevelopmentStorage=true"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AzureWebJobsStorage", storage)  # the app reads its settings at import
        mp.delitem(sys.modules, "function_app", raising=False)
        module = importlib.import_module("function_app")
        sys.modules.pop("function_app", None)
    return module.app


@pytest.fixture(scope="module")
def functions(app):
    return {fn.get_function_name(): fn for fn in app.get_functions()}


def test_the_app_has_exactly_the_expected_functions(functions):
    assert sorted(functions) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_raw_bindings_from_azure_functions(functions, name):
    """What `get_raw_bindings()` writes: the SDK's binding JSON, key for key."""
    raw = [json.loads(b) for b in functions[name].get_raw_bindings()]
    assert _by_name(raw) == _by_name(without_sdk_marking(EXPECTED[name]["bindings"]))
    assert [b["name"] for b in raw] == [b["name"] for b in EXPECTED[name]["bindings"]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_typed_bindings(functions, name):
    """The binding objects behind that JSON (`get_bindings()`), and the trigger first."""
    import azure.functions as func
    from azure.functions.decorators.core import BindingDirection
    from azure.functions.decorators.utils import StringifyEnumJsonEncoder

    fn = functions[name]
    expected = EXPECTED[name]["bindings"]
    bindings = fn.get_bindings()
    assert [b.name for b in bindings] == [b["name"] for b in expected]
    assert fn.get_trigger().type == expected[0]["type"]
    for binding, want in zip(bindings, expected, strict=True):
        assert type(binding).__name__ == BINDING_CLASSES[want["type"]]
        assert binding.type == want["type"]
        assert BindingDirection(binding.direction) is BindingDirection[want["direction"]]
        for key, attr in TYPED_ATTRS.items():
            if key in want:
                value = json.loads(json.dumps(getattr(binding, attr), cls=StringifyEnumJsonEncoder))
                assert value == want[key], f"{name}.{binding.name}.{attr}"
    if expected[0]["type"] == "blobTrigger":
        assert bindings[0].source == func.BlobSource.EVENT_GRID.value
    if expected[0]["type"] == "httpTrigger":
        level = func.AuthLevel.ANONYMOUS if name == "health" else func.AuthLevel.FUNCTION
        assert bindings[0].auth_level is level


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_types(functions, name):
    """Each bound parameter's annotation, resolved as the worker resolves it."""
    hints = typing.get_type_hints(functions[name].get_user_function())
    bound = {b.name for b in functions[name].get_bindings() if b.name != "$return"}
    assert {p: public_name(hints.get(p)) for p in bound} == EXPECTED[name]["params"]


def test_the_blob_trigger_takes_the_sdk_blob_client(functions):
    import azurefunctions.extensions.bindings.blob as blob
    from azurefunctions.extensions.base import SdkType, get_binding_registry

    hints = typing.get_type_hints(functions["ingest_inference_blob"].get_user_function())
    assert hints["client"] is blob.BlobClient
    assert issubclass(blob.BlobClient, SdkType)
    assert get_binding_registry().check_supported_type(blob.BlobClient)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_raw_bindings_the_worker_sends(functions, name):
    """The worker sends a function with an SDK-type parameter through the base extension,
    which adds `properties.SupportsDeferredBinding`; other functions keep the SDK's JSON.
    Same decision, same calls as the worker, in this interpreter."""
    from azurefunctions.extensions.base import get_binding_registry

    registry = get_binding_registry()
    fn = copy.deepcopy(functions[name])  # the extension writes into the binding objects
    hints = typing.get_type_hints(fn.get_user_function())
    input_types = {
        b.name: SimpleNamespace(pytype=hints.get(b.name))
        for b in fn.get_bindings() if b.name in hints
    }
    if any(registry.check_supported_type(t.pytype) for t in input_types.values()):
        raw, _logs = registry.get_raw_bindings(fn, input_types)
    else:
        raw = fn.get_raw_bindings()
    assert [json.loads(b) for b in raw] == EXPECTED[name]["bindings"]


# -- 2. The real worker, Python 3.13, azure-functions 2.x --------------------------------------


def _python313_available() -> bool:
    """The same search as `find_python313` in ./dev."""
    candidates = [os.environ.get("PYTHON313_BIN"), shutil.which("python3.13")]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += [str(p) for p in Path(pyenv_root).glob("versions/3.13*/bin/python3.13")]
    for exe in filter(None, candidates):
        probe = subprocess.run([exe, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                               capture_output=True, text=True, timeout=30, check=False)
        if probe.stdout.strip() == "True":
            return True
    return False


@pytest.fixture(scope="module")
def worker_index():
    if not VENV313_PYTHON.exists():
        if _python313_available():
            pytest.skip("python3.13 is installed but .venv313 is missing: run ./dev setup")
        pytest.skip("python3.13 is not installed, so ./dev setup made no .venv313: "
                    "the app was not indexed with the real worker (azure-functions-runtime)")
    env = dict(os.environ)  # the app reads its settings at import, as under the host
    env["AzureWebJobsStorage"] = env.get("AzureWebJobsStorage") or "UseDevelopmentStorage=true"
    proc = subprocess.run(
        [str(VENV313_PYTHON), "-I", str(WORKER_SCRIPT), str(ROOT)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )
    assert proc.returncode == 0, f"worker indexing failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


def test_the_worker_runs_on_python_313_with_azure_functions_2(worker_index):
    assert worker_index["python"] == "3.13"
    assert worker_index["azure_functions"].startswith("2.")
    assert worker_index["init_status"] == 1, worker_index["init_error"]  # StatusResult.Success
    assert worker_index["use_default_metadata_indexing"] is False


def test_the_worker_indexes_exactly_the_expected_functions(worker_index):
    assert sorted(worker_index["functions"]) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_worker_sends_the_expected_bindings(worker_index, name):
    fn = worker_index["functions"][name]
    expected = EXPECTED[name]["bindings"]
    assert fn["raw_bindings"] == expected
    assert fn["script_file"] == "function_app.py"
    assert fn["entry_point"] == name
    assert fn["properties"] == {"worker_indexed": "True"}
    # The typed binding map of the metadata: direction as the proto enum (in 0, out 1).
    assert fn["binding_info"] == {
        b["name"]: {"type": b["type"], "direction": {"IN": 0, "OUT": 1}[b["direction"]],
                    "data_type": None}
        for b in expected
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_worker_binds_the_expected_parameter_types(worker_index, name):
    fn = worker_index["functions"][name]
    assert {p: t["pytype"] for p, t in fn["input_types"].items()} == EXPECTED[name]["params"]
    sdk_typed = any(
        b.get("properties", {}).get("SupportsDeferredBinding") for b in EXPECTED[name]["bindings"]
    )
    assert fn["deferred_bindings_enabled"] is sdk_typed
