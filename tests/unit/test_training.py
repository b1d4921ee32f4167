from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sklearn
from sklearn.metrics import f1_score, precision_score

from core.domain.retraining import DEFAULT_PRIMARY_METRIC, GateDecision, judge
from core.training.model import (
    TrainedModel,
    TrainingError,
    TrainingSpec,
    evaluate,
    split_holdout,
    train,
)
from devtools.synthetic import FEATURES, TARGET, transactions

SPEC = TrainingSpec(target=TARGET, features=FEATURES, n_estimators=50)


@pytest.fixture(scope="module")
def clean():
    return transactions(3000, seed=1)


@pytest.fixture(scope="module")
def clean_holdout():
    return transactions(1500, seed=3)


@pytest.fixture(scope="module")
def champion(clean):
    return train(clean, SPEC)


def _labels(table: pa.Table, name: str = TARGET) -> np.ndarray:
    return np.asarray(table.column(name).to_pylist())


# --- training and evaluation ---------------------------------------------------------------


def test_model_on_clean_data_beats_a_trivial_baseline(champion, clean_holdout):
    scores = evaluate(champion, clean_holdout)
    assert set(scores) == {"accuracy", "precision", "recall", "f1", "auc"}
    majority = max(_labels(clean_holdout).mean(), 1 - _labels(clean_holdout).mean())
    assert scores["accuracy"] > majority + 0.05
    assert scores["f1"] > 0.75
    assert scores["auc"] > 0.85
    assert champion.trained_rows == 3000
    assert champion.categorical == ("merchant_category", "country")


def test_predict_gives_one_known_label_per_row(champion, clean_holdout):
    predicted = champion.predict(clean_holdout.select(list(FEATURES)))
    assert predicted.shape == (clean_holdout.num_rows,)
    assert set(predicted.tolist()) == {0, 1}


def test_binary_metrics_take_the_larger_label_as_positive(champion, clean_holdout):
    y, predicted = _labels(clean_holdout), champion.predict(clean_holdout)
    scores = evaluate(champion, clean_holdout)
    assert scores["precision"] == pytest.approx(precision_score(y, predicted, pos_label=1))
    assert scores["f1"] == pytest.approx(f1_score(y, predicted, pos_label=1))
    assert scores["f1"] != pytest.approx(f1_score(y, predicted, pos_label=0))


def test_unknown_categories_and_missing_numbers_do_not_break_prediction(champion):
    table = pa.table({
        "amount": pa.array([500.0, None]), "hour": pa.array([2, 14]),
        "merchant_category": pa.array(["casino", None]), "country": pa.array(["JP", "US"]),
        "card_present": pa.array([0, 1]), "distance_km": pa.array([90.0, 1.0]),
    })
    assert champion.predict(table).shape == (2,)


def test_predict_without_a_feature_column_says_which(champion, clean_holdout):
    with pytest.raises(TrainingError, match="'country'"):
        champion.predict(clean_holdout.drop_columns(["country"]))


def test_evaluate_drops_rows_without_a_target(champion, clean_holdout):
    n = clean_holdout.num_rows
    y = clean_holdout.column(TARGET).to_pylist()
    masked = clean_holdout.set_column(
        clean_holdout.schema.get_field_index(TARGET), TARGET,
        pa.array([None if i % 3 == 0 else v for i, v in enumerate(y)], pa.int64()),
    )
    kept = clean_holdout.filter(pa.array([i % 3 != 0 for i in range(n)]))
    assert evaluate(champion, masked) == evaluate(champion, kept)
    all_null = clean_holdout.set_column(
        clean_holdout.schema.get_field_index(TARGET), TARGET, pa.nulls(n, pa.int64())
    )
    with pytest.raises(TrainingError, match="no holdout rows"):
        evaluate(champion, all_null)


def test_auc_is_none_when_the_holdout_has_one_class(champion, clean_holdout):
    negatives = clean_holdout.filter(pc.equal(clean_holdout.column(TARGET), 0))
    scores = evaluate(champion, negatives)
    assert scores["auc"] is None
    assert scores["accuracy"] > 0.9


def test_multiclass_metrics_are_macro_and_auc_needs_every_class():
    table = transactions(1200, seed=4)
    spec = TrainingSpec("merchant_category", ("amount", "hour", "card_present", "distance_km"),
                        n_estimators=20)
    train_part, holdout = split_holdout(table, "merchant_category", seed=1)
    model = train(train_part, spec)
    scores = evaluate(model, holdout)
    y, predicted = _labels(holdout, "merchant_category"), model.predict(holdout)
    assert scores["f1"] == pytest.approx(f1_score(y, predicted, average="macro"))
    assert 0 < scores["auc"] < 1
    # A model that never saw "fuel" has no probability for it: no AUC on a holdout with it.
    no_fuel = train(train_part.filter(pc.not_equal(train_part.column("merchant_category"),
                                                   "fuel")), spec)
    assert evaluate(no_fuel, holdout)["auc"] is None


