"""The Azure backend's retrainer (core/adapters/azureml/retrainer.py) against the shared fake
workspace, which records every job submitted and model registered."""

from __future__ import annotations

import json
from dataclasses import replace

import pyarrow as pa
import pytest

from core.adapters.azureml.retrainer import (
    PROP_CHALLENGER,
    PROP_CHAMPION,
    AzureRetrainConfig,
    AzureRetrainer,
)
from core.domain.retraining import JobStatus, RequestStatus, RetrainRequest
from core.domain.tags import JOB_MODEL as TAG_MODEL
from core.domain.tags import METRICS as TAG_METRICS
from core.domain.tags import PARENT_VERSION as TAG_PARENT
from core.domain.tags import REQUEST_ID as TAG_REQUEST
from core.domain.tags import TRIGGER_REASON as TAG_REASON
from tests.fakes import NOW, FakeWorkspace

REQUEST = RetrainRequest(request_id="20270115T080000-abcd1234", model="churn",
                         status=RequestStatus.RUNNING, created_at=NOW, updated_at=NOW,
                         reason="The signal 'churn-monitor_data_drift' has failed")


@pytest.fixture
def ws():
    ws = FakeWorkspace()
    ws.add_model("churn", path="azureml://m/1")
    ws.add_model("churn", path="azureml://m/2")
    for v in ("1", "3"):
        ws.add_data("churn-training", pa.table({"x": [1]}), version=v)
    for v in ("5", "7"):
        ws.add_data("churn-inference", pa.table({"x": [1]}), version=v)
    return ws


@pytest.fixture
def retrainer(ws):
    return AzureRetrainer(ws, ws, AzureRetrainConfig(job_file="jobs/retrain.yml", margin=0.01))


def registered(ws):
    return [m for m in ws.models["churn"] if m.version not in ("1", "2")]


def finished_job(champion=None, challenger=None, status="Completed", outputs=None, **props):
    properties = dict(props)
    if champion is not None:
        properties[PROP_CHAMPION] = json.dumps(champion)
    if challenger is not None:
        properties[PROP_CHALLENGER] = json.dumps(challenger)
    return JobStatus(
        name="job-quick-fox-1",
        status=status,
        tags={TAG_REQUEST: REQUEST.request_id, TAG_MODEL: "churn", TAG_PARENT: "2",
              TAG_REASON: "drift on age"},
        properties=properties,
        outputs={"model": "azureml://datastores/workspaceblobstore/paths/jobs/fox/model"}
        if outputs is None else outputs,
    )


# --------------------------------------------------------------------------- run


def test_run_submits_the_job_on_the_latest_data_with_lineage_tags(retrainer, ws):
    result = retrainer.start(REQUEST)

    assert result.status is RequestStatus.SUBMITTED
    assert result.details == {"job": "job-1", "champion_version": "2",
                              "reference_data": "azureml:churn-training:3",
                              "inference_data": "azureml:churn-inference:7"}
    (job,) = ws.submitted
    assert job["definition"] == "jobs/retrain.yml"
    assert job["inputs"] == {"training_data": "azureml:churn-training:3",
                             "inference_data": "azureml:churn-inference:7",
                             "champion_model": "azureml:churn:2"}
    assert job["tags"] == {TAG_REQUEST: REQUEST.request_id, TAG_MODEL: "churn",
                           TAG_PARENT: "2", TAG_REASON: REQUEST.reason}
    assert job["experiment"] == "autopilot-retraining"
    assert REQUEST.request_id in job["display_name"]


def test_run_uses_the_configured_asset_names_and_truncates_the_reason(ws):
    ws.add_data("ref-churn", pa.table({"x": [1]}), version="9")
    retrainer = AzureRetrainer(ws, ws, AzureRetrainConfig(
        job_file="j.yml", experiment="exp", reference_asset_template="ref-{model}"))
    retrainer.start(replace(REQUEST, reason="x" * 400))
    (job,) = ws.submitted
    assert job["inputs"]["training_data"] == "azureml:ref-churn:9"
    assert job["experiment"] == "exp"
    assert job["tags"][TAG_REASON] == "x" * 250


@pytest.mark.parametrize("missing, word", [("churn-training", "reference"),
                                           ("churn-inference", "inference")])
def test_run_without_data_is_rejected(retrainer, ws, missing, word):
    del ws.data[missing]
    result = retrainer.start(REQUEST)
    assert result.status is RequestStatus.REJECTED
    assert result.details["champion_version"] == "2"
    assert f"no {word} data" in result.decision
    assert ws.submitted == []


