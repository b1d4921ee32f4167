"""The span of one invocation: named after the function, continuing the host's trace (the
invocation's W3C `traceparent`, so our spans sit under the host's own request telemetry), with
the invocation id and the trigger's identifiers as dimensions of the span and its log lines.
The use case opens its own span inside it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence

import azure.functions as func

from core.bootstrap import services
from core.ports import Dimension, Span

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def traceparent(value: object) -> str | None:
    """A W3C traceparent, or None for anything else (empty, malformed, not a string)."""
    if isinstance(value, str) and _TRACEPARENT.match(value.strip().lower()):
        return value.strip().lower()
    return None


def invocation(function: str, context: func.Context | None, *, kind: str = "consumer",
               links: Sequence[str] = (),
               **dimensions: Dimension) -> contextlib.AbstractContextManager[Span]:
    trace = getattr(context, "trace_context", None)
    return services().telemetry.span(
        function, kind=kind, parent=traceparent(getattr(trace, "trace_parent", None)),
        links=[t for t in (traceparent(link) for link in links) if t],
        invocation_id=getattr(context, "invocation_id", None), **dimensions)
