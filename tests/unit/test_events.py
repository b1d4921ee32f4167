import base64
import json

import pytest

from core.domain.events import (
    MODEL_REGISTERED,
    RUN_STATUS_CHANGED,
    DatasetDriftDetected,
    MalformedEvent,
    ModelRegistered,
    RunStatusChanged,
    UnknownEvent,
    parse_event,
)

BREACH = (
    "The signal 'm_data_drift' has failed due to one or more features violating metric "
    "thresholds. The feature names and their corresponding computed metric values violating "
    'the threshold are [{"feature_name": "age", "metric_value": 0.4}]'
)


def event_grid(event_type, data, subject="", event_id="eg-1"):
    return {
        "id": event_id,
        "topic": "/subscriptions/s/resourceGroups/r/providers/"
        "Microsoft.MachineLearningServices/workspaces/w",
        "subject": subject,
        "eventType": event_type,
        "eventTime": "2026-11-23T10:00:00Z",
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
    }


def cloud_event(event_type, data, subject="", event_id="ce-1"):
    return {
        "id": event_id,
        "source": "/subscriptions/s/resourceGroups/r/providers/"
        "Microsoft.MachineLearningServices/workspaces/w",
        "subject": subject,
        "type": event_type,
        "time": "2026-11-23T10:00:00Z",
        "data": data,
        "specversion": "1.0",
    }


ENVELOPES = pytest.mark.parametrize("envelope", [event_grid, cloud_event])


# -- ModelRegistered ------------------------------------------------------------------------


@ENVELOPES
def test_model_registered_camel_case_string_version(envelope):
    event = envelope(
        MODEL_REGISTERED,
        {
            "modelName": "churn",
            "modelVersion": "3",
            "modelTags": {"team": "growth", "autopilot.reference": "churn-training:2"},
            "modelProperties": {"auc": 0.91},
        },
        subject="models/churn:3",
    )
    parsed = parse_event(event)
    assert parsed == ModelRegistered(
        event_id=event["id"],
        model_name="churn",
        model_version="3",
        tags={"team": "growth", "autopilot.reference": "churn-training:2"},
        properties={"auc": "0.91"},
        subject="models/churn:3",
        event_time="2026-11-23T10:00:00Z",
    )
    assert parsed.model == "churn:3"


@ENVELOPES
def test_model_registered_pascal_case_int_version(envelope):
    parsed = parse_event(
        envelope(
            MODEL_REGISTERED,
            {
                "ModelName": "churn",
                "ModelVersion": 20,
                "ModelTags": {"a": 1},
                "ModelProperties": {},
            },
            subject="models/churn:20",
        )
    )
    assert isinstance(parsed, ModelRegistered)
    assert (parsed.model_name, parsed.model_version) == ("churn", "20")
    assert parsed.tags == {"a": "1"}
    assert parsed.properties == {}


@pytest.mark.parametrize("version", [7, "7", 7.0, " 7 "])
def test_versions_are_strings(version):
    parsed = parse_event(event_grid(MODEL_REGISTERED, {"modelName": "m", "modelVersion": version}))
    assert parsed.model_version == "7"


@ENVELOPES
def test_model_registered_subject_fallback(envelope):
    parsed = parse_event(envelope(MODEL_REGISTERED, {}, subject="models/fraud-v2:11"))
    assert isinstance(parsed, ModelRegistered)
    assert (parsed.model_name, parsed.model_version) == ("fraud-v2", "11")
    assert parsed.tags == {} and parsed.properties == {}


def test_subject_fills_only_what_data_lacks():
    parsed = parse_event(
        event_grid(MODEL_REGISTERED, {"modelName": "churn"}, subject="models/churn:4")
    )
    assert parsed.model_version == "4"
    parsed = parse_event(event_grid(MODEL_REGISTERED, None, subject="/models/churn:5"))
    assert parsed.model == "churn:5"


def test_event_type_and_keys_case_insensitive():
    parsed = parse_event(
        event_grid(
            MODEL_REGISTERED.lower(),
            {"MODELNAME": "m", "model_version": 2, "modeltags": None},
        )
    )
    assert parsed.model == "m:2"
    assert parsed.tags == {}


def test_data_as_json_string_and_cloudevents_base64():
    data = {"modelName": "m", "modelVersion": 1}
    assert parse_event(event_grid(MODEL_REGISTERED, json.dumps(data))).model == "m:1"
    event = cloud_event(MODEL_REGISTERED, None)
    del event["data"]
    event["data_base64"] = base64.b64encode(json.dumps(data).encode()).decode()
    assert parse_event(event).model == "m:1"


def test_tags_given_as_json_string():
    parsed = parse_event(
        event_grid(
            MODEL_REGISTERED,
            {"modelName": "m", "modelVersion": "1", "modelTags": '{"opt_out": "true"}'},
        )
    )
    assert parsed.tags == {"opt_out": "true"}


# -- RunStatusChanged -----------------------------------------------------------------------


@ENVELOPES
def test_run_status_changed_camel_case(envelope):
    event = envelope(
        RUN_STATUS_CHANGED,
        {
            "experimentId": "exp-guid",
            "experimentName": "churn_monitor",
            "runId": "run-1",
            "runType": "azureml.StepRun",
            "runTags": {"azureml_modelmonitor_threshold_breached": BREACH},
            "runProperties": {"azureml.pipeline": "x"},
            "runStatus": "Completed",
        },
        subject="experiments/exp-guid/runs/run-1",
    )
    parsed = parse_event(event)
    assert isinstance(parsed, RunStatusChanged)
    assert parsed.event_id == event["id"]
    assert parsed.experiment_name == "churn_monitor"
    assert parsed.experiment_id == "exp-guid"
    assert parsed.run_id == "run-1"
    assert parsed.run_type == "azureml.StepRun"
    assert parsed.run_status == "Completed"
    assert parsed.run_properties == {"azureml.pipeline": "x"}
    assert parsed.threshold_breach == BREACH


