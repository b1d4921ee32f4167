"""The model port (`core.ports.ModelLoader`): read a registered model's folder in the formats
users register, say what it is (`inspect`), and load it to score and refit (`load`).

- MLflow model folders (an `MLmodel` file; `type: mlflow_model` on Azure), read with MLflow's
  own loader: the `sklearn` flavour gives the estimator (scored, refitted), a
  `python_function`-only model is scored through pyfunc but cannot be refitted;
- custom folders holding one scikit-learn estimator or pipeline saved with joblib or pickle
  (`*.joblib`, `*.pkl`, `*.pickle`), fitted on a pandas DataFrame or on arrays;
- the service's own saved format (`core.training.model`, `autopilot-model.json`).

pandas is the boundary with scikit-learn and MLflow: tables become DataFrames with the model's
feature columns, in its order, so column names travel with the data (an estimator fitted on
arrays gets the same columns as an array).

Pickles (joblib, pickle, cloudpickle) run code when they are loaded: only load model folders
from the workspace the operator controls (README, "Models").

MLflow is imported inside the functions that need it (about 1.5 s), as is scikit-learn by this
package: neither is paid on a cold start that only ingests a file.
"""

from __future__ import annotations

import json
import pickle
import shutil
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from core.domain.models import (
    ModelDescription,
    ModelFormat,
    ModelInspection,
    ModelProblem,
)
from core.training.model import META_FILE, TrainedModel, TrainingError, TrainingSpec

if TYPE_CHECKING:
    import pandas as pd

MLMODEL = "MLmodel"
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


class ModelLoadError(TrainingError):
    """The model cannot be loaded (or used as asked); `problem` is the reason code."""

    def __init__(self, problem: ModelProblem, message: str):
        super().__init__(message)
        self.problem = problem


# ------------------------------------------------------------------ finding the model file


def _find(folder: Path) -> tuple[ModelFormat, Path]:
    """The model's format and its file (MLmodel for MLflow) inside `folder`. A model registered
    from a folder may be downloaded one level down: one match below counts too."""
    folder = Path(folder)
    if not folder.exists():
        raise ModelLoadError(ModelProblem.NO_MODEL_FILES, f"{folder} does not exist")
    if folder.is_file():
        candidates = [folder]
    else:
        for name, fmt in ((MLMODEL, "mlflow"), (META_FILE, "autopilot")):
            if (folder / name).is_file():
                return fmt, folder / name  # type: ignore[return-value]
            below = sorted(folder.rglob(name))
            if len(below) == 1:
                return fmt, below[0]  # type: ignore[return-value]
        candidates = sorted(p for p in folder.rglob("*")
                            if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES)
    candidates = [p for p in candidates if p.suffix.lower() in PICKLE_SUFFIXES]
    if len(candidates) == 1:
        path = candidates[0]
        return ("joblib" if path.suffix.lower() == ".joblib" else "pickle"), path
    if not candidates:
        present = sorted(p.name for p in folder.rglob("*") if p.is_file())[:10] \
            if folder.is_dir() else [folder.name]
        raise ModelLoadError(ModelProblem.NO_MODEL_FILES, (
            f"no model in the folder: no {MLMODEL} (MLflow), no {META_FILE} and no "
            f"{', '.join('*' + s for s in PICKLE_SUFFIXES)} file; it holds "
            f"{', '.join(present) or 'nothing'}"))
    names = ", ".join(str(p.relative_to(folder)) for p in candidates)
    raise ModelLoadError(ModelProblem.NO_MODEL_FILES,
                         f"several model files ({names}): keep one model per folder")


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return path.name


# ------------------------------------------------------------------ scikit-learn objects


def _is_estimator(obj: Any) -> bool:
    from sklearn.base import BaseEstimator

    return isinstance(obj, BaseEstimator)


