"""Use case: keep every batch's metrics, thresholds and statuses per model (the trends the
dashboard draws), and read a model's history back.

Points are recorded where results land:

- an ingested batch's early drift check and the champion's performance on a labelled version:
  `record_batch`, called after the batch is registered (bootstrap chains it after the
  batch's follow-ups: `AlsoRecordTrends`);
- a local monitor run's results: `recording(save_result)` wraps the function the monitor
  runner saves its results with (Azure ML's runs keep their results in Azure);
- models that existed before: `backfill` reads the ledger's stored results (an admin endpoint,
  and lazily, for the newest `LAZY_BACKFILL` batches, the first time a model's history is
  read).

Recording never fails the caller: a failure is logged (the batch is registered already).
Statuses are read defensively: a metric's own `status` when the engine reports one
(ok/warning/breach), else `breached` (see core.domain.trends).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.domain.ingestion import IngestionRecord
from core.domain.names import check_name
from core.domain.trends import MetricPoint, TrendPoint
from core.ports import IngestionLedger, NotFound, StateStore, TrendStore

if TYPE_CHECKING:
    from core.drift import DriftResult
    from core.drift.result import MetricValue

log = logging.getLogger(__name__)

STATE_KIND = "trends-backfill"
LAZY_BACKFILL = 200
_MAX_NOTES = 5

SaveResult = Callable[[str, str, "DriftResult"], str]


def metric_status(m: MetricValue) -> str:
    """ok/warning/breach/info/undefined for one metric (see the module docstring)."""
    status = getattr(m, "status", None)
    if status is not None and str(status) in ("ok", "warning", "breach"):
        return str(status)
    if m.undefined:
        return "undefined"
    if m.threshold is None:
        return "info"
    return "breach" if m.breached else "ok"


def point_from_result(model: str, key: str, kind: str, result: DriftResult, *, at: float,
                      data: str = "", ingestion: str | None = None) -> TrendPoint:
    metrics = tuple(
        MetricPoint(signal.name, f.name, m.metric, m.value, m.threshold, metric_status(m))
        for signal in result.signals for f in signal.features for m in f.metrics)
    notes = tuple(n[:300] for n in result.notes[:_MAX_NOTES])
    return TrendPoint(model=model, key=key, kind=kind, at=at, metrics=metrics, data=data,
                      ingestion=ingestion, rows=result.rows_production, notes=notes)


def point_from_performance(model: str, doc: dict[str, Any], *, at: float,
                           ingestion: str | None) -> TrendPoint | None:
    """The champion's metrics on one labelled version (core.domain.performance's record) as a
    point of signal `model_performance`, feature `champion`; None for a skipped record."""
    values = doc.get("metrics")
    if not isinstance(values, dict):
        return None
    thresholds = doc.get("thresholds") or {}
    breached = {b.get("metric") for b in doc.get("breaches") or [] if isinstance(b, dict)}
    metrics = []
    for name, value in sorted(values.items()):
        threshold = thresholds.get(name)
        status = ("info" if threshold is None else "breach" if name in breached else "ok")
        number = float(value) if isinstance(value, int | float) else None
        metrics.append(MetricPoint("model_performance", "champion", name, number,
                                   None if threshold is None else float(threshold),
                                   "undefined" if number is None else status))
    where = str(doc.get("labelled_data") or ingestion or "")
    return TrendPoint(model=model, key=f"performance:{where}", kind="performance",
                      at=float(doc.get("evaluated_at") or at), metrics=tuple(metrics),
                      data=where, ingestion=ingestion, rows=doc.get("rows"),
                      notes=(f"champion version {doc.get('model_version')}",))


class Trends:
    def __init__(self, store: TrendStore, ledger: IngestionLedger, state: StateStore, *,
                 load_result: Callable[[str], DriftResult],
                 clock: Callable[[], float] = time.time):
        self.store = store
        self._ledger = ledger
        self._state = state
        self._load_result = load_result
        self._clock = clock

    # ------------------------------------------------------------------ recording

    def record_batch(self, record: IngestionRecord) -> None:
        """The registered batch's early check and performance record, when it has them."""
        try:
            points = self._points_of(record)
            if points:
                self.store.append(record.model, points)
        except Exception:
            log.exception("trends of %s not recorded for %s", record.model,
                          record.ingestion_id)

    def _points_of(self, record: IngestionRecord) -> list[TrendPoint]:
        points = []
        data = f"{record.asset_name}:{record.asset_version}" if record.asset_name else ""
        drift = record.drift or {}
        if isinstance(drift.get("result"), str):
            result = self._load_result(drift["result"])
            points.append(point_from_result(
                record.model, f"early_check:{record.ingestion_id}", "early_check", result,
                at=record.updated_at, data=data, ingestion=record.ingestion_id))
        if record.performance:
            perf = point_from_performance(record.model, record.performance,
                                          at=record.updated_at, ingestion=record.ingestion_id)
            if perf is not None:
                points.append(perf)
        return points

    def recording(self, save: SaveResult) -> SaveResult:
        """`save`, and each monitor run result it saves recorded as a point."""

        def save_and_record(model: str, name: str, result: DriftResult) -> str:
            key = save(model, name, result)
            try:
                self.store.append(model, [point_from_result(
                    model, f"monitor_run:{name}", "monitor_run", result, at=self._clock())])
            except Exception:
                log.exception("trends of %s not recorded for %s", model, name)
            return key

        return save_and_record

    # ------------------------------------------------------------------ reading

    def history(self, model: str) -> list[TrendPoint]:
        """The model's points, oldest first; the first read of a model that has stored results
        from before trends were kept backfills its newest LAZY_BACKFILL batches."""
        if self._state.get(STATE_KIND, model) is None:
            self.backfill(model, limit=LAZY_BACKFILL)
        return self.store.read(model)

    def backfill(self, model: str, *, limit: int | None = None) -> dict[str, Any]:
        """Record every stored early check and performance record of the model's registered
        batches (newest `limit` only, if given). Idempotent: a batch recorded again keeps one
        point."""
        check_name(model, "model name")
        records = self._ledger.list(model=model, status="registered")
        considered = records if limit is None else records[:limit]
        points: list[TrendPoint] = []
        missing = 0
        for record in considered:
            try:
                points.extend(self._points_of(record))
            except NotFound:
                missing += 1  # the result artifact is gone: nothing to draw
        if points:
            self.store.append(model, sorted(points, key=lambda p: p.at))
        doc = {"backfilled_at": self._clock(), "batches": len(considered),
               "points": len(points), "missing_results": missing,
               "complete": len(considered) == len(records)}
        if records:  # a name with no batch leaves nothing behind (a GET of a typo)
            self._state.put(STATE_KIND, model, doc)
        return {"model": model, **doc}


class AlsoRecordTrends:
    """A batch's follow-up, then its trend points (recorded even when the follow-up
    raised, which it then still does)."""

    def __init__(self, follow_up: Callable[[IngestionRecord], None], trends: Trends):
        self._follow_up = follow_up
        self._trends = trends

    def __call__(self, record: IngestionRecord) -> None:
        try:
            self._follow_up(record)
        finally:
            self._trends.record_batch(record)


__all__ = ["AlsoRecordTrends", "Trends", "metric_status", "point_from_performance",
           "point_from_result"]
