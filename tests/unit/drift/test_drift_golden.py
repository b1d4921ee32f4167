"""The engine reproduces the results it gave before its kernels changed (1e-12): see
``golden_cases.py`` for the cases and how ``golden_results.json`` was made."""

from __future__ import annotations

import json
import math

import pytest
from golden_cases import CASES, GOLDEN, run_case

# The golden results were stored in result format 2; format 3 only adds the judgement
# (status, severity, warning thresholds, how far past, the policy): the numbers are compared.
FORMAT_3_ADDITIONS = {"policy", "severity", "status", "past_by", "threshold_source",
                      "warning_threshold"}


def _format_2(d):
    if isinstance(d, dict):
        return {k: _format_2(v) for k, v in d.items()
                if k not in FORMAT_3_ADDITIONS and k != "format_version"}
    if isinstance(d, list):
        return [_format_2(x) for x in d]
    return d


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
    got = json.loads(run_case(name).to_json())
    assert got["format_version"] == 3 and expected["format_version"] == 2
    _same(_format_2(got), _format_2(expected), name)
