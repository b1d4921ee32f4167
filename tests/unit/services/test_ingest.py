"""IngestService (core/services/ingest.py): an inference blob becomes a validated MLTable version,
or a quarantine record with its reason; at-least-once delivery safe."""

from __future__ import annotations

import json

import pytest

from core.domain.assets import MLTable
from core.domain.ingestion import BlobRef, IngestionRecord, ingestion_id
from core.ports import ClaimHeld, Conflict, WorkspaceError
from core.services.ingest import IngestService
from tests.fakes import FakeBlobStore, FakeWorkspace
from tests.samples import BAD_FILES, COLLECTOR_PATH, GOOD_CSV, GOOD_JSONL, HEADER, bad_blob_name
from tests.unit.services.conftest import (
    CLEAN_CSV,
    INFERENCE,
    MODEL,
    QUARANTINE,
    ProcessDied,
    World,
    csv_table,
)

GOOD = f"{MODEL}/batches/2027-01-15.csv"
DECLARED = (("age", "int"), ("income", "float"), ("city", "string"))
MISSING_COLUMNS_CSV = "age,city\n30,rome\n31,oslo\n"
REFERENCE_AGE_CITY = csv_table("age,city\n" + "".join(f"{20 + i},rome\n" for i in range(20)))


@pytest.fixture
def svc(world):
    world.model()
    world.reference()
    return world.services().ingest


def versions(world, asset=f"{MODEL}-inference"):
    return [v.version for v in world.ws.list_data_versions(asset)]


# --------------------------------------------------------------------------- accepted files


def test_a_valid_csv_becomes_a_version_with_its_tags_and_ledger_record(world, svc):
    blob = world.upload(GOOD, GOOD_CSV)

    outcome = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.kind == "registered"
    assert outcome.message == f"registered as {MODEL}-inference:1"
    (asset,) = world.ws.list_data_versions(f"{MODEL}-inference")
    assert asset.version == "1"
    assert asset.tags == {
        "autopilot.model": MODEL,
        "autopilot.ingestion_id": ingestion_id(blob),
        "source_url": blob.url,
        "source_etag": blob.etag,
        "row_count": "50",
        "columns": "age,income,city,approved,request_id",
        "extra_columns": "request_id",
        "layout": "csv",
        "partition": "",
        "endpoint": "",
        "deployment": "",
        "collection": "",
        "reference_data": f"azureml:{MODEL}-training:1",
    }
    # The types validated against the reference are declared (approved, 0/1, is left to
    # Azure's inference, which reads it as boolean as it does the reference's).
    assert world.ws.mltables[(f"{MODEL}-inference", "1")] == MLTable(
        paths=("./2027-01-15.csv",), column_types=DECLARED)
    assert world.ws.tables[(f"{MODEL}-inference", "1")].num_rows == 50  # the copy beside it

    record = world.ledger.get(MODEL, ingestion_id(blob))
    assert record == outcome.record
    assert (record.status, record.asset_name, record.asset_version) == (
        "registered", f"{MODEL}-inference", "1")
    assert (record.rows, record.extra_columns, record.layout) == (50, ("request_id",), "csv")
    assert record.attempts == 1 and record.lease_until == 0.0 and record.error is None
    assert world.blobs.blobs[(INFERENCE, GOOD)][0] == GOOD_CSV.encode()


def test_on_azure_a_csv_is_referenced_in_place_through_the_datastore(world):
    world.ws = FakeWorkspace(datastore="inference_store")
    world.model()
    world.reference()
    world.upload(GOOD, GOOD_CSV)

    outcome = world.services().ingest.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.kind == "registered"
    assert world.ws.mltables[(f"{MODEL}-inference", "1")] == MLTable(
        paths=(f"azureml://datastores/inference_store/paths/{INFERENCE}/{GOOD}",),
        column_types=DECLARED)


def test_without_reference_data_only_the_structure_is_checked_and_said_so(world):
    world.upload(GOOD, MISSING_COLUMNS_CSV)

    outcome = world.services().ingest.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.kind == "registered"
    assert outcome.record.error == "no reference data asset found: structural validation only"
    assert outcome.record.drift is None
    assert world.ws.data[f"{MODEL}-inference"][0].tags["reference_data"] == ""


