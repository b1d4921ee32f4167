"""Drift alerts (core/domain/alerts.py): Azure's threshold-breached message, signal names, and
the alert each event carries."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from core.domain.alerts import (
    THRESHOLD_BREACHED_TAG,
    BreachedFeature,
    alert_from_event,
    early_check_features,
    parse_breach_message,
    split_signal_name,
)
from core.domain.events import (
    DATASET_DRIFT_DETECTED,
    MODEL_REGISTERED,
    RUN_COMPLETED,
    RUN_STATUS_CHANGED,
    parse_event,
)

HEAD = (
    "The signal '{signal}' has failed due to one or more features violating metric "
    "thresholds.\nThe feature names and their corresponding computed metric values violating "
    "the threshold are \n"
)


def breach_message(signal: str, rows: list[dict]) -> str:
    """Azure's message: the rows printed as a Python list of JSON strings."""
    return HEAD.format(signal=signal) + f"{[json.dumps(r) for r in rows]}\n"


def row(feature, value, metric="JensenShannonDistance", threshold=0.1, **extra):
    return {"feature_name": feature, "metric_value": value, "metric_name": metric,
            "threshold_value": threshold, **extra}


# --------------------------------------------------------------------------- parse_breach_message


def test_parse_several_rows():
    text = breach_message("churn_data_drift", [
        row("age", 0.42),
        row("income", 0.0031, metric="TwoSampleKolmogorovSmirnovTest", threshold=0.05),
        row("city", 0.27, metric="PearsonsChiSquaredTest", threshold=0.01),
    ])
    signal, features = parse_breach_message(text)
    assert signal == "churn_data_drift"
    assert features == (
        BreachedFeature("age", "JensenShannonDistance", 0.42, 0.1),
        BreachedFeature("income", "TwoSampleKolmogorovSmirnovTest", 0.0031, 0.05),
        BreachedFeature("city", "PearsonsChiSquaredTest", 0.27, 0.01),
    )


def test_parse_ignores_extra_keys_and_keeps_row_order():
    text = breach_message("m_data_quality", [
        row("zip", 0.2, metric="NullValueRate", threshold=0.0, data_type="categorical",
            group="features", group_dimension=""),
        row("amount", 0.013, metric="OutOfBoundsRate", threshold=0.0, feature_type="numerical"),
    ])
    signal, features = parse_breach_message(text)
    assert signal == "m_data_quality"
    assert [f.to_dict() for f in features] == [
        {"feature": "zip", "metric": "NullValueRate", "value": 0.2, "threshold": 0.0},
        {"feature": "amount", "metric": "OutOfBoundsRate", "value": 0.013, "threshold": 0.0},
    ]


def test_parse_numbers_sent_as_strings_and_missing_values():
    text = breach_message("m_data_drift", [
        {"feature_name": "age", "metric_value": "0.5", "metric_name": "PSI",
         "threshold_value": "0.2"},
        {"feature_name": "city", "metric_value": "n/a"},
    ])
    _, features = parse_breach_message(text)
    assert features == (
        BreachedFeature("age", "PSI", 0.5, 0.2),
        BreachedFeature("city", "", None, None),
    )


def test_parse_truncated_last_row_keeps_the_whole_rows():
    text = breach_message("m_data_drift", [row("age", 0.42), row("income", 0.31),
                                            row("city", 0.27)])
    cut = text[: text.index('"city"') + 12]  # a run tag cut off in the middle of the last row
    signal, features = parse_breach_message(cut)
    assert signal == "m_data_drift"
    assert [f.feature for f in features] == ["age", "income"]
    assert [f.value for f in features] == [0.42, 0.31]


def test_parse_no_rows():
    signal, features = parse_breach_message(breach_message("m_prediction_drift", []))
    assert signal == "m_prediction_drift"
    assert features == ()


@pytest.mark.parametrize("text", [
    "",
    None,
    "Run completed successfully",
    'Something else {"feature_name_x": 1} {"not": "a row"}',
])
def test_parse_text_that_is_not_a_breach_message(text):
    assert parse_breach_message(text) == (None, ())


def test_parse_rows_quoted_with_escaped_double_quotes():
    # Some printers escape the inner quotes: '{\"feature_name\": \"age\", ...}'.
    body = json.dumps(row("age", 0.42)).replace('"', '\\"')
    signal, features = parse_breach_message(HEAD.format(signal="s_data_drift") + f"['{body}']")
    assert signal == "s_data_drift"
    assert features == (BreachedFeature("age", "JensenShannonDistance", 0.42, 0.1),)


