"""The one retrainer (core/services/retraining/runner.py) over the shared fakes: what it submits
(the same on both backends), what it refuses before any job, and how it judges and registers a
finished job (synchronously when the job already ended, as local jobs do)."""

from __future__ import annotations

import json
from dataclasses import replace

import pyarrow as pa
import pytest

from core.domain import tags as t
from core.domain.models import ModelProblem
from core.domain.retraining import JobStatus, RequestStatus, RetrainRequest
from core.services.models import ModelCatalog
from core.services.retraining.runner import (
    PROP_CHALLENGER,
    PROP_CHAMPION,
    JobRetrainer,
    RetrainConfig,
)
from tests.fakes import NOW, FakeModelLoader, FakeWorkspace, unreadable

REQUEST = RetrainRequest(request_id="20270115T080000-abcd1234", model="churn",
                         status=RequestStatus.RUNNING, created_at=NOW, updated_at=NOW,
                         reason="The signal 'churn-monitor_data_drift' has failed")
LABELLED = {"columns": "x,y"}


@pytest.fixture
def ws():
    ws = FakeWorkspace()
    ws.add_model("churn", path="fake://m1", tags={"autopilot.schedule": "02:00"})
    ws.add_model("churn", path="fake://m2", model_type="mlflow_model",
                 tags={"autopilot.schedule": "02:00", "autopilot.request_id": "old"})
    for v in ("1", "3"):
        ws.add_data("churn-training", pa.table({"x": [1.0], "y": [0]}), version=v)
    ws.add_data("churn-inference", pa.table({"x": [1.0], "y": [1]}), version="5", tags=LABELLED)
    ws.add_data("churn-inference", pa.table({"x": [2.0]}), version="7", tags={"columns": "x"})
    return ws


@pytest.fixture
def loader():
    return FakeModelLoader(features=("x",), target="y")


def retrainer_for(ws, loader, **config):
    catalog = ModelCatalog(ws, ws, lambda: loader,
                           lambda asset: ws.read_table(asset).column_names,
                           lambda m: f"{m}-training")
    return JobRetrainer(ws, ws, catalog, RetrainConfig(job_file="jobs/retrain.yml", **config))


@pytest.fixture
def retrainer(ws, loader):
    return retrainer_for(ws, loader)


def registered(ws):
    return [m for m in ws.models["churn"] if m.version not in ("1", "2")]


def finished(champion=None, challenger=None, status="Completed", outputs=None, **props):
    properties = dict(props)
    if champion is not None:
        properties[PROP_CHAMPION] = json.dumps(champion)
    if challenger is not None:
        properties[PROP_CHALLENGER] = json.dumps(challenger)
    return JobStatus(
        name="job-quick-fox-1", status=status,
        tags={t.REQUEST_ID: REQUEST.request_id, t.JOB_MODEL: "churn", t.PARENT_VERSION: "2",
              t.TRIGGER_REASON: "drift on age", t.JOB_TASK: "classification",
              t.JOB_REFERENCE: "churn-training:3"},
        properties=properties,
        outputs={"model": "azureml://datastores/workspaceblobstore/paths/jobs/fox/model"}
        if outputs is None else outputs,
    )


# --------------------------------------------------------------------------- start


def test_start_submits_the_job_on_the_reference_and_newest_labelled_batch(retrainer, ws):
    result = retrainer.start(REQUEST)

    assert result.status is RequestStatus.SUBMITTED
    assert result.details == {"job": "job-1", "champion_version": "2",
                              "reference_data": "azureml:churn-training:3",
                              "labelled_data": "azureml:churn-inference:5",
                              "champion_format": "mlflow", "task": "classification"}
    (job,) = ws.submitted
    assert job["definition"] == "jobs/retrain.yml"
    # 7 is newer but carries no label: 5 is the newest labelled batch.
    assert job["inputs"] == {"training_data": "azureml:churn-training:3",
                             "inference_data": "azureml:churn-inference:5",
                             "champion_model": "azureml:churn:2"}
    assert job["input_types"] == {"champion_model": "mlflow_model"}
    assert job["literal_inputs"] == {"target": "y", "features": "x", "task": "classification"}
    assert job["tags"] == {t.REQUEST_ID: REQUEST.request_id, t.JOB_MODEL: "churn",
                           t.PARENT_VERSION: "2", t.JOB_TASK: "classification",
                           t.JOB_REFERENCE: "churn-training:3", t.TRIGGER_REASON: REQUEST.reason}
    assert job["experiment"] == "autopilot-retraining"
    assert REQUEST.request_id in job["display_name"]
    assert ws.downloads == ["azureml:churn:2"]  # described once, then from the cache
    retrainer.start(replace(REQUEST, request_id="again"))
    assert ws.downloads == ["azureml:churn:2"]


