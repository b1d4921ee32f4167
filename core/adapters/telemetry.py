"""`Telemetry` over OpenTelemetry: spans, metrics, and the log lines of the app's loggers with the
custom dimensions of the span they were written in. `azure_monitor()` configures the Azure
Monitor OpenTelemetry distro (Application Insights) once per process; tests build an
`OpenTelemetryTelemetry` over SDK providers with in-memory exporters instead.

This module is the only one in `core` that imports OpenTelemetry, and it is imported only when
APPLICATIONINSIGHTS_CONNECTION_STRING is set (or by a test): without the setting nothing here
loads and nothing is exported.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.domain.observability import DIMENSIONS, METRICS
from core.ports import Dimension, Span

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

log = logging.getLogger(__name__)

# The app's loggers (module names): their records are exported, with the span's dimensions.
APP_LOGGERS = ("core", "functions", "function_app")
INSTRUMENTATION = "monitor-autopilot"
# The exporters' own logger: their warnings are how an unreachable or refusing endpoint shows
# (live metrics, a side channel, logs elsewhere).
EXPORTER_LOGGER = "azure.monitor.opentelemetry.exporter.export"

# The dimensions of the innermost span, copied into every log record written inside it.
_DIMENSIONS: contextvars.ContextVar[Mapping[str, Dimension]] = contextvars.ContextVar(
    "autopilot_dimensions", default=MappingProxyType({}))


class TelemetryUnavailable(Exception):
    """Telemetry is not reaching Application Insights (the app itself is unaffected)."""


def _clean(dimensions: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    out: dict[str, str | int | float | bool] = {}
    for key, value in dimensions.items():
        if value is None:
            continue
        if not isinstance(value, (str, int, float, bool)):
            value = str(value)
        out[key] = value[:1024] if isinstance(value, str) else value
    return out


class _DimensionsFilter(logging.Filter):
    """Puts the current dimensions on each record (as attributes the log exporter sends as
    custom dimensions); a value the caller passed in `extra` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _DIMENSIONS.get().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


def _add_dimensions(dimensions: Mapping[str, Any]) -> None:
    logged = {k: v for k, v in dimensions.items() if k in DIMENSIONS}
    if logged:
        _DIMENSIONS.set({**_DIMENSIONS.get(), **logged})


