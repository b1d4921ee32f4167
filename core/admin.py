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
        try:
            self._s.ledger.list(model="_health")
            checks["ledger"] = "ok"
        except Exception as exc:  # reported, not raised: health must answer
            checks["ledger"] = f"error: {type(exc).__name__}: {exc}"[:300]
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


__all__ = ["Admin", "BadRequest", "NotFound"]