def test_a_job_that_ended_inside_submit_is_judged_at_once(retrainer, ws):
    """The local backend runs the job within submit_job: no event will come, so start judges
    and registers it in the same attempt (the request is never left `submitted`)."""
    original = ws.submit_job

    def submit_and_finish(*args, **kwargs):
        name = original(*args, **kwargs)
        ws.jobs[name] = replace(finished({"f1": 0.5}, {"f1": 0.9}), name=name,
                                tags=ws.jobs[name].tags,
                                outputs={"model": f"azureml://jobs/{name}/outputs/model"})
        return name

    ws.submit_job = submit_and_finish
    result = retrainer.start(REQUEST)
    assert result.status is RequestStatus.REGISTERED and result.details["job"] == "job-1"
    assert result.details["new_version"] == "3"
    assert result.details["labelled_data"] == "azureml:churn-inference:5"


@pytest.mark.parametrize("problem", [ModelProblem.NO_MODEL_FILES, ModelProblem.NOT_AN_ESTIMATOR,
                                     ModelProblem.UNSUPPORTED_FLAVOR])
def test_a_champion_that_cannot_be_read_is_rejected_before_any_job(ws, loader, problem):
    loader.inspect = lambda folder: unreadable(problem, "why it cannot")  # type: ignore
    result = retrainer_for(ws, loader).start(REQUEST)
    assert result.status is RequestStatus.REJECTED and result.code == "champion_unreadable"
    assert result.details["problem"] == str(problem)
    assert "why it cannot" in result.decision
    assert ws.submitted == []


def test_no_labelled_batch_is_rejected_before_any_job(ws, loader):
    ws.data["churn-inference"] = ws.data["churn-inference"][1:]  # only the unlabelled 7
    result = retrainer_for(ws, loader).start(REQUEST)
    assert result.status is RequestStatus.REJECTED and result.code == "not_enough_labels"
    assert "carries the target 'y'" in result.decision
    assert ws.submitted == []


def test_without_a_model_or_reference_data_it_is_rejected(ws, loader):
    assert retrainer_for(ws, loader).start(replace(REQUEST, model="fraud")).code == "no_champion"
    del ws.data["churn-training"]
    result = retrainer_for(ws, loader).start(REQUEST)
    assert result.status is RequestStatus.REJECTED and result.code == "no_data"
    assert ws.submitted == []


def test_a_job_definition_that_cannot_be_submitted_is_a_final_failure(ws, loader):
    def refuse(*args, **kwargs):
        raise ValueError("jobs/retrain.yml: the job declares no input 'champion_model'")

    ws.submit_job = refuse
    result = retrainer_for(ws, loader).start(REQUEST)
    assert result.status is RequestStatus.FAILED and result.code == "job_invalid"
    assert "declares no input" in result.decision


# --------------------------------------------------------------------------- complete


@pytest.mark.parametrize("status", ["Failed", "Canceled", None])
def test_complete_a_job_that_did_not_succeed(retrainer, ws, status):
    result = retrainer.complete(REQUEST, replace(finished({"f1": 0.7}, {"f1": 0.9},
                                                          status=status), error="OOM"))
    assert result.status is RequestStatus.FAILED and result.code == "job_failed"
    assert result.details["job"] == "job-quick-fox-1"
    assert f"ended {status}: OOM" in result.decision
    assert registered(ws) == []


def test_a_job_that_refused_its_data_is_rejected_with_its_reason(retrainer, ws):
    refused = json.dumps({"code": "not_enough_labels", "reason": "12 rows; need 20"})
    result = retrainer.complete(REQUEST, finished(status="Failed", **{t.JOB_REFUSED: refused}))
    assert result.status is RequestStatus.REJECTED and result.code == "not_enough_labels"
    assert "12 rows; need 20" in result.decision


