"""Model performance on labelled production rows, two ways:

- `champion_metrics`: the champion scored through the model port on the rows' features, with
  the task's metrics as the retraining judge computes them (`core.training.model.evaluate`:
  accuracy, precision, recall, F1, AUC; MAE, RMSE, R2);
- `logged_metrics`: the same metrics of the predictions the deployment logged (the data
  collector's `model_outputs`, joined into the labelled rows as ``predicted_<column>``);
- `azure_signal_metrics`: what Azure ML's model performance signal computes from a prediction
  column and an actual column (its component computes accuracy and macro-averaged precision and
  recall with azureml-metrics, or MAE and RMSE): the local monitor run's model performance
  signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn import metrics as skm

from core.training.model import TrainingError, TrainingSpec, evaluate


def champion_metrics(model: Any, table: pa.Table) -> dict[str, float | None]:
    """The task's metrics of a loaded model (`ModelLoader.load`) on the rows that carry the
    target."""
    return evaluate(model, table)


@dataclass
class _Logged:
    """What `evaluate` needs of a model, over a column of logged predictions."""

    spec: TrainingSpec
    column: str

    def predict(self, table: pa.Table) -> np.ndarray:
        return np.asarray(table.column(self.column).to_pylist())

    @property
    def classes(self) -> list:  # no probabilities were logged: no AUC
        return []


def logged_metrics(table: pa.Table, *, target: str, prediction_column: str,
                   task: str) -> dict[str, float | None]:
    """The task's metrics of the logged predictions, on the rows that carry both."""
    if prediction_column not in table.column_names:
        raise TrainingError(f"no logged prediction column {prediction_column!r}")
    rows = table.filter(pc.is_valid(table.column(prediction_column)))
    if task == "classification":
        rows = _same_type(rows, prediction_column, target)
    spec = TrainingSpec(target=target, features=(prediction_column,), task=task)  # type: ignore[arg-type]
    return evaluate(_Logged(spec, prediction_column), rows)  # type: ignore[arg-type]


def _same_type(table: pa.Table, column: str, like: str) -> pa.Table:
    """Logged classes read back as the labels' type (a JSON `1` and a CSV `"1"` agree)."""
    target_type = table.schema.field(like).type
    if table.schema.field(column).type == target_type:
        return table
    try:
        cast = pc.cast(table.column(column), target_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        cast = pc.cast(table.column(column), pa.string())
        table = table.set_column(table.schema.get_field_index(like), like,
                                 pc.cast(table.column(like), pa.string()))
    return table.set_column(table.schema.get_field_index(column), column, cast)


def azure_signal_metrics(table: pa.Table, *, prediction_column: str, actual_column: str,
                         task: str) -> tuple[dict[str, float], int]:
    """Azure's model performance signal's metrics (by the schedule YAML's names) and the number
    of rows it computed them on (rows carrying both columns)."""
    for name in (prediction_column, actual_column):
        if name not in table.column_names:
            raise TrainingError(f"the labelled data has no column {name!r}")
    both = pc.and_(pc.is_valid(table.column(prediction_column)),
                   pc.is_valid(table.column(actual_column)))
    rows = table.filter(both)
    if rows.num_rows == 0:
        raise TrainingError("no row carries both a prediction and a label")
    if task == "classification":
        rows = _same_type(rows, prediction_column, actual_column)
        y = np.asarray(rows.column(actual_column).to_pylist())
        p = np.asarray(rows.column(prediction_column).to_pylist())
        return {
            "accuracy": float(skm.accuracy_score(y, p)),
            "precision": float(skm.precision_score(y, p, average="macro", zero_division=0)),
            "recall": float(skm.recall_score(y, p, average="macro", zero_division=0)),
        }, rows.num_rows
    y = np.asarray(rows.column(actual_column).to_pylist(), dtype=float)
    p = np.asarray(rows.column(prediction_column).to_pylist(), dtype=float)
    mse = float(skm.mean_squared_error(y, p))
    return {"mae": float(skm.mean_absolute_error(y, p)), "mse": mse,
            "rmse": math.sqrt(mse)}, rows.num_rows


__all__ = ["azure_signal_metrics", "champion_metrics", "logged_metrics"]
