"""Delivery state under crashes, faults and load (issue 10, items 5-10 and 16), through the
registered blob trigger and the reconcile timer, on real Azurite and a real local workspace:
nothing stuck in `processing`, versions contiguous, only the owner writes its record, no
staging left behind, per-file cost flat in the number of versions, permanent errors final."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.domain.ingestion import BlobRef, IngestionRecord, ingestion_id
from core.ports import ClaimHeld, PermanentError
from tests.samples import GOOD_CSV, REFERENCE_CSV

MODEL = "credit-model"
ROOT = Path(__file__).resolve().parents[2]


def _records(services, model=MODEL, status=None):
    return services.ledger.list(model=model, status=status)


def _versions(services, model=MODEL):
    return [v.version for v in services.workspace.list_data_versions(f"{model}-inference")]


@pytest.fixture
def short_lease(app_env, monkeypatch):
    """A one-second lease, so expiry happens inside a test."""
    from core.bootstrap import reset_services

    monkeypatch.setenv("INGEST_LEASE_SECONDS", "1")
    reset_services()
    yield 1
    reset_services()


def _claim_as_dead_owner(services, container, name):
    """What a worker killed mid-file leaves: a `processing` claim by an owner that is gone."""
    ref = services.blob_store.properties(BlobRef(container, name))
    now = time.time()
    record = IngestionRecord(model=MODEL, ingestion_id=ingestion_id(ref), blob=ref,
                             status="processing", created_at=now, updated_at=now,
                             owner="dead-host:1:0", layout="csv")
    return services.ledger.claim(record, services.settings.ingest_lease_seconds)


# ---------------------------------------------------------------- 5: stale claims

def test_a_redelivery_inside_a_live_lease_raises_so_the_host_retries(
    host, upload, reference, services, app_env
):
    reference(MODEL, REFERENCE_CSV)
    path = upload(f"{MODEL}/held.csv", GOOD_CSV.encode())
    _claim_as_dead_owner(services, app_env["INFERENCE_CONTAINER"], f"{MODEL}/held.csv")
    result = host.blob(path)
    assert not result.ok and isinstance(result.error, ClaimHeld), result.error
    # Still inside the lease: the timer leaves a live claim alone.
    assert services.ingest.reconcile() == []
    [record] = _records(services)
    assert record.status == "processing"


def test_the_timer_finishes_a_claim_whose_owner_died(
    short_lease, host, upload, reference, services, app_env
):
    reference(MODEL, REFERENCE_CSV)
    upload(f"{MODEL}/orphan.csv", GOOD_CSV.encode())
    _claim_as_dead_owner(services, app_env["INFERENCE_CONTAINER"], f"{MODEL}/orphan.csv")
    time.sleep(1.1)
    assert host.timer("monitor_scheduler").ok
    [record] = _records(services)
    assert record.status == "registered" and record.attempts == 2
    assert _versions(services) == ["1"]


def test_after_a_storage_outage_nothing_stays_processing(
    short_lease, host, upload, reference, services
):
    """The owner registered the MLTable, then storage went away: neither its final save nor
    its failure record reached the ledger. The record says `processing` with a version; after
    the lease the timer finishes it, on the same version."""
    reference(MODEL, REFERENCE_CSV)
    path = upload(f"{MODEL}/outage.csv", GOOD_CSV.encode())
    ledger = services.ledger
    real_save = type(ledger).save

    def storage_down(self, record):
        if record.status in ("registered", "failed"):
            raise ConnectionError("storage unreachable")
        return real_save(self, record)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(ledger), "save", storage_down)
        result = host.blob(path)
    assert not result.ok and isinstance(result.error, ConnectionError)
    [stuck] = _records(services)
    assert stuck.status == "processing" and stuck.asset_version == "1"
    assert _versions(services) == ["1"]

    time.sleep(1.1)
    assert host.timer("monitor_scheduler").ok
    [record] = _records(services)
    assert record.status == "registered" and record.asset_version == "1"
    assert _versions(services) == ["1"]
    assert _records(services, status="processing") == []


def test_the_timer_closes_a_stale_claim_whose_blob_was_replaced(
    short_lease, host, upload, reference, services, app_env
):
    reference(MODEL, REFERENCE_CSV)
    name = f"{MODEL}/replaced.csv"
    upload(name, GOOD_CSV.encode())
    _claim_as_dead_owner(services, app_env["INFERENCE_CONTAINER"], name)
    upload(name, GOOD_CSV.encode() + b"99,1.5,rome,1,r999\n")  # a new ETag: its own ingestion
    time.sleep(1.1)
    assert host.timer("monitor_scheduler").ok
    [old] = _records(services)
    assert old.status == "ignored" and "replaced" in old.error


# ---------------------------------------------------------------- 6: contiguous versions

def test_a_crash_between_allocating_and_saving_a_version_burns_no_number(
    host, upload, reference, services
):
    reference(MODEL, REFERENCE_CSV)
    first = upload(f"{MODEL}/a.csv", GOOD_CSV.encode())
    ledger = services.ledger
    real_save = type(ledger).save
    crashed = []

    def crash_after_allocating(self, record):
        if record.asset_version is not None and record.status == "processing" and not crashed:
            crashed.append(record.asset_version)
            raise ConnectionError("worker lost storage right after allocating")
        return real_save(self, record)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(ledger), "save", crash_after_allocating)
        assert not host.blob(first).ok
    assert crashed == ["1"]
    assert host.blob(first).ok  # the host's retry
    assert host.blob(upload(f"{MODEL}/b.csv", GOOD_CSV.encode())).ok
    assert _versions(services) == ["1", "2"]


def test_a_permanent_workspace_refusal_hands_its_version_back(
    host, upload, reference, services
):
    reference(MODEL, REFERENCE_CSV)
    ws = services.workspace

    def refuse(*args, **kwargs):
        raise PermanentError("data credit-model-inference:1: the workspace refused it "
                             "(HTTP 400): UserError")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ws, "create_mltable_version", refuse)
        result = host.blob(upload(f"{MODEL}/refused.csv", GOOD_CSV.encode()))
    assert result.ok, result.error  # final: acknowledged, not retried
    [record] = _records(services)
    assert record.status == "rejected" and record.rejection.code == "workspace_refused"
    assert host.blob(upload(f"{MODEL}/next.csv", GOOD_CSV.encode())).ok
    assert _versions(services) == ["1"]


def test_a_version_registered_by_someone_else_is_skipped_not_claimed(
    host, upload, reference, services, tmp_path
):
    reference(MODEL, REFERENCE_CSV)
    assert host.blob(upload(f"{MODEL}/a.csv", GOOD_CSV.encode())).ok
    # Someone registers version 2 by hand; our counter says 2 is next.
    manual = tmp_path / "manual.csv"
    manual.write_text(GOOD_CSV)
    services.workspace.register_file_version(f"{MODEL}-inference", "2", manual, tags={})
    assert host.blob(upload(f"{MODEL}/b.csv", GOOD_CSV.encode())).ok
    [b] = [r for r in _records(services) if r.blob.name.endswith("b.csv")]
    assert b.asset_version == "3"
    assert services.workspace.get_data(f"{MODEL}-inference", "3").tags[
        "autopilot.ingestion_id"] == b.ingestion_id


# ---------------------------------------------------------------- 7: only the owner marks

def test_a_slow_owner_whose_lease_expired_does_not_mark_the_record_failed(
    short_lease, upload, reference, services, app_env
):
    from core.bootstrap import build_services
    from core.settings import load_settings

    reference(MODEL, REFERENCE_CSV)
    upload(f"{MODEL}/slow.csv", GOOD_CSV.encode())
    slow, fast = build_services(load_settings()), build_services(load_settings())
    taken_over = threading.Event()
    real_create = type(slow.workspace).create_mltable_version

    def slow_create(self, *args, **kwargs):
        if self is slow.workspace:
            assert taken_over.wait(30)  # the owner stalls past its lease
        return real_create(self, *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(type(slow.workspace), "create_mltable_version", slow_create)
    ref = BlobRef(app_env["INFERENCE_CONTAINER"], f"{MODEL}/slow.csv")
    outcomes: dict[str, object] = {}

    def run_slow():
        try:
            outcomes["slow"] = slow.ingest.ingest(ref).kind
        except Exception as exc:  # recorded for the assertion below
            outcomes["slow"] = exc

    thread = threading.Thread(target=run_slow)
    thread.start()
    time.sleep(1.3)  # the slow owner's lease ends
    outcomes["fast"] = fast.ingest.ingest(ref).kind
    taken_over.set()
    thread.join(30)
    patch.undo()
    assert outcomes["fast"] == "registered"
    assert outcomes["slow"] == "duplicate", outcomes
    [record] = _records(services)
    assert record.status == "registered" and record.error is None
    assert _versions(services) == ["1"]


# ---------------------------------------------------------------- 8: staging left behind

_KILLED_WRITER = r"""
import sys, time
from core.adapters.local.workspace import LocalWorkspace
from core.domain.assets import MLTable