def test_complete_registers_a_winner_in_the_champions_type_with_lineage(retrainer, ws):
    champion, challenger = {"f1": 0.80, "accuracy": 0.9}, {"f1": 0.85, "accuracy": 0.91}
    result = retrainer.complete(REQUEST, finished(champion, challenger))

    assert result.status is RequestStatus.REGISTERED
    assert result.details["new_version"] == "3" and result.details["metric"] == "f1"
    assert result.details["improvement"] == pytest.approx(0.05)
    (registration,) = registered(ws)
    assert registration.type == "mlflow_model"  # the parent's
    assert registration.path == "azureml://datastores/workspaceblobstore/paths/jobs/fox/model"
    assert registration.tags == {
        "autopilot.schedule": "02:00",  # the champion's overrides carry over
        t.REQUEST_ID: REQUEST.request_id, t.PARENT_VERSION: "2",
        t.METRICS: json.dumps(challenger), t.TRIGGER_REASON: REQUEST.reason,
        t.JOB: "job-quick-fox-1",
    }


def test_complete_registers_the_training_data_output_as_the_next_reference(retrainer, ws):
    job = finished({"f1": 0.5}, {"f1": 0.9}, outputs={
        "model": None, "training_data": None})  # Azure: outputs by URI
    result = retrainer.complete(REQUEST, job)
    assert result.details["new_reference_data"] == "azureml:churn-training:4"
    new = ws.get_data("churn-training", "4")
    assert new.path == "azureml://jobs/job-quick-fox-1/outputs/training_data"
    assert new.tags[t.REQUEST_ID] == REQUEST.request_id
    (model,) = registered(ws)
    assert model.path == "azureml://jobs/job-quick-fox-1/outputs/model"
    assert model.tags[t.REFERENCE_DATA] == "churn-training:4"
    retrainer.complete(REQUEST, job)  # again: the same data version, the same model version
    assert len(ws.data["churn-training"]) == 3 and len(registered(ws)) == 1


def test_complete_without_a_written_model_fails(retrainer, ws, tmp_path):
    empty = tmp_path / "model"
    empty.mkdir()
    result = retrainer.complete(REQUEST, finished({"f1": 0.5}, {"f1": 0.9},
                                                  outputs={"model": str(empty)}))
    assert result.status is RequestStatus.FAILED and result.code == "no_output"
    assert registered(ws) == []


def test_complete_rejects_a_challenger_that_does_not_beat_the_margin(retrainer, ws):
    result = retrainer.complete(REQUEST, finished({"f1": 0.80}, {"f1": 0.805}))
    assert result.status is RequestStatus.REJECTED and "does not beat" in result.decision
    assert "new_version" not in result.details and registered(ws) == []


def test_complete_judges_by_the_jobs_task(ws, loader):
    job = finished({"rmse": 10.0}, {"rmse": 12.0})
    job = replace(job, tags={**job.tags, t.JOB_TASK: "regression"})
    result = retrainer_for(ws, loader).complete(REQUEST, job)
    assert result.status is RequestStatus.REJECTED and result.details["metric"] == "rmse"
    assert result.details["improvement"] == pytest.approx(-2.0)


@pytest.mark.parametrize("props", [{}, {PROP_CHALLENGER: "{not json"},
                                   {PROP_CHALLENGER: "[0.9]"}])
def test_complete_without_challenger_scores_fails_naming_the_tag(retrainer, ws, props):
    result = retrainer.complete(REQUEST, finished({"f1": 0.8}, None, **props))
    assert result.status is RequestStatus.FAILED and result.code == "no_scores"
    assert PROP_CHALLENGER in result.decision and registered(ws) == []


def test_complete_twice_registers_once(retrainer, ws):
    job = finished({"f1": 0.5}, {"f1": 0.9})
    first, second = retrainer.complete(REQUEST, job), retrainer.complete(REQUEST, job)
    assert first.details["new_version"] == second.details["new_version"] == "3"
    assert second.code == "already_registered" and len(registered(ws)) == 1