class _OtelSpan:
    def __init__(self, span):
        self._span = span

    def annotate(self, **dimensions: Dimension) -> None:
        clean = _clean(dimensions)
        self._span.set_attributes(clean)
        _add_dimensions(clean)

    def fail(self, description: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._span.set_status(Status(StatusCode.ERROR, description))


class ExportStatus(logging.Handler):
    """Whether telemetry reaches Application Insights, as this process saw it last: every
    ingestion response (the exporter's `raw_response_hook`) and every warning the exporter logs
    (no response at all: unreachable, timed out, no token)."""

    def __init__(self, endpoint: str):
        super().__init__(level=logging.WARNING)
        self.endpoint = endpoint
        self._host = urlsplit(endpoint).netloc.lower()
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.http_error: str | None = None  # what the endpoint answered: says most
        self.failing_since: float | None = None
        self.last_success: float | None = None

    def _failed(self, error: str, *, answered: bool = False) -> None:
        with self._lock:
            newly = self.failing_since is None
            if newly:
                self.failing_since = time.time()
            if answered:
                self.http_error = error[:500]
            self.last_error = error[:500]
        if newly:  # once per outage, naming the endpoint (the exporter's own lines do not)
            log.warning("telemetry is not reaching Application Insights at %s: %s (the app is "
                        "unaffected; GET /api/health/details shows it until it recovers)",
                        self.endpoint, error[:300])

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must not break logging
            message = str(record.msg)
        self._failed(message)

    def on_response(self, response) -> None:
        """azure-core's raw_response_hook: one call per HTTP response of the exporters."""
        try:
            url = str(response.http_request.url)
            status = response.http_response.status_code
        except AttributeError:
            return
        parts = urlsplit(url)
        # Only our ingestion endpoint's answers (not the SDK's own statistics channel).
        if not parts.path.endswith("/track") or parts.netloc.lower() != self._host:
            return
        if status in (200, 206):
            with self._lock:
                recovered = self.failing_since is not None
                self.failing_since, self.last_error, self.http_error = None, None, None
                self.last_success = time.time()
            if recovered:
                log.warning("telemetry reaches Application Insights at %s again", self.endpoint)
            return
        hint = {401: "the identity's token was refused",
                403: "the identity needs the Monitoring Metrics Publisher role on the "
                     "Application Insights resource (local auth is off)",
                400: "the connection string's instrumentation key is not known there"}
        self._failed(f"HTTP {status} from the ingestion endpoint"
                     + (f": {hint[status]}" if status in hint else ""), answered=True)

    def check(self) -> None:
        """Raises TelemetryUnavailable while the last export attempt failed."""
        with self._lock:
            error, since = self.http_error or self.last_error, self.failing_since
        if error is not None and since is not None:
            since_text = time.strftime("%H:%M:%SZ", time.gmtime(since))
            raise TelemetryUnavailable(
                f"Application Insights at {self.endpoint}: {error[:150]} (since {since_text}; "
                "the app is unaffected, telemetry is retried from disk)")


class OpenTelemetryTelemetry:
    """The `Telemetry` port over OpenTelemetry providers. `log_handler` (an OpenTelemetry
    logging handler) is attached to the app's loggers, with the span dimensions filter."""

    enabled = True

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider,
                 log_handler: logging.Handler | None = None, *,
                 exports: ExportStatus | None = None):
        from importlib import metadata

        try:
            version = metadata.version("azure-functions")  # only for the scope's version tag
        except metadata.PackageNotFoundError:
            version = None
        self._tracer = tracer_provider.get_tracer(INSTRUMENTATION, version)
        meter = meter_provider.get_meter(INSTRUMENTATION)
        self.exports = exports
        self._instruments: dict[str, Any] = {}
        for metric in METRICS.values():
            make: Any = {"counter": meter.create_counter, "histogram": meter.create_histogram,
                    "gauge": meter.create_gauge}[metric.kind]
            self._instruments[metric.name] = make(metric.name, unit=metric.unit,
                                                  description=metric.description)
        self._handler = log_handler
        self._filter = _DimensionsFilter()
        if log_handler is not None:
            log_handler.addFilter(self._filter)
            for name in APP_LOGGERS:
                logger = logging.getLogger(name)
                if log_handler not in logger.handlers:
                    logger.addHandler(log_handler)
                if logger.level == logging.NOTSET:  # our info lines are the outcomes
                    logger.setLevel(logging.INFO)

    def close(self) -> None:
        """Detach the log handler (tests build one of these per test)."""
        if self._handler is not None:
            for name in APP_LOGGERS:
                logging.getLogger(name).removeHandler(self._handler)
            self._handler.removeFilter(self._filter)

    # ---------------------------------------------------------------- spans

    @contextlib.contextmanager
    def span(self, name: str, /, *, kind: str = "internal", parent: str | None = None,
             links: Sequence[str] = (), **dimensions: Dimension) -> Iterator[Span]:
        from opentelemetry import trace
        from opentelemetry.trace import Link, SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        propagator = TraceContextTextMapPropagator()
        context = propagator.extract({"traceparent": parent}) if parent else None
        linked = []
        for traceparent in links:
            upstream = trace.get_current_span(propagator.extract({"traceparent": traceparent}))
            if upstream.get_span_context().is_valid:
                linked.append(Link(upstream.get_span_context(), {"link.type": "upstream"}))
        kinds = {"consumer": SpanKind.CONSUMER, "server": SpanKind.SERVER,
                 "internal": SpanKind.INTERNAL}
        attributes = _clean(dimensions)
        token = _DIMENSIONS.set(dict(_DIMENSIONS.get()))
        try:
            _add_dimensions(attributes)
            with self._tracer.start_as_current_span(
                    name, context=context, kind=kinds[kind], links=linked,
                    attributes=attributes) as span:
                yield _OtelSpan(span)
        finally:
            _DIMENSIONS.reset(token)

    def annotate(self, **dimensions: Dimension) -> None:
        from opentelemetry import trace

        clean = _clean(dimensions)
        trace.get_current_span().set_attributes(clean)
        _add_dimensions(clean)

    # ---------------------------------------------------------------- metrics

    def _instrument(self, metric: str, kinds: tuple[str, ...], dimensions: Mapping[str, Any]):
        known = METRICS.get(metric)
        if known is None or known.kind not in kinds:
            raise ValueError(f"{metric} is not a {' or '.join(kinds)} of the catalogue")
        undeclared = set(dimensions) - set(known.dimensions)
        if undeclared:
            raise ValueError(f"{metric} has no dimension {sorted(undeclared)[0]}")
        return self._instruments[metric], _clean(dimensions)

    def count(self, name: str, value: float = 1, /, **dimensions: Dimension) -> None:
        instrument, attributes = self._instrument(name, ("counter",), dimensions)
        instrument.add(value, attributes)

    def record(self, name: str, value: float, /, **dimensions: Dimension) -> None:
        instrument, attributes = self._instrument(name, ("histogram", "gauge"), dimensions)
        if METRICS[name].kind == "gauge":
            instrument.set(value, attributes)
        else:
            instrument.record(value, attributes)

    def check(self) -> None:
        """Raises TelemetryUnavailable while exports fail (the health probe)."""
        if self.exports is not None:
            self.exports.check()


