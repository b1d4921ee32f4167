"""The drift JSON (format 3): Azure's output names, the flat table, row counts after the null
drop, structured departures, JSON-valid non-finite values, status and severity at every level;
formats 1 and 2 still load."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from core.drift import DriftConfig, build_profile, compare
from core.drift.result import DEPARTURES, RESULT_FORMAT_VERSION, DriftResult, MetricValue


def _result(n: int = 12_000) -> DriftResult:
    rng = np.random.default_rng(5)
    ref = pa.table({"x": rng.normal(0, 1, n), "c": rng.choice(["a", "b"], n),
                    "k": pa.array([1.0] * n), "t": rng.choice(["p", "q"], n),
                    "g": pa.array([None if i % 10 == 0 else float(i) for i in range(n)])})
    prod = pa.table({"x": np.append(rng.normal(0.5, 1, n - 1), np.inf),
                     "c": rng.choice(["a", "b", "z"], n), "k": pa.array([1.0] * n),
                     "t": rng.normal(0, 1, n),
                     "g": pa.array([None if i % 7 == 0 else float(i) for i in range(n)])})
    return compare(build_profile(ref), prod, DriftConfig())


def test_json_names_metrics_as_azure_and_has_the_flat_table():
    result = _result()
    doc = json.loads(result.to_json())
    assert doc["format_version"] == RESULT_FORMAT_VERSION == 3
    assert doc["parity"] == "azure"
    drift = next(s for s in doc["signals"] if s["name"] == "data_drift")
    names = {m["metric"]: m["azure_name"] for f in drift["features"] for m in f["metrics"]}
    assert names["jensen_shannon_distance"] == "JensenShannonDistance"
    assert names["normalized_wasserstein_distance"] == "NormalizedWassersteinDistance"
    assert names["pearsons_chi_squared_test"] == "PearsonsChiSquaredTest"
    table = doc["table"]
    metric_rows = [r for r in table if r["metric"] is not None]
    assert len(metric_rows) == len(result.metrics())
    row = next(r for r in metric_rows if r["feature_name"] == "x"
               and r["metric_name"] == "NormalizedWassersteinDistance")
    assert set(row) == {"signal", "feature_name", "data_type", "metric_name", "metric",
                        "metric_value", "non_finite", "threshold_value", "breached"}
    assert row["data_type"] == "Numerical" and row["threshold_value"] == 0.1
    counts = {(r["signal"], r["metric_name"]): r["metric_value"]
              for r in table if r["metric"] is None}
    sig = result.signal("data_drift")
    assert counts[("data_drift", "BaselineRowCount")] == sig.rows_reference
    assert counts[("data_drift", "TargetRowCount")] == sig.rows_production
    assert counts[("data_quality", "RowCount")] == 12_000


def test_row_counts_after_the_null_drop_have_their_own_names():
    doc = json.loads(_result().to_json())
    drift = next(s for s in doc["signals"] if s["name"] == "data_drift")
    quality = next(s for s in doc["signals"] if s["name"] == "data_quality")
    # g has nulls in both frames (x's inf is missing too): rows are dropped.
    assert drift["rows_reference_after_null_drop"] == 12_000 - 1200
    assert drift["rows_production_after_null_drop"] < 12_000
    assert quality["rows_production_after_null_drop"] is None
    assert doc["rows_production"] == 12_000


def test_every_departure_is_a_structured_field():
    result = _result()
    doc = json.loads(result.to_json())
    codes = {(d["code"], d["feature"]) for d in doc["departures"]}
    assert ("ks_above_azure_limit", "x") in codes
    assert ("infinite_values_as_missing", "x") in codes
    assert ("constant_column", "k") in codes
    assert ("column_excluded", "t") in codes
    for d in doc["departures"]:
        assert d["code"] in DEPARTURES and d["detail"]
    ks = next(d for d in doc["departures"] if d["code"] == "ks_above_azure_limit")
    assert ks["metric"] == "two_sample_kolmogorov_smirnov_test" and ks["signal"] == "data_drift"
    # The all-null skip: a production column with nothing in it.
    ref = pa.table({"x": [1.0, 2.0, 3.0], "e": [1.0, 2.0, 3.0]})
    prod = pa.table({"x": [1.0, 2.5, 3.0], "e": pa.array([None, None, None], pa.float64())})
    r = compare(build_profile(ref), prod, DriftConfig(signals=("data_drift",)))
    assert [d.code for d in r.all_departures()] == ["all_null_column_skipped"]


def test_non_finite_values_are_json_valid_with_a_stated_meaning():
    inf = MetricValue("f", "numerical", "population_stability_index", math.inf, 0.2, True,
                      "above")
    nan = MetricValue("f", "numerical", "population_stability_index", None, 0.2, False,
                      "above", undefined=True)
    for mv, marker in ((inf, "inf"), (nan, "nan")):
        d = mv.to_dict()
        assert d["value"] is None and d["non_finite"] == marker
        json.dumps(d, allow_nan=False)
        back = MetricValue.from_dict(d)
        assert back == mv
    doc = json.loads(_result().to_json())
    assert "nan" in doc["value_encoding"] and "inf" in doc["value_encoding"]


def test_json_round_trips():
    result = _result()
    again = DriftResult.from_json(result.to_json())
    assert again == result
    assert again.all_departures() == result.all_departures()


def test_results_stored_by_format_1_still_load():
    text = (Path(__file__).parent / "result_format_1.json").read_text()
    assert json.loads(text)["format_version"] == 1
    old = DriftResult.from_json(text)
    assert old.parity == old.binning == "azure"
    assert old.signal("data_drift").feature("x").metric("jensen_shannon_distance").value > 0
    assert old.departures == ()
    upgraded = json.loads(old.to_json())
    assert upgraded["format_version"] == 3 and upgraded["table"]
    v1 = {"format_version": 1, "rows_reference": 1, "rows_production": 1, "signals": [
        {"name": "data_drift", "rows_reference": 1, "rows_production": 1, "features": [
            {"name": "f", "feature_type": "numerical", "metrics": [
                {"feature": "f", "feature_type": "numerical",
                 "metric": "population_stability_index", "value": "Infinity",
                 "threshold": 0.2, "breached": True, "direction": "above"}]}]}]}
    value = DriftResult.from_dict(v1).signal("data_drift").feature("f").metrics[0].value
    assert value == math.inf


def test_results_stored_by_format_2_still_load_and_gain_status():
    text = (Path(__file__).parent / "result_format_2.json").read_text()
    doc = json.loads(text)
    assert doc["format_version"] == 2 and "status" not in doc
    old = DriftResult.from_json(text)
    assert old.policy is None
    jsd = old.signal("data_drift").feature("x").metric("jensen_shannon_distance")
    assert jsd.warning_threshold is None and jsd.threshold_source is None
    again = json.loads(old.to_json())
    assert again["format_version"] == RESULT_FORMAT_VERSION
    assert again["status"] == ("breach" if old.breached else "ok")
    assert {s["status"] for s in again["signals"]} <= {"ok", "warning", "breach"}


def _mv(value, threshold, direction="above", warning=None):
    return MetricValue("f", "numerical", "jensen_shannon_distance", value, threshold,
                       breached=registry_breached(value, threshold, direction),
                       direction=direction, warning_threshold=warning)


def registry_breached(value, threshold, direction):
    if value is None or threshold is None:
        return False
    return value < threshold if direction == "below" else value > threshold


def test_status_is_ok_warning_or_breach_with_how_far_past():
    assert _mv(0.05, 0.1).status == "ok"
    assert _mv(0.09, 0.1).status == "warning"  # past 0.8 x threshold
    breach = _mv(0.15, 0.1)
    assert breach.status == "breach"
    assert breach.past_by == pytest.approx(0.05) and breach.severity == pytest.approx(1.5)
    assert _mv(0.06, 0.1, warning=0.05).status == "warning"  # explicit warning level
    assert _mv(0.04, 0.1, warning=0.05).status == "ok"
    assert _mv(0.3, None).status == "info"
    p = _mv(0.01, 0.05, direction="below")
    assert p.status == "breach" and p.past_by == pytest.approx(0.04)
    assert _mv(0.06, 0.05, direction="below").status == "warning"
    assert _mv(0.5, 0.05, direction="below").status == "ok"
    d = breach.to_dict()
    assert d["status"] == "breach" and d["past_by"] == pytest.approx(0.05)
    assert MetricValue.from_dict(d) == breach


def test_status_rolls_up_to_feature_signal_and_result():
    result = _result()
    doc = result.to_dict()
    assert doc["status"] == "breach" == result.status
    for s, sd in zip(result.signals, doc["signals"], strict=True):
        assert sd["status"] == s.status
        assert sd["status"] == ("breach" if s.breached else sd["status"])
        for _f, fd in zip(s.features, sd["features"], strict=True):
            statuses = {m["status"] for m in fd["metrics"]}
            assert fd["status"] == ("breach" if "breach" in statuses else
                                    "warning" if "warning" in statuses else "ok")
