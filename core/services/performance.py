"""Use case: the champion's realised performance on each labelled data version (production rows
joined with their ground truth, core/services/ground_truth.py), beside the batch's drift
results: the record in the ledger (`IngestionRecord.performance`, shape in
core/domain/performance.py), the full result as an artifact
(`performance-results/<model>/<asset>-<version>.json`), and a breach of the model's threshold
becomes an alert like a drift breach (core.domain.alerts.performance_alert).

The champion is scored through the model port (`ModelLoader.load` over the version's files,
downloaded on Azure), with the task's metrics as the retraining judge computes them; the
predictions the deployment logged (`model_outputs`, joined as ``predicted_<column>``) are
scored too when present. scikit-learn and MLflow are imported only here, when a labelled
version exists: never on an inference file's path.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.domain import tags as tag_names
from core.domain.assets import DataAssetVersion, ModelVersion
from core.domain.ground_truth import logged_prediction_column
from core.domain.performance import PerformanceRecord, parse_thresholds, thresholds_for
from core.ports import Artifacts, IngestionLedger, ModelLoader, NotFound, Workspace
from core.services.models import ModelCatalog

log = logging.getLogger(__name__)

RESULTS = "performance-results"


class ModelPerformance:
    def __init__(self, workspace: Workspace, artifacts: Artifacts, catalog: ModelCatalog,
                 loader: Callable[[], ModelLoader], ledger: IngestionLedger, *,
                 thresholds: dict[str, float] | None = None,
                 clock: Callable[[], float] = time.time):
        self._ws = workspace
        self._artifacts = artifacts
        self._catalog = catalog
        self._loader = loader  # a factory: the loader imports scikit-learn
        self._ledger = ledger
        self._setting = dict(thresholds or {})  # PERFORMANCE_THRESHOLDS, parsed
        self._clock = clock

    # ------------------------------------------------------------------ thresholds

    def thresholds(self, model: ModelVersion, task: str) -> tuple[dict[str, float], list[str]]:
        """The model's tag `autopilot.performance_threshold`, else the setting; a malformed
        tag falls back to the setting, with a note saying why."""
        notes = []
        parsed = self._setting
        tag = model.tags.get(tag_names.PERFORMANCE_THRESHOLD, "").strip()
        if tag:
            try:
                parsed = parse_thresholds(tag, what=f"tag {tag_names.PERFORMANCE_THRESHOLD}")
            except ValueError as exc:
                notes.append(f"{exc}; the setting PERFORMANCE_THRESHOLDS applies")
        return thresholds_for(task, parsed), notes

    # ------------------------------------------------------------------ the measurement

    def evaluate(self, model_name: str, labelled: DataAssetVersion) -> dict[str, Any]:
        """The champion's metrics on `labelled` (the record's document; see the module
        docstring). A model that cannot be scored gets `{"skipped": why}`."""
        from core.training.performance import champion_metrics, logged_metrics

        where = f"{labelled.name}:{labelled.version}"
        champion = self._ws.latest_model(model_name)
        if champion is None:
            return {"skipped": f"model {model_name} has no registered version",
                    "labelled_data": where}
        description = self._catalog.describe(champion)
        if not description.scorable or not description.features or not description.target:
            return {"skipped": f"version {champion.version} cannot be scored here: "
                               f"{description.reason or 'features or target unknown'}",
                    "labelled_data": where, "model_version": champion.version}
        target = description.target
        table = self._ws.read_table(labelled)
        with tempfile.TemporaryDirectory(prefix="champion-") as tmp:
            folder = self._ws.download_model(champion, Path(tmp))
            scoring = self._loader().load(folder, description)
            metrics = champion_metrics(scoring, table)
        thresholds, notes = self.thresholds(champion, description.task)
        logged = None
        column = logged_prediction_column(description.prediction_columns, table.column_names)
        if column is not None:
            try:
                logged = logged_metrics(table, target=target, prediction_column=column,
                                        task=description.task)
            except ValueError as exc:
                notes.append(f"the logged predictions in {column!r} were not scored: {exc}")
        labelled_rows = table.num_rows if target not in table.column_names else \
            table.num_rows - table.column(target).null_count
        key = f"{RESULTS}/{model_name}/{labelled.name}-{labelled.version}.json"
        record = PerformanceRecord(
            labelled_data=where, model_version=champion.version, task=description.task,
            rows=labelled_rows, metrics=metrics, thresholds=thresholds, logged_metrics=logged,
            result=key, evaluated_at=self._clock(), notes=tuple(notes))
        doc = {**record.to_doc(), "target": target}
        if column is not None:
            doc["logged_prediction_column"] = column
        full = {**doc, "model": model_name, "model_format": description.format,
                "features": list(description.features)}
        self._artifacts.put_artifact(key, json.dumps(full, indent=2, sort_keys=True).encode())
        log.info("performance of %s v%s on %s: %s%s", model_name, champion.version, where,
                 metrics, " BREACHED" if record.breached else "")
        return doc

    # ------------------------------------------------------------------ queries

    def history(self, model: str) -> list[dict[str, Any]]:
        """Every labelled version's record, newest first, with the ingestion it came from."""
        out = []
        for record in self._ledger.list(model=model, status="registered"):
            if record.performance:
                out.append({"ingestion": record.ingestion_id, **record.performance})
        return out

    def latest(self, model: str) -> dict[str, Any]:
        for entry in self.history(model):
            if "metrics" in entry:
                return entry
        raise NotFound(f"no model performance yet for model {model} (no labelled data)")

    def load_result(self, key: str) -> dict[str, Any]:
        raw = self._artifacts.get_artifact(key)
        if raw is None:
            raise NotFound(f"performance result {key} is not stored")
        return json.loads(raw)


__all__ = ["ModelPerformance"]
