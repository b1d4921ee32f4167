"""Invoke this app's registered functions in-process, the way the Functions host does.

The local backend delivers the events Azure would send through Event Grid (a model registered,
a monitor breached) to the same registered functions: `function_app` hands an
`EventGridDispatcher` over to `core.bootstrap`. The local invoker (`devtools/invoke.py`), the
demo and the tests use the same index and the same calls.

`app.get_functions()` builds the function list once per app object (a second call refuses the
already-registered names, as the worker indexes once), so the index is kept here, keyed by the
app, in one module that is never run as `__main__`.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.functions._abc import RetryContext, TraceContext  # not re-exported at the top

_INDEXED: dict[int, dict[str, Any]] = {}


@dataclass
class Invocation:
    function: str
    trigger: str
    ok: bool
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0
    logs: list[str] = field(default_factory=list)

    def describe(self) -> str:
        status = "succeeded" if self.ok else f"failed: {type(self.error).__name__}: {self.error}"
        return f"{self.function} ({self.trigger}) {status} in {self.seconds * 1000:.0f} ms"


def registered_functions(app: func.FunctionApp) -> dict[str, Any]:
    """The app's functions by name, indexed once per app object."""
    if id(app) not in _INDEXED:
        try:
            functions = app.get_functions()
        except ValueError:
            # The worker (func start) indexed this app already, and get_functions() refuses
            # to validate the same names twice; the builders still hold the built functions.
            functions = [b.build(app.auth_level) for b in app._function_builders]
        _INDEXED[id(app)] = {str(f.get_function_name()): f for f in functions}
    return _INDEXED[id(app)]


class _TraceContext(TraceContext):
    def __init__(self, trace_parent: str):
        self._parent = trace_parent

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class LocalContext(func.Context):
    """The invocation context the worker passes a function that declares `context`: a fresh
    invocation id, and the host's trace context (none locally, unless a caller passes one)."""

    def __init__(self, function_name: str, trace_parent: str = ""):
        self._function = function_name
        self._invocation = str(uuid.uuid4())
        self._trace = _TraceContext(trace_parent)
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation

    @property
    def thread_local_storage(self):  # the worker's type is threading.local
        return self._local

    @property
    def function_name(self) -> str:
        return self._function

    @property
    def function_directory(self) -> str:
        return ""

    @property
    def trace_context(self) -> TraceContext:
        return self._trace

    @property
    def retry_context(self) -> RetryContext:
        raise NotImplementedError("no retry policy is configured for these functions")


def call(fn: Any, kwargs: dict[str, Any], *, trace_parent: str = "") -> Invocation:
    """Call a registered function's user code; an exception is the host's failed invocation.
    A function that declares `context` gets one, as the worker gives it."""
    trigger = fn.get_trigger().type
    user = fn.get_user_function()
    if "context" in inspect.signature(user).parameters and "context" not in kwargs:
        kwargs = {**kwargs, "context": LocalContext(str(fn.get_function_name()), trace_parent)}
    started = time.perf_counter()
    try:
        value = fn.get_user_function()(**kwargs)
        return Invocation(fn.get_function_name(), trigger, True, value=value,
                          seconds=time.perf_counter() - started)
    except Exception as exc:  # the host would log it and apply its retry policy
        return Invocation(fn.get_function_name(), trigger, False, error=exc,
                          seconds=time.perf_counter() - started)


class EventGridDispatcher:
    """Deliver Event Grid events (either schema) to the app's Event Grid functions: each event
    decoded with the worker's own converter, one invocation per event."""

    def __init__(self, app: func.FunctionApp):
        self._app = app

    def functions(self, name: str | None = None) -> list[Any]:
        found = [f for f in registered_functions(self._app).values()
                 if f.get_trigger().type == "eventGridTrigger"
                 and (name is None or f.get_function_name() == name)]
        if not found:
            raise LookupError(f"no Event Grid-triggered function {name or ''}".strip())
        return found

    def __call__(self, events: list[dict], function: str | None = None) -> list[Invocation]:
        from azure.functions import meta
        from azure.functions.eventgrid import EventGridEventInConverter

        results = []
        for fn in self.functions(function):
            trigger = fn.get_trigger()
            for event in events:
                decoded = EventGridEventInConverter.decode(
                    meta.Datum(type="json", value=json.dumps(event)), trigger_metadata={}
                )
                results.append(call(fn, {trigger.name: decoded}))
        return results
