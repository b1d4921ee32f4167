"""Use cases around the drift engine: the early check on every ingested batch, on-demand
checks between any two data versions, and the stored results and reports.

The reference profile is built once per reference data version and kept as a workspace
artifact (fit once, calculate many): a batch costs one pass over the batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from core.domain.assets import DataAssetVersion
from core.domain.ingestion import IngestionRecord
from core.ports import Artifacts, DataAssets, IngestionLedger, NotFound
from core.services.ingest import BatchObserver
from core.services.reporting import SILENT, Reporter
from core.services.thresholds import DriftThresholds

if TYPE_CHECKING:
    from core.drift import DriftResult, ReferenceProfile

log = logging.getLogger(__name__)

# The early check looks at inputs only: drift of the inputs and their data quality.
EARLY_SIGNALS = ("data_drift", "data_quality")
_MAX_BREACHES_IN_LEDGER = 20


class StridedSample:
    """A deterministic, bounded sample of a stream of record batches: every `stride`-th row,
    the stride doubling (and the kept rows thinning) whenever more than `limit` are kept.
    Same file, same sample; memory stays under `limit` rows."""

    def __init__(self, limit: int, columns: list[str] | None):
        self.limit = limit
        self.columns = columns
        self.stride = 1
        self.seen = 0
        self._parts: list[tuple[np.ndarray, pa.RecordBatch]] = []
        self._kept = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if self.columns is not None:
            batch = batch.select([c for c in self.columns if c in batch.schema.names])
        index = np.arange(self.seen, self.seen + batch.num_rows, dtype=np.int64)
        self.seen += batch.num_rows
        keep = index % self.stride == 0
        if not keep.all():
            batch = batch.filter(pa.array(keep))
            index = index[keep]
        self._parts.append((index, batch))
        self._kept += len(index)
        while self._kept > self.limit:
            self.stride *= 2
            thinned, kept = [], 0
            for idx, part in self._parts:
                mask = idx % self.stride == 0
                thinned.append((idx[mask], part.filter(pa.array(mask))))
                kept += int(mask.sum())
            self._parts, self._kept = thinned, kept

    @property
    def sampled(self) -> bool:
        return self.stride > 1

    def table(self) -> pa.Table:
        batches = [b for _, b in self._parts if b.num_rows]
        if not batches:
            raise ValueError("no rows")
        return pa.Table.from_batches(batches).combine_chunks()


class _EarlyCheck(BatchObserver):
    def __init__(self, checks: DriftChecks, model: str, reference: DataAssetVersion,
                 columns: list[str]):
        self._checks = checks
        self._model = model
        self._reference = reference
        self._sample = StridedSample(checks.row_limit, columns)

    def add(self, batch: pa.RecordBatch) -> None:
        self._sample.add(batch)

    def finish(self, record: IngestionRecord) -> dict | None:
        with self._checks.reporter.span("early_drift_check"):
            return self._finish(record)

    def _finish(self, record: IngestionRecord) -> dict | None:
        # A failing drift check must never cost the batch its registration: record why.
        started = time.perf_counter()
        reporter = self._checks.reporter
        try:
            result = self._checks.compare_with_profile(
                self._checks.profile(self._reference, model=self._model), self._sample.table(),
                EARLY_SIGNALS,
            )
            if self._sample.sampled:
                note = (f"early check on a deterministic sample: every {self._sample.stride}th "
                        f"row, {result.rows_production} of {self._sample.seen} rows "
                        "(setting EARLY_DRIFT_ROW_LIMIT)")
                result = replace(result, notes=(*result.notes, note))
            key = self._checks.save_result(self._model, record.ingestion_id, result)
            summary = summarize(result, key, self._reference.asset_id,
                                production=f"{record.asset_name}:{record.asset_version}")
        except Exception as exc:
            log.exception("early drift check failed for %s", record.ingestion_id)
            reporter.drift_checked(self._model, record.ingestion_id, None,
                                   time.perf_counter() - started, None)
            return {"error": f"{type(exc).__name__}: {exc}"[:500]}
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
        reporter: Reporter = SILENT,
        thresholds: DriftThresholds | None = None,  # None: Azure's defaults
    ):
        self._workspace = workspace
        self.reporter = reporter
        self._artifacts = artifacts
        self._ledger = ledger
        self._reference_asset_for = reference_asset_for
        self._inference_asset_for = inference_asset_for
        self.enabled = enabled
        self.row_limit = row_limit
        self.thresholds = thresholds

    # ------------------------------------------------------------ profiles

    def profile(self, asset: DataAssetVersion, model: str | None = None) -> ReferenceProfile:
        from core.drift import ProfileFormatError, ReferenceProfile, build_profile

        key = f"reference-profile/{asset.name}/{asset.version}.bin"
        cached = self._artifacts.get_artifact(key)
        table = None
        if cached is not None:
            try:
                profile = ReferenceProfile.from_bytes(cached)
            except ProfileFormatError as exc:  # written by another code version: rebuild
                log.warning("rebuilding profile %s: %s", key, exc)
            else:
                if self.thresholds is None or not self.thresholds.wants_calibration(profile):
                    return profile
                table = self._workspace.read_table(asset)  # stored without a calibration
        if table is None:
            table = self._workspace.read_table(asset)
            profile = build_profile(table)
        if self.thresholds is not None and self.thresholds.wants_calibration(profile):
            self.thresholds.calibrate(profile, table, model)
        self._artifacts.put_artifact(key, profile.to_bytes())
        return profile

    # ------------------------------------------------------------ early check

    def observer_for(self, model: str, schema) -> BatchObserver | None:
        if not self.enabled or schema is None:
            return None
        reference = self._workspace.latest_data(self._reference_asset_for(model))
        if reference is None:
            return None
        return _EarlyCheck(self, model, reference, list(schema))

    def compare_with_profile(
        self, profile: ReferenceProfile, production: pa.Table, signals=EARLY_SIGNALS
    ) -> DriftResult:
        from core.drift import DriftConfig, compare

        if self.thresholds is not None:
            return self.thresholds.compare(profile, production, signals=tuple(signals))
        return compare(profile, production, DriftConfig(signals=tuple(signals)))

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
