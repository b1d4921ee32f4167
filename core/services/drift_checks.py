"""Use cases around the drift engine: the early check on every ingested batch, on-demand
checks between any two data versions, and the stored results and reports.

The reference profile is built once per reference data version and kept as a workspace
artifact (fit once, calculate many): a batch costs one pass over the batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import pyarrow as pa

from core.domain.assets import DataAssetVersion
from core.domain.ingestion import IngestionRecord
from core.domain.monitor_decision import TAG_DRIFT_THRESHOLD, tagged_drift_thresholds
from core.ports import Artifacts, DataAssets, IngestionLedger, NotFound
from core.services.ingest import BatchObserver
from core.services.reporting import SILENT, Reporter
from core.services.thresholds import DriftThresholds

if TYPE_CHECKING:
    from core.drift import DriftConfig, DriftResult, ReferenceProfile
    from core.drift.stream import StreamedComparison

log = logging.getLogger(__name__)

# The early check looks at inputs only: drift of the inputs and their data quality.
EARLY_SIGNALS = ("data_drift", "data_quality")
_MAX_BREACHES_IN_LEDGER = 20


class _EarlyCheck(BatchObserver):
    """The early check of one file, fed the record batches ingestion reads anyway: exact
    within the memory budget, a bounded sample with exact data quality counts beyond it
    (core/drift/stream.py). The statistics are taken on a thread of their own, so they overlap
    the parse and the copy (numpy and Arrow release the GIL); a short queue bounds what waits.
    A failure here never fails the ingestion: it is recorded."""

    _QUEUED_BATCHES = 4

    def __init__(self, checks: DriftChecks, model: str, reference: DataAssetVersion,
                 tagged: dict[str, dict[str, float]] | None = None):
        self._checks = checks
        self._model = model
        self._reference = reference
        self._tagged = tagged
        self._stream: StreamedComparison | None = None
        self._error: BaseException | None = None
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(self._QUEUED_BATCHES)
        self._worker: threading.Thread | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        if self._error is not None:
            return
        if self._worker is None:
            self._worker = threading.Thread(target=self._consume, name="early-drift-check",
                                            daemon=True)
            self._worker.start()
        self._queue.put(batch)

    def _consume(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the producer never blocks on a failed check
            try:
                if self._stream is None:
                    from core.drift import DriftConfig
                    from core.drift.stream import StreamedComparison

                    self._stream = StreamedComparison(
                        self._checks.profile(self._reference, model=self._model),
                        DriftConfig(signals=EARLY_SIGNALS),
                        budget_bytes=self._checks.held_bytes, row_limit=self._checks.row_limit)
                self._stream.add(batch)
            except Exception as exc:  # reported by finish(); the ingestion carries on
                log.exception("early drift check failed on a batch of %s", self._model)
                self._error = exc
                self._stream = None

    def _join(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None

    def close(self) -> None:
        self._join()
        self._stream = None  # its rows are not needed any more

    def finish(self, record: IngestionRecord) -> dict | None:
        with self._checks.reporter.span("early_drift_check"):
            return self._finish(record)

    def _finish(self, record: IngestionRecord) -> dict | None:
        # A failing drift check must never cost the batch its registration: record why.
        started = time.perf_counter()
        reporter = self._checks.reporter
        self._join()
        try:
            if self._error is not None:
                raise self._error
            if self._stream is None:
                raise ValueError("no rows")
            stream = self._stream
            # Thresholds are derived for the rows drift is computed on, known only now.
            config, policy = self._checks.early_config(stream.profile, stream.drift_rows,
                                                       self._tagged)
            result = stream.result(config)
            if policy is not None:
                result = replace(result, policy=policy)
            if stream.sampled:
                note = (f"early check on a deterministic sample: {result.rows_production} of "
                        f"{stream.rows_seen} rows for drift (settings EARLY_DRIFT_MEMORY_MB, "
                        "EARLY_DRIFT_ROW_LIMIT); data quality over every row")
                result = replace(result, notes=(*result.notes, note))
            key = self._checks.save_result(self._model, record.ingestion_id, result)
            summary = summarize(result, key, self._reference.asset_id,
                                production=f"{record.asset_name}:{record.asset_version}")
        except Exception as exc:
            log.exception("early drift check failed for %s", record.ingestion_id)
            reporter.drift_checked(self._model, record.ingestion_id, None,
                                   time.perf_counter() - started, None)
            return {"error": f"{type(exc).__name__}: {exc}"[:500]}
        finally:
            self._stream = None  # its rows are not needed any more
        reporter.drift_checked(self._model, record.ingestion_id, result,
                               time.perf_counter() - started, summary)
        return summary


def summarize(result: DriftResult, key: str, reference: str, production: str) -> dict:
    """The small part of a result that lives in the ledger (the whole one is an artifact)."""
    breaches = [
        {"signal": s, "feature": m.feature, "metric": m.metric, "value": m.value,
         "threshold": m.threshold}
        for s, m in result.breaches()
    ]
    return {
        "breached": result.breached,
        "signals": {s.name: s.breached for s in result.signals},
        "breaches": breaches[:_MAX_BREACHES_IN_LEDGER],
        "breach_count": len(breaches),
        "rows_reference": result.rows_reference,
        "rows_production": result.rows_production,
        "reference": reference,
        "production": production,
        "notes": list(result.notes),
        "result": key,
    }


class DriftChecks:
    def __init__(
        self,
        workspace: DataAssets,
        artifacts: Artifacts,
        ledger: IngestionLedger,
        reference_asset_for,
        inference_asset_for,
        *,
        enabled: bool = True,
        row_limit: int = 1_000_000,
        memory_bytes: int = 32 * 1024 * 1024,
        reporter: Reporter = SILENT,
        thresholds: DriftThresholds | None = None,  # None: Azure's defaults
        model_tags: Callable[[str], Mapping[str, str]] | None = None,  # latest version's
    ):
        self._workspace = workspace
        self.reporter = reporter
        self._artifacts = artifacts
        self._ledger = ledger
        self._reference_asset_for = reference_asset_for
        self._inference_asset_for = inference_asset_for
        self.enabled = enabled
        self.row_limit = row_limit
        self.memory_bytes = memory_bytes
        self.thresholds = thresholds
        self._model_tags = model_tags

    @property
    def held_bytes(self) -> int:
        """The production rows the early check may hold: a third of its memory budget, as the
        comparison at the end takes up to twice their size again (float copies, sorts)."""
        return max(1, self.memory_bytes // 3)

    # ------------------------------------------------------------ profiles

    def profile(self, asset: DataAssetVersion, model: str | None = None) -> ReferenceProfile:
        from core.drift import ProfileFormatError, ReferenceProfile, build_profile

        key = f"reference-profile/{asset.name}/{asset.version}.bin"
        cached = self._artifacts.get_artifact(key)
        profile: ReferenceProfile | None = None
        if cached is not None:
            try:
                profile = ReferenceProfile.from_bytes(cached)
            except ProfileFormatError as exc:  # written by another code version: rebuild
                log.warning("rebuilding profile %s: %s", key, exc)
            else:
                if self._calibrator(profile) is None:
                    return profile
        table = self._workspace.read_table(asset)  # to build it, or to calibrate a stored one
        if profile is None:
            profile = build_profile(table)
        calibrator = self._calibrator(profile)
        if calibrator is not None:
            calibrator.calibrate(profile, table, model)
        self._artifacts.put_artifact(key, profile.to_bytes())
        return profile

    def _calibrator(self, profile: ReferenceProfile) -> DriftThresholds | None:
        """The thresholds that calibrate ``profile``, when it still needs it."""
        if self.thresholds is not None and self.thresholds.wants_calibration(profile):
            return self.thresholds
        return None

    # ------------------------------------------------------------ early check

    def observer_for(self, model: str, schema) -> BatchObserver | None:
        if not self.enabled or schema is None:
            return None
        reference = self._workspace.latest_data(self._reference_asset_for(model))
        if reference is None:
            return None
        return _EarlyCheck(self, model, reference, self.tagged_thresholds(model))

    def tagged_thresholds(self, model: str) -> dict[str, dict[str, float]] | None:
        """The drift thresholds the model's `autopilot.drift_threshold` tag sets (the monitor
        is sent them), None without one. A malformed tag is the monitor's to report
        (`invalid_configuration`); here it is logged and the settings judge."""
        if self._model_tags is None or self.thresholds is None:
            return None
        try:
            return tagged_drift_thresholds(self._model_tags(model))
        except ValueError as exc:
            log.warning("%s of %s ignored by the early check: %s", TAG_DRIFT_THRESHOLD, model,
                        exc)
            return None

    def compare_with_profile(
        self, profile: ReferenceProfile, production: pa.Table, signals=EARLY_SIGNALS
    ) -> DriftResult:
        from core.drift import DriftConfig, compare

        if self.thresholds is not None:
            return self.thresholds.compare(profile, production, signals=tuple(signals))
        return compare(profile, production, DriftConfig(signals=tuple(signals)))

    def early_config(self, profile: ReferenceProfile, production_rows: int,
                     tagged: Mapping[str, Mapping[str, float]] | None = None,
                     ) -> tuple[DriftConfig, dict | None]:
        """The early check's configuration for a batch of this many rows, and how its
        thresholds were derived (None: Azure's defaults, no policy). ``tagged``: the model
        tag's drift thresholds, which take the place of the settings' as they do on a local
        monitor run (the fixed values under `azure` and `fixed`, the fallback and the metrics
        judged under `calibrated`)."""
        from core.drift import DriftConfig

        if self.thresholds is None:
            return DriftConfig(signals=EARLY_SIGNALS), None
        if tagged is None:
            return self.thresholds.prepare(profile, production_rows, signals=EARLY_SIGNALS)
        base = {**self.thresholds.policy.thresholds, "data_drift": tagged}
        config, policy = self.thresholds.with_base(base).prepare(
            profile, production_rows, signals=EARLY_SIGNALS)
        return config, {**policy, "thresholds_from": f"model tag {TAG_DRIFT_THRESHOLD}"}

    def save_result(self, model: str, name: str, result: DriftResult) -> str:
        key = f"drift-results/{model}/{name}.json"
        self._artifacts.put_artifact(key, result.to_json().encode())
        return key

    def load_result(self, key: str) -> DriftResult:
        from core.drift import DriftResult

        raw = self._artifacts.get_artifact(key)
        if raw is None:
            raise NotFound(f"drift result {key} is not stored")
        return DriftResult.from_json(raw.decode())

    # ------------------------------------------------------------ queries and commands

    def latest(self, model: str) -> dict:
        """The newest early-check result for a model's registered batches."""
        for record in self._ledger.list(model=model, status="registered"):
            if record.drift and "result" in record.drift:
                return {"ingestion": record.ingestion_id, **record.drift}
        raise NotFound(f"no drift result yet for model {model}")

    def result_for(self, model: str, ingestion_id: str | None = None) -> DriftResult:
        summary = self.latest(model) if ingestion_id is None else \
            (self._ledger.get(model, ingestion_id).drift or {})
        if "result" not in summary:
            raise NotFound(f"ingestion {ingestion_id} of {model} has no drift result")
        return self.load_result(summary["result"])

    def check(
        self,
        model: str,
        production_version: str | None = None,
        *,
        baseline: tuple[str, str | None] | None = None,
        production_asset: str | None = None,
        signals=EARLY_SIGNALS,
    ) -> tuple[DriftResult, dict]:
        """Compare any two data versions on demand: by default the model's latest inference
        version against its latest reference version."""
        production_name = production_asset or self._inference_asset_for(model)
        production = self._resolve(production_name, production_version)
        base_name, base_version = baseline or (self._reference_asset_for(model), None)
        base = self._resolve(base_name, base_version)
        table = self._workspace.read_table(production)
        result = self.compare_with_profile(self.profile(base, model=model), table, signals)
        key = self.save_result(
            model, f"check-{base.name}-{base.version}-vs-{production.name}-{production.version}",
            result,
        )
        return result, summarize(result, key, base.asset_id, production.asset_id)

    def _resolve(self, name: str, version: str | None) -> DataAssetVersion:
        if version is None:
            asset = self._workspace.latest_data(name)
            if asset is None:
                raise NotFound(f"data asset {name} has no versions")
            return asset
        return self._workspace.get_data(name, version)