@ENVELOPES
def test_run_status_changed_pascal_case_and_subject_fallback(envelope):
    parsed = parse_event(
        envelope(
            RUN_STATUS_CHANGED,
            {"ExperimentName": "e", "RunType": "t", "RunStatus": "Running", "RunTags": {}},
            subject="experiments/exp-9/runs/run-9",
        )
    )
    assert (parsed.experiment_id, parsed.run_id) == ("exp-9", "run-9")
    assert parsed.run_status == "Running"
    assert parsed.threshold_breach is None
    assert parsed.run_tags == {} and parsed.run_properties == {}


# -- unknown and malformed -----------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type",
    [
        "Microsoft.Storage.BlobCreated",
        "Microsoft.MachineLearningServices.DatasetDriftDetected2",
        "Microsoft.MachineLearningServices.ModelDeployed",
    ],
)
@ENVELOPES
def test_other_types_are_unknown(envelope, event_type):
    event = envelope(event_type, {"whatever": 1}, subject="s")
    parsed = parse_event(event)
    assert parsed == UnknownEvent(event["id"], event_type, "s", {"whatever": 1})


def test_unknown_type_with_odd_data_is_not_malformed():
    assert isinstance(parse_event(event_grid("Custom.Thing", "not json")), UnknownEvent)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (event_grid(MODEL_REGISTERED, {"modelVersion": "1"}, event_id="bad-1"), "model name"),
        (event_grid(MODEL_REGISTERED, {"modelName": "m"}, event_id="bad-2"), "no version"),
        (event_grid(MODEL_REGISTERED, {}, subject="models/m", event_id="bad-3"), "model name"),
        (event_grid(MODEL_REGISTERED, [1, 2], event_id="bad-4"), "data must be an object"),
        (event_grid(MODEL_REGISTERED, "{not json", event_id="bad-5"), "not a JSON object"),
        (
            event_grid(
                MODEL_REGISTERED, {"modelName": "m", "modelVersion": True}, event_id="bad-6"
            ),
            "modelVersion",
        ),
        (
            event_grid(
                MODEL_REGISTERED,
                {"modelName": "m", "modelVersion": 1, "modelTags": [1]},
                event_id="bad-7",
            ),
            "modelTags",
        ),
        (event_grid(RUN_STATUS_CHANGED, {"runStatus": "x"}, event_id="bad-8"), "run id"),
        ({"id": "bad-9", "data": {}}, "type"),
    ],
)
def test_malformed_events_name_their_id(event, reason):
    with pytest.raises(MalformedEvent, match=reason) as info:
        parse_event(event)
    assert event["id"] in str(info.value)
    assert info.value.event_id == event["id"]
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("event", [{"eventType": MODEL_REGISTERED}, {"id": ""}, "text", None])
def test_events_without_an_id_or_not_objects(event):
    with pytest.raises(MalformedEvent):
        parse_event(event)


@ENVELOPES
def test_run_completed_is_a_completed_run(envelope):
    event = envelope(
        "Microsoft.MachineLearningServices.RunCompleted",
        {"experimentName": "retrain", "runId": "job-1", "runTags": {"a": "b"}},
        subject="experiments/e1/runs/job-1",
    )
    parsed = parse_event(event)
    assert isinstance(parsed, RunStatusChanged)
    assert parsed.run_status == "Completed"
    assert parsed.event_type == "Microsoft.MachineLearningServices.RunCompleted"
    assert parsed.run_tags == {"a": "b"} and parsed.experiment_id == "e1"


@ENVELOPES
def test_dataset_drift_detected_pascal_and_camel(envelope):
    pascal = envelope(
        "Microsoft.MachineLearningServices.DatasetDriftDetected",
        {"DataDriftId": "d1", "DataDriftName": "credit-drift", "RunId": "r1",
         "BaseDatasetId": "b", "TargetDatasetId": "t", "DriftCoefficient": 0.83,
         "StartTime": "2026-11-01", "EndTime": "2026-11-08"},
        subject="datadrift/d1/run/r1",
    )
    parsed = parse_event(pascal)
    assert isinstance(parsed, DatasetDriftDetected)
    assert (parsed.data_drift_name, parsed.run_id, parsed.drift_coefficient) == (
        "credit-drift", "r1", 0.83)
    camel = envelope(
        "Microsoft.MachineLearningServices.DatasetDriftDetected",
        {"dataDriftName": "credit-drift", "driftCoefficient": "0.5"},
        subject="datadrift/d9/run/r9",
    )
    parsed = parse_event(camel)
    assert (parsed.data_drift_id, parsed.run_id, parsed.drift_coefficient) == ("d9", "r9", 0.5)


def test_dataset_drift_with_bad_coefficient_is_malformed():
    event = event_grid("Microsoft.MachineLearningServices.DatasetDriftDetected",
                       {"dataDriftName": "x", "driftCoefficient": "high"})
    with pytest.raises(MalformedEvent, match="driftCoefficient"):
        parse_event(event)