def _estimator_facts(obj: Any) -> dict[str, Any]:
    """What an estimator says about itself once fitted."""
    names = getattr(obj, "feature_names_in_", None)
    n = getattr(obj, "n_features_in_", None)
    task = "classification" if (hasattr(obj, "predict_proba") or hasattr(obj, "classes_")) \
        else "regression"
    return {
        "estimator": type(obj).__name__,
        "feature_names": tuple(str(c) for c in names) if names is not None else None,
        "n_features": int(n) if n is not None else None,
        "task": task,
        "refittable": _is_estimator(obj),
    }


def _load_pickle(path: Path, fmt: ModelFormat) -> Any:
    import joblib

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # InconsistentVersionWarning: reported as-is
            if fmt == "joblib":
                return joblib.load(path)
            try:
                with open(path, "rb") as f:
                    return pickle.load(f)
            except Exception:
                return joblib.load(path)  # joblib files named .pkl
    except Exception as exc:
        raise ModelLoadError(ModelProblem.UNLOADABLE,
                             f"cannot load {path.name}: {type(exc).__name__}: {exc}") from exc


def _check_estimator(obj: Any, file: str) -> None:
    if not callable(getattr(obj, "predict", None)):
        raise ModelLoadError(ModelProblem.NOT_AN_ESTIMATOR,
                             f"{file} holds a {type(obj).__module__}.{type(obj).__name__}, not "
                             "a model: it has no predict method")


# ------------------------------------------------------------------ MLflow


def _mlmodel(path: Path) -> Any:
    from mlflow.models import Model

    try:
        return Model.load(str(path))
    except Exception as exc:
        raise ModelLoadError(ModelProblem.UNLOADABLE,
                             f"unreadable {MLMODEL}: {type(exc).__name__}: {exc}") from exc


def _signature(meta: Any) -> tuple[tuple[tuple[str, str], ...] | None, tuple[str, ...] | None]:
    signature = getattr(meta, "signature", None)
    if signature is None:
        return None, None

    def columns(schema: Any) -> list[tuple[str | None, str]]:
        if schema is None or schema.is_tensor_spec():  # arrays: no column names
            return []
        out = []
        for spec in schema.inputs:
            kind = getattr(spec, "type", "")
            out.append((getattr(spec, "name", None), str(getattr(kind, "name", kind))))
        return out

    inputs = columns(signature.inputs)
    outputs = columns(signature.outputs)
    named_inputs = tuple((n, t) for n, t in inputs if n) if inputs and all(
        n for n, _ in inputs) else None
    named_outputs = tuple(n for n, _ in outputs if n) if outputs and all(
        n for n, _ in outputs) else None
    return named_inputs, named_outputs


def _load_mlflow(mlmodel: Path) -> tuple[Any, Any, str, Any]:
    """(MLmodel metadata, the scikit-learn estimator or None, flavour, pyfunc or None)."""
    folder = mlmodel.parent
    meta = _mlmodel(mlmodel)
    flavors = dict(meta.flavors or {})
    if "sklearn" in flavors:
        import mlflow.sklearn

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                estimator = mlflow.sklearn.load_model(str(folder))
        except Exception as exc:
            raise ModelLoadError(ModelProblem.UNLOADABLE,
                                 f"MLflow could not load the sklearn flavour: "
                                 f"{type(exc).__name__}: {exc}") from exc
        _check_estimator(estimator, MLMODEL)
        return meta, estimator, "sklearn", None
    if "python_function" in flavors:
        import mlflow.pyfunc

        loader = flavors["python_function"].get("loader_module", "")
        try:
            pyfunc = mlflow.pyfunc.load_model(str(folder))
        except ImportError as exc:
            raise ModelLoadError(ModelProblem.UNSUPPORTED_FLAVOR, (
                f"MLflow python_function model with loader {loader or 'unknown'} needs a "
                f"package this service does not have ({exc}); only sklearn models and "
                "python_function models of installed libraries are scored here")) from exc
        except Exception as exc:
            raise ModelLoadError(ModelProblem.UNLOADABLE,
                                 f"MLflow could not load the python_function model: "
                                 f"{type(exc).__name__}: {exc}") from exc
        return meta, None, "python_function", pyfunc
    raise ModelLoadError(ModelProblem.UNSUPPORTED_FLAVOR, (
        f"MLflow model with flavour(s) {', '.join(sorted(flavors)) or 'none'}: only the sklearn "
        "and python_function flavours are scored here"))


