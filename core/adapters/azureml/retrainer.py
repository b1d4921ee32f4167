"""The Azure backend's `Retrainer`: an Azure ML job does the training and the scoring; this
service submits it, and finishes the request when the job's completion event (or the repair
timer) reports it done.

Submission: the job definition named by RETRAIN_JOB_FILE (a command or pipeline job YAML; see
jobs/retrain.yml) gets inputs `training_data` (the model's reference asset, latest version),
`inference_data` (its newest inference data version) and `champion_model` (the current model
version), and tags carrying the request's lineage.

The job's contract (README, "Retraining"): it trains a challenger, evaluates it and the
champion on the same holdout, writes the challenger to its `model` output, and sets the run tags
`autopilot.champion_scores` and `autopilot.challenger_scores` (JSON objects of the task's
metrics; `mlflow.set_tag` in the job). Job properties of the same names are read too. On
completion `core.domain.retraining.judge` decides, and an accepted challenger is registered
from the job output with its lineage tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.domain import tags
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
from core.ports import Jobs, Workspace

PROP_CHAMPION = tags.CHAMPION_SCORES
PROP_CHALLENGER = tags.CHALLENGER_SCORES


@dataclass(frozen=True)
class AzureRetrainConfig:
    job_file: str
    experiment: str = "autopilot-retraining"
    reference_asset_template: str = "{model}-training"
    inference_asset_template: str = "{model}-inference"
    primary_metric: str | None = None
    margin: float = 0.01
    ml_task: str = "classification"


class AzureRetrainer:
    def __init__(self, workspace: Workspace, jobs: Jobs, config: AzureRetrainConfig):
        self._ws = workspace
        self._jobs = jobs
        self.config = config

    def start(self, request: RetrainRequest) -> RetrainResult:
        model = request.model
        champion = self._ws.latest_model(model)
        if champion is None:
            return RetrainResult(RequestStatus.REJECTED, f"model {model} has no version",
                                 Reason.NO_CHAMPION)
        reference = self._ws.latest_data(self.config.reference_asset_template.format(model=model))
        inference = self._ws.latest_data(self.config.inference_asset_template.format(model=model))
        if reference is None or inference is None:
            missing = "reference" if reference is None else "inference"
            return RetrainResult(RequestStatus.REJECTED, f"no {missing} data to retrain on",
                                 Reason.NO_DATA, {"champion_version": champion.version})
        job = self._jobs.submit_job(
            self.config.job_file,
            inputs={"training_data": reference.asset_id, "inference_data": inference.asset_id,
                    "champion_model": champion.asset_id},
            tags={tags.REQUEST_ID: request.request_id, tags.JOB_MODEL: model,
                  tags.PARENT_VERSION: champion.version,
                  tags.TRIGGER_REASON: request.reason[:250]},
            experiment_name=self.config.experiment,
            display_name=f"retrain {model} ({request.request_id})",
        )
        return RetrainResult(RequestStatus.SUBMITTED, f"job {job} submitted", None, {
            "job": job, "champion_version": champion.version,
            "reference_data": reference.asset_id, "inference_data": inference.asset_id})

    def job_status(self, job: str) -> JobStatus:
        return self._jobs.get_job(job)

    def complete(self, request: RetrainRequest, job: JobStatus) -> RetrainResult:
        model, request_id, name = request.model, request.request_id, job.name
        if job.status != "Completed":
            return RetrainResult(RequestStatus.FAILED, f"job {name} ended {job.status}",
                                 Reason.JOB_FAILED, {"job": name})
        existing = registered_by(self._ws.list_model_versions(model), request_id)
        if existing is not None:
            return RetrainResult(RequestStatus.REGISTERED, "registered by an earlier attempt",
                                 Reason.ALREADY_REGISTERED,
                                 {"job": name, "new_version": existing.version})
        # Scores as run tags (what a job can set, through MLflow), or as job properties.
        props = {**job.properties, **job.tags}
        try:
            champion = json.loads(props[PROP_CHAMPION]) if props.get(PROP_CHAMPION) else None
            challenger = json.loads(props[PROP_CHALLENGER])
        except (KeyError, ValueError):
            return RetrainResult(
                RequestStatus.FAILED,
                f"job {name} did not report {PROP_CHALLENGER} (see the README's job contract)",
                Reason.NO_SCORES, {"job": name})
        decision = judge(champion, challenger, self.config.ml_task,
                         metric=self.config.primary_metric, margin=self.config.margin)
        result = judged(decision, {"job": name})
        if not decision.accepted:
            return result
        output = job.outputs.get("model") or f"azureml://jobs/{name}/outputs/model"
        version = self._ws.register_model(model, output, tags={
            tags.REQUEST_ID: request_id, tags.PARENT_VERSION: job.tags.get(tags.PARENT_VERSION, ""),
            tags.METRICS: json.dumps(challenger)[:250],
            tags.TRIGGER_REASON: job.tags.get(tags.TRIGGER_REASON, ""), tags.JOB: name,
        }, description=f"Retrained by job {name} (request {request_id})")
        return RetrainResult(result.status, result.decision, result.code,
                             {**result.details, "new_version": version.version})
