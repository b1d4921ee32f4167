"""DriftChecks (core/services/drift_checks.py): the early check on every ingested batch, the
reference profile built once per reference version, on-demand checks between any two data
versions, and the stored results."""

from __future__ import annotations

import pyarrow as pa
import pytest

from core.drift import ReferenceProfile
from core.ports import NotFound
from tests.unit.services.conftest import (
    CLEAN_CSV,
    DRIFTED_CSV,
    MODEL,
    NULLS_CSV,
    csv_table,
)

PROFILE_1 = f"reference-profile/{MODEL}-training/1.bin"


@pytest.fixture
def drift(world):
    world.model()
    world.reference()
    return world.services().drift


def reads_of_reference(world):
    return [r for r in world.ws.reads if r.startswith(f"azureml:{MODEL}-training:")]


# --------------------------------------------------------------------------- profiles


def test_the_profile_is_built_once_per_reference_version_and_kept_as_an_artifact(world, drift):
    reference = world.ws.get_data(f"{MODEL}-training", "1")

    first = drift.profile(reference)
    again = world.services().drift.profile(reference)  # another instance: from the artifact

    assert reads_of_reference(world) == [f"azureml:{MODEL}-training:1"]
    assert ReferenceProfile.from_bytes(world.ws.artifacts[PROFILE_1]) is not None
    assert again.to_bytes() == first.to_bytes()

    newer = world.reference()  # training:2
    drift.profile(newer)
    assert reads_of_reference(world) == [f"azureml:{MODEL}-training:1",
                                         f"azureml:{MODEL}-training:2"]
    assert f"reference-profile/{MODEL}-training/2.bin" in world.ws.artifacts


@pytest.mark.parametrize("stored", [b"not a profile", b"MADRIFT\x00" + b"\xff" * 12])
def test_a_profile_of_an_unknown_format_is_rebuilt(world, drift, stored):
    world.ws.artifacts[PROFILE_1] = stored

    profile = drift.profile(world.ws.get_data(f"{MODEL}-training", "1"))

    assert reads_of_reference(world) == [f"azureml:{MODEL}-training:1"]
    assert world.ws.artifacts[PROFILE_1] != stored
    assert ReferenceProfile.from_bytes(world.ws.artifacts[PROFILE_1]).to_bytes() == \
        profile.to_bytes()  # readable now


def test_many_batches_read_the_reference_once_for_its_schema_and_once_for_its_profile(world):
    world.model()
    world.reference()
    for n in range(3):
        assert world.ingest(f"b{n}.csv", CLEAN_CSV).record.drift["breached"] is False

    assert reads_of_reference(world) == [f"azureml:{MODEL}-training:1"] * 2
    assert {f"reference-schema/{MODEL}-training/1.json", PROFILE_1} <= set(world.ws.artifacts)


# --------------------------------------------------------------------------- the early check


def test_the_early_check_summary_of_a_clean_batch(world, drift):
    outcome = world.ingest("clean.csv", CLEAN_CSV)

    summary = outcome.record.drift
    key = f"drift-results/{MODEL}/{outcome.record.ingestion_id}.json"
    assert summary == {
        "breached": False,
        "signals": {"data_drift": False, "data_quality": False},
        "breaches": [],
        "breach_count": 0,
        "rows_reference": 200,
        "rows_production": 200,
        "reference": f"azureml:{MODEL}-training:1",
        "production": f"{MODEL}-inference:1",
        "notes": summary["notes"],
        "result": key,
    }
    assert drift.load_result(key).breached is False


def test_the_early_check_summary_of_a_drifted_batch_names_its_breaches(world, drift):
    summary = world.ingest("drifted.csv", DRIFTED_CSV).record.drift

    assert summary["breached"] is True and summary["signals"]["data_drift"] is True
    drifted = {b["feature"] for b in summary["breaches"] if b["signal"] == "data_drift"}
    assert drifted == {"age", "income", "city"}
    assert summary["breach_count"] == len(summary["breaches"])
    breach = summary["breaches"][0]
    assert set(breach) == {"signal", "feature", "metric", "value", "threshold"}
    assert breach["value"] > breach["threshold"]


