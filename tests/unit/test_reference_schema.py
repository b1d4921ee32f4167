"""Which columns a production file must carry (core/services/reference.py): the model's
features with the reference's types; the reference less LABEL_COLUMNS when the model names none;
a transient failure describing the model retried, never turned into a rejection."""

from __future__ import annotations

import pyarrow as pa
import pytest

from core.ports import WorkspaceError
from core.services.reference import ReferenceData
from tests.fakes import FakeWorkspace


@pytest.fixture
def ws():
    ws = FakeWorkspace()
    ws.add_data("m-training", pa.table({"age": [1], "city": ["x"], "churned": [0]}))
    return ws


def schema(ws, features_for=None, labels=()):
    reference = ReferenceData(ws, ws, lambda m: f"{m}-training", labels,
                              features_for=features_for)
    return reference.schema(reference.asset("m"), "m")


def test_the_models_features_with_the_references_types(ws):
    assert schema(ws, lambda model, asset: ("city", "age", "segment")) == {
        "city": "string", "age": "int64", "segment": "string"}  # segment: not in the reference


def test_without_features_the_reference_less_label_columns(ws):
    assert schema(ws, lambda model, asset: None) == {"age": "int64", "city": "string",
                                                     "churned": "int64"}
    assert schema(ws, None, labels=("churned",)) == {"age": "int64", "city": "string"}


def test_a_transient_failure_is_retried_and_a_broken_model_falls_back(ws):
    def unreachable(model, asset):
        raise WorkspaceError("workspace throttled")

    def broken(model, asset):
        raise RuntimeError("loader bug")

    with pytest.raises(WorkspaceError):
        schema(ws, unreachable)
    assert schema(ws, broken, labels=("churned",)) == {"age": "int64", "city": "string"}
