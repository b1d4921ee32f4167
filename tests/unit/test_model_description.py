"""How features, target and task are found (core/domain/models.py), on hand-built inspections:
each rule, the tags winning, and each way a model can disagree with its reference data."""

from __future__ import annotations

import pytest

from core.domain.assets import ModelVersion
from core.domain.models import ModelInspection, ModelProblem, describe

REFERENCE = ["age", "income", "city", "churned"]


def model(**tags: str) -> ModelVersion:
    return ModelVersion("churn", "3", "/m", tags=dict(tags))


def mlflow(inputs=("age", "income", "city"), outputs=("churned",), **kw) -> ModelInspection:
    return ModelInspection(format="mlflow", file="MLmodel", flavor="sklearn",
                           signature_inputs=tuple((n, "double") for n in inputs),
                           signature_outputs=outputs, task="classification", refittable=True,
                           **kw)


def joblib(feature_names=None, n_features=None, task="classification") -> ModelInspection:
    return ModelInspection(format="joblib", file="m.joblib", estimator="Pipeline",
                           feature_names=feature_names, n_features=n_features, task=task,
                           refittable=True)


def test_mlflow_signature_gives_features_target_and_prediction_columns():
    d = describe(model(), mlflow(), REFERENCE)
    assert (d.features, d.target, d.task) == (("age", "income", "city"), "churned",
                                              "classification")
    assert d.prediction_columns == ("churned",)
    assert d.sources == {"features": "MLflow signature inputs",
                         "target": "MLflow signature output",
                         "task": "the estimator (predict_proba or classes_ means classification)"}
    assert d.retrainable and d.scorable and d.fitted_on == "arrays"  # no feature_names_in_


def test_feature_names_in_and_the_one_reference_column_left_out():
    d = describe(model(), joblib(("age", "city"), 2), ["age", "city", "churned"])
    assert (d.features, d.target) == (("age", "city"), "churned")
    assert d.sources["target"] == "the one reference column the model does not take"
    assert d.fitted_on == "dataframe" and d.prediction_columns == ("churned",)


def test_arrays_take_the_reference_less_the_target_in_its_order():
    d = describe(model(**{"autopilot.target": "churned"}), joblib(None, 3), REFERENCE)
    assert d.features == ("age", "income", "city")
    assert d.sources["features"] == "the reference columns less the target"
    assert d.retrainable and d.fitted_on == "arrays"


def test_label_columns_name_the_target_among_several_left_out():
    d = describe(model(), joblib(("age",), 1), REFERENCE, label_columns=["churned"])
    assert d.target == "churned" and d.sources["target"] == "LABEL_COLUMNS"
    arrays = describe(model(), joblib(None, 3), REFERENCE, label_columns=["churned"])
    assert arrays.features == ("age", "income", "city") and arrays.target == "churned"


def test_tags_win_over_what_the_model_says():
    d = describe(model(**{"autopilot.features": "age, city", "autopilot.target": "income",
                          "autopilot.ml_task": "Regression"}),
                 mlflow(inputs=("age", "city")), REFERENCE)
    assert (d.features, d.target, d.task) == (("age", "city"), "income", "regression")
    assert d.sources == {"features": "tag autopilot.features", "target": "tag autopilot.target",
                         "task": "tag autopilot.ml_task"}
    assert d.retrainable


def test_task_regression_without_probabilities_and_the_setting_when_unknown():
    assert describe(model(), joblib(("age",), 1, task="regression"), ["age", "income"]).task \
        == "regression"
    pyfunc = ModelInspection(format="mlflow", flavor="python_function",
                             signature_inputs=(("age", "long"),), signature_outputs=("y",),
                             problem=ModelProblem.NOT_REFITTABLE, message="pyfunc")
    d = describe(model(), pyfunc, None, default_task="regression")
    assert d.task == "regression" and d.sources["task"] == "setting MONITOR_ML_TASK"
    assert d.scorable and not d.retrainable and d.problem is ModelProblem.NOT_REFITTABLE


def test_our_own_format_names_everything():
    own = ModelInspection(format="autopilot", file="autopilot-model.json",
                          feature_names=("age",), target="churned", task="classification",
                          refittable=True)
    d = describe(model(), own, REFERENCE)
    assert (d.features, d.target) == (("age",), "churned") and d.fitted_on is None
    assert d.sources["features"] == "saved model metadata"


@pytest.mark.parametrize("inspection, reference, tags, problem, words", [
    (mlflow(inputs=("age", "segment")), REFERENCE, {}, ModelProblem.SIGNATURE_MISMATCH,
     "the model takes segment, which the reference data does not have"),
    (mlflow(outputs=("label",)), REFERENCE, {}, ModelProblem.SIGNATURE_MISMATCH,
     "the target 'label' is not a column of the reference data"),
    (mlflow(outputs=("age",)), REFERENCE, {}, ModelProblem.SIGNATURE_MISMATCH,
     "also one of the model's input features"),
    (joblib(None, 2), REFERENCE, {"autopilot.target": "churned"},
     ModelProblem.SIGNATURE_MISMATCH, "the estimator takes 2 features but 3 were found"),
    (joblib(None, 3), REFERENCE, {}, ModelProblem.FEATURES_UNKNOWN, "autopilot.target"),
    (joblib(("age",), 1), REFERENCE, {}, ModelProblem.TARGET_UNKNOWN,
     "set the tag autopilot.target"),
    (mlflow(), REFERENCE, {"autopilot.ml_task": "ranking"}, ModelProblem.INVALID_TAG,
     "ranking"),
])
def test_disagreements_make_retraining_unavailable_with_the_reason(inspection, reference, tags,
                                                                    problem, words):
    d = describe(model(**tags), inspection, reference)
    assert not d.retrainable and d.problem is problem
    assert words in (d.reason or "")


def test_an_unreadable_model_is_still_described_from_its_tags_and_reference():
    broken = ModelInspection.unreadable(ModelProblem.NOT_AN_ESTIMATOR, "m.pkl holds a dict")
    d = describe(model(**{"autopilot.target": "churned"}), broken, REFERENCE)
    assert not d.scorable and d.problem is ModelProblem.NOT_AN_ESTIMATOR
    assert d.reason == "m.pkl holds a dict"
    # Validation and the monitor still know what production files carry.
    assert d.features == ("age", "income", "city")


def test_inspection_round_trips_through_its_cached_document():
    original = mlflow(problem=ModelProblem.NOT_REFITTABLE, message="x")
    import json

    assert ModelInspection.from_doc(json.loads(json.dumps(original.to_doc()))) == original