class Slow:
    def __init__(self): self.n = 0
    def read(self, size=-1):
        self.n += 1
        if self.n > 1:
            print("writing", flush=True)
            time.sleep(600)
        return b"a,b\n1,2\n"
    def __enter__(self): return self
    def __exit__(self, *exc): pass

ws = LocalWorkspace(sys.argv[1])
ws.create_mltable_version(sys.argv[2], "1", MLTable(paths=("./x.csv",)),
                          files={"x.csv": Slow}, tags={})
"""


def test_a_killed_writers_staging_folder_is_removed_by_the_next_write(
    host, upload, reference, services
):
    reference(MODEL, REFERENCE_CSV)
    asset = f"{MODEL}-inference"
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(services.workspace.root), asset],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    staging = services.workspace.root / "data" / asset / ".staging"
    assert list(staging.iterdir())  # left behind by the killed writer
    assert host.blob(upload(f"{MODEL}/after.csv", GOOD_CSV.encode())).ok
    assert list(staging.iterdir()) == []
    assert _versions(services) == ["1"]


# ---------------------------------------------------------------- 9: flat per-file cost

def test_per_file_cost_does_not_grow_with_versions(host, upload, reference, services):
    reference(MODEL, REFERENCE_CSV)
    ws = type(services.workspace)
    loads = {"n": 0, "listings": 0}
    real_load, real_list = ws._load, ws.list_data_versions

    def counting_load(self, spec):
        loads["n"] += 1
        return real_load(self, spec)

    def counting_list(self, name):
        loads["listings"] += 1
        return real_list(self, name)

    per_file = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ws, "_load", counting_load)
        patch.setattr(ws, "list_data_versions", counting_list)
        for n in range(25):
            before = loads["n"]
            assert host.blob(upload(f"{MODEL}/f{n:02d}.csv", GOOD_CSV.encode())).ok
            per_file.append(loads["n"] - before)
    assert loads["listings"] == 0  # no listing of all versions, per file or otherwise
    assert per_file[5:] == [per_file[5]] * 20, per_file  # YAML reads per file: constant
    assert _versions(services) == [str(v) for v in range(1, 26)]


# ---------------------------------------------------------------- 10, 16: permanent errors

@pytest.mark.parametrize("name", [".hidden.csv", "folder/.dot/x.csv", "back\\slash.csv",
                                  "x" * 256 + ".csv"])
def test_hostile_file_names_are_rejected_and_recorded_under_their_model(
    host, upload, reference, services, app_env, name
):
    reference(MODEL, REFERENCE_CSV)
    result = host.blob(upload(f"{MODEL}/{name}", GOOD_CSV.encode()))
    assert result.ok, result.error  # acknowledged: no retry storm
    [record] = _records(services)
    assert record.status == "rejected" and record.rejection.code == "invalid_name"
    assert str(services.workspace.root) not in record.rejection.message
    body = json.loads(services.blob_store.read_text(
        app_env["QUARANTINE_CONTAINER"], record.quarantine_record.split("/", 1)[1]))
    assert body["model"] == MODEL
    assert _versions(services) == []


def test_a_model_folder_too_long_for_its_asset_names_is_rejected_with_a_reason(
    host, upload, services
):
    model = "m" * 250  # a valid model name; "<model>-inference" is not a valid asset name
    result = host.blob(upload(f"{model}/batch.csv", GOOD_CSV.encode()))
    assert result.ok, result.error
    [record] = services.ledger.list(model=model)
    assert record.status == "rejected" and record.rejection.code == "invalid_name"
    assert "data asset" in record.rejection.message
    assert str(services.workspace.root) not in record.rejection.message


def _wide_csv(columns: int, rows: int = 3) -> bytes:
    header = ",".join(f"feature_with_a_long_name_{i:05d}" for i in range(columns))
    body = "".join(",".join(str((r + i) % 7) for i in range(columns)) + "\n"
                   for r in range(rows))
    return (header + "\n" + body).encode()


def test_a_file_of_3000_columns_is_registered_or_rejected_never_stuck(
    host, upload, reference, services
):
    # No reference for "wide": accepted and registered; the ledger row keeps every column.
    assert host.blob(upload("wide/batch.csv", _wide_csv(3000))).ok
    [accepted] = services.ledger.list(model="wide")
    assert accepted.status == "registered" and len(accepted.columns) == 3000
    # With a reference it lacks columns of: rejected, and the rejection is recorded.
    reference(MODEL, REFERENCE_CSV)
    result = host.blob(upload(f"{MODEL}/wide.csv", _wide_csv(3000)))
    assert result.ok, result.error
    [rejected] = _records(services)
    assert rejected.status == "rejected" and rejected.rejection.code == "missing_columns"
    assert len(rejected.columns) == 3000


def test_the_ledger_keeps_an_enormous_column_list_within_table_limits(services):
    from core.adapters.storage.ledger import _to_entity

    columns = tuple(f"c{i:06d}_{'x' * 40}" for i in range(60_000))
    now = time.time()
    record = IngestionRecord(model=MODEL, ingestion_id="0" * 24, blob=BlobRef("c", "m/x.csv"),
                             status="rejected", created_at=now, updated_at=now,
                             columns=columns, error="e" * 500_000)
    entity = _to_entity(record)
    assert len(entity) <= 252
    assert all(len(v) <= 32_000 for v in entity.values() if isinstance(v, str))
    saved = services.ledger.save(record)
    back = services.ledger.get(MODEL, saved.ingestion_id)
    assert back.columns[:10] == columns[:10] and "more columns" in back.columns[-1]


def test_an_unsupported_file_under_a_model_is_recorded_under_that_model(
    host, upload, services, app_env
):
    result = host.blob(upload(f"{MODEL}/loose.jsonl", b'{"a": 1}\n'))
    assert result.ok
    [record] = _records(services)
    assert record.rejection.code == "unsupported_path"
    assert record.quarantine_record == (
        f"{app_env['QUARANTINE_CONTAINER']}/{MODEL}/loose.jsonl.{record.ingestion_id}.json")
    body = json.loads(services.blob_store.read_text(
        app_env["QUARANTINE_CONTAINER"], f"{MODEL}/loose.jsonl.{record.ingestion_id}.json"))
    assert f"/api/models/{MODEL}/ingestions/{record.ingestion_id}/replay" in body["what_to_do"]
    assert "{model}" not in body["what_to_do"] and "{id}" not in body["what_to_do"]
    listed = json.loads(host.http("GET", f"/api/models/{MODEL}/ingestions").get_body())
    assert [i["id"] for i in listed["ingestions"]] == [record.ingestion_id]


def test_a_file_outside_any_model_folder_keeps_its_whole_name_in_quarantine(
    host, upload, services, app_env
):
    assert host.blob(upload("loose.csv", GOOD_CSV.encode())).ok
    [record] = services.ledger.list(model="_unsorted")
    assert record.quarantine_record.endswith(f"/_unsorted/loose.csv.{record.ingestion_id}.json")


def test_replay_of_a_record_held_by_a_live_claim_is_409(host, upload, reference, services,
                                                          app_env):
    reference(MODEL, REFERENCE_CSV)
    upload(f"{MODEL}/held.csv", GOOD_CSV.encode())
    claimed = _claim_as_dead_owner(services, app_env["INFERENCE_CONTAINER"], f"{MODEL}/held.csv")
    response = host.http("POST", f"/api/models/{MODEL}/ingestions/{claimed.ingestion_id}/replay")
    assert response.status_code == 409
    services.ledger.save(replace(claimed, status="failed"))
    response = host.http("POST", f"/api/models/{MODEL}/ingestions/{claimed.ingestion_id}/replay")
    assert response.status_code == 200, response.get_body()


def test_a_transient_failure_is_recorded_without_host_paths(host, upload, reference, services):
    import errno

    reference(MODEL, REFERENCE_CSV)
    root = services.workspace.root

    def disk_trouble(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error", str(root / "data" / "x" / "1.yml"))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services.workspace, "create_mltable_version", disk_trouble)
        result = host.blob(upload(f"{MODEL}/io.csv", GOOD_CSV.encode()))
    assert not result.ok  # transient: raised, so the host retries
    [record] = _records(services)
    assert record.status == "failed" and "<path>" in record.error
    assert str(root) not in record.error
    body = host.http("GET", f"/api/models/{MODEL}/ingestions").get_body().decode()
    assert str(root) not in body