def test_collector_jsonl_is_flattened_into_a_json_lines_version(world, svc):
    name = f"{MODEL}/{COLLECTOR_PATH}"
    world.upload(name, GOOD_JSONL)

    outcome = svc.ingest(BlobRef(INFERENCE, name))

    assert outcome.kind == "registered"
    assert world.ws.mltables[(f"{MODEL}-inference", "1")] == MLTable(
        paths=("./rows.jsonl",), data_format="json_lines")
    assert world.ws.tables[(f"{MODEL}-inference", "1")].num_rows == 7
    tags = world.ws.data[f"{MODEL}-inference"][0].tags
    assert (tags["layout"], tags["endpoint"], tags["deployment"], tags["collection"],
            tags["partition"]) == ("collector_jsonl", "credit-ep", "blue", "model_inputs",
                                   "2026/11/23/10")
    assert outcome.record.partition == "2026/11/23/10"


def test_model_outputs_go_to_the_outputs_asset_with_structural_checks_only(world, svc):
    name = f"{MODEL}/credit-ep/blue/model_outputs/2026/11/23/10/out.jsonl"
    # Outputs have nothing in common with the reference (inputs): still accepted.
    world.upload(name, json.dumps({"data": [{"score": 0.9}, {"score": 0.1}]}) + "\n")

    outcome = svc.ingest(BlobRef(INFERENCE, name))

    assert outcome.kind == "registered"
    assert outcome.message == f"registered as {MODEL}-outputs:1"
    assert versions(world, f"{MODEL}-outputs") == ["1"]
    assert versions(world) == []
    assert outcome.record.error.startswith("model outputs: structural validation only")
    assert outcome.record.drift is None  # no early check on outputs


def test_versions_continue_after_those_already_in_the_workspace(world, svc):
    world.inference(version="7")  # registered by someone else
    world.upload(GOOD, GOOD_CSV)

    outcome = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.record.asset_version == "8"
    assert versions(world) == ["7", "8"]


def test_a_new_upload_of_the_same_path_is_a_new_version(world, svc):
    world.upload(GOOD, GOOD_CSV)
    first = svc.ingest(BlobRef(INFERENCE, GOOD))
    world.clock.advance(60)
    world.upload(GOOD, GOOD_CSV)  # new ETag

    second = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert second.kind == "registered"
    assert second.record.ingestion_id != first.record.ingestion_id
    assert versions(world) == ["1", "2"]


def test_the_latest_reference_version_is_the_one_validated_against(world, svc):
    world.upload(GOOD, GOOD_CSV)
    svc.ingest(BlobRef(INFERENCE, GOOD))
    world.reference(table=REFERENCE_AGE_CITY)  # training:2 needs only age and city
    world.upload(f"{MODEL}/batches/small.csv", "age,city\n30,rome\n")

    outcome = svc.ingest(BlobRef(INFERENCE, f"{MODEL}/batches/small.csv"))

    assert outcome.kind == "registered"
    assert world.ws.data[f"{MODEL}-inference"][-1].tags["reference_data"] == \
        f"azureml:{MODEL}-training:2"
    schema_reads = [r for r in world.ws.reads if r == f"azureml:{MODEL}-training:1"]
    assert len(schema_reads) == 2  # its schema once, its drift profile once
    assert f"reference-schema/{MODEL}-training/1.json" in world.ws.artifacts


def test_label_columns_may_be_left_out_and_are_kept_when_present(world):
    world.model()
    world.reference()
    svc = world.services(LABEL_COLUMNS="approved").ingest
    unlabelled = "age,income,city\n30,1200.5,rome\n31,1300.0,oslo\n"
    world.upload(f"{MODEL}/batches/unlabelled.csv", unlabelled)
    world.upload(f"{MODEL}/batches/labelled.csv", GOOD_CSV)

    without = svc.ingest(BlobRef(INFERENCE, f"{MODEL}/batches/unlabelled.csv"))
    with_labels = svc.ingest(BlobRef(INFERENCE, f"{MODEL}/batches/labelled.csv"))

    assert without.kind == "registered" and without.record.columns == ("age", "income", "city")
    assert with_labels.kind == "registered"
    assert "approved" in with_labels.record.columns
    assert set(with_labels.record.extra_columns) == {"approved", "request_id"}
    assert world.ws.tables[(f"{MODEL}-inference", "2")].column_names == [
        "age", "income", "city", "approved", "request_id"]


# --------------------------------------------------------------------------- rejected files