def test_a_data_quality_breach_is_its_own_signal(world, drift):
    summary = world.ingest("nulls.csv", NULLS_CSV).record.drift

    assert summary["signals"] == {"data_drift": False, "data_quality": True}
    assert [(b["feature"], b["metric"]) for b in summary["breaches"]] == [
        ("income", "null_value_rate")]


def test_label_columns_are_left_out_of_the_early_check(world):
    world.model()
    world.reference()
    outcome = world.ingest("clean.csv", CLEAN_CSV, LABEL_COLUMNS="approved")

    result = world.services().drift.load_result(outcome.record.drift["result"])
    data_drift = result.signal("data_drift")
    assert data_drift.feature("approved") is None
    assert all(data_drift.feature(f) is not None for f in ("age", "income", "city"))


def test_above_the_row_limit_the_check_uses_a_deterministic_sample_and_says_so(world):
    world.model()
    world.reference()

    first = world.ingest("a.csv", CLEAN_CSV, EARLY_DRIFT_ROW_LIMIT="64").record.drift
    second = world.ingest("b.csv", CLEAN_CSV, EARLY_DRIFT_ROW_LIMIT="64").record.drift

    assert first["rows_production"] <= 64
    (note,) = [n for n in first["notes"] if "deterministic sample" in n]
    assert "of 200 rows" in note and "EARLY_DRIFT_ROW_LIMIT" in note
    assert second["rows_production"] == first["rows_production"]  # same file, same sample


def test_a_failing_check_records_its_error_and_the_batch_is_still_registered(world):
    world.model()
    reference = world.reference()
    drift = world.services().drift
    # The schema is already cached, but the reference's rows cannot be read any more.
    world.services().reference.schema(reference)
    del world.ws.tables[(reference.name, reference.version)]

    outcome = world.ingest("clean.csv", CLEAN_CSV)

    assert outcome.kind == "registered"
    assert outcome.record.drift == {
        "error": f"NotFound: no rows stored for azureml:{MODEL}-training:1"}
    with pytest.raises(NotFound):
        drift.latest(MODEL)


def test_the_observer_finishing_with_no_rows_records_the_error(world, drift):
    observer = drift.observer_for(MODEL, {"age": "int64"})
    record = world.ingest("clean.csv", CLEAN_CSV).record

    assert observer.finish(record) == {"error": "ValueError: no rows"}


def test_no_early_check_without_reference_schema_or_when_disabled(world):
    world.model()
    drift = world.services().drift
    assert drift.observer_for(MODEL, {"age": "int64"}) is None  # no reference data asset
    world.reference()
    assert drift.observer_for(MODEL, None) is None  # no schema: structural validation only
    assert world.services(EARLY_DRIFT_CHECK="false").drift.observer_for(
        MODEL, {"age": "int64"}) is None
    assert world.ingest("a.csv", CLEAN_CSV, EARLY_DRIFT_CHECK="false").record.drift is None


# --------------------------------------------------------------------------- stored results


def test_latest_is_the_newest_registered_batch_with_a_result(world, drift):
    first = world.ingest("a.csv", CLEAN_CSV).record
    world.clock.advance(60)
    second = world.ingest("b.csv", DRIFTED_CSV).record
    world.clock.advance(60)
    world.ingest("c.csv", "age,city\n1,x\n")  # rejected: no result

    latest = drift.latest(MODEL)

    assert latest["ingestion"] == second.ingestion_id
    assert latest["breached"] is True
    assert drift.result_for(MODEL).breached is True
    assert drift.result_for(MODEL, first.ingestion_id).breached is False


def test_no_result_yet_is_not_found(world, drift):
    with pytest.raises(NotFound, match="no drift result yet"):
        drift.latest(MODEL)
    rejected = world.ingest("bad.csv", "age,city\n1,x\n").record
    with pytest.raises(NotFound, match="has no drift result"):
        drift.result_for(MODEL, rejected.ingestion_id)
    with pytest.raises(NotFound):
        drift.load_result("drift-results/churn/nope.json")


# --------------------------------------------------------------------------- on demand


