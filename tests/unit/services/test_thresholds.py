"""The threshold policy of the early check (core/services/thresholds.py, wired into
DriftChecks): the reference profile calibrated when built, or when stored without a
calibration; the batch size from EXPECTED_BATCH_ROWS or recent batches; each policy's verdict
and evidence on the same batch."""

from __future__ import annotations

from core.drift import ReferenceProfile, build_profile
from tests.unit.services.conftest import (
    CLEAN_CSV,
    DRIFTED_CSV,
    MODEL,
    NULLS_CSV,
    REFERENCE,
    csv_table,
)

PROFILE_1 = f"reference-profile/{MODEL}-training/1.bin"


def test_the_profile_is_calibrated_when_built_and_judges_per_feature(world):
    world.model()
    reference = world.reference()
    drift = world.services(EXPECTED_BATCH_ROWS="20").drift
    profile = drift.profile(reference, model=MODEL)
    assert profile.calibration is not None and profile.calibration.batch_rows == 20
    stored = ReferenceProfile.from_bytes(world.ws.artifacts[PROFILE_1])
    assert stored.calibration is not None
    assert stored.calibration.keys == profile.calibration.keys
    result = drift.compare_with_profile(profile, csv_table(DRIFTED_CSV))
    assert result.breached and result.policy["name"] == "calibrated"
    sources = {m.threshold_source for _, m in result.breaches()}
    assert sources <= {"calibrated", "calibrated_widened"}


def test_a_profile_stored_without_calibration_is_calibrated_once(world):
    world.model()
    reference = world.reference()
    world.ws.put_artifact(PROFILE_1, build_profile(REFERENCE).to_bytes())
    drift = world.services().drift
    assert drift.profile(reference).calibration is not None
    assert ReferenceProfile.from_bytes(world.ws.artifacts[PROFILE_1]).calibration is not None
    # the azure policy reads it as it is
    plain = build_profile(REFERENCE).to_bytes()
    world.ws.put_artifact(PROFILE_1, plain)
    azure = world.services(DRIFT_THRESHOLD_POLICY="azure").drift
    assert azure.profile(reference).calibration is None
    assert world.ws.artifacts[PROFILE_1] == plain


def test_the_batch_size_is_the_median_of_recent_batches(world):
    world.model()
    world.reference()
    for i in range(3):
        world.ingest(f"b{i}.csv", CLEAN_CSV, EARLY_DRIFT_CHECK="false")
    thresholds = world.services().drift_thresholds
    rows = [r.rows for r in world.ledger.list(model=MODEL, status="registered")]
    assert thresholds.batch_rows(MODEL) == sorted(rows)[len(rows) // 2]
    assert world.services(EXPECTED_BATCH_ROWS="777").drift_thresholds.batch_rows(MODEL) == 777
    assert thresholds.batch_rows("other") == 1000


def test_nulls_breach_data_quality_under_each_policy_and_evidence_says_how(world):
    world.model()
    world.reference()
    for policy in ("calibrated", "azure"):
        record = world.ingest(f"nulls-{policy}.csv", NULLS_CSV,
                              DRIFT_THRESHOLD_POLICY=policy).record
        assert record.drift["signals"]["data_quality"], policy
        result = world.services().drift.load_result(record.drift["result"])
        [(signal, mv)] = [(s, m) for s, m in result.breaches() if m.metric == "null_value_rate"]
        assert (signal, mv.feature) == ("data_quality", "income")
        assert mv.status == "breach" and mv.past_by > 0
        assert result.policy["name"] == policy


def test_the_model_tag_drift_threshold_judges_the_early_check_as_it_does_the_monitor(
        world, caplog):
    """`autopilot.drift_threshold` sets the monitor's drift thresholds; the early check takes
    them in place of the settings', as a local monitor run does. A malformed tag is left to
    the monitor to report: the early check logs it and judges by the settings."""
    world.model()
    world.reference()
    plain = world.ingest("plain.csv", DRIFTED_CSV, DRIFT_THRESHOLD_POLICY="fixed").record
    assert plain.drift["signals"]["data_drift"]  # breached under the fixed defaults

    world.model(**{"autopilot.drift_threshold": "1e9"})  # version 2, the latest
    for policy in ("fixed", "azure"):
        tagged = world.ingest(f"tagged-{policy}.csv", DRIFTED_CSV,
                              DRIFT_THRESHOLD_POLICY=policy).record
        assert not tagged.drift["signals"].get("data_drift"), policy
        result = world.services().drift.load_result(tagged.drift["result"])
        assert result.policy["thresholds_from"] == "model tag autopilot.drift_threshold"
        judged = [m for f in result.signal("data_drift").features for m in f.metrics
                  if m.threshold is not None]
        assert judged and {m.threshold for m in judged} == {1e9}, policy

    world.model(**{"autopilot.drift_threshold": "high"})
    with caplog.at_level("WARNING"):
        bad = world.ingest("bad-tag.csv", DRIFTED_CSV, DRIFT_THRESHOLD_POLICY="fixed").record
    assert bad.drift["signals"]["data_drift"]
    assert "autopilot.drift_threshold of" in caplog.text and "not a number" in caplog.text
    result = world.services().drift.load_result(bad.drift["result"])
    assert "thresholds_from" not in result.policy
