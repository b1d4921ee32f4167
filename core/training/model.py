"""Training and evaluation: fit a model on an Arrow table, score it on a holdout, save and
load it. Judging the scores is the domain's (`core.domain.retraining.judge`).

Pure apart from save/load to a folder the caller gives. The service's own format: its pipeline
addresses columns by position (tables become numpy arrays here); models in the formats users
register are read, scored and refitted through pandas by `core.training.loader`.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sklearn
from sklearn import metrics as skm
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from core.domain.retraining import METRICS, MLTask

MIN_TRAINING_ROWS = 10
MODEL_FILE = "model.joblib"
META_FILE = "autopilot-model.json"
META_FORMAT = 1
# One-hot columns per categorical feature, at most: a free-text or id column must not blow
# the dense matrix up; rarer categories share one "infrequent" column.
MAX_CATEGORIES = 50
_NULL_CATEGORY = "<null>"



class TrainingError(ValueError):
    """The data or the saved model cannot be used; the message says why."""


@dataclass(frozen=True)
class TrainingSpec:
    target: str
    features: tuple[str, ...]
    task: MLTask = "classification"
    n_estimators: int = 100
    random_state: int = 0
    # Categorical features are the non-numeric columns, decided from the table's arrow types
    # at training time (kept on the TrainedModel).

    def __post_init__(self):
        object.__setattr__(self, "features", tuple(self.features))
        if self.task not in METRICS:
            raise ValueError(f"task must be 'classification' or 'regression', not {self.task!r}")
        if not self.features:
            raise ValueError("a training spec needs at least one feature")
        if self.target in self.features:
            raise ValueError(f"the target {self.target!r} cannot also be a feature")


def _is_numeric(type_: pa.DataType) -> bool:
    return (pa.types.is_integer(type_) or pa.types.is_floating(type_)
            or pa.types.is_boolean(type_) or pa.types.is_decimal(type_))


def _require_columns(table: pa.Table, names) -> None:
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise TrainingError(
            f"missing column(s) {', '.join(map(repr, missing))}; the table has "
            f"{', '.join(map(repr, table.column_names)) or 'no columns'}"
        )


def _with_target(table: pa.Table, target: str) -> pa.Table:
    """The rows whose target is known: a row without a label teaches and proves nothing."""
    _require_columns(table, [target])
    column = table.column(target)
    if column.null_count == 0:
        return table
    return table.filter(pc.is_valid(column))


def _matrix(table: pa.Table, features: tuple[str, ...], categorical: tuple[str, ...]):
    """The features as one object matrix (numbers as floats, NaN for null; categories as
    strings, null as its own category), in the spec's column order."""
    _require_columns(table, features)
    columns: list[np.ndarray] = []
    for name in features:
        column = table.column(name)
        if name in categorical:
            values = [_NULL_CATEGORY if v is None else str(v) for v in column.to_pylist()]
            columns.append(np.array(values, dtype=object))
        else:
            try:
                as_float = pc.cast(column, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise TrainingError(
                    f"column {name!r} must be numeric as it was in training, not {column.type}"
                ) from exc
            columns.append(as_float.to_numpy(zero_copy_only=False))
    matrix = np.empty((table.num_rows, len(features)), dtype=object)
    for i, column_values in enumerate(columns):
        matrix[:, i] = column_values
    return matrix


def _labels(table: pa.Table, target: str) -> np.ndarray:
    return np.asarray(table.column(target).to_pylist())


@dataclass
class TrainedModel:
    spec: TrainingSpec
    pipeline: Any
    trained_rows: int
    categorical: tuple[str, ...] = field(default=())

    def predict(self, table: pa.Table) -> np.ndarray:
        return self.pipeline.predict(_matrix(table, self.spec.features, self.categorical))

    def _proba(self, table: pa.Table) -> np.ndarray:
        return self.pipeline.predict_proba(_matrix(table, self.spec.features, self.categorical))

    @property
    def classes(self) -> list:
        if self.spec.task != "classification":
            return []
        return list(self.pipeline.classes_)

    def refit(self, table: pa.Table, *, n_estimators: int | None = None) -> TrainedModel:
        """A challenger: the same spec trained anew on `table`."""
        spec = replace(self.spec, n_estimators=n_estimators) if n_estimators else self.spec
        return train(table, spec)

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline, folder / MODEL_FILE)
        meta = {
            "format": META_FORMAT,
            **asdict(self.spec),
            "categorical": list(self.categorical),
            "sklearn_version": sklearn.__version__,
            "trained_rows": self.trained_rows,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: Path) -> TrainedModel:
        """The model saved in folder. Only load folders this service wrote: joblib files
        are pickles and run code when loaded."""
        folder = Path(folder)
        meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
        for path in (meta_path, model_path):
            if not path.is_file():
                raise TrainingError(f"no saved model in {folder}: {path.name} is missing")
        try:
            meta = json.loads(meta_path.read_text())
            spec = TrainingSpec(
                target=meta["target"], features=tuple(meta["features"]), task=meta["task"],
                n_estimators=meta["n_estimators"], random_state=meta["random_state"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise TrainingError(f"unreadable {META_FILE} in {folder}: {exc}") from exc
        if meta.get("format") != META_FORMAT:
            raise TrainingError(f"{META_FILE} format {meta.get('format')!r} is not supported")
        # Pickled estimators are only safe to reuse with the scikit-learn they came from;
        # patch releases keep estimator internals, so major.minor must match.
        saved, ours = str(meta.get("sklearn_version", "")), sklearn.__version__
        if saved.split(".")[:2] != ours.split(".")[:2]:
            raise TrainingError(
                f"model saved with scikit-learn {saved or 'unknown'}, this is {ours}: retrain it"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InconsistentVersionWarning)
                pipeline = joblib.load(model_path)
        except Exception as exc:
            raise TrainingError(f"cannot load {model_path}: {exc}") from exc
        if not isinstance(pipeline, Pipeline):
            raise TrainingError(f"{model_path} holds a {type(pipeline).__name__}, not a Pipeline")
        return cls(spec, pipeline, int(meta.get("trained_rows", 0)),
                   tuple(meta.get("categorical", ())))


def train(table: pa.Table, spec: TrainingSpec) -> TrainedModel:
    """Fit the spec's random forest on the labelled rows of table."""
    _require_columns(table, [spec.target, *spec.features])
    table = _with_target(table, spec.target)
    if table.num_rows < MIN_TRAINING_ROWS:
        raise TrainingError(
            f"too few rows to train: {table.num_rows} with a {spec.target!r} value, "
            f"need at least {MIN_TRAINING_ROWS}"
        )
    y = _labels(table, spec.target)
    if spec.task == "classification":
        classes = np.unique(y)
        if len(classes) < 2:
            raise TrainingError(
                f"a single class in {spec.target!r} ({classes[0]!r}): a classifier needs two"
            )
        forest = RandomForestClassifier(
            n_estimators=spec.n_estimators, random_state=spec.random_state, n_jobs=1
        )
    else:
        if not _is_numeric(table.schema.field(spec.target).type):
            raise TrainingError(
                f"regression needs a numeric target; {spec.target!r} is "
                f"{table.schema.field(spec.target).type}"
            )
        y = y.astype(float)
        forest = RandomForestRegressor(
            n_estimators=spec.n_estimators, random_state=spec.random_state, n_jobs=1
        )

    categorical = tuple(
        f for f in spec.features if not _is_numeric(table.schema.field(f).type)
    )
    positions = {name: i for i, name in enumerate(spec.features)}
    encoder = ColumnTransformer(
        [
            ("categorical",
             OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                           max_categories=MAX_CATEGORIES),
             [positions[f] for f in categorical]),
            ("numeric", "passthrough",
             [positions[f] for f in spec.features if f not in categorical]),
        ],
        sparse_threshold=0,
    )
    pipeline = Pipeline([("features", encoder), ("model", forest)])
    pipeline.fit(_matrix(table, spec.features, categorical), y)
    return TrainedModel(spec, pipeline, table.num_rows, categorical)


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _auc(model: TrainedModel, holdout: pa.Table, y: np.ndarray, labels: list) -> float | None:
    """AUC from the model's probabilities; None where it is undefined: a holdout with one
    class, or a holdout class the model never saw (it has no probability for it)."""
    present = sorted(set(y.tolist()))
    classes = model.classes
    if len(present) < 2 or any(c not in classes for c in present):
        return None
    proba = model._proba(holdout)
    if len(labels) == 2:
        positive = labels[-1]
        return _finite(skm.roc_auc_score(y == positive, proba[:, classes.index(positive)]))
    # One-vs-rest, macro over the classes the holdout has.
    scores = [skm.roc_auc_score(y == c, proba[:, classes.index(c)]) for c in present]
    return _finite(np.mean(scores))


def evaluate(model: TrainedModel, holdout: pa.Table) -> dict[str, float | None]:
    """The task's metrics of model on the labelled rows of holdout (see METRICS)."""
    target = model.spec.target
    holdout = _with_target(holdout, target)
    if holdout.num_rows == 0:
        raise TrainingError(f"no holdout rows with a {target!r} value to evaluate on")
    y = _labels(holdout, target)
    predicted = model.predict(holdout)

    if model.spec.task == "regression":
        y = y.astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # r2 of a single row is undefined: None below
            r2 = skm.r2_score(y, predicted) if len(y) >= 2 else float("nan")
        return {
            "mae": _finite(skm.mean_absolute_error(y, predicted)),
            "rmse": _finite(math.sqrt(skm.mean_squared_error(y, predicted))),
            "r2": _finite(r2),
        }

    labels = sorted(set(model.classes) | set(y.tolist()))
    if len(labels) == 2:
        # Binary: the larger label is the positive one (1 over 0, True over False).
        averaging = {"average": "binary", "pos_label": labels[-1]}
    else:
        averaging = {"average": "macro"}
    return {
        "accuracy": _finite(skm.accuracy_score(y, predicted)),
        "precision": _finite(skm.precision_score(y, predicted, zero_division=0, **averaging)),
        "recall": _finite(skm.recall_score(y, predicted, zero_division=0, **averaging)),
        "f1": _finite(skm.f1_score(y, predicted, zero_division=0, **averaging)),
        "auc": _auc(model, holdout, y, labels),
    }


def split_holdout(
    table: pa.Table, target: str, *, fraction: float = 0.3, seed: int = 0, stratify: bool = True
) -> tuple[pa.Table, pa.Table]:
    """(train, holdout): a deterministic split of the labelled rows, each part in the table's
    row order. Stratified (when asked) for a discrete target, that is a non-float column whose
    every class has at least 2 rows, so each class lands on both sides."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, not {fraction}")
    table = _with_target(table, target)
    n = table.num_rows
    if n < 2:
        raise TrainingError(f"too few rows to split: {n} with a {target!r} value, need 2")
    rng = np.random.default_rng(seed)

    def take(count: int) -> int:
        # Round half up, and keep at least one row on each side.
        return min(max(math.floor(count * fraction + 0.5), 1), count - 1)

    groups = [np.arange(n)]
    if stratify and not pa.types.is_floating(table.schema.field(target).type):
        y = _labels(table, target)
        _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        if counts.min() >= 2:
            groups = [np.flatnonzero(inverse == k) for k in range(len(counts))]
    held = np.concatenate([
        rng.permutation(rows)[: take(len(rows))] for rows in groups
    ])
    is_holdout = np.zeros(n, dtype=bool)
    is_holdout[held] = True
    return table.filter(pa.array(~is_holdout)), table.filter(pa.array(is_holdout))
