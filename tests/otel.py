"""OpenTelemetry's own SDK with in-memory exporters and readers, behind the app's telemetry
adapter: what the Azure Monitor exporter would receive, for tests to read."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.adapters.telemetry import APP_LOGGERS, OpenTelemetryTelemetry


@dataclass
class InMemoryTelemetry:
    telemetry: OpenTelemetryTelemetry
    span_exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    log_exporter: InMemoryLogRecordExporter
    _levels: dict[str, int]

    @classmethod
    def create(cls) -> InMemoryTelemetry:
        spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[reader])
        logs = InMemoryLogRecordExporter()
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
        levels = {name: logging.getLogger(name).level for name in APP_LOGGERS}
        telemetry = OpenTelemetryTelemetry(tracer_provider, meter_provider,
                                           LoggingHandler(logger_provider=logger_provider))
        return cls(telemetry, spans, reader, logs, levels)

    def close(self) -> None:
        self.telemetry.close()
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)

    # ---------------------------------------------------------------- reading

    def spans(self, name: str | None = None) -> list[Any]:
        return [s for s in self.span_exporter.get_finished_spans()
                if name is None or s.name == name]

    def span(self, name: str) -> Any:
        (found,) = self.spans(name)
        return found

    def children(self, parent: Any) -> list[Any]:
        return [s for s in self.spans() if s.parent is not None
                and s.parent.span_id == parent.context.span_id]

    def logs(self, starting: str = "") -> list[Any]:
        """The exported log records whose message starts with `starting`."""
        return [r.log_record for r in self.log_exporter.get_finished_logs()
                if str(r.log_record.body).startswith(starting)]

    def points(self, metric: str) -> list[tuple[dict, Any]]:
        """(attributes, data point) of every point of `metric` collected now."""
        data = self.metric_reader.get_metrics_data()
        out = []
        for resource in (data.resource_metrics if data else []):
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        out += [(dict(p.attributes), p) for p in m.data.data_points]
        return out

    def total(self, metric: str, **match: Any) -> float:
        """A counter's sum over the points whose attributes match."""
        return sum(p.value for attrs, p in self.points(metric)
                   if all(attrs.get(k) == v for k, v in match.items()))
