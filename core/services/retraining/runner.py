"""The one `Retrainer`, for both backends: a retraining is a job (RETRAIN_JOB_FILE, default
jobs/retrain.yml) run through the `Jobs` port, an Azure ML job on Azure and a subprocess on the
local backend, then judged and, when the challenger wins, registered with its lineage.

The job's contract (README, "Retraining"):

- inputs `training_data` (the champion's reference data), `inference_data` (the newest labelled
  production data: the latest `<model>-labelled` version, ground truth joined to the collected
  inputs, else the newest inference batch that carries the target) and `champion_model`
  (the current version, typed as registered: `custom_model` or `mlflow_model`);
- outputs `model` (the challenger, in the champion's format) and, optionally, `training_data`
  (an MLTable of the rows it was trained on, registered as the reference's next version);
- run tags (`mlflow.set_tag`) `autopilot.champion_scores` and `autopilot.challenger_scores`:
  JSON objects of the task's metrics on the same holdout; a job that refuses its data sets
  `autopilot.refused` (`{"code", "reason"}`) and exits non-zero.

Before anything is submitted the champion's description must allow retraining (features,
target and task known, files readable): otherwise the request is rejected with the model's
reason code, so a broken model never costs a job. A local job finishes inside `start` (the queue
trigger): it is judged there and then; an Azure job finishes later, through `complete`, called
by its completion event or the repair timer. Registration looks for the request id first:
one request never registers two versions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from core.domain import tags
from core.domain.assets import DataAssetVersion, ModelVersion
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
from core.ports import Jobs, NotFound, Workspace
from core.services.models import ModelCatalog

log = logging.getLogger(__name__)

PROP_CHAMPION = tags.CHAMPION_SCORES
PROP_CHALLENGER = tags.CHALLENGER_SCORES
MODEL_OUTPUT = "model"
TRAINING_OUTPUT = "training_data"


@dataclass(frozen=True)
class RetrainConfig:
    job_file: str
    experiment: str = "autopilot-retraining"
    reference_asset_template: str = "{model}-training"
    inference_asset_template: str = "{model}-inference"
    labelled_asset_template: str = "{model}-labelled"
    primary_metric: str | None = None
    margin: float = 0.01
    ml_task: str = "classification"  # when a job names none (a job submitted by hand)


class JobRetrainer:
    def __init__(self, workspace: Workspace, jobs: Jobs, catalog: ModelCatalog,
                 config: RetrainConfig):
        self._ws = workspace
        self._jobs = jobs
        self._catalog = catalog
        self.config = config

    # ------------------------------------------------------------------ the port

    def start(self, request: RetrainRequest) -> RetrainResult:
        model, request_id = request.model, request.request_id
        done = registered_by(self._ws.list_model_versions(model), request_id)
        if done is not None:  # an earlier attempt registered it, then died
            return RetrainResult(RequestStatus.REGISTERED,
                                 "registered by an earlier attempt of this request",
                                 Reason.ALREADY_REGISTERED, {"new_version": done.version})
        champion = self._ws.latest_model(model)
        if champion is None:
            return RetrainResult(RequestStatus.REJECTED, f"model {model} has no version",
                                 Reason.NO_CHAMPION)
        reference = self._catalog.reference_for(champion)
        if reference is None:
            return RetrainResult(RequestStatus.REJECTED, "no reference data to retrain on",
                                 Reason.NO_DATA, {"champion_version": champion.version})
        description = self._catalog.describe(champion, reference)
        base = {"champion_version": champion.version, "reference_data": reference.asset_id,
                "champion_format": description.format, "task": description.task}
        if not description.retrainable:
            return RetrainResult(RequestStatus.REJECTED,
                                 f"the champion cannot be retrained: {description.reason}",
                                 Reason.CHAMPION_UNREADABLE,
                                 {**base, "problem": str(description.problem)})
        assert description.target is not None  # retrainable
        labelled = self._newest_labelled(model, description.target)
        if labelled is None:
            return RetrainResult(RequestStatus.REJECTED, (
                f"no labelled production data to learn from: no version of "
                f"{self.config.labelled_asset_template.format(model=model)} (ground truth "
                f"joined to its inputs) and no batch of "
                f"{self.config.inference_asset_template.format(model=model)} carries the "
                f"target {description.target!r} yet"), Reason.NOT_ENOUGH_LABELS, base)
        base["labelled_data"] = labelled.asset_id
        try:
            job = self._jobs.submit_job(
                self.config.job_file,
                inputs={"training_data": reference.asset_id, "inference_data": labelled.asset_id,
                        "champion_model": champion.asset_id},
                input_types={"champion_model": champion.type},
                literal_inputs={"target": description.target,
                                "features": ",".join(description.features or ()),
                                "task": description.task},
                tags={tags.REQUEST_ID: request_id, tags.JOB_MODEL: model,
                      tags.PARENT_VERSION: champion.version,
                      tags.JOB_TASK: description.task,
                      tags.JOB_REFERENCE: f"{reference.name}:{reference.version}",
                      tags.TRIGGER_REASON: request.reason[:250]},
                experiment_name=self.config.experiment,
                display_name=f"retrain {model} ({request_id})",
            )
        except (ValueError, FileNotFoundError) as exc:  # the definition cannot be run
            return RetrainResult(RequestStatus.FAILED,
                                 f"the retraining job cannot be submitted: {exc}",
                                 Reason.JOB_INVALID, base)
        status = self._jobs.get_job(job)
        if status.finished:  # the local backend: the job ran inside submit_job
            result = self.complete(request, status)
            return replace(result, details={**base, **result.details, "job": job})
        return RetrainResult(RequestStatus.SUBMITTED, f"job {job} submitted", None,
                             {**base, "job": job})

    def job_status(self, job: str) -> JobStatus:
        return self._jobs.get_job(job)

    def complete(self, request: RetrainRequest, job: JobStatus) -> RetrainResult:
        model, request_id, name = request.model, request.request_id, job.name
        props = {**job.properties, **job.tags}  # scores as run tags, or job properties
        if job.status != "Completed":
            refused = _json(props.get(tags.JOB_REFUSED))
            if isinstance(refused, dict) and refused.get("reason"):
                code = Reason.NOT_ENOUGH_LABELS if refused.get("code") == \
                    str(Reason.NOT_ENOUGH_LABELS) else Reason.JOB_FAILED
                return RetrainResult(RequestStatus.REJECTED,
                                     f"job {name} refused its data: {refused['reason']}", code,
                                     {"job": name, "refused": refused.get("code")})
            why = f": {job.error}" if job.error else ""
            return RetrainResult(RequestStatus.FAILED, f"job {name} ended {job.status}{why}",
                                 Reason.JOB_FAILED, {"job": name})
        existing = registered_by(self._ws.list_model_versions(model), request_id)
        if existing is not None:
            return RetrainResult(RequestStatus.REGISTERED, "registered by an earlier attempt",
                                 Reason.ALREADY_REGISTERED,
                                 {"job": name, "new_version": existing.version})
        champion_scores = _json(props.get(PROP_CHAMPION))
        challenger_scores = _json(props.get(PROP_CHALLENGER))
        if not isinstance(challenger_scores, dict) or (
                champion_scores is not None and not isinstance(champion_scores, dict)):
            return RetrainResult(
                RequestStatus.FAILED,
                f"job {name} did not report {PROP_CHALLENGER} (see the README's job contract)",
                Reason.NO_SCORES, {"job": name})
        task = props.get(tags.JOB_TASK) or self.config.ml_task
        try:
            decision = judge(champion_scores, challenger_scores, task,
                             metric=self.config.primary_metric, margin=self.config.margin)
        except ValueError as exc:  # scores of the other task, a metric that does not apply
            return RetrainResult(RequestStatus.FAILED, f"job {name}: {exc}", Reason.NO_SCORES,
                                 {"job": name})
        rows = _json(props.get(tags.JOB_ROWS))
        counts = {f"{k}_rows": v for k, v in rows.items() if k in ("training", "holdout")} \
            if isinstance(rows, dict) else {}
        result = judged(decision, {"job": name, **counts})
        if not decision.accepted:
            return result
        output = _output(job, MODEL_OUTPUT)
        if output is None:
            return RetrainResult(RequestStatus.FAILED,
                                 f"job {name} wrote no challenger to its {MODEL_OUTPUT!r} output",
                                 Reason.NO_OUTPUT, {**result.details})
        parent = self._parent(model, job)
        reference = self._register_training_data(model, request_id, job, parent)
        version = self._register(model, request, job, output, parent, challenger_scores,
                                 reference)
        details = {**result.details, "new_version": version.version}
        if reference is not None:
            details["new_reference_data"] = reference.asset_id
        return RetrainResult(result.status, result.decision, result.code, details)

    # ------------------------------------------------------------------ steps

    def _newest_labelled(self, model: str, target: str) -> DataAssetVersion | None:
        """The newest labelled data: the latest version of the labelled asset (ground truth
        joined to the collected inputs) when there is one, else the newest inference batch
        that carries the target (labels that came with the batch)."""
        labelled = self._ws.latest_data(self.config.labelled_asset_template.format(model=model))
        if labelled is not None:
            return labelled
        asset = self.config.inference_asset_template.format(model=model)
        for version in reversed(self._ws.list_data_versions(asset)):
            columns = (version.tags.get(tags.DATA_COLUMNS, "") + ","
                       + version.tags.get(tags.DATA_EXTRA_COLUMNS, "")).split(",")
            if target in columns:
                return version
        return None

    def _parent(self, model: str, job: JobStatus) -> ModelVersion | None:
        version = job.tags.get(tags.PARENT_VERSION)
        if not version:
            return None
        try:
            return self._ws.get_model(model, version)
        except NotFound:
            return None

    def _register_training_data(self, model: str, request_id: str, job: JobStatus,
                                parent: ModelVersion | None) -> DataAssetVersion | None:
        """The rows the challenger was trained on, as the reference's next version (when the
        job wrote them), so the monitor re-aims at the data the new model learnt from."""
        if TRAINING_OUTPUT not in job.outputs:
            return None
        path = _output(job, TRAINING_OUTPUT)
        if path is None or ("://" not in path and not (Path(path) / "MLTable").is_file()):
            return None
        tagged = job.tags.get(tags.JOB_REFERENCE, "")
        name = tagged.rpartition(":")[0] if ":" in tagged else \
            self.config.reference_asset_template.format(model=model)
        versions = self._ws.list_data_versions(name)
        for existing in versions:
            if existing.tags.get(tags.REQUEST_ID) == request_id:
                return existing
        numeric = [int(v.version) for v in versions if v.version.isdigit()]
        return self._ws.register_mltable_folder(
            name, str(max(numeric, default=0) + 1), path,
            tags={tags.REQUEST_ID: request_id, tags.DATA_DERIVED_FROM: f"azureml:{tagged}"
                  if tagged else "", tags.JOB: job.name},
            description=f"Training data of {model}'s retraining {request_id}")

    def _register(self, model: str, request: RetrainRequest, job: JobStatus, output: str,
                  parent: ModelVersion | None, scores: dict,
                  reference: DataAssetVersion | None) -> ModelVersion:
        lineage = {
            # The champion's overrides (schedule, emails, features, target) carry over.
            **(tags.inherited_overrides(parent.tags) if parent is not None else {}),
            tags.REQUEST_ID: request.request_id,
            tags.PARENT_VERSION: job.tags.get(tags.PARENT_VERSION, ""),
            tags.METRICS: json.dumps({k: v if not isinstance(v, float) else round(v, 4)
                                      for k, v in scores.items()})[:250],
            tags.TRIGGER_REASON: (request.reason or job.tags.get(tags.TRIGGER_REASON, ""))[:250],
            tags.JOB: job.name,
        }
        if reference is not None:
            lineage[tags.REFERENCE_DATA] = f"{reference.name}:{reference.version}"
            lineage[tags.TRAINED_ON] = reference.asset_id
        model_type = parent.type if parent is not None else "custom_model"
        return self._ws.register_model(
            model, output, tags=lineage, model_type=model_type,
            description=f"Retrained by Monitor Autopilot, job {job.name} "
                        f"(request {request.request_id})")


def _json(value: str | None) -> object:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value  # present but not JSON: reported as malformed by the caller


def _output(job: JobStatus, name: str) -> str | None:
    """Where a job output is: a local folder that holds something, or the job output URI."""
    if name not in job.outputs:
        return f"azureml://jobs/{job.name}/outputs/{name}" if name == MODEL_OUTPUT else None
    path = job.outputs[name]
    if path is None or path.startswith("azureml://"):
        return path or f"azureml://jobs/{job.name}/outputs/{name}"
    folder = Path(path)
    if "://" in path:
        return path
    return path if folder.exists() and any(folder.iterdir()) else None

