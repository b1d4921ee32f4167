"""Pure rules of ground truth and model performance: ids, joined rows, the columns that hold
logged predictions, thresholds (parsing, which apply, which way they breach), the record's
shape, the alert a breach becomes, and what Azure's signal can evaluate."""

from __future__ import annotations

import pytest

from core.domain.alerts import performance_alert, split_signal_name
from core.domain.ground_truth import (
    JoinCounts,
    collector_row_id,
    joined_row,
    logged_prediction_column,
    row_key,
)
from core.domain.ingestion import UnsupportedPath, parse_inference_path
from core.domain.performance import (
    PerformanceRecord,
    azure_signal_thresholds,
    breaches,
    parse_thresholds,
    thresholds_for,
)


def test_collector_rows_get_the_ids_azure_gives_them():
    assert collector_row_id("test", 0) == "test_0"
    assert [collector_row_id("c-9", i) for i in range(3)] == ["c-9_0", "c-9_1", "c-9_2"]


def test_row_keys_are_table_safe_and_stable_whatever_the_id_holds():
    for row_id in ("a/b#c?d\\e", "ünïcødé", "x" * 5000, "'quoted' \"twice\""):
        key = row_key(row_id)
        assert key == row_key(row_id) and len(key) == 40
        assert set(key) <= set("0123456789abcdef")
    assert row_key("a") != row_key("b")


def test_a_joined_row_holds_the_inputs_the_label_the_id_and_the_logged_outputs():
    row = joined_row({"amount": 1.5, "is_fraud": None, "correlationid": "stale"},
                     {"is_fraud": 0, "correlationid": "c_1", "score": 0.2},
                     id_column="correlationid", target="is_fraud", label=1, row_id="c_1")
    assert row == {"amount": 1.5, "predicted_is_fraud": 0, "predicted_score": 0.2,
                   "is_fraud": 1, "correlationid": "c_1"}
    assert joined_row({"a": 1}, None, id_column="id", target="y", label="yes",
                      row_id="r") == {"a": 1, "y": "yes", "id": "r"}


def test_the_logged_prediction_column_is_the_models_else_the_only_one_there():
    columns = ["amount", "is_fraud", "predicted_is_fraud", "correlationid"]
    assert logged_prediction_column(("is_fraud",), columns) == "predicted_is_fraud"
    assert logged_prediction_column(("label",), columns) == "predicted_is_fraud"
    assert logged_prediction_column(("label",), [*columns, "predicted_score"]) is None
    assert logged_prediction_column(("is_fraud",), ["amount", "is_fraud"]) is None


def test_join_counts_leave_zeros_out_and_read_back():
    counts = JoinCounts(labels=3, joined=2, waiting=1)
    assert counts.to_doc() == {"labels": 3, "joined": 2, "waiting": 1}
    assert JoinCounts.from_doc({**counts.to_doc(), "unknown": 7}) == counts


@pytest.mark.parametrize("name, layout", [
    ("m/ground_truth/2026/11/labels.csv", "ground_truth_csv"),
    ("m/ground_truth/feed.JSONL", "ground_truth_jsonl"),
])
def test_ground_truth_files_have_their_own_layout(name, layout):
    assert parse_inference_path(name).layout == layout
    assert parse_inference_path(name).is_ground_truth


def test_ground_truth_paths_that_are_no_label_file():
    with pytest.raises(UnsupportedPath, match="ground truth file") as caught:
        parse_inference_path("m/ground_truth/labels.parquet")
    assert caught.value.model == "m"
    # An endpoint named ground_truth still writes collector files.
    collected = parse_inference_path(
        "m/ground_truth/blue/model_inputs/2026/11/23/10/part.jsonl")
    assert collected.layout == "collector_jsonl" and collected.endpoint == "ground_truth"
    assert parse_inference_path("m/batches/ground_truth.csv").layout == "csv"


# -- thresholds ----------------------------------------------------------------------------


def test_thresholds_parse_pairs_or_one_number():
    assert parse_thresholds("f1=0.6, accuracy = 0.9", what="t") == {"f1": 0.6, "accuracy": 0.9}
    assert parse_thresholds("RMSE=12", what="t") == {"rmse": 12.0}
    assert parse_thresholds(" 0.7 ", what="t") == {"": 0.7}
    assert parse_thresholds("", what="t") == {}


@pytest.mark.parametrize("text, message", [
    ("f2=0.5", "unknown metric 'f2'"),
    ("f1=0.5,f1=0.6", "given twice"),
    ("f1=high", "not a number"),
    ("f1=-1", "not a number >= 0"),
    ("f1", "not metric=value"),
    ("-0.5", "not metric=value"),
    ("f1=inf", "not a number"),
])
def test_a_malformed_threshold_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message) as caught:
        parse_thresholds(text, what="tag autopilot.performance_threshold")
    assert "tag autopilot.performance_threshold" in str(caught.value)


