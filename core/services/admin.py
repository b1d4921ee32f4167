"""Use cases behind the operators' HTTP endpoints: queries and the same commands by hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.domain.names import check_name, check_version
from core.ports import IngestionLedger, NotFound

if TYPE_CHECKING:  # the entry points import this module at start-up: no numpy, no pyarrow
    from core.services.drift_checks import DriftChecks
    from core.services.ingest import IngestService
    from core.services.monitor_runs import MonitorRuns
    from core.services.monitors import MonitorService
    from core.services.performance import ModelPerformance
    from core.services.retraining import Retraining

INGESTION_STATUSES = ("processing", "registered", "rejected", "failed", "ignored")


class BadRequest(ValueError):
    """The request is wrong in a way the caller can fix (HTTP 400)."""


@dataclass(frozen=True)
class AdminContext:
    """What the operators' endpoints report about the deployment itself."""

    backend: str
    settings: Mapping[str, Any]  # safe to show (no connection strings)
    reference_asset: Callable[[str], str]


class Admin:
    def __init__(self, context: AdminContext, *, ledger: IngestionLedger, ingest: IngestService,
                 drift: DriftChecks, monitors: MonitorService, monitor_runs: MonitorRuns,
                 retraining: Retraining, performance: ModelPerformance | None = None,
                 waiting_labels: Callable[[str], int] | None = None):
        self._context = context
        self._performance = performance
        self._waiting_labels = waiting_labels
        self._ledger = ledger
        self._ingest = ingest
        self._drift = drift
        self._monitors = monitors
        self._runs = monitor_runs
        self._retraining = retraining

    def list_ingestions(self, model: str | None, status: str | None) -> dict:
        if status is not None and status not in INGESTION_STATUSES:
            raise BadRequest(
                f"unknown status {status!r}; use one of {', '.join(INGESTION_STATUSES)}"
            )
        records = self._ledger.list(model=model, status=status)
        return {
            "model": model,
            "status": status,
            "count": len(records),
            "ingestions": [r.to_json() for r in records],
        }

    def get_ingestion(self, model: str, ingestion_id: str) -> dict:
        return self._ledger.get(model, ingestion_id).to_json()

    def replay_ingestion(self, model: str, ingestion_id: str) -> dict:
        outcome = self._ingest.replay(model, ingestion_id)
        return outcome.to_json()

    # ------------------------------------------------------------ drift

    def latest_drift(self, model: str) -> dict:
        summary = self._drift.latest(model)
        result = self._drift.load_result(summary["result"])
        return {"summary": summary, "result": result.to_dict()}

    def drift_report(self, model: str, ingestion_id: str | None) -> str:
        from core.drift import render_html

        result = self._drift.result_for(model, ingestion_id)
        which = f"ingestion {ingestion_id}" if ingestion_id else "latest batch"
        performance = None
        if self._performance is not None:
            try:
                performance = self._performance.latest(model)
            except NotFound:
                performance = None
        return render_html(result, title=f"Drift report: {model}, {which}",
                           performance=performance)

    # ------------------------------------------------------------ model performance

    def model_performance(self, model: str) -> dict:
        """The champion's metrics on each labelled version, newest first, the latest one, and
        the labels still waiting for their inputs."""
        check_name(model, "model name")
        if self._performance is None:
            raise NotFound("model performance is not measured by this deployment")
        history = self._performance.history(model)
        latest = next((h for h in history if "metrics" in h), None)
        joins = [{"ingestion": r.ingestion_id, "blob": r.blob.path, "layout": r.layout,
                  **(r.labels or {})}
                 for r in self._ledger.list(model=model, status="registered") if r.labels]
        return {
            "model": model,
            "latest": latest,
            "count": len(history),
            "history": history,
            "ground_truth": {
                "waiting": self._waiting_labels(model) if self._waiting_labels else None,
                "files": joins[:50],
            },
        }

    def check_drift(self, model: str, body: dict) -> tuple[dict, str]:
        """On-demand check between two data versions. Body (all optional):
        {"production": {"name", "version"}, "baseline": {"name", "version"}}; defaults: the
        model's latest inference version against its latest reference version."""
        from core.drift import render_html

        production = body.get("production") or {}
        baseline = body.get("baseline")
        for name, part in (("production", production), ("baseline", baseline or {})):
            if not isinstance(part, dict):
                raise BadRequest(f"'{name}' must be an object with 'name' and/or 'version'")
            # Checked before anything is read: the answer never tells whether a file exists.
            if part.get("name") is not None:
                check_name(part["name"], f"{name} data asset name")
            if part.get("version") is not None:
                check_version(part["version"], f"{name} version")
        try:
            result, summary = self._drift.check(
                model,
                _opt_str(production.get("version")),
                production_asset=_opt_str(production.get("name")),
                baseline=(
                    (baseline.get("name") or self._context.reference_asset(model),
                     _opt_str(baseline.get("version")))
                    if baseline else None
                ),
            )
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        title = f"Drift check: {model}, {summary['reference']} vs {summary['production']}"
        html = render_html(result, title=title)
        return {"summary": summary, "result": result.to_dict()}, html


    # ------------------------------------------------------------ monitors

    def list_monitors(self) -> dict:
        monitors = self._monitors.list_all()
        return {"count": len(monitors), "backend": self._context.backend,
                "monitors": monitors, "refused_events": self._monitors.refused_events()}

    def get_monitor(self, model: str) -> dict:
        return self._monitors.describe(model)

    def ensure_monitor(self, model: str) -> dict:
        outcome = self._monitors.ensure(model, reason="admin API ensure")
        return {"outcome": outcome.to_json(), "monitor": self._monitors.describe(model)}

    def run_monitor(self, model: str) -> dict:
        """Local backend: run the monitor now and answer with the run. Azure: ask Azure ML
        to run the schedule now (the result arrives later as a RunStatusChanged)."""
        run = self._runs.run(model, trigger="admin API")
        return {"completed": run.completed, "monitor": run.monitor, "triggered_job": run.job,
                "run": run.to_json()}

    def set_monitor_enabled(self, model: str, enabled: bool) -> dict:
        return self._monitors.set_enabled(model, enabled)


    # ------------------------------------------------------------ retraining

    def request_retraining(self, model: str, body: dict) -> dict:
        reason = body.get("reason") or "requested by an operator"
        force = body.get("force", False)
        if not isinstance(reason, str) or not isinstance(force, bool):
            raise BadRequest("'reason' must be text and 'force' true or false")
        outcome = self._retraining.request(model, reason=reason, force=force)
        return outcome.to_json() | {"gate": self._retraining.gate(model)}

    def retraining_history(self, model: str) -> dict:
        history = self._retraining.history(model)
        return {"model": model, "count": len(history), "gate": self._retraining.gate(model),
                "retraining": history}

    def get_retraining(self, model: str, request_id: str) -> dict:
        return self._retraining.get(model, request_id)

    def drift_alerts(self, model: str) -> dict:
        alerts = self._retraining.alerts(model)
        return {"model": model, "count": len(alerts), "alerts": alerts}

    def poison_messages(self) -> dict:
        messages = self._retraining.poison_messages()
        return {"queue": self._retraining.poison.poison.name, "count": len(messages),
                "total": max(self._retraining.poison.count(), len(messages)),
                "note": "the 32 oldest are shown" if len(messages) == 32 else None,
                "messages": messages}

    def requeue_poison(self, message_id: str) -> dict:
        return self._retraining.requeue_poison(message_id)


def _opt_str(value) -> str | None:
    return None if value is None else str(value)


__all__ = ["Admin", "BadRequest", "NotFound"]
