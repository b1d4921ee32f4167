from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from devtools.synthetic import (
    COUNTRIES,
    FEATURES,
    MERCHANTS,
    TARGET,
    to_csv_bytes,
    transactions,
)


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def _old_rule(table: pa.Table) -> np.ndarray:
    """The training-time labelling rule, recomputed from the features."""
    hour = _np(table, "hour")
    return (_np(table, "card_present") == 0) & (
        (_np(table, "amount") > 120) | (hour < 6) | (_np(table, "distance_km") > 40)
    )


def test_same_seed_same_table_other_seed_other_table():
    for drift in ("none", "covariate", "concept"):
        assert transactions(400, seed=3, drift=drift).equals(transactions(400, seed=3, drift=drift))
    assert not transactions(400, seed=3).equals(transactions(400, seed=4))


def test_columns_types_and_ranges():
    table = transactions(2000, seed=0)
    assert table.column_names == [*FEATURES, TARGET]
    assert table.num_rows == 2000
    assert table.schema.field("amount").type == pa.float64()
    assert table.schema.field("distance_km").type == pa.float64()
    for name in ("hour", "card_present", TARGET):
        assert pa.types.is_integer(table.schema.field(name).type), name
    for name in ("merchant_category", "country"):
        assert table.schema.field(name).type == pa.string()
    hour = _np(table, "hour")
    assert hour.min() >= 0 and hour.max() <= 23 and len(set(hour.tolist())) == 24
    assert set(_np(table, "card_present").tolist()) == {0, 1}
    assert set(table.column("merchant_category").to_pylist()) == set(MERCHANTS)
    assert set(table.column("country").to_pylist()) == set(COUNTRIES)
    assert (_np(table, "amount") > 0).all() and (_np(table, "distance_km") >= 0).all()
    assert all(column.null_count == 0 for column in table.columns)
    assert 0.08 <= _np(table, TARGET).mean() <= 0.2


def test_without_label_the_features_are_the_same():
    labelled = transactions(500, seed=7, drift="concept")
    unlabelled = transactions(500, seed=7, drift="concept", with_label=False)
    assert unlabelled.column_names == list(FEATURES)
    assert unlabelled.equals(labelled.select(list(FEATURES)))


def test_labels_follow_a_clear_rule_with_a_little_noise():
    table = transactions(5000, seed=1)
    agreement = (_old_rule(table) == (_np(table, TARGET) == 1)).mean()
    assert 0.95 <= agreement < 1.0  # noise flips a few labels, never most


def test_covariate_drift_shifts_inputs_but_keeps_the_rule():
    base = transactions(5000, seed=1)
    shifted = transactions(5000, seed=1, drift="covariate")
    ratio = _np(shifted, "amount").mean() / _np(base, "amount").mean()
    assert 1.8 <= ratio <= 3.0
    assert (_np(shifted, "hour") < 6).mean() > 2 * (_np(base, "hour") < 6).mean()
    share_in = (np.asarray(shifted.column("country").to_pylist()) == "IN").mean()
    assert share_in > 2 * (np.asarray(base.column("country").to_pylist()) == "IN").mean()
    assert (_old_rule(shifted) == (_np(shifted, TARGET) == 1)).mean() >= 0.95


def test_concept_drift_changes_the_rule():
    covariate = transactions(5000, seed=1, drift="covariate")
    concept = transactions(5000, seed=1, drift="concept")
    # Same inputs as the covariate shift...
    assert concept.select(list(FEATURES)).equals(covariate.select(list(FEATURES)))
    # ...but the old rule no longer explains the labels,
    old = _old_rule(concept)
    fraud = _np(concept, TARGET) == 1
    assert fraud[old].mean() < 0.3
    # and fraud moved to card-present electronics purchases.
    skimmed = (
        (np.asarray(concept.column("merchant_category").to_pylist()) == "electronics")
        & (_np(concept, "card_present") == 1)
        & ((_np(concept, "amount") > 120) | (_np(concept, "hour") < 6))
    )
    assert fraud[skimmed].mean() > 0.9
    assert (_np(covariate, TARGET) == 1)[skimmed].mean() < 0.1


def test_unknown_drift_is_refused():
    with pytest.raises(ValueError, match="drift"):
        transactions(10, drift="sideways")  # type: ignore[arg-type]


def test_csv_formats_ints_floats_nulls_and_quotes():
    table = pa.table({
        "i": pa.array([1, None, -3], pa.int64()),
        "f": pa.array([1.23456, 3.0, None], pa.float64()),
        "s": pa.array(["a,b", 'say "hi"', "plain"]),
    })
    assert to_csv_bytes(table).decode() == (
        'i,f,s\n1,1.2346,"a,b"\n,3.0,"say ""hi"""\n-3,,plain\n'
    )


def test_csv_round_trips_the_synthetic_table():
    table = transactions(300, seed=5, drift="covariate")
    data = to_csv_bytes(table)
    lines = data.decode().splitlines()
    assert lines[0] == ",".join([*FEATURES, TARGET])
    assert len(lines) == 301
    # No float written with more than 4 decimals, ints written without a decimal point.
    for line in lines[1:]:
        amount, hour = line.split(",")[:2]
        assert len(amount.split(".")[1]) <= 4
        assert hour.isdigit()
    back = pacsv.read_csv(io.BytesIO(data))
    assert back.equals(table)
