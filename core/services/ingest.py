"""Use case: an inference file landed in blob storage; make it a data asset version, or
quarantine it with a precise reason. At-least-once delivery safe, nothing lost."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Literal

from core.domain.assets import MLTable
from core.domain.ingestion import (
    BlobRef,
    InferenceFile,
    IngestionRecord,
    Rejection,
    UnsupportedPath,
    ingestion_id,
    parse_inference_path,
)
from core.domain.validation import (
    ReferenceSchema,
    ValidationResult,
    validate_collector_jsonl,
    validate_csv,
)
from core.ports import BlobStore, Conflict, DataAssets, IngestionLedger, NotFound
from core.services.reference import ReferenceData

log = logging.getLogger(__name__)

UNSORTED = "_unsorted"  # ledger partition for blobs whose path names no model
_TAG_LIMIT = 256

OutcomeKind = Literal["registered", "rejected", "duplicate", "in_progress", "missing"]


@dataclass(frozen=True)
class IngestOutcome:
    kind: OutcomeKind
    record: IngestionRecord | None
    message: str

    def to_json(self) -> dict:
        return {
            "outcome": self.kind,
            "message": self.message,
            "ingestion": self.record.to_json() if self.record else None,
        }


class BatchObserver:
    """Sees the typed batches of an accepted file (the early drift check plugs in here)."""

    def add(self, batch) -> None: ...

    def finish(self, record: IngestionRecord) -> dict | None:
        return None


@dataclass
class IngestConfig:
    inference_container: str
    quarantine_container: str
    max_file_bytes: int
    lease_seconds: int
    inference_asset: Callable[[str], str]
    # The data collector's model_outputs files: their own asset (prediction drift's input),
    # checked for structure only (the reference schema describes model inputs).
    outputs_asset: Callable[[str], str] | None = None

    def is_outputs(self, file: InferenceFile) -> bool:
        return file.collection == "model_outputs" and self.outputs_asset is not None

    def asset_for(self, file: InferenceFile) -> str:
        """The data asset a file's batch becomes a version of."""
        if self.is_outputs(file):
            assert self.outputs_asset is not None
            return self.outputs_asset(file.model)
        return self.inference_asset(file.model)


class _Tee(io.RawIOBase):
    """Copies every byte read through it into `sink` (one read of the blob serves both the
    validation and the local copy)."""

    def __init__(self, source: BinaryIO, sink: BinaryIO):
        self._source, self._sink = source, sink

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if data:
            self._sink.write(data)
        return n

    def close(self) -> None:
        self._source.close()
        super().close()