def test_a_rejection_writes_the_quarantine_record_and_leaves_the_blob_untouched(world, svc):
    name = f"{MODEL}/batches/ragged.csv"
    content = (HEADER + "30,100.0,rome,1\n31,200.0,oslo\n").encode()
    blob = world.upload(name, content)

    outcome = svc.ingest(BlobRef(INFERENCE, name))

    assert outcome.kind == "rejected"
    record = world.ledger.get(MODEL, ingestion_id(blob))
    assert record.status == "rejected"
    assert (record.rejection.code, record.rejection.line) == ("ragged_row", 3)
    quarantine_name = f"{MODEL}/batches/ragged.csv.{record.ingestion_id}.json"
    assert record.quarantine_record == f"{QUARANTINE}/{quarantine_name}"
    body = json.loads(world.blobs.read_text(QUARANTINE, quarantine_name))
    assert body["reason"]["code"] == "ragged_row" and body["reason"]["line"] == 3
    assert body["ingestion_id"] == record.ingestion_id and body["model"] == MODEL
    assert body["blob"]["etag"] == blob.etag
    assert "replay" in body["what_to_do"]
    assert world.blobs.blobs[(INFERENCE, name)] == (content, blob.etag)  # untouched
    assert world.ws.data == {f"{MODEL}-training": world.ws.data[f"{MODEL}-training"]}


@pytest.mark.parametrize("name, content, code, line", BAD_FILES,
                         ids=[f[0] for f in BAD_FILES])
def test_every_bad_sample_is_rejected_with_its_reason_and_nothing_is_lost(world, svc, name,
                                                                          content, code, line):
    blob_name = f"{MODEL}/{bad_blob_name(name)}"
    blob = world.upload(blob_name, content)

    outcome = svc.ingest(BlobRef(INFERENCE, blob_name))

    assert outcome.kind == "rejected"
    assert (outcome.record.rejection.code, outcome.record.rejection.line) == (code, line)
    assert world.blobs.blobs[(INFERENCE, blob_name)] == (content, blob.etag)
    body = json.loads(world.blobs.read_text(*outcome.record.quarantine_record.split("/", 1)))
    assert body["reason"] == outcome.record.rejection.to_dict()
    assert versions(world) == []


def test_missing_reference_columns_are_rejected_with_the_columns_seen(world, svc):
    world.upload(GOOD, MISSING_COLUMNS_CSV)

    outcome = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.kind == "rejected"
    assert outcome.record.rejection.code == "missing_columns"
    assert "income" in outcome.record.rejection.message
    assert outcome.record.columns == ("age", "city")


def test_a_file_in_another_container_is_rejected_wrong_container(world, svc):
    world.upload(GOOD, GOOD_CSV, container="uploads")

    outcome = svc.ingest(BlobRef("uploads", GOOD))

    assert outcome.kind == "rejected"
    assert outcome.record.rejection.code == "wrong_container"
    assert "'uploads'" in outcome.message and "'inference'" in outcome.message
    assert versions(world) == []


def test_a_file_over_the_size_limit_is_rejected_without_reading_it(world):
    world.model()
    world.reference()
    world.upload(GOOD, GOOD_CSV)
    svc = world.services(MAX_INFERENCE_FILE_BYTES="100").ingest

    outcome = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.kind == "rejected"
    assert outcome.record.rejection.code == "too_large"
    assert "limit is 100" in outcome.message and "MAX_INFERENCE_FILE_BYTES" in outcome.message


@pytest.mark.parametrize(("name", "code"), [
    ("loose.csv", "unsupported_path"), ("bad name/a.csv", "invalid_name")])
def test_a_path_naming_no_model_is_recorded_under_unsorted(world, svc, name, code):
    blob = world.upload(name, GOOD_CSV)

    outcome = svc.ingest(BlobRef(INFERENCE, name))

    assert outcome.kind == "rejected"
    record = world.ledger.get("_unsorted", ingestion_id(blob))
    assert record.rejection.code == code
    assert record.quarantine_record == f"{QUARANTINE}/_unsorted/{name}.{record.ingestion_id}.json"
    assert (QUARANTINE, record.quarantine_record.split("/", 1)[1]) in world.blobs.blobs
    assert svc.ingest(BlobRef(INFERENCE, name)).kind == "duplicate"