_lock = threading.Lock()
_configured: OpenTelemetryTelemetry | None = None


def azure_monitor(connection_string: str, credential: TokenCredential | None) -> \
        OpenTelemetryTelemetry:
    """Configure the Azure Monitor OpenTelemetry distro (once per process: OpenTelemetry's
    providers are global) and return the telemetry over it.

    - Every span is kept (`sampling_ratio=1.0`, unless OTEL_TRACES_SAMPLER says otherwise): an
      operator asking what happened to one file needs that file's trace.
    - `credential`: Entra ID authentication (Application Insights with local auth off); None
      sends with the connection string's instrumentation key alone.
    - Only the Azure App Service resource detector runs by default: the app runs on Functions,
      and the VM detector would call the instance metadata endpoint at start for nothing.
    - The app's loggers (`core`, `functions`) are exported; the Azure SDK's own loggers are not
      (the host's classic integration keeps recording every log line for its log stream).
    """
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry import metrics, trace
        from opentelemetry.instrumentation.logging.handler import LoggingHandler

        os.environ.setdefault("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "azure_app_service")
        exports = ExportStatus(_ingestion_endpoint(connection_string))
        logging.getLogger(EXPORTER_LOGGER).addHandler(exports)
        configure_azure_monitor(
            connection_string=connection_string,
            credential=credential,
            logger_name=APP_LOGGERS[0],
            sampling_ratio=1.0,
            raw_response_hook=exports.on_response,
        )
        core_logger = logging.getLogger(APP_LOGGERS[0])
        handler = next((h for h in core_logger.handlers if isinstance(h, LoggingHandler)), None)
        _configured = OpenTelemetryTelemetry(
            trace.get_tracer_provider(), metrics.get_meter_provider(),
            handler, exports=exports)
        log.info("telemetry to Application Insights configured (%s, %s)", exports.endpoint,
                 "Entra ID" if credential is not None else "instrumentation key")
        return _configured


def from_worker() -> OpenTelemetryTelemetry:
    """PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true: the Python worker configured the distro
    before loading the app (with the connection and authentication strings, not our
    credential). Use its global providers and put our dimensions on its log handler."""
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        from opentelemetry import metrics, trace
        from opentelemetry.instrumentation.logging.handler import LoggingHandler

        handler = next((h for h in logging.getLogger().handlers
                        if isinstance(h, LoggingHandler)), None)
        if handler is not None:
            handler.addFilter(_DimensionsFilter())
        _configured = OpenTelemetryTelemetry(
            trace.get_tracer_provider(), metrics.get_meter_provider(),
            None)
        return _configured


def _ingestion_endpoint(connection_string: str) -> str:
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    lowered = {k.strip().lower(): v.strip() for k, v in parts.items()}
    return lowered.get("ingestionendpoint", "https://dc.services.visualstudio.com")
