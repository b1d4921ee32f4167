"""The Azure backend's retraining (core/azure_retraining.py) against a fake workspace that
records every call."""

from __future__ import annotations

import json

import pytest

from core.adapters.azureml.retrainer import (
    PROP_CHALLENGER,
    PROP_CHAMPION,
    TAG_MODEL,
    AzureRetrainConfig,
    AzureRetrainer,
)
from core.domain.assets import DataAssetVersion, ModelVersion
from core.services.retraining.service import TAG_METRICS, TAG_PARENT, TAG_REASON, TAG_REQUEST

REQUEST = {"request_id": "20270115T080000-abcd1234", "model": "churn",
           "reason": "The signal 'churn-monitor_data_drift' has failed"}


class FakeWorkspace:
    def __init__(self):
        self.models: dict[str, list[ModelVersion]] = {
            "churn": [ModelVersion("churn", "1", "azureml://m/1"),
                      ModelVersion("churn", "2", "azureml://m/2")],
        }
        self.data: dict[str, list[DataAssetVersion]] = {
            "churn-training": [DataAssetVersion("churn-training", v, "mltable", f"t/{v}")
                               for v in ("1", "3")],
            "churn-inference": [DataAssetVersion("churn-inference", v, "mltable", f"i/{v}")
                                for v in ("5", "7")],
        }
        self.submitted: list[dict] = []
        self.registered: list[dict] = []

    def latest_model(self, name):
        versions = self.models.get(name)
        return versions[-1] if versions else None

    def list_model_versions(self, name):
        return list(self.models.get(name, []))

    def latest_data(self, name):
        versions = self.data.get(name)
        return versions[-1] if versions else None

    def submit_retraining_job(self, definition_path, *, inputs, tags, experiment_name,
                              display_name=None):
        self.submitted.append({"definition": definition_path, "inputs": dict(inputs),
                               "tags": dict(tags), "experiment": experiment_name,
                               "display_name": display_name})
        return "job-quick-fox-1"

    def register_model(self, name, local_path, tags=None, properties=None, description=""):
        versions = self.models.setdefault(name, [])
        version = ModelVersion(name, str(len(versions) + 1), str(local_path), tags=dict(tags or {}),
                               description=description)
        versions.append(version)
        self.registered.append({"name": name, "path": str(local_path), "tags": dict(tags or {})})
        return version


@pytest.fixture
def ws():
    return FakeWorkspace()


@pytest.fixture
def retrainer(ws):
    return AzureRetrainer(ws, AzureRetrainConfig(job_file="jobs/retrain.yml", margin=0.01))


def finished_job(champion=None, challenger=None, status="Completed", outputs=None, **props):
    properties = dict(props)
    if champion is not None:
        properties[PROP_CHAMPION] = json.dumps(champion)
    if challenger is not None:
        properties[PROP_CHALLENGER] = json.dumps(challenger)
    return {
        "name": "job-quick-fox-1",
        "status": status,
        "tags": {TAG_REQUEST: REQUEST["request_id"], TAG_MODEL: "churn", TAG_PARENT: "2",
                 TAG_REASON: "drift on age"},
        "properties": properties,
        "outputs": {"model": "azureml://datastores/workspaceblobstore/paths/jobs/fox/model"}
        if outputs is None else outputs,
    }


# --------------------------------------------------------------------------- run


def test_run_submits_the_job_on_the_latest_data_with_lineage_tags(retrainer, ws):
    result = retrainer.run("churn", REQUEST)

    assert result == {"status": "submitted", "job": "job-quick-fox-1", "champion_version": "2",
                      "reference_data": "azureml:churn-training:3",
                      "inference_data": "azureml:churn-inference:7"}
    (job,) = ws.submitted
    assert job["definition"] == "jobs/retrain.yml"
    assert job["inputs"] == {"training_data": "azureml:churn-training:3",
                             "inference_data": "azureml:churn-inference:7",
                             "champion_model": "azureml:churn:2"}
    assert job["tags"] == {TAG_REQUEST: REQUEST["request_id"], TAG_MODEL: "churn",
                           TAG_PARENT: "2", TAG_REASON: REQUEST["reason"]}
    assert job["experiment"] == "autopilot-retraining"
    assert REQUEST["request_id"] in job["display_name"]


def test_run_uses_the_configured_asset_names_and_truncates_the_reason(ws):
    ws.data["ref-churn"] = [DataAssetVersion("ref-churn", "9", "mltable", "r/9")]
    retrainer = AzureRetrainer(ws, AzureRetrainConfig(
        job_file="j.yml", experiment="exp", reference_asset_template="ref-{model}"))
    retrainer.run("churn", {**REQUEST, "reason": "x" * 400})
    (job,) = ws.submitted
    assert job["inputs"]["training_data"] == "azureml:ref-churn:9"
    assert job["experiment"] == "exp"
    assert job["tags"][TAG_REASON] == "x" * 250