def test_regression_path(clean):
    hour = _labels(clean, "hour")
    score = (3.0 * hour + 20.0 * _labels(clean, "card_present")
             + 0.5 * _labels(clean, "distance_km")
             + np.random.default_rng(0).normal(0, 2.0, clean.num_rows))
    table = clean.append_column("score", pa.array(score))
    spec = TrainingSpec("score", ("hour", "card_present", "distance_km", "merchant_category"),
                        task="regression", n_estimators=30)
    train_part, holdout = split_holdout(table, "score", seed=0)
    model = train(train_part, spec)
    scores = evaluate(model, holdout)
    assert set(scores) == {"mae", "rmse", "r2"}
    assert scores["r2"] > 0.9
    assert scores["mae"] <= scores["rmse"] < 0.3 * float(np.std(score))


def test_regression_needs_a_numeric_target(clean):
    spec = TrainingSpec("country", ("amount",), task="regression", n_estimators=5)
    with pytest.raises(TrainingError, match="numeric target"):
        train(clean, spec)


# --- save and load -------------------------------------------------------------------------


def test_save_load_round_trip_predicts_identically(champion, clean_holdout, tmp_path):
    champion.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "autopilot-model.json").read_text())
    assert meta["target"] == TARGET and meta["features"] == list(FEATURES)
    assert meta["task"] == "classification" and meta["trained_rows"] == 3000
    assert meta["sklearn_version"] == sklearn.__version__
    loaded = TrainedModel.load(tmp_path / "m")
    assert loaded.spec == champion.spec
    assert loaded.categorical == champion.categorical
    assert np.array_equal(loaded.predict(clean_holdout), champion.predict(clean_holdout))
    assert evaluate(loaded, clean_holdout) == evaluate(champion, clean_holdout)


def test_load_refuses_missing_or_incompatible_files(champion, tmp_path):
    with pytest.raises(TrainingError, match="missing"):
        TrainedModel.load(tmp_path / "nothing-here")
    champion.save(tmp_path / "m")
    meta_path = tmp_path / "m" / "autopilot-model.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "sklearn_version": "0.24.2"}))
    with pytest.raises(TrainingError, match=r"scikit-learn 0\.24\.2"):
        TrainedModel.load(tmp_path / "m")
    meta_path.write_text(json.dumps(meta))
    (tmp_path / "m" / "model.joblib").write_bytes(b"not a pickle")
    with pytest.raises(TrainingError, match="cannot load"):
        TrainedModel.load(tmp_path / "m")


# --- training errors -----------------------------------------------------------------------


def test_missing_columns_are_named(clean):
    with pytest.raises(TrainingError, match="'nope'"):
        train(clean, TrainingSpec(TARGET, ("amount", "nope")))
    with pytest.raises(TrainingError, match="'label'"):
        train(clean, TrainingSpec("label", ("amount",)))


def test_single_class_is_refused(clean):
    negatives = clean.filter(pc.equal(clean.column(TARGET), 0))
    with pytest.raises(TrainingError, match="single class"):
        train(negatives, SPEC)


def test_empty_and_tiny_tables_are_refused(clean):
    with pytest.raises(TrainingError, match=r"too few rows to train: 0 "):
        train(clean.slice(0, 0), SPEC)
    with pytest.raises(TrainingError, match=r"too few rows to train: 5 "):
        train(clean.slice(0, 5), SPEC)


def test_spec_rejects_the_target_as_a_feature():
    with pytest.raises(ValueError, match="target"):
        TrainingSpec(TARGET, ("amount", TARGET))


# --- holdout split -------------------------------------------------------------------------


def _with_ids(table: pa.Table) -> pa.Table:
    return table.append_column("row_id", pa.array(range(table.num_rows)))


def test_split_is_deterministic_disjoint_and_complete():
    table = _with_ids(transactions(1000, seed=2))
    train_a, hold_a = split_holdout(table, TARGET, seed=5)
    train_b, hold_b = split_holdout(table, TARGET, seed=5)
    assert train_a.equals(train_b) and hold_a.equals(hold_b)
    ids_train, ids_hold = set(_labels(train_a, "row_id")), set(_labels(hold_a, "row_id"))
    assert not ids_train & ids_hold and len(ids_train | ids_hold) == 1000
    assert hold_a.num_rows == pytest.approx(300, abs=2)
    _, hold_other = split_holdout(table, TARGET, seed=6)
    assert not hold_other.equals(hold_a)


def test_split_is_stratified_by_class():
    table = _with_ids(transactions(1000, seed=2))
    positives = int(_labels(table).sum())
    _, hold = split_holdout(table, TARGET, seed=0)
    assert int(_labels(hold).sum()) == round(positives * 0.3)
    # Without stratification the positive count wanders from the expected one for some seed.
    counts = {int(_labels(split_holdout(table, TARGET, seed=s, stratify=False)[1]).sum())
              for s in range(10)}
    assert len(counts) > 1


