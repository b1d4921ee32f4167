"""The local backend's `Retrainer`: train a challenger in-process (`core.training.challenger`)
and judge it against the champion on the same holdout.

- Champion: the model's latest version; its folder holds the `TrainedModel` this service
  saved (`core.training.model`), which names the target, the features and the task.
- Data: the reference data the champion was trained on, plus the newest labelled inference
  batches (those carrying the target column), up to `max_recent_rows` rows.
- Gate: `core.domain.retraining.judge` on the task's primary metric with the configured margin.
- Accepted: the challenger's training data is registered as the next version of the reference
  asset and the challenger as the next model version, tagged with its lineage and pointing at
  that reference, so the monitor re-aims at the new model and the data it was trained on. Both
  are looked up by request id first: a retried request re-uses what a crashed attempt
  registered instead of registering twice.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from core.domain import tags
from core.domain.assets import DataAssetVersion, MLTable, ModelVersion
from core.domain.retraining import (
    JobStatus,
    Reason,
    RequestStatus,
    RetrainRequest,
    RetrainResult,
    judge,
    judged,
    registered_by,
)
from core.ports import NotFound, Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalRetrainConfig:
    reference_asset_template: str = "{model}-training"
    inference_asset_template: str = "{model}-inference"
    primary_metric: str | None = None
    margin: float = 0.01
    holdout_fraction: float = 0.3
    max_recent_rows: int = 200_000
    n_estimators: int = 100


class LocalRetrainer:
    def __init__(self, workspace: Workspace, config: LocalRetrainConfig):
        self._ws = workspace
        self.config = config

    def start(self, request: RetrainRequest) -> RetrainResult:
        from core.training.challenger import NotEnoughLabels, train_challenger
        from core.training.model import TrainedModel, TrainingError

        model, request_id = request.model, request.request_id
        done = registered_by(self._ws.list_model_versions(model), request_id)
        if done is not None:  # an earlier attempt registered it, then died
            return RetrainResult(RequestStatus.REGISTERED,
                                 "registered by an earlier attempt of this request",
                                 Reason.ALREADY_REGISTERED, {"new_version": done.version})
        champion_version = self._ws.latest_model(model)
        if champion_version is None:
            return RetrainResult(RequestStatus.REJECTED, f"model {model} has no version",
                                 Reason.NO_CHAMPION)
        try:
            champion = TrainedModel.load(Path(champion_version.path))
        except TrainingError as exc:
            return RetrainResult(RequestStatus.REJECTED,
                                 f"the champion cannot be retrained here: {exc}",
                                 Reason.CHAMPION_UNREADABLE,
                                 {"champion_version": champion_version.version})
        spec = champion.spec
        reference = self._reference_for(champion_version)
        recent, used = self._recent_labelled(model, spec.target)
        base = {"champion_version": champion_version.version,
                "reference_data": reference.asset_id, "recent_batches": used,
                "task": spec.task}
        try:
            run = train_challenger(champion, self._ws.read_table(reference), recent,
                                   holdout_fraction=self.config.holdout_fraction,
                                   n_estimators=self.config.n_estimators)
        except NotEnoughLabels as exc:
            return RetrainResult(RequestStatus.REJECTED, str(exc), Reason.NOT_ENOUGH_LABELS,
                                 base)
        decision = judge(run.champion_scores, run.challenger_scores, spec.task,
                         metric=self.config.primary_metric, margin=self.config.margin)
        result = judged(decision, {**base, "holdout_rows": run.holdout_rows,
                                   "training_rows": run.training_rows})
        if not decision.accepted:
            return result
        new_reference = self._register_training_data(model, request_id, run.training, reference)
        version = self._register(model, request, champion_version, run.challenger,
                                 run.challenger_scores, new_reference)
        return RetrainResult(result.status, result.decision, result.code, {
            **result.details, "new_version": version.version,
            "new_reference_data": new_reference.asset_id})

    def job_status(self, job: str) -> JobStatus:
        raise NotFound(f"job {job}: the local backend trains in-process and runs no jobs")

    def complete(self, request: RetrainRequest, job: JobStatus) -> RetrainResult:
        return RetrainResult(RequestStatus.FAILED,
                             f"job {job.name}: the local backend runs no jobs",
                             Reason.JOB_FAILED)

    # ------------------------------------------------------------------ steps

    def _reference_for(self, champion: ModelVersion) -> DataAssetVersion:
        tagged = champion.tags.get(tags.REFERENCE_DATA, "").strip()
        if ":" in tagged:
            name, _, version = tagged.rpartition(":")
            return self._ws.get_data(name, version)
        name = tagged or self.config.reference_asset_template.format(model=champion.name)
        asset = self._ws.latest_data(name)
        if asset is None:
            raise NotFound(f"reference data asset {name} not found")
        return asset

    def _recent_labelled(self, model: str, target: str) -> tuple[pa.Table, list[str]]:
        """The newest inference batches that carry labels, newest first, up to the row cap."""
        from core.training.challenger import concat

        asset = self.config.inference_asset_template.format(model=model)
        tables, used, rows = [], [], 0
        for version in reversed(self._ws.list_data_versions(asset)):
            columns = (version.tags.get(tags.DATA_COLUMNS, "") + ","
                       + version.tags.get(tags.DATA_EXTRA_COLUMNS, "")).split(",")
            if target not in columns:  # unlabelled batch (see LABEL_COLUMNS)
                continue
            table = self._ws.read_table(version)
            if target not in table.column_names:
                continue
            tables.append(table)
            used.append(version.asset_id)
            rows += table.num_rows
            if rows >= self.config.max_recent_rows:
                break
        if not tables:
            return pa.table({}), used
        return concat(tables), used

    def _register_training_data(self, model: str, request_id: str, training: pa.Table,
                                reference: DataAssetVersion) -> DataAssetVersion:
        import pyarrow.csv as pacsv

        name = reference.name
        versions = self._ws.list_data_versions(name)
        for existing in versions:
            if existing.tags.get(tags.REQUEST_ID) == request_id:
                return existing
        numeric = [int(v.version) for v in versions if v.version.isdigit()]
        version = str(max(numeric, default=0) + 1)
        with tempfile.TemporaryDirectory(prefix="retrain-data-") as tmp:
            path = Path(tmp) / "training.csv"
            pacsv.write_csv(training, path)
            return self._ws.create_mltable_version(
                name, version, MLTable(paths=("./training.csv",)),
                files={"training.csv": lambda: open(path, "rb")},
                tags={tags.REQUEST_ID: request_id, tags.DATA_DERIVED_FROM: reference.asset_id,
                      tags.DATA_ROW_COUNT: str(training.num_rows)},
                description=f"Training data of {model}'s retraining {request_id}",
            )

    def _register(self, model: str, request: RetrainRequest, champion: ModelVersion,
                  challenger, scores: dict, reference: DataAssetVersion) -> ModelVersion:
        lineage = {
            **tags.inherited_overrides(champion.tags),  # schedule, emails, thresholds carry over
            tags.REQUEST_ID: request.request_id,
            tags.PARENT_VERSION: champion.version,
            tags.METRICS: json.dumps({k: v if v is None else round(v, 4)
                                      for k, v in scores.items()}),
            tags.TRIGGER_REASON: request.reason[:250],
            tags.REFERENCE_DATA: f"{reference.name}:{reference.version}",
            tags.TRAINED_ON: reference.asset_id,
        }
        with tempfile.TemporaryDirectory(prefix="challenger-") as tmp:
            challenger.save(Path(tmp))
            return self._ws.register_model(
                model, tmp, tags=lineage,
                description=f"Retrained by Monitor Autopilot (request {request.request_id})",
            )
