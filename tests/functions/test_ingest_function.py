"""Ingestion through the registered blob trigger, on real Azurite and a real local workspace,
with the binding objects the host would hand the function."""

from __future__ import annotations

import io
import json
import threading

import mltable
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pytest

from tests.samples import (
    BAD_FILES,
    COLLECTOR_PATH,
    GOOD_CSV,
    GOOD_JSONL,
    GOOD_ROWS,
    REFERENCE_CSV,
    bad_blob_name,
)

MODEL = "credit-model"


def _ingestions(services, status=None):
    return services.ledger.list(model=MODEL, status=status)


def _mltable_frame(asset):
    return mltable.load(asset.path).to_pandas_dataframe()


def _assert_same_rows(frame, source):
    """Same columns, same rows, same values. mltable infers 0/1 columns as bool, so values
    are compared after casting to the source's dtype."""
    assert list(frame.columns) == list(source.columns)
    assert frame.shape == source.shape
    for column in source.columns:
        loaded = frame[column].astype(source[column].dtype)
        assert loaded.tolist() == source[column].tolist(), column


def test_csv_batch_becomes_a_versioned_mltable_that_loads_to_the_same_rows(
    host, upload, reference, services
):
    reference(MODEL, REFERENCE_CSV)
    result = host.blob(upload(f"{MODEL}/batches/2026-11-23.csv", GOOD_CSV.encode()))
    assert result.ok, result.error

    [record] = _ingestions(services)
    assert record.status == "registered"
    assert record.rows == 50
    assert record.extra_columns == ("request_id",)
    asset = services.workspace.get_data(f"{MODEL}-inference", record.asset_version)
    assert asset.type == "mltable"
    assert asset.tags["source_etag"] == record.blob.etag
    assert asset.tags["row_count"] == "50"
    assert asset.tags["columns"] == "age,income,city,approved,request_id"
    assert asset.tags["source_url"].endswith(f"{MODEL}/batches/2026-11-23.csv")

    source = pacsv.read_csv(io.BytesIO(GOOD_CSV.encode())).to_pandas()
    _assert_same_rows(_mltable_frame(asset), source)

    # The MLTable is the basic form monitoring's Spark jobs read.
    doc = (services.workspace.root / "data" / f"{MODEL}-inference" / asset.version / "MLTable")
    text = doc.read_text()
    assert "read_delimited" in text and "./2026-11-23.csv" in text


def test_collector_jsonl_rows_are_flattened_into_a_json_lines_mltable(
    host, upload, reference, services
):
    reference(MODEL, REFERENCE_CSV)
    result = host.blob(upload(f"{MODEL}/{COLLECTOR_PATH}", GOOD_JSONL))
    assert result.ok, result.error

    [record] = _ingestions(services)
    assert record.status == "registered", record.rejection
    assert record.rows == len(GOOD_ROWS)
    assert record.partition == "2026/11/23/10"
    asset = services.workspace.get_data(f"{MODEL}-inference", record.asset_version)
    assert asset.tags["partition"] == "2026/11/23/10"
    assert asset.tags["endpoint"] == "credit-ep"
    assert asset.tags["deployment"] == "blue"
    assert asset.tags["collection"] == "model_inputs"

    frame = _mltable_frame(asset)
    # Each row keeps the id Azure's model performance monitoring gives it (the join key).
    assert frame.pop("correlationid").tolist() == [f"aaaa-bbbb_{i}" for i in (0, 1, 2, 0, 1, 2, 3)]
    assert asset.tags["correlation_column"] == "correlationid"
    _assert_same_rows(frame, pa.Table.from_pylist(GOOD_ROWS).to_pandas())
    mltable_text = (services.workspace.root / "data" / f"{MODEL}-inference" / asset.version /
                    "MLTable").read_text()
    assert "read_json_lines" in mltable_text
    rows = pajson.read_json(
        services.workspace.root / "data" / f"{MODEL}-inference" / asset.version / "rows.jsonl"
    )
    assert rows.num_rows == len(GOOD_ROWS)


