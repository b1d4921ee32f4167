"""Use cases behind the operators' HTTP endpoints: queries and the same commands by hand."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from core.ports import NotFound

if TYPE_CHECKING:
    from core.bootstrap import Services

INGESTION_STATUSES = ("processing", "registered", "rejected", "failed")


class BadRequest(ValueError):
    """The request is wrong in a way the caller can fix (HTTP 400)."""


class Admin:
    def __init__(self, services: Services):
        self._s = services

    def health(self) -> dict:
        checks = {}
        started = time.perf_counter()
        probes = {
            "ledger": lambda: self._s.ledger.list(model="_health"),
            "state": lambda: self._s.state.get("_health", "probe"),
            "retrain_queue": lambda: self._s.retrain_queue.peek(1),
        }
        for name, probe in probes.items():
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # reported, not raised: health must answer
                checks[name] = f"error: {type(exc).__name__}: {exc}"[:300]
        checks["backend"] = self._s.settings.backend
        healthy = all(v == "ok" for k, v in checks.items() if k != "backend")
        return {
            "status": "healthy" if healthy else "degraded",
            "checks": checks,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
            "settings": self._s.settings.describe(),
        }

    def list_ingestions(self, model: str | None, status: str | None) -> dict:
        if status is not None and status not in INGESTION_STATUSES:
            raise BadRequest(
                f"unknown status {status!r}; use one of {', '.join(INGESTION_STATUSES)}"
            )
        records = self._s.ledger.list(model=model, status=status)
        return {
            "model": model,
            "status": status,
            "count": len(records),
            "ingestions": [r.to_json() for r in records],
        }

    def get_ingestion(self, model: str, ingestion_id: str) -> dict:
        return self._s.ledger.get(model, ingestion_id).to_json()

    def replay_ingestion(self, model: str, ingestion_id: str) -> dict:
        outcome = self._s.ingest.replay(model, ingestion_id)
        return outcome.to_json()

    # ------------------------------------------------------------ drift

    def latest_drift(self, model: str) -> dict:
        summary = self._s.drift.latest(model)
        result = self._s.drift.load_result(summary["result"])
        return {"summary": summary, "result": result.to_dict()}

    def drift_report(self, model: str, ingestion_id: str | None) -> str:
        from core.drift import render_html

        result = self._s.drift.result_for(model, ingestion_id)
        which = f"ingestion {ingestion_id}" if ingestion_id else "latest batch"
        return render_html(result, title=f"Drift report: {model}, {which}")

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
        try:
            result, summary = self._s.drift.check(
                model,
                _opt_str(production.get("version")),
                production_asset=_opt_str(production.get("name")),
                baseline=(
                    (baseline.get("name") or self._s.settings.reference_asset(model),
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
        monitors = self._s.monitors.list()
        return {"count": len(monitors), "backend": self._s.settings.backend,
                "monitors": monitors}

    def get_monitor(self, model: str) -> dict:
        return self._s.monitors.describe(model)

    def ensure_monitor(self, model: str) -> dict:
        outcome = self._s.monitors.ensure(model, reason="admin API ensure")
        return {"outcome": outcome.to_json(), "monitor": self._s.monitors.describe(model)}

    def run_monitor(self, model: str) -> dict:
        """Local backend: run the monitor now and answer with the run. Azure: ask Azure ML
        to run the schedule now (the result arrives later as a RunStatusChanged)."""
        if self._s.settings.backend == "local":
            run = self._s.monitor_runs.run(model, trigger="admin API")
            return {"completed": True, "run": run.to_json()}
        name = self._s.monitors.monitor_name(model)
        job = self._s.workspace.trigger_monitor(name)
        return {"completed": False, "monitor": name, "triggered_job": job}

    def set_monitor_enabled(self, model: str, enabled: bool) -> dict:
        return self._s.monitors.set_enabled(model, enabled)


    # ------------------------------------------------------------ retraining

    def request_retraining(self, model: str, body: dict) -> dict:
        reason = body.get("reason") or "requested by an operator"
        force = body.get("force", False)
        if not isinstance(reason, str) or not isinstance(force, bool):
            raise BadRequest("'reason' must be text and 'force' true or false")
        outcome = self._s.retraining.request(model, reason=reason, force=force)
        return outcome.to_json() | {"gate": self._s.retraining.gate(model)}

    def retraining_history(self, model: str) -> dict:
        history = self._s.retraining.history(model)
        return {"model": model, "count": len(history), "gate": self._s.retraining.gate(model),
                "retraining": history}

    def get_retraining(self, model: str, request_id: str) -> dict:
        return self._s.retraining.get(model, request_id)

    def drift_alerts(self, model: str) -> dict:
        alerts = self._s.retraining.alerts(model)
        return {"model": model, "count": len(alerts), "alerts": alerts}

    def poison_messages(self) -> dict:
        messages = self._s.retraining.poison_messages()
        return {"queue": self._s.retrain_poison_queue.name, "count": len(messages),
                "total": max(self._s.retrain_poison_queue.approximate_count(), len(messages)),
                "note": "the 32 oldest are shown" if len(messages) == 32 else None,
                "messages": messages}

    def requeue_poison(self, message_id: str) -> dict:
        return self._s.retraining.requeue_poison(message_id)


def _opt_str(value) -> str | None:
    return None if value is None else str(value)


__all__ = ["Admin", "BadRequest", "NotFound"]
