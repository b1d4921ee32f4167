"""host.json's telemetry choices (README, Telemetry): the host's classic Application Insights
integration samples neither invocations, exceptions nor log lines (only dependencies and
events), and `telemetryMode` stays unset (OpenTelemetry mode gives no trigger-level output for
our blob, Event Grid, queue and timer triggers and stops portal log streaming; the app exports
its own spans)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def host() -> dict:
    return json.loads((ROOT / "host.json").read_text())


def test_invocations_exceptions_and_log_lines_are_never_sampled():
    sampling = host()["logging"]["applicationInsights"]["samplingSettings"]
    excluded = set(sampling["excludedTypes"].split(";")) if sampling.get("isEnabled") else None
    assert excluded is None or {"Request", "Exception", "Trace"} <= excluded


def test_the_host_keeps_its_classic_integration():
    assert "telemetryMode" not in host()
