"""The engine reproduces the results it gave before its kernels changed (1e-12): see
``golden_cases.py`` for the cases and how ``golden_results.json`` was made."""

from __future__ import annotations

import json
import math

import pytest
from golden_cases import CASES, GOLDEN, run_case


def _same(a, b, path: str) -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), path
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), path
            return
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_equal_the_stored_ones(name):
    expected = json.loads(GOLDEN.read_text())[name]
    _same(json.loads(run_case(name).to_json()), expected, name)