@pytest.mark.parametrize("missing, word", [("churn-training", "reference"),
                                           ("churn-inference", "inference")])
def test_run_without_data_is_rejected(retrainer, ws, missing, word):
    del ws.data[missing]
    result = retrainer.run("churn", REQUEST)
    assert result["status"] == "rejected"
    assert result["champion_version"] == "2"
    assert f"no {word} data" in result["decision"]
    assert ws.submitted == []


def test_run_without_a_model_is_rejected(retrainer, ws):
    result = retrainer.run("fraud", REQUEST)
    assert result["status"] == "rejected"
    assert "fraud" in result["decision"]
    assert ws.submitted == []


# --------------------------------------------------------------------------- complete


@pytest.mark.parametrize("status", ["Failed", "Canceled", None])
def test_complete_a_job_that_did_not_succeed(retrainer, ws, status):
    job = finished_job({"f1": 0.7}, {"f1": 0.9}, status=status)
    result = retrainer.complete("churn", REQUEST["request_id"], job)
    assert result["status"] == "failed"
    assert result["job"] == "job-quick-fox-1"
    assert str(status) in result["decision"]
    assert ws.registered == []


def test_complete_registers_a_challenger_that_wins_by_more_than_the_margin(retrainer, ws):
    champion, challenger = {"f1": 0.80, "accuracy": 0.9}, {"f1": 0.85, "accuracy": 0.91}
    result = retrainer.complete("churn", REQUEST["request_id"],
                                finished_job(champion, challenger))

    assert result["status"] == "registered"
    assert result["new_version"] == "3"
    assert result["metric"] == "f1"
    assert result["improvement"] == pytest.approx(0.05)
    assert result["champion_scores"] == champion
    assert result["challenger_scores"] == challenger
    (registration,) = ws.registered
    assert registration["name"] == "churn"
    assert registration["path"] == "azureml://datastores/workspaceblobstore/paths/jobs/fox/model"
    assert registration["tags"] == {
        TAG_REQUEST: REQUEST["request_id"], TAG_PARENT: "2", TAG_METRICS: json.dumps(challenger),
        TAG_REASON: "drift on age", "autopilot.job": "job-quick-fox-1",
    }


def test_complete_without_a_model_output_path_uses_the_job_output_uri(retrainer, ws):
    retrainer.complete("churn", REQUEST["request_id"],
                       finished_job({"f1": 0.5}, {"f1": 0.9}, outputs={"model": None}))
    assert ws.registered[0]["path"] == "azureml://jobs/job-quick-fox-1/outputs/model"


def test_complete_rejects_a_challenger_that_does_not_beat_the_margin(retrainer, ws):
    champion, challenger = {"f1": 0.80}, {"f1": 0.805}
    result = retrainer.complete("churn", REQUEST["request_id"],
                                finished_job(champion, challenger))
    assert result["status"] == "rejected"
    assert result["champion_scores"] == champion
    assert result["challenger_scores"] == challenger
    assert "does not beat" in result["decision"]
    assert "new_version" not in result
    assert ws.registered == []


def test_complete_rejects_a_worse_challenger_on_a_lower_is_better_metric(ws):
    retrainer = AzureRetrainer(ws, AzureRetrainConfig(job_file="j.yml", ml_task="regression"))
    result = retrainer.complete("churn", REQUEST["request_id"],
                                finished_job({"rmse": 10.0}, {"rmse": 12.0}))
    assert result["status"] == "rejected"
    assert result["metric"] == "rmse"
    assert result["improvement"] == pytest.approx(-2.0)
    assert ws.registered == []


@pytest.mark.parametrize("props", [{}, {PROP_CHALLENGER: "{not json"}])
def test_complete_without_challenger_scores_fails_naming_the_property(retrainer, ws, props):
    job = finished_job({"f1": 0.8}, None, **props)
    result = retrainer.complete("churn", REQUEST["request_id"], job)
    assert result["status"] == "failed"
    assert PROP_CHALLENGER in result["decision"]
    assert ws.registered == []


def test_complete_when_the_request_already_registered_a_version(retrainer, ws):
    ws.models["churn"].append(ModelVersion("churn", "3", "p", tags={
        TAG_REQUEST: REQUEST["request_id"]}))
    result = retrainer.complete("churn", REQUEST["request_id"],
                                finished_job({"f1": 0.5}, {"f1": 0.9}))
    assert result == {"status": "registered", "job": "job-quick-fox-1", "new_version": "3"}
    assert ws.registered == []


def test_complete_twice_registers_once(retrainer, ws):
    job = finished_job({"f1": 0.5}, {"f1": 0.9})
    first = retrainer.complete("churn", REQUEST["request_id"], job)
    second = retrainer.complete("churn", REQUEST["request_id"], job)
    assert first["new_version"] == second["new_version"] == "3"
    assert len(ws.registered) == 1