def test_only_the_tasks_metrics_apply_and_one_number_is_its_primary_metric():
    parsed = {"f1": 0.5, "rmse": 3.0, "accuracy": 0.9}
    assert thresholds_for("classification", parsed) == {"f1": 0.5, "accuracy": 0.9}
    assert thresholds_for("regression", parsed) == {"rmse": 3.0}
    assert thresholds_for("classification", {"": 0.6}) == {"f1": 0.6}
    assert thresholds_for("regression", {"": 12.0}) == {"rmse": 12.0}


def test_higher_is_better_breaches_below_and_errors_above():
    metrics = {"f1": 0.4, "accuracy": 0.95, "auc": None}
    assert breaches(metrics, {"f1": 0.5, "accuracy": 0.9, "auc": 0.7}) == [
        {"metric": "f1", "value": 0.4, "threshold": 0.5}]  # AUC undefined: not judged
    assert breaches({"rmse": 13.0, "mae": 2.0, "r2": 0.1},
                    {"rmse": 12.0, "mae": 2.0, "r2": 0.2}) == [
        {"metric": "rmse", "value": 13.0, "threshold": 12.0},
        {"metric": "r2", "value": 0.1, "threshold": 0.2}]
    assert breaches({"f1": 0.5}, {"f1": 0.5}) == []  # at the threshold is not below it


def test_azure_evaluates_accuracy_precision_recall_mae_and_rmse_only():
    assert azure_signal_thresholds("classification", {"f1": 0.5, "accuracy": 0.9,
                                                      "recall": 0.3}) == {"accuracy": 0.9,
                                                                          "recall": 0.3}
    assert azure_signal_thresholds("regression", {"r2": 0.5, "mae": 2.0}) == {"mae": 2.0}
    assert azure_signal_thresholds("classification", {"auc": 0.8}) == {}


def test_the_record_has_one_shape_and_its_breach_is_an_alert():
    record = PerformanceRecord(
        labelled_data="m-labelled:3", model_version="2", task="classification", rows=400,
        metrics={"accuracy": 0.8, "f1": 0.3, "auc": None}, thresholds={"f1": 0.5},
        result="performance-results/m/m-labelled-3.json", evaluated_at=1.0)
    doc = record.to_doc()
    assert doc == {
        "labelled_data": "m-labelled:3", "model_version": "2", "task": "classification",
        "rows": 400, "metrics": {"accuracy": 0.8, "f1": 0.3, "auc": None},
        "thresholds": {"f1": 0.5}, "breaches": [{"metric": "f1", "value": 0.3,
                                                 "threshold": 0.5}],
        "breached": True, "result": "performance-results/m/m-labelled-3.json",
        "evaluated_at": 1.0}
    alert = performance_alert("m", {**doc, "target": "y"})
    assert alert is not None and alert.alert_key == "performance:m:m-labelled:3"
    assert alert.source == "model_performance" and alert.model == "m"
    assert [(f.feature, f.metric, f.value, f.threshold) for f in alert.features] == [
        ("y", "f1", 0.3, 0.5)]
    assert "f1 0.300 (threshold 0.5)" in alert.detail
    assert split_signal_name(alert.signal or "")[1] == "model_performance"
    for quiet in (None, {}, {"skipped": "no model"}, {"error": "boom"},
                  {**doc, "breached": False, "breaches": []}):
        assert performance_alert("m", quiet) is None
    assert split_signal_name("m-monitor_model_performance") == ("m-monitor",
                                                                 "model_performance")


# -- collected rows keep their correlation id ---------------------------------------------


def _validate(records, **kw):
    import io
    import json

    from core.domain.validation import validate_collector_jsonl

    lines: list[bytes] = []
    text = "".join(json.dumps(r) + "\n" for r in records).encode()
    result = validate_collector_jsonl(io.BytesIO(text), None, write_row_line=lines.append, **kw)
    return result, [json.loads(line) for line in lines]


def test_collector_rows_keep_azures_id_as_a_column_unless_they_carry_their_own():
    result, rows = _validate([
        {"data": [{"a": 1}, {"a": 2}], "correlationid": "req-7"},
        {"data": [{"a": 3, "correlationid": "mine-1"}], "correlationid": "req-8"},
        {"data": [{"a": 4}]},  # no correlation id on the record: nothing to add
    ], correlation_column="correlationid")
    assert result.ok and result.columns == ("a", "correlationid")
    assert result.extra_columns == ()  # the join key is not an extra column
    assert [r.get("correlationid") for r in rows] == ["req-7_0", "req-7_1", "mine-1", None]
    plain, rows = _validate([{"data": [{"a": 1}], "correlationid": "req-7"}])
    assert plain.columns == ("a",) and rows == [{"a": 1}]  # not asked: flattened as before


def test_ground_truth_json_lines_are_rows_or_collector_records():
    result, rows = _validate([{"correlationid": "r_0", "y": 1},
                              {"data": [{"correlationid": "r_1", "y": 0}]}], plain_rows=True)
    assert result.ok and rows == [{"correlationid": "r_0", "y": 1},
                                  {"correlationid": "r_1", "y": 0}]
    refused, _ = _validate([{"correlationid": "r_0", "y": 1}])  # a collector file must be one
    assert refused.rejection is not None and refused.rejection.code == "missing_data"