def test_check_defaults_to_the_latest_inference_against_the_latest_reference(world, drift):
    world.inference(table=csv_table(CLEAN_CSV))
    world.inference(table=csv_table(DRIFTED_CSV))

    result, summary = drift.check(MODEL)

    assert result.breached is True
    assert (summary["reference"], summary["production"]) == (
        f"azureml:{MODEL}-training:1", f"azureml:{MODEL}-inference:2")
    key = f"drift-results/{MODEL}/check-{MODEL}-training-1-vs-{MODEL}-inference-2.json"
    assert summary["result"] == key
    assert drift.load_result(key).breached is True


def test_check_between_named_versions(world, drift):
    world.inference(table=csv_table(CLEAN_CSV))
    world.inference(table=csv_table(DRIFTED_CSV))

    result, summary = drift.check(MODEL, "1", baseline=(f"{MODEL}-training", "1"))

    assert result.breached is False
    assert summary["production"] == f"azureml:{MODEL}-inference:1"


def test_check_between_two_production_batches(world, drift):
    world.inference(table=csv_table(DRIFTED_CSV))
    world.inference(table=csv_table(DRIFTED_CSV))

    result, summary = drift.check(MODEL, "2", baseline=(f"{MODEL}-inference", "1"))

    assert result.breached is False  # the same data twice
    assert summary["reference"] == f"azureml:{MODEL}-inference:1"
    assert f"reference-profile/{MODEL}-inference/1.bin" in world.ws.artifacts


def test_check_of_another_asset_and_only_the_signals_asked_for(world, drift):
    world.ws.add_data("shadow", csv_table(NULLS_CSV))

    result, summary = drift.check(MODEL, production_asset="shadow", signals=("data_quality",))

    assert [s.name for s in result.signals] == ["data_quality"]
    assert summary["signals"] == {"data_quality": True}
    assert summary["production"] == "azureml:shadow:1"


def test_check_of_missing_data_is_not_found(world, drift):
    with pytest.raises(NotFound, match=f"{MODEL}-inference has no versions"):
        drift.check(MODEL)
    world.inference(table=pa.table({"age": [1, 2, 3]}))
    with pytest.raises(NotFound):
        drift.check(MODEL, "7")
    with pytest.raises(NotFound):
        drift.check(MODEL, baseline=(f"{MODEL}-training", "9"))


# --------------------------------------------------------------------------- streamed check


def _early_check_threads():
    import threading

    return [t for t in threading.enumerate() if t.name == "early-drift-check"]


def test_a_file_rejected_after_its_first_batches_leaves_no_early_check_behind(world, monkeypatch):
    from core.services import drift_checks

    seen = []
    add = drift_checks._EarlyCheck.add
    monkeypatch.setattr(drift_checks._EarlyCheck, "add",
                        lambda self, batch: (seen.append(batch.num_rows), add(self, batch)))
    world.model()
    world.reference()
    rows = CLEAN_CSV.splitlines()
    # Over two parser blocks of valid rows (the early check has seen batches), then a value
    # that is not an integer: the file is rejected after the check started.
    body = "\n".join(rows[1:])
    text = rows[0] + "\n" + "\n".join([body] * (2 * 1024 * 1024 // len(body) + 1))
    text += "\nnot-an-age,1.0,paris,1,r\n"

    outcome = world.ingest("late-error.csv", text)

    assert outcome.kind == "rejected"
    assert seen  # the check had started
    assert _early_check_threads() == []


def test_a_file_over_the_memory_budget_is_checked_on_a_sample_with_exact_quality(world):
    world.model()
    world.reference()
    rows = NULLS_CSV.splitlines()
    body = "\n".join(rows[1:])
    copies = 3 * 1024 * 1024 // len(body) + 1
    text = rows[0] + "\n" + "\n".join([body] * copies) + "\n"

    outcome = world.ingest("big.csv", text, EARLY_DRIFT_MEMORY_MB="1")

    summary = outcome.record.drift
    result = world.services().drift.load_result(summary["result"])
    assert result.sampling is not None and result.sampling.method == "bottom_k"
    assert result.sampling.rows_total == outcome.record.rows > result.rows_production
    quality = result.signal("data_quality")
    assert quality.rows_production == outcome.record.rows
    nulls = quality.feature("income").metric("null_value_rate")
    assert nulls.count == copies * sum(1 for i in range(len(rows) - 1) if i % 20 == 0)
    assert any("deterministic sample" in n for n in summary["notes"])
    assert _early_check_threads() == []
