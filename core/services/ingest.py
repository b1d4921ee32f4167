"""Use case: an inference file landed in blob storage; make it a data asset version, or
quarantine it with a precise reason. At-least-once delivery safe, nothing lost.

Delivery state: a delivery claims the file's ledger record for a lease. A redelivery while a
live owner holds it raises `ClaimHeld` (the host delivers again later); only the owner writes
the record (every save is ETag-checked against what it last wrote); `reconcile` (the timer)
re-drives claims whose lease ended and transient failures the host stopped retrying. A
permanent error (a name the workspace refuses, a 4xx) rejects the file with its reason;
anything else is transient: recorded as `failed` and raised so the host retries."""

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
from typing import Any, BinaryIO, Literal

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
from core.domain.names import check_name, redact_paths
from core.domain.validation import (
    ReferenceSchema,
    ValidationResult,
    read_into,
    validate_collector_jsonl,
    validate_csv,
)
from core.ports import (
    BlobStore,
    ClaimHeld,
    Conflict,
    DataAssets,
    IngestionLedger,
    InvalidName,
    LocalFile,
    NotFound,
    PermanentError,
)
from core.services.ground_truth import GroundTruth, LabelsRefused
from core.services.reference import ReferenceData
from core.services.reporting import SILENT, Reporter

log = logging.getLogger(__name__)

UNSORTED = "_unsorted"  # ledger partition for blobs whose path names no model
_TAG_LIMIT = 256
_QUARANTINE_NAME_LIMIT = 1000  # blob names are at most 1,024 characters
_RECONCILE_MAX_ATTEMPTS = 20  # a record failing transiently this often is left to an operator

OutcomeKind = Literal["registered", "rejected", "duplicate", "in_progress", "missing", "ignored"]


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

    def close(self) -> None:
        """Called once the file is done with, whatever became of it (after `finish` if any)."""


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
    # Ground truth files (<model>/ground_truth/...): their joined rows become versions of
    # this asset (core/services/ground_truth.py).
    labelled_asset: Callable[[str], str] | None = None
    # The id column collector rows get (Azure's <correlationid>_<index>), joining inputs,
    # outputs and ground truth; None: rows are flattened without it.
    correlation_column: str | None = None

    def is_outputs(self, file: InferenceFile) -> bool:
        return file.collection == "model_outputs" and self.outputs_asset is not None

    def asset_for(self, file: InferenceFile) -> str:
        """The data asset a file's batch becomes a version of."""
        if file.is_ground_truth and self.labelled_asset is not None:
            return self.labelled_asset(file.model)
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
        n = read_into(self._source, buffer)
        if n:
            with memoryview(buffer) as view:
                self._sink.write(view[:n])
        return n

    def close(self) -> None:
        self._source.close()
        super().close()