@pytest.mark.parametrize("name", ["churn/notes.txt", "churn/x/y.jsonl", "churn/.hidden.csv"])
def test_an_unsupported_file_under_a_model_is_recorded_under_that_model(world, svc, name):
    blob = world.upload(name, GOOD_CSV)

    outcome = svc.ingest(BlobRef(INFERENCE, name))

    assert outcome.kind == "rejected"
    record = world.ledger.get(MODEL, ingestion_id(blob))
    assert record.rejection.code in ("unsupported_path", "invalid_name")
    assert record.quarantine_record == f"{QUARANTINE}/{name}.{record.ingestion_id}.json"
    body = json.loads(world.blobs.read_text(QUARANTINE, record.quarantine_record.split("/", 1)[1]))
    assert f"/api/models/{MODEL}/ingestions/{record.ingestion_id}/replay" in body["what_to_do"]
    assert svc.ingest(BlobRef(INFERENCE, name)).kind == "duplicate"


def test_a_blob_deleted_before_ingestion_is_missing_and_not_recorded(world, svc):
    outcome = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.kind == "missing" and outcome.record is None
    assert world.ledger.records == {}


# --------------------------------------------------------------------------- at-least-once


def test_a_duplicate_delivery_is_one_version(world, svc):
    world.upload(GOOD, GOOD_CSV)
    first = svc.ingest(BlobRef(INFERENCE, GOOD))

    again = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert again.kind == "duplicate"
    assert again.record == first.record
    assert again.message == f"already registered: {INFERENCE}/{GOOD}"
    assert versions(world) == ["1"]


def test_a_duplicate_of_a_rejected_file_stays_rejected(world, svc):
    world.upload(GOOD, MISSING_COLUMNS_CSV)
    svc.ingest(BlobRef(INFERENCE, GOOD))

    again = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert again.kind == "duplicate" and again.record.status == "rejected"


def claim_by_another_instance(world, blob: BlobRef, lease_seconds: int = 600) -> IngestionRecord:
    record = IngestionRecord(MODEL, ingestion_id(blob), blob, "processing", world.clock(),
                             world.clock(), owner="other-instance")
    claimed = world.ledger.claim(record, lease_seconds)
    assert claimed is not None
    return claimed


def test_a_live_claim_by_another_instance_raises_so_the_host_delivers_again(world, svc):
    blob = world.upload(GOOD, GOOD_CSV)
    claim_by_another_instance(world, blob)

    with pytest.raises(ClaimHeld):
        svc.ingest(BlobRef(INFERENCE, GOOD))

    assert world.ledger.get(MODEL, ingestion_id(blob)).owner == "other-instance"
    assert versions(world) == []


def test_a_claim_whose_owner_died_is_taken_over_when_its_lease_expires(world, svc):
    blob = world.upload(GOOD, GOOD_CSV)
    claim_by_another_instance(world, blob, lease_seconds=600)
    world.clock.advance(599)
    with pytest.raises(ClaimHeld):
        svc.ingest(BlobRef(INFERENCE, GOOD))
    world.clock.advance(1)

    outcome = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.kind == "registered"
    assert outcome.record.attempts == 2 and outcome.record.owner != "other-instance"
    assert versions(world) == ["1"]


class DyingWorkspace(FakeWorkspace):
    def create_mltable_version(self, *args, **kw):
        raise ProcessDied


def test_an_instance_that_dies_holds_its_claim_for_ingest_lease_seconds(world):
    world.model()
    world.reference()
    world.upload(GOOD, GOOD_CSV)
    healthy = world.ws
    world.ws = DyingWorkspace()
    with pytest.raises(ProcessDied):
        world.services(INGEST_LEASE_SECONDS="30").ingest.ingest(BlobRef(INFERENCE, GOOD))
    world.ws = healthy
    other_instance = world.services(INGEST_LEASE_SECONDS="30").ingest
    (held,) = world.ledger.list(MODEL)
    assert held.status == "processing" and held.lease_until == world.clock() + 30

    world.clock.advance(29)
    with pytest.raises(ClaimHeld):
        other_instance.ingest(BlobRef(INFERENCE, GOOD))
    world.clock.advance(1)
    outcome = other_instance.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.kind == "registered" and outcome.record.attempts == 2
    assert outcome.record.asset_version == "1"  # the dead instance's allocation, reused
    assert versions(world) == ["1"]


class FlakyWorkspace(FakeWorkspace):
    """Registration fails (workspace unreachable) the first `failures` times; with `after`,
    the version is created first and the failure comes after it (the reply is lost)."""

    def __init__(self, failures: int = 1, *, after: bool = False):
        super().__init__()
        self.failures = failures
        self.after = after
        self.attempted: list[str] = []

    def create_mltable_version(self, name, version, mltable, **kw):
        self.attempted.append(version)
        if self.failures and not self.after:
            self.failures -= 1
            raise WorkspaceError("workspace unreachable")
        created = super().create_mltable_version(name, version, mltable, **kw)
        if self.failures:
            self.failures -= 1
            raise WorkspaceError("connection reset after the request was sent")
        return created


