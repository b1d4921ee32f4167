"""Deliver to the registered Functions in-process, the way the Functions host would.

Azure Functions Core Tools cannot be installed on our machines; this drives the same
`function_app.app`: it finds the function by its trigger binding, decodes the payload with
the same converters the Python worker uses (azure.functions' own, and the SDK-type blob
extension's), calls the user function and reports what the host would do with the result.

    python -m devtools.invoke blob inference/my-model/batch-001.csv
    python -m devtools.invoke event tests/data/events/model_registered.json
    python -m devtools.invoke queue retrain-requests '{"model": "m"}'
    python -m devtools.invoke http GET /api/models/my-model/ingestions
    python -m devtools.invoke http POST /api/models/m/ingestions/ID/replay --body '{}'

Settings come from the environment, then from local.settings.json `Values` (as `func start`
does). With Core Tools installed, `func start` serves the same app instead.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import re
import sys
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from functions.dispatch import EventGridDispatcher, Invocation, call, registered_functions

ROOT = Path(__file__).resolve().parent.parent


def load_local_settings(path: Path | None = None) -> None:
    """Put local.settings.json `Values` into the environment, never overriding what is set."""
    path = path or ROOT / "local.settings.json"
    if not path.exists():
        return
    values = json.loads(path.read_text()).get("Values", {})
    for key, value in values.items():
        os.environ.setdefault(key, str(value))


class LocalHost:
    """The registered functions of an app, callable as the host calls them."""

    def __init__(self, app=None):
        if app is None:
            sys.path.insert(0, str(ROOT))
            import function_app

            app = function_app.app
        self.app = app
        self.functions = registered_functions(app)
        self._events = EventGridDispatcher(app)
        # The W3C traceparent the host would hand each invocation (its own request telemetry's
        # trace); none by default, as locally.
        self.trace_parent = ""

    # ------------------------------------------------------------ lookup

    def _by_trigger(self, trigger_type: str) -> list:
        return [f for f in self.functions.values() if f.get_trigger().type == trigger_type]

    @staticmethod
    def _resolve(expr: str) -> str:
        """Resolve %SETTING% binding expressions from the environment, as the host does."""

        def setting(match):
            name = match.group(1)
            if name not in os.environ:
                raise KeyError(f"binding expression %{name}% names a setting that is not set")
            return os.environ[name]

        return re.sub(r"%([^%]+)%", setting, expr)

    def _call(self, fn, kwargs: dict) -> Invocation:
        return call(fn, kwargs, trace_parent=self.trace_parent)

    # ------------------------------------------------------------ triggers

    def blob(self, path: str) -> Invocation:
        """A blob landed: `path` is "<container>/<blob name>"."""
        from azurefunctions.extensions.base import Datum
        from azurefunctions.extensions.bindings.blob import BlobClientConverter

        container, _, name = path.partition("/")
        for fn in self._by_trigger("blobTrigger"):
            trigger = fn.get_trigger()
            pattern_container = self._resolve(trigger.path).split("/", 1)[0]
            if pattern_container != container:
                continue
            # What the host sends for an SDK-type binding: model binding data naming the
            # connection setting, container and blob.
            content = json.dumps({
                "Connection": trigger.connection, "ContainerName": container, "BlobName": name,
            })
            datum = Datum(
                type="model_binding_data",
                value=SimpleNamespace(
                    version="1.0", source="AzureStorageBlobs",
                    content_type="application/json", content=content,
                ),
            )
            pytype = fn.get_user_function().__annotations__[trigger.name]
            if isinstance(pytype, str):
                import azurefunctions.extensions.bindings.blob as blob_ext

                pytype = getattr(blob_ext, pytype.rsplit(".", 1)[-1])
            client = BlobClientConverter.decode(datum, trigger_metadata={}, pytype=pytype)
            return self._call(fn, {trigger.name: client})
        raise LookupError(f"no blob-triggered function watches container {container!r}")

    def event_grid(
        self, events: list[dict] | dict, function: str | None = None
    ) -> list[Invocation]:
        """Event Grid posts an array; the host invokes the function once per event. Raises
        ValueError, naming the position, for an element that is not a JSON object."""
        if isinstance(events, dict):
            events = [events]
        if not isinstance(events, list):
            raise ValueError(f"events must be a JSON object or an array of objects, not "
                             f"{type(events).__name__}")
        for n, event in enumerate(events):
            if not isinstance(event, dict):
                raise ValueError(f"event {n} of {len(events)} is {type(event).__name__} "
                                 f"{json.dumps(event)[:60]}, not an Event Grid event object")
        return self._events(events, function)

    def queue(
        self, queue_name: str, body: str | bytes, *, dequeue_count: int = 1,
        message_id: str | None = None, encoded: bool = False,
    ) -> Invocation:
        """A queue message; `encoded` means `body` is base64 as stored in the queue."""
        from azure.functions import meta
        from azure.functions.queue import QueueMessageInConverter

        for fn in self._by_trigger("queueTrigger"):
            trigger = fn.get_trigger()
            if self._resolve(trigger.queue_name) != queue_name:
                continue
            if encoded:
                body = base64.b64decode(body)
            now = datetime.now(UTC).isoformat()
            metadata = {
                "Id": meta.Datum(type="string", value=message_id or str(uuid.uuid4())),
                "DequeueCount": meta.Datum(type="int", value=dequeue_count),
                "InsertionTime": meta.Datum(type="string", value=now),
                "ExpirationTime": meta.Datum(type="string", value=now),
                "NextVisibleTime": meta.Datum(type="string", value=now),
                "PopReceipt": meta.Datum(type="string", value="local"),
            }
            datum = meta.Datum(
                type="bytes" if isinstance(body, bytes) else "string", value=body
            )
            message = QueueMessageInConverter.decode(datum, trigger_metadata=metadata)
            return self._call(fn, {trigger.name: message})
        raise LookupError(f"no queue-triggered function reads queue {queue_name!r}")

    def drain(self, queue_name: str, *, max_dequeue_count: int | None = None,
              max_rounds: int = 50) -> list[Invocation]:
        """Deliver every message of an Azurite/Azure storage queue to its queue-triggered
        function, as the host does: delete on success; on failure make it visible again, and
        after `maxDequeueCount` (host.json) failures move it to `<queue>-poison`."""
        from core.bootstrap import services

        limit = max_dequeue_count or _host_max_dequeue_count()
        # The queues of AzureWebJobsStorage, reached as the app reaches them (either form).
        queue = services().storage_queue(queue_name)
        poison = services().storage_queue(f"{queue_name}-poison")
        results = []
        for _ in range(max_rounds):
            messages = queue.receive(16, visibility_seconds=300)
            if not messages:
                break
            for message in messages:
                result = self.queue(queue_name, message.body.encode("utf-8"),
                                    dequeue_count=message.dequeue_count, message_id=message.id)
                results.append(result)
                if result.ok:
                    queue.delete(message)
                elif message.dequeue_count >= limit:
                    poison.send(message.body)
                    queue.delete(message)
                else:
                    queue.release(message)
        return results

    def timer(self, function: str, *, past_due: bool = False) -> Invocation:
        """A timer-triggered function, as its schedule fires."""
        from azure.functions.timer import TimerRequest

        for fn in self._by_trigger("timerTrigger"):
            if fn.get_function_name() == function:
                return self._call(fn, {fn.get_trigger().name: TimerRequest(past_due=past_due)})
        raise LookupError(f"no timer-triggered function {function!r}")

    def http(
        self, method: str, url: str, body: bytes | str | dict | None = None,
        headers: dict | None = None,
    ):
        """An HTTP request to `/api/<route>`; returns the function's HttpResponse."""
        from urllib.parse import parse_qsl, urlsplit

        import azure.functions as func

        parts = urlsplit(url)
        path = parts.path
        if path.startswith("/api/"):
            path = path[len("/api/"):]
        path = path.strip("/")
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        for fn in self._by_trigger("httpTrigger"):
            trigger = fn.get_trigger()
            methods = [str(getattr(m, "value", m)).upper() for m in (trigger.methods or [])]
            if methods and method.upper() not in methods:
                continue
            route_params = _match_route(trigger.route or fn.get_function_name(), path)
            if route_params is None:
                continue
            request = func.HttpRequest(
                method=method.upper(),
                url=f"http://localhost:7071/api/{path}" + (f"?{parts.query}" if parts.query
                                                           else ""),
                headers=headers or {"content-type": "application/json"},
                params=dict(parse_qsl(parts.query)),
                route_params=route_params,
                body=body or b"",
            )
            result = self._call(fn, {trigger.name: request})
            if not result.ok:  # the host answers 500 when a function raises
                return func.HttpResponse(
                    json.dumps({"error": {"code": "function_failed",
                                          "message": str(result.error)}}),
                    status_code=500, mimetype="application/json",
                )
            return result.value
        return func.HttpResponse(
            json.dumps({"error": {"code": "not_found", "message": f"no route for {method} "
                                  f"/api/{path}"}}),
            status_code=404, mimetype="application/json",
        )