# --------------------------------------------------------------------------- round trip


def _drifted_result(columns=("age", "income", "city")):
    """A real DriftResult: `age` moves by four standard deviations, the others stay put."""
    from core.drift import build_profile, compare

    n = 400
    age_col, income_col, city_col = columns

    def table(age_mean, seed):
        r = np.random.default_rng(seed)
        return pa.table({
            age_col: r.normal(age_mean, 5.0, n),
            income_col: r.normal(1000.0, 50.0, n),
            city_col: r.choice(["paris", "lyon", "lille"], n),
        })

    return compare(build_profile(table(40.0, 1)), table(60.0, 2))


def test_round_trip_through_the_drift_engine():
    result = _drifted_result()
    expected = [m for s, m in result.breaches() if s == "data_drift"]
    assert any(m.feature == "age" for m in expected)  # the data really drifted

    text = result.breach_message("churn-monitor_data_drift", "data_drift")
    signal, features = parse_breach_message(text)

    assert signal == "churn-monitor_data_drift"
    assert features == tuple(
        BreachedFeature(m.feature, m.azure_name, m.value, m.threshold) for m in expected
    )
    assert split_signal_name(signal) == ("churn-monitor", "data_drift")


def test_round_trip_all_signals():
    result = _drifted_result()
    _, features = parse_breach_message(result.breach_message("m_all"))
    assert [(f.feature, f.metric) for f in features] == [
        (m.feature, m.azure_name) for _, m in result.breaches()
    ]
    assert len(features) > len([1 for s, _ in result.breaches() if s == "data_drift"])


def test_round_trip_non_ascii_feature_name():
    result = _drifted_result(columns=("âge", "revenu", "ville"))
    _, features = parse_breach_message(result.breach_message("m_data_drift", "data_drift"))
    assert "âge" in [f.feature for f in features]


def test_round_trip_feature_name_with_apostrophe():
    result = _drifted_result(columns=("client's age", "income", "city"))
    expected = [m.feature for s, m in result.breaches() if s == "data_drift"]
    _, features = parse_breach_message(result.breach_message("m_data_drift", "data_drift"))
    assert [f.feature for f in features] == expected


# --------------------------------------------------------------------------- split_signal_name


@pytest.mark.parametrize("signal, expected", [
    ("churn-monitor_data_drift", ("churn-monitor", "data_drift")),
    ("churn-monitor_data_quality", ("churn-monitor", "data_quality")),
    ("churn-monitor_prediction_drift", ("churn-monitor", "prediction_drift")),
    ("my_monitor_data_drift", ("my_monitor", "data_drift")),
    ("m_feature_attr", ("m_feature", None)),
    ("churn-monitor_feature-attribution", ("churn-monitor", None)),
    ("standalone", ("standalone", None)),
    ("data_drift", ("data", None)),
    ("_data_drift", ("_data", None)),
])
def test_split_signal_name(signal, expected):
    assert split_signal_name(signal) == expected


# --------------------------------------------------------------------------- alert_from_event


def run_event(tags: dict | None, run_id="run-1", event_id="eg-1", status="Completed",
              event_type=RUN_STATUS_CHANGED):
    """A RunStatusChanged as the docs print it: PascalCase data keys."""
    data = {"ExperimentId": "exp-1", "ExperimentName": "monitor-exp", "RunId": run_id,
            "RunType": "azureml.pipelinerun", "RunProperties": {}, "RunStatus": status}
    if tags is not None:
        data["RunTags"] = tags
    return parse_event({
        "id": event_id, "eventType": event_type, "eventTime": "2026-11-23T10:00:00Z",
        "subject": f"experiments/exp-1/runs/{run_id}", "data": data, "dataVersion": "2",
    })


BREACH = breach_message("churn-monitor_data_drift", [row("age", 0.42), row("city", 0.3)])


def test_alert_from_run_status_changed_with_the_tag():
    alert = alert_from_event(run_event({THRESHOLD_BREACHED_TAG: BREACH, "other": "x"}))
    assert alert is not None
    assert alert.source == "azureml_monitor"
    assert alert.signal == "churn-monitor_data_drift"
    assert alert.monitor == "churn-monitor"
    assert alert.model is None
    assert [f.feature for f in alert.features] == ["age", "city"]
    assert alert.detail == BREACH
    assert alert.event_id == "eg-1"
    assert alert.observed_at == "2026-11-23T10:00:00Z"
    evidence = alert.evidence()
    assert evidence["run_id"] == "run-1"
    assert evidence["experiment"] == "monitor-exp"
    assert evidence["feature_count"] == 2


