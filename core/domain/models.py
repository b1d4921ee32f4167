"""What the service knows about a registered model: what its files say (`ModelInspection`, found
by the model loader in `core/training/`) and what follows once the operator's tags and the
reference data are taken into account (`ModelDescription`, decided here, pure).

The rules (README, "Models"):

- features: the `autopilot.features` tag; else the MLflow signature's inputs; else the
  estimator's `feature_names_in_` (fitted on a DataFrame) or the service's own saved metadata;
  else the reference columns less the target (an estimator fitted on arrays, in the
  reference's column order);
- target: the `autopilot.target` tag; else the service's own saved metadata; else the MLflow
  signature's one named output; else the one reference column the model does not take (or the
  one `LABEL_COLUMNS` entry among them);
- task: the `autopilot.ml_task` tag; else classification when the estimator has
  `predict_proba` or `classes_`, regression otherwise; else the `MONITOR_ML_TASK` setting;
- prediction columns: the signature's named outputs, else the target's name.

A model whose files cannot be read still has a description (drift needs no model): its
`problem` names why it cannot be scored or retrained, and everything that can be known without
it (features from the tag or the reference) is still filled in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal, cast

from core.domain import tags as tag_names
from core.domain.assets import ModelVersion

MLTask = Literal["classification", "regression"]

# How a model's files are stored.
ModelFormat = Literal["mlflow", "joblib", "pickle", "autopilot"]
INSPECTION_FORMAT = 1  # bump when ModelInspection changes meaning (cached inspections)


class ModelProblem(StrEnum):
    """Why a model cannot be scored or retrained here (the reason code beside the message)."""

    NO_MODEL_FILES = "no_model_files"  # the folder holds nothing the loader reads
    UNLOADABLE = "model_unloadable"  # a model file is there, loading it failed
    NOT_AN_ESTIMATOR = "not_an_estimator"  # a pickle of something that cannot predict
    UNSUPPORTED_FLAVOR = "unsupported_flavor"  # an MLflow model we cannot score
    NOT_REFITTABLE = "not_refittable"  # scorable, but not a scikit-learn estimator to refit
    SIGNATURE_MISMATCH = "signature_mismatch"  # disagrees with the reference data
    FEATURES_UNKNOWN = "features_unknown"
    TARGET_UNKNOWN = "target_unknown"
    INVALID_TAG = "invalid_tag"


@dataclass(frozen=True)
class ModelInspection:
    """What a model's files say, before tags and reference data. Cached per model version (a
    version's files never change), so it holds facts only: no tag, no reference."""

    format: ModelFormat | None  # None: nothing loadable
    file: str | None = None  # the model file, relative to the model folder
    flavor: str | None = None  # MLflow: "sklearn" or "python_function"
    estimator: str | None = None  # the scikit-learn class, e.g. "Pipeline"
    signature_inputs: tuple[tuple[str, str], ...] | None = None  # (name, MLflow type)
    signature_outputs: tuple[str, ...] | None = None  # named output columns, if any
    feature_names: tuple[str, ...] | None = None  # feature_names_in_, or our own metadata
    n_features: int | None = None  # n_features_in_
    target: str | None = None  # our own metadata
    task: MLTask | None = None  # from the estimator (predict_proba / classes_) or metadata
    refittable: bool = False  # a scikit-learn estimator the default job can clone and refit
    problem: ModelProblem | None = None
    message: str | None = None
    format_version: int = INSPECTION_FORMAT

    @property
    def readable(self) -> bool:
        return self.problem is None or self.problem is ModelProblem.NOT_REFITTABLE

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["problem"] = str(self.problem) if self.problem else None
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ModelInspection:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in doc.items() if k in known}
        for key in ("feature_names", "signature_outputs"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        if values.get("signature_inputs") is not None:
            values["signature_inputs"] = tuple(tuple(p) for p in values["signature_inputs"])
        if values.get("problem"):
            values["problem"] = ModelProblem(values["problem"])
        return cls(**values)

    @classmethod
    def unreadable(cls, problem: ModelProblem, message: str, *,
                   format: ModelFormat | None = None, file: str | None = None,
                   flavor: str | None = None) -> ModelInspection:
        return cls(format=format, file=file, flavor=flavor, problem=problem, message=message)


@dataclass(frozen=True)
class ModelDescription:
    """A model version as monitoring, validation and retraining use it."""

    model: str
    version: str
    format: ModelFormat | None
    features: tuple[str, ...] | None  # None: unknown (validation falls back to the reference)
    target: str | None
    task: MLTask
    prediction_columns: tuple[str, ...] = ()
    flavor: str | None = None
    file: str | None = None
    estimator: str | None = None
    fitted_on: Literal["dataframe", "arrays"] | None = None
    # Where each answer came from ("tag autopilot.features", "MLflow signature", ...).
    sources: dict[str, str] = field(default_factory=dict)
    feature_types: dict[str, str] = field(default_factory=dict)  # MLflow signature types
    scorable: bool = False
    problem: ModelProblem | None = None  # why retraining is unavailable (None: available)
    reason: str | None = None

    @property
    def retrainable(self) -> bool:
        return self.problem is None

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["problem"] = str(self.problem) if self.problem else None
        doc["retrainable"] = self.retrainable
        return doc


def _names(value: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip())


def describe(
    model: ModelVersion,
    inspection: ModelInspection,
    reference_columns: Sequence[str] | None,
    *,
    label_columns: Iterable[str] = (),
    default_task: MLTask = "classification",
) -> ModelDescription:
    """The description of `model` from its inspection, its tags and the reference data's
    columns (None: no reference data yet). Pure; see the module docstring for the rules."""
    tags = model.tags
    labels = tuple(label_columns)
    sources: dict[str, str] = {}
    problems: list[tuple[ModelProblem, str]] = []
    if not inspection.readable:
        problems.append((inspection.problem or ModelProblem.UNLOADABLE,
                         inspection.message or "the model cannot be loaded"))
    elif inspection.problem is ModelProblem.NOT_REFITTABLE:
        problems.append((ModelProblem.NOT_REFITTABLE, inspection.message or
                         "not a scikit-learn estimator the retraining job can refit"))

    # -- features the model itself names
    features: tuple[str, ...] | None = None
    if (tagged := tags.get(tag_names.FEATURES, "").strip()):
        features, sources["features"] = _names(tagged), f"tag {tag_names.FEATURES}"
    elif inspection.signature_inputs:
        features = tuple(n for n, _ in inspection.signature_inputs)
        sources["features"] = "MLflow signature inputs"
    elif inspection.feature_names:
        features = inspection.feature_names
        sources["features"] = ("saved model metadata" if inspection.format == "autopilot"
                               else "the estimator's feature_names_in_")

    # -- target
    target: str | None = None
    if (tagged := tags.get(tag_names.TARGET, "").strip()):
        target, sources["target"] = tagged, f"tag {tag_names.TARGET}"
    elif inspection.target:
        target, sources["target"] = inspection.target, "saved model metadata"
    elif inspection.signature_outputs and len(inspection.signature_outputs) == 1:
        target, sources["target"] = inspection.signature_outputs[0], "MLflow signature output"
    elif reference_columns is not None and features is not None:
        rest = [c for c in reference_columns if c not in features]
        labelled = [c for c in rest if c in labels]
        if len(rest) == 1:
            target = rest[0]
            sources["target"] = "the one reference column the model does not take"
        elif len(labelled) == 1:
            target, sources["target"] = labelled[0], "LABEL_COLUMNS"
    elif len(labels) == 1:
        target, sources["target"] = labels[0], "LABEL_COLUMNS"

    # -- features by elimination: an estimator fitted on arrays names none
    if features is None and reference_columns is not None and target is not None:
        features = tuple(c for c in reference_columns if c != target and c not in labels)
        sources["features"] = "the reference columns less the target"

    # -- task
    task: MLTask = default_task
    sources["task"] = "setting MONITOR_ML_TASK"
    tagged_task = tags.get(tag_names.ML_TASK, "").strip().lower()
    if tagged_task:
        if tagged_task in ("classification", "regression"):
            task, sources["task"] = cast(MLTask, tagged_task), f"tag {tag_names.ML_TASK}"
        else:
            problems.append((ModelProblem.INVALID_TAG, f"tag {tag_names.ML_TASK} must be "
                             f"classification or regression, not {tagged_task!r}"))
    elif inspection.task is not None:
        task = inspection.task
        sources["task"] = ("saved model metadata" if inspection.format == "autopilot" else
                           "the estimator (predict_proba or classes_ means classification)")

    # -- consistency with the reference data and the estimator
    if features is None:
        problems.append((ModelProblem.FEATURES_UNKNOWN, "the model names no input features "
                         f"(no MLflow signature, no feature_names_in_) and no {tag_names.TARGET} "
                         "tag or reference data tells them apart from the target; set the "
                         f"tags {tag_names.FEATURES} and {tag_names.TARGET}"))
    elif not features:
        problems.append((ModelProblem.FEATURES_UNKNOWN, "the model would take no feature"))
    if features and target in features:
        problems.append((ModelProblem.SIGNATURE_MISMATCH,
                         f"the target {target!r} is also one of the model's input features"))
    if (features and inspection.n_features is not None
            and inspection.n_features != len(features)):
        problems.append((ModelProblem.SIGNATURE_MISMATCH,
                         f"the estimator takes {inspection.n_features} features but "
                         f"{len(features)} were found ({sources.get('features')}): "
                         f"{', '.join(features)}"))
    if reference_columns is not None:
        missing = [c for c in (features or ()) if c not in reference_columns]
        if missing:
            problems.append((ModelProblem.SIGNATURE_MISMATCH,
                             f"the model takes {', '.join(missing)}, which the reference data "
                             "does not have"))
        if target is not None and target not in reference_columns:
            problems.append((ModelProblem.SIGNATURE_MISMATCH,
                             f"the target {target!r} is not a column of the reference data"))
    if target is None and features is not None:
        problems.append((ModelProblem.TARGET_UNKNOWN,
                         "the target is unknown: no MLflow signature output, and the reference "
                         f"data does not leave exactly one column out; set the tag "
                         f"{tag_names.TARGET}"))

    prediction = tuple(inspection.signature_outputs or ()) or ((target,) if target else ())
    problem, reason = problems[0] if problems else (None, None)
    fitted_on: Literal["dataframe", "arrays"] | None = None
    if inspection.refittable and inspection.format != "autopilot":
        # feature_names_in_ exists only on an estimator fitted on a DataFrame.
        fitted_on = "dataframe" if inspection.feature_names else "arrays"
    feature_types = {n: t for n, t in (inspection.signature_inputs or ())}
    return ModelDescription(
        model=model.name, version=model.version, format=inspection.format, features=features,
        target=target, task=task, prediction_columns=prediction, flavor=inspection.flavor,
        file=inspection.file, estimator=inspection.estimator, fitted_on=fitted_on,
        sources=sources, feature_types=feature_types, scorable=inspection.readable,
        problem=problem, reason=reason,
    )