def _host_max_dequeue_count() -> int:
    host = json.loads((ROOT / "host.json").read_text())
    return int(host.get("extensions", {}).get("queues", {}).get("maxDequeueCount", 5))


def _match_route(template: str, path: str) -> dict | None:
    names: list[str] = []

    def group(match):
        name = match.group(1).split(":")[0].rstrip("?")
        names.append(name)
        return rf"(?P<{name}>[^/]+)"

    regex = re.sub(r"\{([^}]+)\}", group, re.escape(template).replace(r"\{", "{").replace(
        r"\}", "}"))
    match = re.fullmatch(regex, path)
    return match.groupdict() if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.invoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    p = sub.add_parser("blob", help="deliver a BlobCreated for <container>/<blob>")
    p.add_argument("path")
    p = sub.add_parser("event", help="deliver Event Grid events from a JSON file (either schema)")
    p.add_argument("file")
    p.add_argument("--function")
    p = sub.add_parser("queue", help="deliver a queue message")
    p.add_argument("queue")
    p.add_argument("message")
    p = sub.add_parser("drain", help="deliver every message of a storage queue, as the host "
                       "does (retries, then <queue>-poison)")
    p.add_argument("queue")
    p = sub.add_parser("timer", help="fire a timer-triggered function")
    p.add_argument("function")
    p = sub.add_parser("http", help="send an HTTP request to /api/...")
    p.add_argument("method")
    p.add_argument("url")
    p.add_argument("--body")
    args = parser.parse_args(argv)

    # What the functions log is the outcome (ingested, rejected and why, monitor re-aimed).
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("azure", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    load_local_settings()
    host = LocalHost()
    if args.kind == "http":
        response = host.http(args.method, args.url, args.body)
        print(f"HTTP {response.status_code}")
        print(response.get_body().decode())
        return 0 if response.status_code < 400 else 1
    if args.kind == "blob":
        results = [host.blob(args.path)]
    elif args.kind == "event":
        try:
            events = json.loads(Path(args.file).read_text())
            results = host.event_grid(events, function=args.function)
        except (OSError, ValueError) as exc:
            print(f"invoke event: {args.file}: {exc}", file=sys.stderr)
            return 2
    elif args.kind == "drain":
        results = host.drain(args.queue)
    elif args.kind == "timer":
        results = [host.timer(args.function)]
    else:
        results = [host.queue(args.queue, args.message)]
    for result in results:
        print(result.describe())
        if result.error is not None:
            traceback.print_exception(result.error, file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