class IngestService:
    def __init__(
        self,
        config: IngestConfig,
        workspace: DataAssets,
        blobs: BlobStore,
        ledger: IngestionLedger,
        reference: ReferenceData,
        *,
        observer_factory: Callable[[str, ReferenceSchema | None], BatchObserver | None]
        | None = None,
        after_registered: Callable[[IngestionRecord], None] | None = None,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
    ):
        self._config = config
        self._workspace = workspace
        self._blobs = blobs
        self._ledger = ledger
        self._reference = reference
        self._observer_factory = observer_factory
        self._after_registered = after_registered
        self._clock = clock
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    # ---------------------------------------------------------------- commands

    def ingest(self, blob: BlobRef, *, replay_of: str | None = None) -> IngestOutcome:
        """Handle one delivery of a BlobCreated (or a replay). Raises on transient failures so
        the host retries; every other outcome is recorded in the ledger."""
        try:
            blob = self._blobs.properties(blob)
        except NotFound:
            log.warning("blob %s vanished before ingestion", blob.path)
            return IngestOutcome("missing", None, f"blob {blob.path} no longer exists")
        try:
            file = parse_inference_path(blob.name)
        except UnsupportedPath as exc:
            return self._reject_unsorted(blob, Rejection("unsupported_path", str(exc)))
        record = self._new_record(file.model, blob, file, replay_of)
        claimed = self._ledger.claim(
            record, self._config.lease_seconds, retry_rejected=replay_of is not None
        )
        if claimed is None:
            existing = self._ledger.get(file.model, record.ingestion_id)
            kind: OutcomeKind = "in_progress" if existing.status == "processing" else "duplicate"
            return IngestOutcome(kind, existing, f"already {existing.status}: {blob.path}")
        try:
            return self._process(claimed, file)
        except Exception as exc:
            self._mark_failed(claimed, exc)
            raise

    def replay(self, model: str, ingestion: str) -> IngestOutcome:
        """Run a recorded file through ingestion again, as it is now in storage (after the
        operator fixed or replaced it, or fixed the reference data)."""
        record = self._ledger.get(model, ingestion)
        if record.status == "registered":
            return IngestOutcome("duplicate", record, "already registered; nothing to replay")
        if record.status == "processing" and record.lease_until > self._clock():
            return IngestOutcome("in_progress", record, "being processed right now")
        current = BlobRef(record.blob.container, record.blob.name)
        return self.ingest(current, replay_of=record.ingestion_id)

    # ---------------------------------------------------------------- steps

    def _new_record(
        self, model: str, blob: BlobRef, file: InferenceFile | None, replay_of: str | None
    ) -> IngestionRecord:
        now = self._clock()
        return IngestionRecord(
            model=model,
            ingestion_id=ingestion_id(blob),
            blob=blob,
            status="processing",
            created_at=now,
            updated_at=now,
            owner=self._owner,
            layout=file.layout if file else "",
            partition=file.partition if file else None,
            replay_of=replay_of,
        )

    def _process(self, record: IngestionRecord, file: InferenceFile) -> IngestOutcome:
        blob = record.blob
        if blob.container != self._config.inference_container:
            return self._reject(record, Rejection(
                "wrong_container",
                f"blob is in container {blob.container!r}; inference files belong in "
                f"{self._config.inference_container!r}",
            ))
        if blob.size is not None and blob.size > self._config.max_file_bytes:
            return self._reject(record, Rejection(
                "too_large",
                f"the file is {blob.size} bytes; the limit is {self._config.max_file_bytes} "
                "(setting MAX_INFERENCE_FILE_BYTES)",
            ))
        reference_asset = self._reference.asset(file.model)
        if self._config.is_outputs(file):
            schema, observer = None, None
            notes = ["model outputs: structural validation only (the reference describes inputs)"]
        else:
            schema = self._reference.schema(reference_asset) if reference_asset else None
            observer = (self._observer_factory(file.model, schema)
                        if self._observer_factory else None)
            notes = [] if schema is not None else [
                "no reference data asset found: structural validation only"
            ]
        on_batch = observer.add if observer else None

        with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
            local_copy = Path(tmp) / Path(blob.name).name
            uri = self._workspace.blob_uri(blob.container, blob.name)
            if file.layout == "csv":
                result, mltable, files = self._validate_csv(blob, schema, uri, local_copy, on_batch)
            else:
                result, mltable, files = self._validate_jsonl(blob, schema, Path(tmp), on_batch)
            if not result.ok:
                assert result.rejection is not None
                record = replace(record, columns=result.columns)
                return self._reject(record, result.rejection)
            record = replace(
                record, rows=result.rows, columns=result.columns,
                extra_columns=result.extra_columns,
            )
            return self._register(record, file, mltable, files, reference_asset, notes, observer)

    def _validate_csv(self, blob, schema, uri, local_copy: Path, on_batch):
        def reopen():
            return self._blobs.open(blob)

        if uri is not None:  # Azure: the MLTable points at the blob in place
            with _closing(self._blobs.open(blob)) as stream:
                result = validate_csv(stream, schema, reopen=reopen, on_batch=on_batch)
            return result, MLTable(paths=(uri,)), {}
        with open(local_copy, "wb") as sink, _closing(self._blobs.open(blob)) as stream:
            tee = io.BufferedReader(_Tee(stream, sink))
            result = validate_csv(tee, schema, reopen=reopen, on_batch=on_batch)
        files = {local_copy.name: lambda: open(local_copy, "rb")}
        return result, MLTable(paths=(f"./{local_copy.name}",)), files

    def _validate_jsonl(self, blob, schema, tmp: Path, on_batch):
        rows_file = tmp / "rows.jsonl"
        with open(rows_file, "wb") as sink, _closing(self._blobs.open(blob)) as stream:
            result = validate_collector_jsonl(
                stream, schema, write_row_line=sink.write, on_batch=on_batch
            )
        files = {rows_file.name: lambda: open(rows_file, "rb")}
        return result, MLTable(paths=("./rows.jsonl",), data_format="json_lines"), files

    def _register(self, record, file, mltable, files, reference_asset, notes, observer):
        asset = self._config.asset_for(file)
        if record.asset_version is None:
            existing = [
                int(v.version) for v in self._workspace.list_data_versions(asset)
                if v.version.isdigit()
            ]
            version = self._ledger.next_version(asset, at_least=max(existing, default=0) + 1)
            # Persist the version before creating it, so a retry after a crash re-uses it
            # instead of registering the same file twice.
            record = self._ledger.save(replace(record, asset_name=asset, asset_version=version))
        tags = _tags({
            "autopilot.model": file.model,
            "autopilot.ingestion_id": record.ingestion_id,
            "source_url": record.blob.url or record.blob.path,
            "source_etag": record.blob.etag or "",
            "row_count": str(record.rows),
            "columns": ",".join(record.columns),
            "extra_columns": ",".join(record.extra_columns),
            "layout": file.layout,
            "partition": file.partition or "",
            "endpoint": file.endpoint or "",
            "deployment": file.deployment or "",
            "collection": file.collection or "",
            "reference_data": reference_asset.asset_id if reference_asset else "",
        })
        description = f"Inference batch {record.blob.path} ({record.rows} rows)"
        self._workspace.create_mltable_version(
            asset, record.asset_version, mltable, files=files, tags=tags, description=description
        )
        drift = observer.finish(record) if observer else None
        done = replace(
            record, status="registered", updated_at=self._clock(), lease_until=0.0,
            error="; ".join(notes) or None, drift=drift,
        )
        done = self._ledger.save(done)
        log.info("registered %s as %s:%s", record.blob.path, asset, record.asset_version)
        if self._after_registered is not None:
            # Follow-ups (re-aiming the monitor, drift alerts) never undo a registration; a
            # failed one is logged and repaired by the reconcile timer.
            try:
                self._after_registered(done)
            except Exception:
                log.exception("follow-up of %s failed", record.ingestion_id)
        return IngestOutcome(
            "registered", done, f"registered as {asset}:{record.asset_version}"
        )

    def _quarantine(self, record: IngestionRecord, rejection: Rejection) -> str:
        name = f"{record.model}/{record.blob.name.split('/', 1)[-1]}.{record.ingestion_id}.json"
        body = {
            "reason": rejection.to_dict(),
            "blob": record.to_json()["blob"],
            "model": record.model,
            "ingestion_id": record.ingestion_id,
            "rejected_at": self._clock(),
            "what_to_do": (
                "The file was left untouched where it was uploaded. Fix or replace it at the "
                "same path (a new upload is ingested automatically), or fix the reference data "
                "and replay: POST /api/models/{model}/ingestions/{id}/replay"
            ),
        }
        self._blobs.write_text(
            self._config.quarantine_container, name, json.dumps(body, indent=2),
            "application/json",
        )
        return f"{self._config.quarantine_container}/{name}"

    def _reject(self, record: IngestionRecord, rejection: Rejection) -> IngestOutcome:
        location = self._quarantine(record, rejection)
        done = replace(
            record, status="rejected", rejection=rejection, quarantine_record=location,
            updated_at=self._clock(), lease_until=0.0,
        )
        done = self._ledger.save(done)
        log.warning("rejected %s: %s", record.blob.path, rejection.message)
        return IngestOutcome("rejected", done, rejection.message)

    def _reject_unsorted(self, blob: BlobRef, rejection: Rejection) -> IngestOutcome:
        record = self._new_record(UNSORTED, blob, None, None)
        claimed = self._ledger.claim(record, self._config.lease_seconds)
        if claimed is None:
            existing = self._ledger.get(UNSORTED, record.ingestion_id)
            return IngestOutcome("duplicate", existing, f"already {existing.status}")
        return self._reject(claimed, rejection)

    def _mark_failed(self, record: IngestionRecord, exc: Exception) -> None:
        try:
            current = self._ledger.get(record.model, record.ingestion_id)
            self._ledger.save(replace(
                current, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000],
                lease_until=0.0, updated_at=self._clock(),
            ))
        except (Conflict, NotFound, Exception):  # the original error matters more
            log.exception("could not record the failure of %s", record.ingestion_id)


class _closing:
    def __init__(self, stream):
        self._stream = stream

    def __enter__(self):
        return self._stream

    def __exit__(self, *exc):
        self._stream.close()


def _tags(values: dict[str, str]) -> dict[str, str]:
    return {
        k: (v if len(v) <= _TAG_LIMIT else v[: _TAG_LIMIT - 3] + "...") for k, v in values.items()
    }


__all__ = ["BatchObserver", "IngestConfig", "IngestOutcome", "IngestService", "ValidationResult"]
