"""Use case: the dashboard's pages (GET /api/dashboard and /api/dashboard/{model}): what every
model's monitor, latest batch and quarantine look like, and per model the trends over every
batch, the alert timeline, the retraining history and the quarantine. Gathers the records
here; `core.services.dashboard_html` draws them (self-contained HTML, inline SVG)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.domain.ingestion import IngestionRecord
from core.domain.names import check_name
from core.ports import IngestionLedger, NotFound

if TYPE_CHECKING:
    from core.domain.trends import TrendPoint
    from core.services.monitors import MonitorService
    from core.services.retraining import Retraining
    from core.services.trends import Trends

log = logging.getLogger(__name__)

QUARANTINE_SHOWN = 100


@dataclass(frozen=True)
class ModelRow:
    """One line of the overview."""

    model: str
    monitor: dict[str, Any] | None
    latest: TrendPoint | None
    quarantined: int
    gate: dict[str, Any]


@dataclass(frozen=True)
class ModelPage:
    model: str
    monitor: dict[str, Any] | None
    points: list[TrendPoint]
    alerts: list[dict[str, Any]]
    retraining: list[dict[str, Any]]
    gate: dict[str, Any]
    quarantine: list[IngestionRecord]
    quarantined: int
    notes: list[str] = field(default_factory=list)


class Dashboard:
    def __init__(self, *, monitors: MonitorService, trends: Trends, ledger: IngestionLedger,
                 retraining: Retraining, registered_models: Callable[[], list[str]],
                 clock: Callable[[], float]):
        self._monitors = monitors
        self._trends = trends
        self._ledger = ledger
        self._retraining = retraining
        self._registered_models = registered_models
        self._clock = clock

    def overview(self) -> list[ModelRow]:
        monitors = {m["model"]: m for m in self._monitors.list_all()}
        rejected: dict[str, int] = {}
        for record in self._ledger.list(status="rejected"):
            rejected[record.model] = rejected.get(record.model, 0) + 1
        try:
            registered = self._registered_models()
        except Exception:  # the workspace is down: show what storage knows
            log.exception("the dashboard could not list the workspace's models")
            registered = []
        names = sorted(set(monitors) | set(self._trends.store.models()) | set(registered)
                       | {m for m in rejected if not m.startswith("_")})
        return [ModelRow(m, monitors.get(m), self._trends.store.latest(m), rejected.get(m, 0),
                         self._retraining.gate(m)) for m in names]

    def model(self, model: str) -> ModelPage:
        check_name(model, "model name")
        try:
            monitor: dict[str, Any] | None = self._monitors.describe(model)
        except NotFound:
            monitor = None
        points = self._trends.history(model)
        alerts = self._retraining.alerts(model)
        retraining = self._retraining.history(model)
        rejected = self._ledger.list(model=model, status="rejected")
        if monitor is None and not points and not alerts and not retraining and not rejected \
                and not self._ledger.list(model=model):
            raise NotFound(f"model {model} has no monitor, batches, alerts or retraining")
        notes = []
        if len(rejected) > QUARANTINE_SHOWN:
            notes.append(f"the newest {QUARANTINE_SHOWN} of {len(rejected)} quarantined files "
                         "are shown (GET /api/models/{model}/ingestions?status=rejected lists "
                         "them all)")
        return ModelPage(model, monitor, points, alerts, retraining, self._retraining.gate(model),
                         rejected[:QUARANTINE_SHOWN], len(rejected), notes)

    # ------------------------------------------------------------------ the pages

    def overview_html(self, *, key: str | None = None) -> str:
        """The overview page; `key`: the function key its links carry (the one it was
        opened with)."""
        from core.services.dashboard_html import render_overview

        return render_overview(self.overview(), now=self._clock(), key=key)

    def model_html(self, model: str, *, key: str | None = None) -> str:
        from core.services.dashboard_html import render_model

        return render_model(self.model(model), now=self._clock(), key=key)


__all__ = ["Dashboard", "ModelPage", "ModelRow"]