def test_run_without_a_model_is_rejected(retrainer, ws):
    result = retrainer.start(replace(REQUEST, model="fraud"))
    assert result.status is RequestStatus.REJECTED
    assert "fraud" in result.decision
    assert ws.submitted == []


# --------------------------------------------------------------------------- complete


@pytest.mark.parametrize("status", ["Failed", "Canceled", None])
def test_complete_a_job_that_did_not_succeed(retrainer, ws, status):
    job = finished_job({"f1": 0.7}, {"f1": 0.9}, status=status)
    result = retrainer.complete(REQUEST, job)
    assert result.status is RequestStatus.FAILED
    assert result.details["job"] == "job-quick-fox-1"
    assert str(status) in result.decision
    assert registered(ws) == []


def test_complete_registers_a_challenger_that_wins_by_more_than_the_margin(retrainer, ws):
    champion, challenger = {"f1": 0.80, "accuracy": 0.9}, {"f1": 0.85, "accuracy": 0.91}
    result = retrainer.complete(REQUEST,
                                finished_job(champion, challenger))

    assert result.status is RequestStatus.REGISTERED
    fields = result.details
    assert fields["new_version"] == "3"
    assert fields["metric"] == "f1"
    assert fields["improvement"] == pytest.approx(0.05)
    assert fields["champion_scores"] == champion
    assert fields["challenger_scores"] == challenger
    (registration,) = registered(ws)
    assert registration.path == "azureml://datastores/workspaceblobstore/paths/jobs/fox/model"
    assert registration.tags == {
        TAG_REQUEST: REQUEST.request_id, TAG_PARENT: "2", TAG_METRICS: json.dumps(challenger),
        TAG_REASON: "drift on age", "autopilot.job": "job-quick-fox-1",
    }


def test_complete_without_a_model_output_path_uses_the_job_output_uri(retrainer, ws):
    retrainer.complete(REQUEST,
                       finished_job({"f1": 0.5}, {"f1": 0.9}, outputs={"model": None}))
    assert registered(ws)[0].path == "azureml://jobs/job-quick-fox-1/outputs/model"


def test_complete_rejects_a_challenger_that_does_not_beat_the_margin(retrainer, ws):
    champion, challenger = {"f1": 0.80}, {"f1": 0.805}
    result = retrainer.complete(REQUEST,
                                finished_job(champion, challenger))
    assert result.status is RequestStatus.REJECTED
    assert result.details["champion_scores"] == champion
    assert result.details["challenger_scores"] == challenger
    assert "does not beat" in result.decision
    assert "new_version" not in result.details
    assert registered(ws) == []


def test_complete_rejects_a_worse_challenger_on_a_lower_is_better_metric(ws):
    retrainer = AzureRetrainer(ws, ws, AzureRetrainConfig(job_file="j.yml", ml_task="regression"))
    result = retrainer.complete(REQUEST,
                                finished_job({"rmse": 10.0}, {"rmse": 12.0}))
    assert result.status is RequestStatus.REJECTED
    assert result.details["metric"] == "rmse"
    assert result.details["improvement"] == pytest.approx(-2.0)
    assert registered(ws) == []


@pytest.mark.parametrize("props", [{}, {PROP_CHALLENGER: "{not json"}])
def test_complete_without_challenger_scores_fails_naming_the_property(retrainer, ws, props):
    job = finished_job({"f1": 0.8}, None, **props)
    result = retrainer.complete(REQUEST, job)
    assert result.status is RequestStatus.FAILED
    assert PROP_CHALLENGER in result.decision
    assert registered(ws) == []


def test_complete_when_the_request_already_registered_a_version(retrainer, ws):
    ws.add_model("churn", path="p", tags={TAG_REQUEST: REQUEST.request_id})
    result = retrainer.complete(REQUEST,
                                finished_job({"f1": 0.5}, {"f1": 0.9}))
    assert result.status is RequestStatus.REGISTERED
    assert result.details == {"job": "job-quick-fox-1", "new_version": "3"}
    assert len(ws.models["churn"]) == 3


def test_complete_twice_registers_once(retrainer, ws):
    job = finished_job({"f1": 0.5}, {"f1": 0.9})
    first = retrainer.complete(REQUEST, job)
    second = retrainer.complete(REQUEST, job)
    assert first.details["new_version"] == second.details["new_version"] == "3"
    assert len(registered(ws)) == 1
