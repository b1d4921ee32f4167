"""The Azure backend's retraining: an Azure ML job does the training and the judging; this
service submits it, and finishes the loop when the job's completion event arrives.

Submission: the job definition named by RETRAIN_JOB_FILE (a command or pipeline job YAML; see
jobs/retrain.yml) gets inputs `training_data` (the model's reference asset, latest version),
`inference_data` (its newest inference data version) and `champion_model` (the current model
version), and tags carrying the request's lineage.

The job's contract (documented in the README): it trains a challenger, evaluates it and the
champion on the same holdout, writes the challenger to its `model` output, and sets the run tags
`autopilot.champion_scores` and `autopilot.challenger_scores` (JSON objects of the task's
metrics; `mlflow.set_tag` in the job). Job properties of the same names are read too. On
completion the gate here decides with `core.training.model.judge`, and an accepted challenger is
registered from the job output with its lineage tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.services.retraining.service import (
    TAG_METRICS,
    TAG_PARENT,
    TAG_REASON,
    TAG_REQUEST,
    version_for_request,
)

TAG_MODEL = "autopilot.model"
PROP_CHAMPION = "autopilot.champion_scores"
PROP_CHALLENGER = "autopilot.challenger_scores"


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
    def __init__(self, workspace, config: AzureRetrainConfig):
        self._ws = workspace
        self.config = config

    def run(self, model: str, request: dict) -> dict:
        champion = self._ws.latest_model(model)
        if champion is None:
            return {"status": "rejected", "decision": f"model {model} has no version"}
        reference = self._ws.latest_data(self.config.reference_asset_template.format(model=model))
        inference = self._ws.latest_data(self.config.inference_asset_template.format(model=model))
        if reference is None or inference is None:
            missing = "reference" if reference is None else "inference"
            return {"status": "rejected", "champion_version": champion.version,
                    "decision": f"no {missing} data to retrain on"}
        job = self._ws.submit_retraining_job(
            self.config.job_file,
            inputs={"training_data": reference.asset_id, "inference_data": inference.asset_id,
                    "champion_model": champion.asset_id},
            tags={TAG_REQUEST: request["request_id"], TAG_MODEL: model,
                  TAG_PARENT: champion.version, TAG_REASON: str(request.get("reason", ""))[:250]},
            experiment_name=self.config.experiment,
            display_name=f"retrain {model} ({request['request_id']})",
        )
        return {"status": "submitted", "job": job, "champion_version": champion.version,
                "reference_data": reference.asset_id, "inference_data": inference.asset_id}

    def job_status(self, name: str) -> dict:
        return self._ws.get_job_status(name)

    def complete(self, model: str, request_id: str, job: dict) -> dict:
        from core.training.model import judge

        name, status = job["name"], job.get("status")
        if status != "Completed":
            return {"status": "failed", "job": name, "decision": f"job {name} ended {status}"}
        existing = version_for_request(self._ws, model, request_id)
        if existing is not None:
            return {"status": "registered", "job": name, "new_version": existing.version}
        # Scores as run tags (what a job can set, through MLflow), or as job properties.
        props = {**(job.get("properties") or {}), **(job.get("tags") or {})}
        try:
            champion = json.loads(props[PROP_CHAMPION]) if props.get(PROP_CHAMPION) else None
            challenger = json.loads(props[PROP_CHALLENGER])
        except (KeyError, ValueError):
            return {"status": "failed", "job": name,
                    "decision": f"job {name} did not report {PROP_CHALLENGER} (see the README's "
                                "job contract)"}
        decision = judge(champion, challenger, self.config.ml_task,  # type: ignore[arg-type]
                         metric=self.config.primary_metric, margin=self.config.margin)
        result = {"job": name, "champion_scores": champion, "challenger_scores": challenger,
                  "decision": decision.reason, "metric": decision.metric,
                  "improvement": decision.improvement}
        if not decision.accepted:
            return {**result, "status": "rejected"}
        output = (job.get("outputs") or {}).get("model") or f"azureml://jobs/{name}/outputs/model"
        parent = (job.get("tags") or {}).get(TAG_PARENT, "")
        version = self._ws.register_model(model, output, tags={
            TAG_REQUEST: request_id, TAG_PARENT: parent,
            TAG_METRICS: json.dumps(challenger)[:250],
            TAG_REASON: (job.get("tags") or {}).get(TAG_REASON, ""), "autopilot.job": name,
        }, description=f"Retrained by job {name} (request {request_id})")
        return {**result, "status": "registered", "new_version": version.version}