def test_alert_from_run_completed_with_the_tag():
    alert = alert_from_event(run_event({THRESHOLD_BREACHED_TAG: BREACH}, event_type=RUN_COMPLETED))
    assert alert is not None and alert.monitor == "churn-monitor"


@pytest.mark.parametrize("tags", [None, {}, {"other": "x"}, {THRESHOLD_BREACHED_TAG: ""}])
def test_run_status_changed_without_the_tag_is_no_alert(tags):
    assert alert_from_event(run_event(tags)) is None


def test_unparsable_tag_falls_back_to_the_experiment_name():
    alert = alert_from_event(run_event({THRESHOLD_BREACHED_TAG: "threshold breached"}))
    assert alert is not None
    assert alert.signal is None
    assert alert.monitor == "monitor-exp"
    assert alert.features == ()


def test_alert_key_is_stable_across_deliveries_and_differs_per_run():
    first = alert_from_event(run_event({THRESHOLD_BREACHED_TAG: BREACH}, event_id="eg-1"))
    again = alert_from_event(run_event({THRESHOLD_BREACHED_TAG: BREACH}, event_id="eg-2"))
    other_run = alert_from_event(run_event({THRESHOLD_BREACHED_TAG: BREACH}, run_id="run-2"))
    other_signal = alert_from_event(run_event(
        {THRESHOLD_BREACHED_TAG: BREACH.replace("_data_drift", "_data_quality")}))
    assert first.alert_key == again.alert_key
    assert first.event_id != again.event_id
    assert other_run.alert_key != first.alert_key
    assert other_signal.alert_key != first.alert_key


def test_alert_from_dataset_drift_detected():
    event = parse_event({
        "id": "dd-1", "eventType": DATASET_DRIFT_DETECTED,
        "subject": "datadrift/drift-123/run/run-9", "eventTime": "2026-11-23T11:00:00Z",
        "data": {"DataDriftName": "churn", "DriftCoefficient": 0.87,
                 "TargetDatasetId": "ds-target", "BaseDatasetId": "ds-base"},
    })
    alert = alert_from_event(event)
    assert alert is not None
    assert alert.source == "dataset_drift"
    assert alert.monitor == "churn"
    assert alert.signal == "churn"
    assert alert.alert_key == "datadrift:drift-123:run-9"
    assert "0.87" in alert.detail
    assert alert.extra == {"drift_coefficient": 0.87, "target_dataset": "ds-target"}


def test_model_registered_is_no_alert():
    event = parse_event({"id": "m-1", "eventType": MODEL_REGISTERED, "subject": "models/churn:3",
                         "data": {"modelName": "churn", "modelVersion": "3"}})
    assert alert_from_event(event) is None


# --------------------------------------------------------------------------- early check


def test_early_check_features_from_a_summary():
    summary = {
        "breached": True,
        "signals": {"data_drift": True, "data_quality": True},
        "breaches": [
            {"signal": "data_drift", "feature": "age", "metric": "jensen_shannon_distance",
             "value": 0.31, "threshold": 0.1},
            {"signal": "data_quality", "feature": "zip", "metric": "null_value_rate",
             "value": 0.05, "threshold": 0.0},
            {"signal": "data_drift", "feature": "amount", "metric": "psi",
             "value": None, "threshold": None},
        ],
        "breach_count": 3,
    }
    assert early_check_features(summary) == (
        BreachedFeature("age", "data_drift:jensen_shannon_distance", 0.31, 0.1),
        BreachedFeature("zip", "data_quality:null_value_rate", 0.05, 0.0),
        BreachedFeature("amount", "data_drift:psi", None, None),
    )


def test_early_check_features_from_a_real_summary():
    from core.services.drift_checks import summarize

    result = _drifted_result()
    features = early_check_features(summarize(result, "k", "ref:1", "prod:1"))
    assert [(f.feature, f.metric, f.value) for f in features] == [
        (m.feature, f"{s}:{m.metric}", m.value) for s, m in result.breaches()
    ]


def test_early_check_features_without_breaches():
    assert early_check_features({"breached": False, "breaches": []}) == ()
    assert early_check_features({}) == ()