def flaky(world, **kw) -> FlakyWorkspace:
    world.ws = FlakyWorkspace(**kw)
    world.model()
    world.reference()
    return world.ws


def test_a_transient_failure_raises_and_the_record_says_failed(world):
    flaky(world)
    world.upload(GOOD, GOOD_CSV)
    svc = world.services().ingest

    with pytest.raises(WorkspaceError):
        svc.ingest(BlobRef(INFERENCE, GOOD))

    (record,) = world.ledger.list(MODEL)
    assert record.status == "failed"
    assert record.error == "WorkspaceError: workspace unreachable"
    assert record.lease_until == 0.0


def test_the_version_is_allocated_before_registration_and_a_retry_reuses_it(world):
    flaky(world)
    world.upload(GOOD, GOOD_CSV)
    svc = world.services().ingest
    with pytest.raises(WorkspaceError):
        svc.ingest(BlobRef(INFERENCE, GOOD))
    (failed,) = world.ledger.list(MODEL)
    assert (failed.asset_name, failed.asset_version) == (f"{MODEL}-inference", "1")

    outcome = svc.ingest(BlobRef(INFERENCE, GOOD))  # the host's retry takes the failed record

    assert outcome.kind == "registered"
    assert outcome.record.attempts == 2 and outcome.record.error is None
    assert flaky_ws(world).attempted == ["1", "1"]
    assert versions(world) == ["1"]
    assert world.ledger.counters[f"{MODEL}-inference"] == 2  # allocated once


def flaky_ws(world) -> FlakyWorkspace:
    assert isinstance(world.ws, FlakyWorkspace)
    return world.ws


def test_a_crash_after_registering_then_a_retry_yields_one_version(world):
    flaky(world, after=True)
    world.upload(GOOD, GOOD_CSV)
    svc = world.services().ingest
    with pytest.raises(WorkspaceError):
        svc.ingest(BlobRef(INFERENCE, GOOD))
    assert versions(world) == ["1"]

    outcome = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.kind == "registered" and outcome.record.asset_version == "1"
    assert versions(world) == ["1"]
    world.upload(f"{MODEL}/batches/next.csv", GOOD_CSV)
    assert svc.ingest(BlobRef(INFERENCE, f"{MODEL}/batches/next.csv")).record.asset_version == "2"


class OverwrittenWhileRead(FakeBlobStore):
    """The blob is uploaded again between our reading its properties and opening it."""

    def __init__(self, new_content: bytes):
        super().__init__()
        self.new_content: bytes | None = new_content

    def open(self, ref):
        if self.new_content is not None:
            content, self.new_content = self.new_content, None
            self.upload(ref.container, ref.name, content)
        return super().open(ref)


def test_a_blob_overwritten_mid_ingestion_yields_one_version_of_the_new_content(world):
    world.blobs = OverwrittenWhileRead(CLEAN_CSV.encode())
    world.model()
    world.reference()
    first = world.upload(GOOD, GOOD_CSV)
    svc = world.services().ingest

    with pytest.raises(Conflict):  # the host retries; the new upload has its own event too
        svc.ingest(BlobRef(INFERENCE, GOOD, etag=first.etag))
    retried = svc.ingest(BlobRef(INFERENCE, GOOD, etag=first.etag))
    its_own_event = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert world.ledger.get(MODEL, ingestion_id(first)).status == "failed"
    assert retried.kind == "registered" and retried.record.rows == 200  # the new content
    assert its_own_event.kind == "duplicate"
    assert versions(world) == ["1"]


# --------------------------------------------------------------------------- replay


def test_replay_after_the_operator_fixes_the_file(world, svc):
    world.upload(GOOD, MISSING_COLUMNS_CSV)
    rejected = svc.ingest(BlobRef(INFERENCE, GOOD)).record
    world.clock.advance(60)
    world.upload(GOOD, GOOD_CSV)  # fixed in place: a new ETag

    outcome = svc.replay(MODEL, rejected.ingestion_id)

    assert outcome.kind == "registered"
    assert outcome.record.replay_of == rejected.ingestion_id
    assert outcome.record.ingestion_id != rejected.ingestion_id
    assert world.ledger.get(MODEL, rejected.ingestion_id).status == "rejected"  # its history
    assert versions(world) == ["1"]