# ------------------------------------------------------------------ the loaded model


@dataclass
class LoadedModel:
    """A champion (or challenger) ready to score and refit. `spec` names its features,
    target and task (from the model's description), so `core.training.model.evaluate` scores
    it like the service's own models."""

    spec: TrainingSpec
    format: ModelFormat
    file: str  # relative to the model folder
    folder: Path | None = None  # the folder it was loaded from (its other files are kept)
    estimator: Any = None  # scikit-learn
    pyfunc: Any = None  # MLflow python_function only
    trained: TrainedModel | None = None  # the service's own format
    fitted_on: str = "dataframe"
    mlflow_flavor: dict[str, Any] | None = None  # the sklearn flavour's config (to save alike)
    signature: Any = None
    trained_rows: int = 0

    # -- scoring --------------------------------------------------------------------------

    def frame(self, data: pa.Table | pd.DataFrame) -> pd.DataFrame:
        """The model's input: its features, in its order, as a DataFrame."""
        import pandas as pd

        features = list(self.spec.features)
        if isinstance(data, pa.Table):
            missing = [c for c in features if c not in data.column_names]
            if missing:
                raise TrainingError(f"missing column(s) {', '.join(map(repr, missing))}; "
                                    f"the table has {', '.join(map(repr, data.column_names))}")
            return data.select(features).to_pandas()
        missing = [c for c in features if c not in data.columns]
        if missing:
            raise TrainingError(f"missing column(s) {', '.join(map(repr, missing))}")
        return pd.DataFrame(data[features])

    def _input(self, data: pa.Table | pd.DataFrame) -> Any:
        frame = self.frame(data)
        return frame.to_numpy() if self.fitted_on == "arrays" else frame

    def predict(self, data: pa.Table | pd.DataFrame) -> np.ndarray:
        if self.trained is not None:
            return self.trained.predict(_as_table(data))
        if self.pyfunc is not None:
            out = self.pyfunc.predict(self.frame(data))
            if hasattr(out, "to_numpy"):
                out = out.to_numpy()
            out = np.asarray(out)
            return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out
        return np.asarray(self.estimator.predict(self._input(data)))

    def predict_proba(self, data: pa.Table | pd.DataFrame) -> np.ndarray | None:
        """Class probabilities (columns in `classes` order), or None for a model without."""
        if self.trained is not None:
            return self.trained._proba(_as_table(data)) if self.spec.task == "classification" \
                else None
        if self.estimator is None or not hasattr(self.estimator, "predict_proba"):
            return None
        return np.asarray(self.estimator.predict_proba(self._input(data)))

    def _proba(self, data: pa.Table) -> np.ndarray:  # what evaluate() calls
        proba = self.predict_proba(data)
        if proba is None:
            raise TrainingError("the model gives no class probabilities")
        return proba

    @property
    def classes(self) -> list:
        if self.spec.task != "classification":
            return []
        if self.trained is not None:
            return self.trained.classes
        classes = getattr(self.estimator, "classes_", None)
        # Without probabilities there is no AUC: an empty list makes evaluate() say None.
        if classes is None or not hasattr(self.estimator, "predict_proba"):
            return []
        return list(classes)

    # -- refitting ------------------------------------------------------------------------

    @property
    def refittable(self) -> bool:
        return self.trained is not None or (self.estimator is not None
                                            and _is_estimator(self.estimator))

    def refit(self, table: pa.Table, *, n_estimators: int | None = None) -> LoadedModel:
        """A challenger: the same estimator (hyperparameters, preprocessing) fitted anew on
        the labelled rows of `table`, fed the way the champion was (DataFrame or arrays)."""
        from core.training.model import MIN_TRAINING_ROWS, _with_target, train

        if self.trained is not None:
            spec = self.trained.spec
            if n_estimators:
                spec = replace(spec, n_estimators=n_estimators)
            trained = train(table, spec)
            return replace(self, trained=trained, spec=trained.spec,
                           trained_rows=trained.trained_rows)
        if not self.refittable:
            raise ModelLoadError(ModelProblem.NOT_REFITTABLE,
                                 f"{self.file} is not a scikit-learn estimator: it can be "
                                 "scored, not refitted")
        from sklearn.base import clone

        table = _with_target(table, self.spec.target)
        if table.num_rows < MIN_TRAINING_ROWS:
            raise TrainingError(f"too few rows to train: {table.num_rows} with a "
                                f"{self.spec.target!r} value, need at least {MIN_TRAINING_ROWS}")
        estimator = clone(self.estimator)
        if n_estimators:
            _set_n_estimators(estimator, n_estimators)
        y = table.column(self.spec.target).to_pandas()
        if self.spec.task == "regression":
            y = y.astype(float)
        elif y.nunique() < 2:
            raise TrainingError(f"a single class in {self.spec.target!r}: a classifier "
                                "needs two")
        try:
            estimator.fit(self._input(table), y.to_numpy() if self.fitted_on == "arrays" else y)
        except Exception as exc:
            raise TrainingError(f"refitting the {type(estimator).__name__} failed: "
                                f"{type(exc).__name__}: {exc}") from exc
        return replace(self, estimator=estimator, trained_rows=table.num_rows)

    # -- saving alike ---------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Save in the champion's format: an MLflow model stays an MLflow model (same
        signature, serialization and requirements), a joblib or pickle file keeps its name and
        the folder's other files (a scoring script, an environment) are carried over."""
        folder = Path(folder)
        if self.trained is not None:
            self.trained.save(folder)
            return
        if self.format == "mlflow":
            self._save_mlflow(folder)
            return
        if self.folder is not None and self.folder.is_dir():
            shutil.copytree(self.folder, folder, dirs_exist_ok=True)
        target = folder / self.file
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "joblib":
            import joblib

            joblib.dump(self.estimator, target)
        else:
            with open(target, "wb") as f:
                pickle.dump(self.estimator, f)

    def _save_mlflow(self, folder: Path) -> None:
        import mlflow.sklearn

        flavor = self.mlflow_flavor or {}
        kwargs: dict[str, Any] = {
            "serialization_format": flavor.get("serialization_format", "cloudpickle"),
        }
        if flavor.get("skops_trusted_types"):
            kwargs["skops_trusted_types"] = list(flavor["skops_trusted_types"])
        requirements = self.folder / "requirements.txt" if self.folder else None
        # The champion's requirements, as they are: inferring them anew takes seconds.
        kwargs["pip_requirements"] = str(requirements) if requirements and \
            requirements.is_file() else [f"scikit-learn=={_sklearn_version()}"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlflow.sklearn.save_model(self.estimator, str(folder), signature=self.signature,
                                      **kwargs)


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


def _set_n_estimators(estimator: Any, n: int) -> None:
    params = estimator.get_params()
    if "n_estimators" in params:
        estimator.set_params(n_estimators=n)
        return
    steps = getattr(estimator, "steps", None)
    if steps:
        name = steps[-1][0]
        if f"{name}__n_estimators" in params:
            estimator.set_params(**{f"{name}__n_estimators": n})


def _as_table(data: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    return pa.Table.from_pandas(data, preserve_index=False)


# ------------------------------------------------------------------ the port


class SklearnModelLoader:
    """`core.ports.ModelLoader` over MLflow, joblib, pickle and the service's own format."""

    def inspect(self, folder: Path) -> ModelInspection:
        """What the model's files say; a model that cannot be read gets an inspection whose
        `problem` says why (never raises for bad files)."""
        folder = Path(folder)
        try:
            fmt, path = _find(folder)
        except ModelLoadError as exc:
            return ModelInspection.unreadable(exc.problem, str(exc))
        file = _relative(path, folder)
        try:
            if fmt == "autopilot":
                trained = TrainedModel.load(path.parent)
                return ModelInspection(format=fmt, file=file, estimator="Pipeline",
                                       feature_names=trained.spec.features,
                                       target=trained.spec.target, task=trained.spec.task,
                                       refittable=True)
            if fmt == "mlflow":
                meta, estimator, flavor, _ = _load_mlflow(path)
                inputs, outputs = _signature(meta)
                facts: dict[str, Any] = _estimator_facts(estimator) if estimator is not None \
                    else {"refittable": False}
                inspection = ModelInspection(format=fmt, file=file, flavor=flavor,
                                             signature_inputs=inputs, signature_outputs=outputs,
                                             **facts)
                if estimator is None:
                    return replace(inspection, problem=ModelProblem.NOT_REFITTABLE, message=(
                        "an MLflow python_function model without a sklearn flavour: scored "
                        "through pyfunc, but the default retraining job cannot refit it"))
                return inspection
            obj = _load_pickle(path, fmt)
            _check_estimator(obj, file)
            inspection = ModelInspection(format=fmt, file=file, **_estimator_facts(obj))
            if not inspection.refittable:
                return replace(inspection, problem=ModelProblem.NOT_REFITTABLE, message=(
                    f"{file} holds a {type(obj).__name__}, not a scikit-learn estimator: "
                    "it can be scored, not refitted"))
            return inspection
        except ModelLoadError as exc:
            return ModelInspection.unreadable(exc.problem, str(exc), format=fmt, file=file)
        except TrainingError as exc:  # our own format, unreadable
            return ModelInspection.unreadable(ModelProblem.UNLOADABLE, str(exc), format=fmt,
                                              file=file)

    def load(self, folder: Path, description: ModelDescription) -> LoadedModel:
        """The model, ready to score and refit with the description's features, target and
        task. Raises ModelLoadError (with its reason code)."""
        folder = Path(folder)
        if not description.features or not description.target:
            raise ModelLoadError(description.problem or ModelProblem.FEATURES_UNKNOWN,
                                 description.reason or "features or target unknown")
        try:
            spec = TrainingSpec(target=description.target, features=description.features,
                                task=description.task)
        except ValueError as exc:
            raise ModelLoadError(ModelProblem.SIGNATURE_MISMATCH, str(exc)) from exc
        fmt, path = _find(folder)
        file = _relative(path, folder)
        if fmt == "autopilot":
            trained = TrainedModel.load(path.parent)
            return LoadedModel(spec=trained.spec, format=fmt, file=file, folder=path.parent,
                               trained=trained, trained_rows=trained.trained_rows)
        if fmt == "mlflow":
            meta, estimator, _, pyfunc = _load_mlflow(path)
            return LoadedModel(
                spec=spec, format=fmt, file=file, folder=path.parent, estimator=estimator,
                pyfunc=pyfunc, mlflow_flavor=dict(meta.flavors.get("sklearn") or {}),
                signature=meta.signature,
                fitted_on="arrays" if estimator is not None and getattr(
                    estimator, "feature_names_in_", None) is None else "dataframe")
        obj = _load_pickle(path, fmt)
        _check_estimator(obj, file)
        fitted_on = "dataframe" if getattr(obj, "feature_names_in_", None) is not None \
            else "arrays"
        return LoadedModel(spec=spec, format=fmt, file=file,
                           folder=path.parent if folder.is_dir() else None, estimator=obj,
                           fitted_on=fitted_on)


def inspection_json(inspection: ModelInspection) -> str:
    return json.dumps(inspection.to_doc(), sort_keys=True)