def test_split_keeps_rare_classes_on_both_sides_and_drops_unlabelled_rows():
    labels = [0] * 20 + [1] * 2 + [None] * 5
    table = pa.table({"x": pa.array(range(27)), "y": pa.array(labels, pa.int64())})
    train_part, hold = split_holdout(table, "y", seed=0)
    assert train_part.num_rows + hold.num_rows == 22
    assert set(_labels(hold, "y").tolist()) == {0, 1}
    assert set(_labels(train_part, "y").tolist()) == {0, 1}


def test_split_refuses_a_bad_fraction_or_too_few_rows():
    table = pa.table({"y": pa.array([1])})
    with pytest.raises(ValueError, match="fraction"):
        split_holdout(table, "y", fraction=1.0)
    with pytest.raises(TrainingError, match="too few rows"):
        split_holdout(table, "y")


# --- the gate ------------------------------------------------------------------------------


def test_judge_accepts_a_clearly_better_challenger():
    decision = judge({"f1": 0.801}, {"f1": 0.912}, "classification")
    assert decision.accepted and decision.metric == "f1"
    assert decision.improvement == pytest.approx(0.111)
    assert decision.reason == "challenger f1 0.912 beats champion 0.801 by 0.111 (margin 0.01)"


def test_judge_rejects_a_small_or_negative_improvement():
    small = judge({"f1": 0.80}, {"f1": 0.805}, "classification")
    assert not small.accepted and small.improvement == pytest.approx(0.005)
    assert "does not beat" in small.reason
    worse = judge({"f1": 0.80}, {"f1": 0.70}, "classification")
    assert not worse.accepted and worse.improvement == pytest.approx(-0.1)


def test_judge_margin_edge():
    assert judge({"f1": 0.80}, {"f1": 0.81}, "classification", margin=0.01).accepted
    # 0.57 - 0.56 is 0.00999999999999989 in binary floats: still the margin.
    assert judge({"f1": 0.56}, {"f1": 0.57}, "classification", margin=0.01).accepted
    assert not judge({"f1": 0.80}, {"f1": 0.8099}, "classification", margin=0.01).accepted
    # With no margin, a tie is still no improvement.
    assert not judge({"f1": 0.80}, {"f1": 0.80}, "classification", margin=0.0).accepted
    assert judge({"f1": 0.80}, {"f1": 0.8001}, "classification", margin=0.0).accepted


def test_judge_lower_is_better_metrics():
    better = judge({"rmse": 12.5}, {"rmse": 10.0}, "regression")
    assert DEFAULT_PRIMARY_METRIC["regression"] == "rmse"
    assert better.accepted and better.improvement == pytest.approx(2.5)
    worse = judge({"rmse": 10.0}, {"rmse": 12.5}, "regression")
    assert not worse.accepted and worse.improvement == pytest.approx(-2.5)
    mae = judge({"mae": 1.0, "rmse": 1.0}, {"mae": 0.5, "rmse": 2.0}, "regression", metric="mae")
    assert mae.accepted and mae.metric == "mae"


def test_judge_without_champion_or_with_missing_metrics():
    for nothing in (None, {}):
        first = judge(nothing, {"f1": 0.3}, "classification")
        assert first.accepted and first.improvement is None
        assert first.reason == "no champion to beat"
    assert not judge({"auc": 0.8}, {"auc": None}, "classification", metric="auc").accepted
    assert not judge({"f1": 0.8}, {"accuracy": 0.9}, "classification").accepted
    assert judge({"auc": None}, {"auc": 0.7}, "classification", metric="auc").accepted


def test_judge_refuses_a_metric_of_the_other_task():
    with pytest.raises(ValueError, match="rmse"):
        judge({"rmse": 1.0}, {"rmse": 0.5}, "classification", metric="rmse")
    with pytest.raises(ValueError, match="f1"):
        judge(None, {"f1": 0.5}, "regression", metric="f1")


def test_decision_to_dict_is_json_ready():
    decision = judge({"f1": 0.5, "auc": None}, {"f1": 0.7, "auc": 0.8}, "classification")
    assert isinstance(decision, GateDecision)
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["accepted"] is True and data["champion"] == {"f1": 0.5, "auc": None}
    assert data["margin"] == 0.01 and data["metric"] == "f1"


# --- the retraining story, end to end ------------------------------------------------------


def test_challenger_with_concept_drifted_rows_beats_the_champion(champion):
    concept = transactions(3000, seed=2, drift="concept")
    concept_train, concept_holdout = split_holdout(concept, TARGET, seed=0)
    challenger = train(pa.concat_tables([transactions(3000, seed=1), concept_train]), SPEC)

    old = evaluate(champion, concept_holdout)
    new = evaluate(challenger, concept_holdout)
    assert old["f1"] < 0.35
    assert new["f1"] > old["f1"] + 0.2
    decision = judge(old, new, "classification", margin=0.01)
    assert decision.accepted
    assert decision.improvement == pytest.approx(new["f1"] - old["f1"])