@pytest.mark.parametrize(
    ("name", "content", "code", "line"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_bad_file_is_rejected_with_its_reason_and_nothing_is_lost(
    host, upload, reference, services, app_env, name, content, code, line
):
    reference(MODEL, REFERENCE_CSV)
    blob_name = f"{MODEL}/{bad_blob_name(name)}"
    result = host.blob(upload(blob_name, content))
    assert result.ok, result.error  # a rejection acknowledges the event: no retry storm

    [record] = _ingestions(services)
    assert record.status == "rejected"
    assert record.rejection.code == code, record.rejection
    assert record.rejection.line == line, record.rejection
    assert record.rejection.message
    assert services.workspace.list_data_versions(f"{MODEL}-inference") == []

    # The file is untouched where it was uploaded...
    container = app_env["INFERENCE_CONTAINER"]
    client = services.blob_store._service.get_blob_client(container, blob_name)
    assert client.download_blob().readall() == content
    # ...and a quarantine record says why, where an operator finds it.
    q_container, q_name = record.quarantine_record.split("/", 1)
    assert q_container == app_env["QUARANTINE_CONTAINER"]
    quarantine = json.loads(services.blob_store.read_text(q_container, q_name))
    assert quarantine["reason"]["code"] == code
    assert quarantine["blob"]["etag"] == record.blob.etag
    assert "replay" in quarantine["what_to_do"]


@pytest.mark.parametrize(
    ("blob_name", "why"),
    [
        ("no-model-folder.csv", "not under a model folder"),
        (f"{MODEL}/notes.txt", "neither a CSV batch"),
        (f"{MODEL}/loose.jsonl", "not in the data collector layout"),
    ],
)
def test_unsupported_paths_are_recorded_not_dropped(host, upload, services, blob_name, why):
    result = host.blob(upload(blob_name, b"a,b\n1,2\n"))
    assert result.ok
    records = services.ledger.list(status="rejected")
    assert len(records) == 1
    assert records[0].rejection.code == "unsupported_path"
    assert why in records[0].rejection.message


def test_file_over_the_size_limit_is_rejected(host, upload, reference, services, monkeypatch):
    monkeypatch.setenv("MAX_INFERENCE_FILE_BYTES", "1000")
    from core.bootstrap import reset_services
    from core.bootstrap import services as get_services

    reset_services()
    reference(MODEL, REFERENCE_CSV)
    big = GOOD_CSV.encode()
    assert len(big) > 1000
    assert host.blob(upload(f"{MODEL}/big.csv", big)).ok
    [record] = get_services().ledger.list(model=MODEL)
    assert record.rejection.code == "too_large"
    assert "MAX_INFERENCE_FILE_BYTES" in record.rejection.message


def test_without_reference_data_structure_is_still_validated(host, upload, services):
    assert host.blob(upload(f"{MODEL}/a.csv", GOOD_CSV.encode())).ok
    assert host.blob(upload(f"{MODEL}/b.csv", b"x,y\n1,2\n3\n")).ok
    by_name = {r.blob.name: r for r in _ingestions(services)}
    assert by_name[f"{MODEL}/a.csv"].status == "registered"
    assert "no reference data" in by_name[f"{MODEL}/a.csv"].error
    assert by_name[f"{MODEL}/b.csv"].rejection.code == "ragged_row"


def test_duplicate_delivery_yields_one_version(host, upload, reference, services):
    reference(MODEL, REFERENCE_CSV)
    path = upload(f"{MODEL}/dup.csv", GOOD_CSV.encode())
    for _ in range(3):
        assert host.blob(path).ok
    assert len(services.workspace.list_data_versions(f"{MODEL}-inference")) == 1
    assert len(_ingestions(services)) == 1


def test_concurrent_delivery_by_two_instances_yields_one_version(
    app_env, upload, reference, services
):
    from core.bootstrap import build_services
    from core.domain.ingestion import BlobRef
    from core.settings import load_settings

    reference(MODEL, REFERENCE_CSV)
    upload(f"{MODEL}/race.csv", GOOD_CSV.encode())
    # Two "instances": separate service graphs (own clients, own owner ids), same storage.
    instances = [build_services(load_settings()) for _ in range(4)]
    barrier = threading.Barrier(len(instances))
    outcomes = []

    def deliver(instance):
        from core.ports import ClaimHeld

        barrier.wait()
        ref = BlobRef(app_env["INFERENCE_CONTAINER"], f"{MODEL}/race.csv")
        try:
            outcomes.append(instance.ingest.ingest(ref).kind)
        except ClaimHeld:  # raised so the host delivers again later
            outcomes.append("in_progress")

    threads = [threading.Thread(target=deliver, args=(i,)) for i in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("registered") == 1, outcomes
    assert set(outcomes) <= {"registered", "duplicate", "in_progress"}
    assert len(services.workspace.list_data_versions(f"{MODEL}-inference")) == 1


def test_new_upload_of_the_same_path_yields_a_new_version(host, upload, reference, services):
    reference(MODEL, REFERENCE_CSV)
    path = upload(f"{MODEL}/daily.csv", GOOD_CSV.encode())
    assert host.blob(path).ok
    upload(f"{MODEL}/daily.csv", GOOD_CSV.encode() + b"99,1.5,rome,1,r999\n")
    assert host.blob(path).ok
    versions = services.workspace.list_data_versions(f"{MODEL}-inference")
    assert [v.version for v in versions] == ["1", "2"]
    assert [v.tags["row_count"] for v in versions] == ["50", "51"]


def test_crash_after_registration_then_retry_registers_once(
    host, upload, reference, services, monkeypatch
):
    """The host retries a failed invocation; the version allocated before the crash is
    re-used, so a retry never registers the same file twice."""
    reference(MODEL, REFERENCE_CSV)
    path = upload(f"{MODEL}/crash.csv", GOOD_CSV.encode())
    ledger = services.ledger
    real_save = ledger.save
    calls = {"n": 0}

    def save_then_crash(record):
        if record.status == "registered" and calls["n"] == 0:
            calls["n"] += 1
            raise ConnectionError("storage went away")
        return real_save(record)

    monkeypatch.setattr(ledger, "save", save_then_crash)
    first = host.blob(path)
    assert not first.ok and isinstance(first.error, ConnectionError)
    [failed] = _ingestions(services)
    assert failed.status == "failed" and "storage went away" in failed.error
    second = host.blob(path)
    assert second.ok
    [record] = _ingestions(services)
    assert record.status == "registered" and record.attempts == 2
    assert [v.version for v in services.workspace.list_data_versions(f"{MODEL}-inference")] \
        == [record.asset_version]


def test_replay_after_the_operator_fixes_the_file(host, upload, reference, services):
    reference(MODEL, REFERENCE_CSV)
    bad = (
        b"age,income,city,approved\n30,100.0,rome,1\n31,lots,oslo,0\n"
    )
    path = upload(f"{MODEL}/fixme.csv", bad)
    assert host.blob(path).ok
    [rejected] = _ingestions(services)
    assert rejected.status == "rejected"

    # Replaying the unchanged file is refused again, with the same reason.
    response = host.http("POST", f"/api/models/{MODEL}/ingestions/{rejected.ingestion_id}/replay")
    assert response.status_code == 422
    assert json.loads(response.get_body())["ingestion"]["rejection"]["code"] == "wrong_type"

    # The operator fixes the file in place, then replays the quarantined record.
    upload(f"{MODEL}/fixme.csv", bad.replace(b"lots", b"250.0"))
    response = host.http("POST", f"/api/models/{MODEL}/ingestions/{rejected.ingestion_id}/replay")
    assert response.status_code == 200, response.get_body()
    body = json.loads(response.get_body())
    assert body["outcome"] == "registered"
    assert body["ingestion"]["replay_of"] == rejected.ingestion_id
    assert len(services.workspace.list_data_versions(f"{MODEL}-inference")) == 1
    # The original rejection stays on record.
    assert services.ledger.get(MODEL, rejected.ingestion_id).status == "rejected"


def test_replay_after_the_reference_is_fixed(host, upload, reference, services):
    reference(MODEL, "age,income\n1,2.0\n")
    path = upload(f"{MODEL}/x.csv", b"age,salary\n30,100.0\n")
    assert host.blob(path).ok
    [rejected] = _ingestions(services)
    assert rejected.rejection.code == "missing_columns"
    reference(MODEL, "age,salary\n1,2.0\n", version="2")
    response = host.http("POST", f"/api/models/{MODEL}/ingestions/{rejected.ingestion_id}/replay")
    assert response.status_code == 200
    assert services.ledger.get(MODEL, rejected.ingestion_id).status == "registered"
