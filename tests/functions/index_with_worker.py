"""Index the Function app with the real Python worker package, as the Functions host would.

    .venv313/bin/python -I tests/functions/index_with_worker.py [APP_DIR]

Runs under Python 3.13 in `.venv313` (requirements-indexing.txt: azure-functions 2.x and
`azure-functions-runtime`, the worker library the host's Python 3.13+ worker loads). It drives
the library the way the host's proxy worker does: a `WorkerInitRequest` for the app directory
(which imports `function_app.py` and indexes it: `loader.index_function_app` then
`loader.process_indexed_function`), then a `FunctionsMetadataRequest`, whose
`function_metadata_results` are what the host receives. It prints those as JSON on stdout.

The gRPC message classes (`protos`) belong to the host-side proxy worker, which is not on PyPI;
a stand-in below records the fields the library sets, with the proto enum values it compares
against. Everything else is the worker's own code path. Needs `AzureWebJobsStorage` in the
environment (the app reads its settings at import).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace


class _Message(SimpleNamespace):
    """Any gRPC message: keeps the keyword fields it was built with."""


class _BindingInfo(_Message):
    # AzureFunctionsRpcMessages.proto: BindingInfo.Direction and BindingInfo.DataType
    out = 1
    inout = 2
    undefined = 0
    string = 1
    binary = 2
    stream = 3


setattr(_BindingInfo, "in", 0)  # `in` is a keyword, protobuf exposes it by name only


class _StatusResult(_Message):
    # StatusResult.Status
    Failure = 0
    Success = 1
    Cancelled = 2


class _Protos:
    BindingInfo = _BindingInfo
    StatusResult = _StatusResult

    def __getattr__(self, name: str) -> type:
        return type(name, (_Message,), {})


def _plain(value):
    """Message objects to JSON-able values."""
    if isinstance(value, SimpleNamespace):
        return {k: _plain(v) for k, v in vars(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def _type_name(tp) -> str:
    """Shortest importable dotted name of a class (the package that re-exports it), as
    `public_name` in test_indexing.py."""
    if not isinstance(tp, type):
        return repr(tp)
    module = tp.__module__
    while "." in module:
        parent = module.rsplit(".", 1)[0]
        if getattr(sys.modules.get(parent), tp.__qualname__, None) is not tp:
            break
        module = parent
    return f"{module}.{tp.__qualname__}"


def index(app_dir: Path) -> dict:
    import azure.functions
    import azure_functions_runtime as worker
    from azure_functions_runtime import handle_event
    from azure_functions_runtime.version import VERSION

    protos = _Protos()
    request = SimpleNamespace(
        request=SimpleNamespace(
            worker_init_request=SimpleNamespace(
                capabilities={}, function_app_directory=str(app_dir)
            )
        ),
        properties={"host": "127.0.0.1", "protos": protos},
    )
    init = asyncio.run(worker.worker_init_request(request))
    result = {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "azure_functions": azure.functions.__version__,
        "azure_functions_runtime": VERSION,
        "init_status": init.result.status,
        "init_error": _plain(getattr(init.result, "exception", None)),
        "functions": {},
    }
    if init.result.status != _StatusResult.Success:
        return result

    metadata = asyncio.run(worker.functions_metadata_request(request))
    result["use_default_metadata_indexing"] = metadata.use_default_metadata_indexing
    for fn in metadata.function_metadata_results or []:
        info = handle_event._functions.get_function(fn.function_id)
        result["functions"][fn.name] = {
            "script_file": fn.script_file,
            "entry_point": fn.entry_point,
            "properties": _plain(fn.properties),
            # What the host binds with: the raw binding JSON, one string per binding.
            "raw_bindings": [json.loads(raw) for raw in fn.raw_bindings],
            "binding_info": _plain(fn.bindings),
            # How the worker will hand each parameter to the function.
            "deferred_bindings_enabled": info.deferred_bindings_enabled,
            "input_types": {
                name: {"binding": t.binding_name, "pytype": _type_name(t.pytype),
                       "deferred_bindings_enabled": t.deferred_bindings_enabled}
                for name, t in info.input_types.items()
            },
        }
    return result


def main(argv: list[str]) -> int:
    app_dir = Path(argv[0] if argv else Path(__file__).resolve().parents[2]).resolve()
    # The host starts the worker in the app directory with that directory on sys.path.
    os.chdir(app_dir)
    sys.path.insert(0, str(app_dir))
    # Keep stdout for the JSON: anything the app or the worker prints goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        result = index(app_dir)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0 if result["init_status"] == _StatusResult.Success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