class _Claim:
    """The record a delivery owns, as it last wrote it: every save is ETag-checked against
    it, so a delivery whose lease was taken over can no longer write."""

    def __init__(self, ledger: IngestionLedger, record: IngestionRecord):
        self._ledger = ledger
        self.record = record

    def save(self, record: IngestionRecord) -> IngestionRecord:
        self.record = self._ledger.save(replace(record, etag=self.record.etag))
        return self.record


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
        reporter: Reporter = SILENT,
        ground_truth: GroundTruth | None = None,
    ):
        self._config = config
        self._reporter = reporter
        self._workspace = workspace
        self._blobs = blobs
        self._ledger = ledger
        self._reference = reference
        self._observer_factory = observer_factory
        self._after_registered = after_registered
        self._clock = clock
        self._ground_truth = ground_truth  # the join of labels that arrive later
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    # ---------------------------------------------------------------- commands

    def ingest(self, blob: BlobRef, *, replay_of: str | None = None) -> IngestOutcome:
        """Handle one delivery of a BlobCreated (or a replay). Raises on transient failures so
        the host retries; every other outcome is recorded in the ledger."""
        with self._reporter.span("ingest", blob=blob.path):
            try:
                outcome = self._ingest(blob, replay_of=replay_of)
            except Exception as exc:
                self._reporter.ingest_failed(blob, exc)
                raise
            self._reporter.ingested(outcome.kind, outcome.record)
            return outcome

    def _ingest(self, blob: BlobRef, *, replay_of: str | None) -> IngestOutcome:
        try:
            blob = self._blobs.properties(blob)
        except NotFound:
            log.warning("blob %s vanished before ingestion", blob.path)
            return IngestOutcome("missing", None, f"blob {blob.path} no longer exists")
        try:
            file = parse_inference_path(blob.name)
        except UnsupportedPath as exc:
            return self._reject_path(blob, exc)
        record = self._new_record(file.model, blob, file, replay_of)
        self._reporter.annotate(model=file.model, ingestion_id=record.ingestion_id)
        claimed = self._ledger.claim(
            record, self._config.lease_seconds, retry_rejected=replay_of is not None
        )
        if claimed is None:
            existing = self._ledger.get(file.model, record.ingestion_id)
            if existing.status == "processing":
                # Acknowledging would lose the file if that owner died: deliver again later.
                raise ClaimHeld(
                    f"{blob.path} is being ingested by another delivery (lease for "
                    f"{max(existing.lease_until - self._clock(), 0):.0f} s more)"
                )
            return IngestOutcome("duplicate", existing, f"already {existing.status}: {blob.path}")
        claim = _Claim(self._ledger, claimed)
        try:
            return self._process(claim, file)
        except PermanentError as exc:
            return self._reject_permanent(claim, exc)
        except Conflict as exc:
            current = self._ledger.get(claim.record.model, claim.record.ingestion_id)
            if current.etag != claim.record.etag:
                return self._lost_lease(current)
            self._mark_failed(claim, exc)  # contention elsewhere (a counter): transient
            raise
        except Exception as exc:
            self._mark_failed(claim, exc)
            raise

    def reconcile(self, *, limit: int = 200) -> list[IngestOutcome]:
        """The reconcile timer: finish or re-drive every claim whose lease ended (its owner
        died, or could not record its failure), and every transient failure older than a lease
        (the host gave up on it). A record whose blob was replaced or deleted since is closed
        as `ignored` (the new upload is its own ingestion). Returns what became of each."""
        now = self._clock()
        stale = [r for r in self._ledger.list(status="processing") if r.lease_until <= now]
        failed = [r for r in self._ledger.list(status="failed")
                  if r.updated_at + self._config.lease_seconds <= now
                  and r.attempts < _RECONCILE_MAX_ATTEMPTS]
        outcomes = []
        for record in sorted(stale + failed, key=lambda r: r.updated_at)[:limit]:
            try:
                outcomes.append(self._redrive(record))
            except ClaimHeld:
                continue  # someone else took it over meanwhile
            except Exception:  # one file must not stop the others; the next tick retries
                log.exception("re-driving %s failed", record.ingestion_id)
        if outcomes:
            log.warning("reconcile re-drove %d ingestions: %s", len(outcomes),
                        ", ".join(f"{o.kind}" for o in outcomes))
        return outcomes

    def _redrive(self, record: IngestionRecord) -> IngestOutcome:
        try:
            current = self._blobs.properties(BlobRef(record.blob.container, record.blob.name))
        except NotFound:
            current = None
        if current is not None and current.etag == record.blob.etag:
            return self.ingest(current, replay_of=record.replay_of)
        taken = self._ledger.claim(record, self._config.lease_seconds)
        if taken is None:
            raise ClaimHeld(f"{record.ingestion_id} was taken over meanwhile")
        why = ("the blob no longer exists" if current is None else
               "the blob was replaced by a newer upload, ingested on its own")
        done = self._ledger.save(replace(
            taken, status="ignored", error=why, lease_until=0.0, updated_at=self._clock()))
        return IngestOutcome("ignored", done, why)

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

    def _process(self, claim: _Claim, file: InferenceFile) -> IngestOutcome:
        record = claim.record
        blob = record.blob
        if blob.container != self._config.inference_container:
            return self._reject(claim, record, Rejection(
                "wrong_container",
                f"blob is in container {blob.container!r}; inference files belong in "
                f"{self._config.inference_container!r}",
            ))
        if blob.size is not None and blob.size > self._config.max_file_bytes:
            return self._reject(claim, record, Rejection(
                "too_large",
                f"the file is {blob.size} bytes; the limit is {self._config.max_file_bytes} "
                "(setting MAX_INFERENCE_FILE_BYTES)",
            ))
        try:  # names the workspace would refuse: say so now, before any work
            check_name(self._config.asset_for(file), "data asset name")
            check_name(self._reference.asset_name(file.model), "reference data asset name")
        except InvalidName as exc:
            return self._reject(claim, record, Rejection(
                "invalid_name", f"the model folder cannot name its data assets: {exc}"))
        if file.is_ground_truth:
            return self._process_labels(claim, file)
        reference_asset = self._reference.asset(file.model)
        if self._config.is_outputs(file):
            schema, observer = None, None
            notes = ["model outputs: structural validation only (the reference describes inputs)"]
        else:
            schema = (self._reference.schema(reference_asset, file.model) if reference_asset
                      else None)
            observer = (self._observer_factory(file.model, schema)
                        if self._observer_factory else None)
            notes = [] if schema is not None else [
                "no reference data asset found: structural validation only"
            ]
        joiner = (self._ground_truth.observer_for(file.model, outputs=self._config.is_outputs(file))
                  if self._ground_truth is not None else None)
        on_batch = _fan_out(observer, joiner)

        try:
            return self._validate_and_register(claim, record, file, blob, schema, on_batch,
                                               reference_asset, notes, observer, joiner)
        finally:
            if observer is not None:
                observer.close()

    def _validate_and_register(self, claim, record, file, blob, schema, on_batch,
                               reference_asset, notes, observer, joiner) -> IngestOutcome:
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
                return self._reject(claim, record, result.rejection)
            record = replace(
                record, rows=result.rows, columns=result.columns,
                extra_columns=result.extra_columns,
            )
            return self._register(claim, record, file, mltable, files, reference_asset, notes,
                                  observer, joiner)

    def _validate_csv(self, blob, schema, uri, local_copy: Path, on_batch):
        def reopen():
            return self._blobs.open(blob)

        if uri is not None:  # Azure: the MLTable points at the blob in place
            with _closing(self._blobs.open(blob)) as stream:
                result = validate_csv(stream, schema, reopen=reopen, on_batch=on_batch)
            return result, result.mltable((uri,)), {}
        with open(local_copy, "wb") as sink, _closing(self._blobs.open(blob)) as stream:
            tee = io.BufferedReader(_Tee(stream, sink))
            result = validate_csv(tee, schema, reopen=reopen, on_batch=on_batch)
        files = {local_copy.name: LocalFile(local_copy)}
        return result, result.mltable((f"./{local_copy.name}",)), files

    def _validate_jsonl(self, blob, schema, tmp: Path, on_batch):
        rows_file = tmp / "rows.jsonl"
        with open(rows_file, "wb") as sink, _closing(self._blobs.open(blob)) as stream:
            result = validate_collector_jsonl(
                stream, schema, write_row_line=sink.write, on_batch=on_batch,
                correlation_column=self._config.correlation_column,
            )
        files = {rows_file.name: LocalFile(rows_file)}
        return result, MLTable(paths=("./rows.jsonl",), data_format="json_lines"), files

    def _highest_version(self, asset: str) -> int:
        """The seed of an asset's version counter (read once, when it has none yet)."""
        latest = self._workspace.latest_data(asset)
        return int(latest.version) if latest is not None and latest.version.isdigit() else 0

    def _register(self, claim, record, file, mltable, files, reference_asset, notes, observer,
                  joiner=None):
        asset = self._config.asset_for(file)
        if record.asset_version is None or record.asset_name != asset:
            version = self._ledger.allocate_version(
                asset, record.ingestion_id, seed=lambda: self._highest_version(asset))
            # Persist the version before creating it, so a retry after a crash re-uses it
            # instead of registering the same file twice.
            record = claim.save(replace(record, asset_name=asset, asset_version=version))
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
        if self._config.correlation_column and self._config.correlation_column in record.columns:
            tags["correlation_column"] = self._config.correlation_column  # rows join labels
        description = f"Inference batch {record.blob.path} ({record.rows} rows)"
        for _ in range(20):
            assert record.asset_version is not None
            try:
                created = self._workspace.create_mltable_version(
                    asset, record.asset_version, mltable, files=files, tags=tags,
                    description=description)
            except PermanentError:
                self._ledger.release_version(asset, record.ingestion_id, record.asset_version)
                raise
            if created.tags.get("autopilot.ingestion_id") == record.ingestion_id:
                break
            # That number is someone else's (registered by hand, or a counter that was reset):
            # move past it rather than claim their version.
            version = self._ledger.allocate_version(
                asset, record.ingestion_id, seed=lambda: self._highest_version(asset),
                above=int(record.asset_version))
            record = claim.save(replace(record, asset_version=version))
        else:
            raise Conflict(f"no free version of {asset} found for {record.ingestion_id}")
        drift = observer.finish(record) if observer else None
        labels = performance = None
        if joiner is not None:
            try:
                joined = joiner.finish(record)
            except PermanentError as exc:  # the batch stays registered; say why it joins nothing
                log.error("the ground-truth join of %s failed: %s", record.ingestion_id, exc)
                labels = {"error": redact_paths(str(exc))[:500]}
            else:
                if joined is not None:
                    labels, performance = joined.labels_doc(), joined.performance
        done = replace(
            record, status="registered", updated_at=self._clock(), lease_until=0.0,
            error="; ".join(notes) or None, drift=drift, labels=labels, performance=performance,
        )
        done = claim.save(done)
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

    def _process_labels(self, claim: _Claim, file: InferenceFile) -> IngestOutcome:
        """A ground truth file: validated (the id column and the target, typed as in the
        reference data), then joined to the collected inputs (core/services/ground_truth.py);
        the joined rows become a version of the labelled data asset."""
        record = claim.record
        blob = record.blob
        if self._ground_truth is None:
            return self._reject(claim, record, Rejection(
                "unsupported_path", "ground truth files are not joined by this deployment "
                "(setting GROUND_TRUTH_JOIN=false)"))
        try:
            target, schema = self._ground_truth.label_schema(file.model)
        except LabelsRefused as exc:
            return self._reject(claim, record, exc.rejection)
        spool = self._ground_truth.label_spool(target)
        try:
            with _closing(self._blobs.open(blob)) as stream:
                if file.layout == "ground_truth_csv":
                    result = validate_csv(stream, schema, reopen=lambda: self._blobs.open(blob),
                                          on_batch=spool.add)
                else:
                    # The labels are spooled; the rows themselves are not kept as a file.
                    result = validate_collector_jsonl(stream, schema,
                                                      write_row_line=lambda _line: None,
                                                      on_batch=spool.add, plain_rows=True)
            if not result.ok:
                assert result.rejection is not None
                return self._reject(claim, replace(record, columns=result.columns),
                                    self._ground_truth.missing_columns(result.rejection, target))
            record = replace(record, rows=result.rows, columns=result.columns,
                             extra_columns=result.extra_columns)
            outcome = self._ground_truth.join_labels(file.model, record, target, spool)
        finally:
            spool.close()
        labelled = outcome.labelled
        counts = outcome.counts
        note = None if labelled is not None else (
            f"no label joined an input yet: {counts.waiting} wait for their inputs")
        done = claim.save(replace(
            record, status="registered", updated_at=self._clock(), lease_until=0.0,
            asset_name=labelled.name if labelled else None,
            asset_version=labelled.version if labelled else None,
            labels=outcome.labels_doc(), performance=outcome.performance, error=note))
        log.info("ground truth %s: %s", blob.path, counts.to_doc())
        if self._after_registered is not None and labelled is not None:
            try:
                self._after_registered(done)
            except Exception:
                log.exception("follow-up of %s failed", record.ingestion_id)
        message = (f"{counts.joined} labels joined as {labelled.name}:{labelled.version}"
                   if labelled else "no label joined yet") + f"; {counts.waiting} waiting, " \
            f"{counts.duplicates} duplicates, {counts.empty} empty"
        return IngestOutcome("registered", done, message)

    def _quarantine(self, record: IngestionRecord, rejection: Rejection) -> str:
        # `<model>/<path under the model>`: the blob's own name when it sits under its model
        # folder, else under `_unsorted/` with its whole name.
        path = record.blob.name if record.model != UNSORTED else f"{UNSORTED}/{record.blob.name}"
        if len(path) > _QUARANTINE_NAME_LIMIT:
            path = f"{record.model[:200]}/_long-names/{record.ingestion_id}"
        name = f"{path}.{record.ingestion_id}.json"
        replay = (f"POST /api/models/{record.model}/ingestions/{record.ingestion_id}/replay"
                  if record.model != UNSORTED else
                  "upload it again under a model folder: '<model-name>/<file>'")
        body = {
            "reason": rejection.to_dict(),
            "blob": record.to_json()["blob"],
            "model": record.model,
            "ingestion_id": record.ingestion_id,
            "rejected_at": self._clock(),
            "what_to_do": (
                "The file was left untouched where it was uploaded. Fix or replace it at the "
                "same path (a new upload is ingested automatically), or fix the reference data "
                f"and replay: {replay}"
            ),
        }
        self._blobs.write_text(
            self._config.quarantine_container, name, json.dumps(body, indent=2),
            "application/json",
        )
        return f"{self._config.quarantine_container}/{name}"

    def _reject(self, claim: _Claim, record: IngestionRecord,
                rejection: Rejection) -> IngestOutcome:
        location = self._quarantine(record, rejection)
        done = replace(
            record, status="rejected", rejection=rejection, quarantine_record=location,
            updated_at=self._clock(), lease_until=0.0,
        )
        done = claim.save(done)
        log.warning("rejected %s: %s", record.blob.path, rejection.message)
        return IngestOutcome("rejected", done, rejection.message)

    def _reject_permanent(self, claim: _Claim, exc: PermanentError) -> IngestOutcome:
        """A permanent failure during processing: final, recorded with its reason."""
        code = "invalid_name" if isinstance(exc, InvalidName) else "workspace_refused"
        return self._reject(claim, claim.record, Rejection(code, redact_paths(str(exc))[:2000]))

    def _reject_path(self, blob: BlobRef, exc: UnsupportedPath) -> IngestOutcome:
        model = exc.model or UNSORTED
        record = self._new_record(model, blob, None, None)
        claimed = self._ledger.claim(record, self._config.lease_seconds)
        if claimed is None:
            existing = self._ledger.get(model, record.ingestion_id)
            return IngestOutcome("duplicate", existing, f"already {existing.status}")
        return self._reject(_Claim(self._ledger, claimed), claimed, Rejection(exc.code, str(exc)))

    def _lost_lease(self, current: IngestionRecord) -> IngestOutcome:
        """A save found the record changed: our lease ended and another delivery took the
        file over. We write nothing more; if it is done, this delivery is a duplicate."""
        if current.status in ("registered", "rejected", "ignored"):
            return IngestOutcome("duplicate", current, f"finished by another delivery: "
                                 f"{current.status}")
        raise ClaimHeld(f"{current.blob.path}: the lease ended and another delivery took "
                        "the file over")

    def _mark_failed(self, claim: _Claim, exc: Exception) -> None:
        """Record a transient failure, only while we still own the record (ETag-checked)."""
        try:
            claim.save(replace(
                claim.record, status="failed",
                error=redact_paths(f"{type(exc).__name__}: {exc}")[:2000],
                lease_until=0.0, updated_at=self._clock(),
            ))
        except Conflict:
            log.warning("%s: not marked failed, another delivery owns it now",
                        claim.record.ingestion_id)
        except Exception:  # the original error matters more; the lease runs out, reconcile acts
            log.exception("could not record the failure of %s", claim.record.ingestion_id)


def _fan_out(*observers: Any) -> Callable | None:
    """One batch sink feeding every observer there is."""
    present = [o for o in observers if o is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0].add

    def add(batch) -> None:
        for observer in present:
            observer.add(batch)

    return add


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