def test_replay_after_the_reference_is_fixed_takes_the_rejected_record_over(world, svc):
    world.upload(GOOD, "age,city\n30,rome\n")
    rejected = svc.ingest(BlobRef(INFERENCE, GOOD)).record
    world.reference(table=REFERENCE_AGE_CITY)  # training:2, the columns the file has

    outcome = svc.replay(MODEL, rejected.ingestion_id)

    assert outcome.kind == "registered"
    assert outcome.record.ingestion_id == rejected.ingestion_id
    assert outcome.record.attempts == 2
    assert (outcome.record.rejection, outcome.record.quarantine_record) == (None, None)
    assert world.ws.data[f"{MODEL}-inference"][0].tags["reference_data"] == \
        f"azureml:{MODEL}-training:2"


def test_replay_of_a_file_still_bad_is_rejected_again(world, svc):
    world.upload(GOOD, MISSING_COLUMNS_CSV)
    rejected = svc.ingest(BlobRef(INFERENCE, GOOD)).record

    outcome = svc.replay(MODEL, rejected.ingestion_id)

    assert outcome.kind == "rejected"
    assert outcome.record.attempts == 2 and outcome.record.rejection.code == "missing_columns"


def test_replay_of_a_registered_file_is_a_duplicate(world, svc):
    world.upload(GOOD, GOOD_CSV)
    done = svc.ingest(BlobRef(INFERENCE, GOOD)).record

    outcome = svc.replay(MODEL, done.ingestion_id)

    assert outcome.kind == "duplicate" and "nothing to replay" in outcome.message
    assert versions(world) == ["1"]


def test_replay_of_a_file_being_processed_is_in_progress(world, svc):
    blob = world.upload(GOOD, GOOD_CSV)
    claimed = claim_by_another_instance(world, blob)

    assert svc.replay(MODEL, claimed.ingestion_id).kind == "in_progress"


def test_replay_of_a_blob_since_deleted_is_missing(world, svc):
    world.upload(GOOD, MISSING_COLUMNS_CSV)
    rejected = svc.ingest(BlobRef(INFERENCE, GOOD)).record
    del world.blobs.blobs[(INFERENCE, GOOD)]

    assert svc.replay(MODEL, rejected.ingestion_id).kind == "missing"


def test_replay_of_an_unknown_ingestion_is_not_found(world, svc):
    from core.ports import NotFound

    with pytest.raises(NotFound):
        svc.replay(MODEL, "nope")


# --------------------------------------------------------------------------- follow-ups


def ingest_with_hook(world: World, hook) -> IngestService:
    services = world.services()
    return IngestService(
        services.ingest._config, world.ws, world.blobs, world.ledger, services.reference,
        after_registered=hook, clock=world.clock,
    )


def test_the_after_registered_hook_gets_the_registered_record(world):
    world.model()
    world.reference()
    seen: list[IngestionRecord] = []
    world.upload(GOOD, GOOD_CSV)

    outcome = ingest_with_hook(world, seen.append).ingest(BlobRef(INFERENCE, GOOD))

    assert seen == [outcome.record]
    assert seen[0].status == "registered" and seen[0].asset_version == "1"


def test_a_failing_hook_never_unregisters_the_batch(world):
    world.model()
    world.reference()
    world.upload(GOOD, GOOD_CSV)

    def hook(record):
        raise WorkspaceError("monitor re-aim failed")

    outcome = ingest_with_hook(world, hook).ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.kind == "registered"
    assert world.ledger.get(MODEL, outcome.record.ingestion_id).status == "registered"
    assert versions(world) == ["1"]


def test_the_hook_is_not_called_for_a_rejection(world):
    seen: list[IngestionRecord] = []
    world.model()
    world.reference()
    world.upload(GOOD, MISSING_COLUMNS_CSV)

    assert ingest_with_hook(world, seen.append).ingest(BlobRef(INFERENCE, GOOD)).kind == \
        "rejected"
    assert seen == []


def test_as_wired_a_registered_batch_re_aims_the_monitor_and_carries_its_early_check(world, svc):
    world.upload(GOOD, CLEAN_CSV)

    outcome = svc.ingest(BlobRef(INFERENCE, GOOD))

    assert outcome.record.drift["breached"] is False
    assert outcome.record.drift["production"] == f"{MODEL}-inference:1"
    spec = world.ws.monitors[f"{MODEL}-monitor"]
    assert str(spec.production_data) == f"{MODEL}-inference:1"

