"""core/training/performance.py: the metrics of logged predictions (as the judge computes
them) and of Azure's model performance signal (accuracy, macro precision and recall; MAE,
RMSE), on labelled rows."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from core.training.model import TrainingError
from core.training.performance import azure_signal_metrics, logged_metrics

# 6 rows, two classes: 2 frauds, one caught, one false alarm.
ACTUAL = [1, 0, 0, 1, 0, 0]
PREDICTED = [1, 1, 0, 0, 0, 0]


def labelled(**extra) -> pa.Table:
    return pa.table({"y": ACTUAL, "predicted_y": PREDICTED, **extra})


def test_logged_predictions_are_scored_as_the_judge_scores_a_champion():
    metrics = logged_metrics(labelled(), target="y", prediction_column="predicted_y",
                             task="classification")
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["precision"] == pytest.approx(0.5)  # binary: of the class 1 flags
    assert metrics["recall"] == pytest.approx(0.5)
    assert metrics["f1"] == pytest.approx(0.5)
    assert metrics["auc"] is None  # no probabilities were logged


def test_logged_classes_read_back_as_the_labels_type():
    table = pa.table({"y": ACTUAL, "predicted_y": [str(p) for p in PREDICTED]})
    metrics = logged_metrics(table, target="y", prediction_column="predicted_y",
                             task="classification")
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    with pytest.raises(TrainingError, match="no logged prediction column"):
        logged_metrics(table, target="y", prediction_column="predicted_z",
                       task="classification")


def test_azures_signal_averages_precision_and_recall_over_the_classes():
    values, rows = azure_signal_metrics(labelled(), prediction_column="predicted_y",
                                        actual_column="y", task="classification")
    assert rows == 6
    assert values["accuracy"] == pytest.approx(4 / 6)
    # class 1: precision 1/2, recall 1/2; class 0: precision 3/4, recall 3/4
    assert values["precision"] == pytest.approx((0.5 + 0.75) / 2)
    assert values["recall"] == pytest.approx((0.5 + 0.75) / 2)


def test_azures_regression_metrics_on_rows_carrying_both():
    table = pa.table({"y": [1.0, 2.0, None, 4.0], "p": [1.5, 2.0, 3.0, None]})
    values, rows = azure_signal_metrics(table, prediction_column="p", actual_column="y",
                                        task="regression")
    assert rows == 2
    assert values == pytest.approx({"mae": 0.25, "mse": 0.125, "rmse": math.sqrt(0.125)})
    with pytest.raises(TrainingError, match="no row carries both"):
        azure_signal_metrics(pa.table({"y": [None], "p": [1.0]}), prediction_column="p",
                             actual_column="y", task="regression")
    with pytest.raises(TrainingError, match="no column 'q'"):
        azure_signal_metrics(table, prediction_column="q", actual_column="y",
                             task="regression")
