"""The ingestion ledger in Table storage: one entity per upload (path and ETag), with ETag
optimistic concurrency so that instances racing on the same delivery agree on one owner.

Table storage limits a string property to 64 KiB (32K UTF-16 characters) and an entity to
1 MiB and 252 properties. A record's long fields (the columns of a 2,500-column file, a
drift summary, an error) are split over `<field>`, `<field>__1`, ... and joined on read; a
list of columns too long even for that is cut, ending with a marker naming how many were
left out (the file's header, and the quarantine record for a rejected file, keep them all).

Version counters (`<prefix>Counters`, one partition per data asset): row `next` holds the next
version, and row `by:<ingestion id>` the version allocated to that ingestion. Both change in
one entity-group transaction, so allocating a number and recording who has it are one step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cached_property

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode

from core.concurrency import retry_on_conflict
from core.domain.ingestion import BlobRef, IngestionRecord, Rejection
from core.ports import Conflict, NotFound

_JSON_FIELDS = ("columns", "extra_columns", "rejection", "drift", "labels", "performance")
_CHUNKED = ("columns", "extra_columns", "rejection", "drift", "error", "labels", "performance")
_CHUNK_CHARS = 30_000  # under 32K UTF-16 characters (64 KiB) per string property
# Chunks per field. Together (12 x 30K characters, 2 bytes each in Table storage's count)
# about 720 KB: under the 1 MiB entity limit with room for the fixed properties.
_MAX_CHUNKS = {"columns": 6, "extra_columns": 6, "drift": 4, "error": 1, "rejection": 1,
               "labels": 1, "performance": 1}
_COLUMNS_BUDGET = 6 * _CHUNK_CHARS  # both column lists together, as JSON (~5,000 long names)


def _fit_columns(columns: tuple[str, ...], budget: int) -> list[str]:
    """`columns` as stored: all of them when their JSON fits `budget` characters, else as many
    as fit followed by a marker saying how many were left out."""
    names = list(columns)
    if len(json.dumps(names)) <= budget:
        return names
    kept: list[str] = []
    used = 2
    for name in names:
        cost = len(json.dumps(name)) + 2
        if used + cost > budget - 80:
            break
        kept.append(name)
        used += cost
    kept.append(f"... and {len(names) - len(kept)} more columns (see the file's header)")
    return kept


def _chunk(entity: dict, key: str, text: str) -> None:
    parts = [text[i:i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)] or [""]
    if len(parts) > _MAX_CHUNKS[key]:
        parts = parts[:_MAX_CHUNKS[key]]
        if key == "error":  # free text: cut it
            parts[-1] = parts[-1][:-20] + " ... (truncated)"
        else:  # JSON must stay whole: keep a note instead
            parts = [json.dumps({"truncated": True, "chars": len(text)})]
    entity[key] = parts[0]
    for n, part in enumerate(parts[1:], start=1):
        entity[f"{key}__{n}"] = part
    if len(parts) > 1:
        entity[f"{key}__chunks"] = len(parts)


def _unchunk(entity, key: str) -> str:
    first = entity.get(key) or ""
    count = int(entity.get(f"{key}__chunks") or 1)
    return first + "".join(entity.get(f"{key}__{n}") or "" for n in range(1, count))


def _to_entity(record: IngestionRecord) -> dict:
    budget = _COLUMNS_BUDGET
    columns = _fit_columns(record.columns, budget)
    extra = _fit_columns(record.extra_columns, max(budget - len(json.dumps(columns)), 200))
    entity = {
        "PartitionKey": record.model,
        "RowKey": record.ingestion_id,
        "status": record.status,
        "blob_container": record.blob.container,
        "blob_name": record.blob.name,
        "blob_etag": record.blob.etag or "",
        "blob_size": record.blob.size if record.blob.size is not None else -1,
        "blob_url": record.blob.url or "",
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "attempts": record.attempts,
        "lease_until": record.lease_until,
        "owner": record.owner,
        "layout": record.layout,
        "rows": record.rows if record.rows is not None else -1,
        "asset_name": record.asset_name or "",
        "asset_version": record.asset_version or "",
        "quarantine_record": record.quarantine_record or "",
        "replay_of": record.replay_of or "",
        "partition": record.partition or "",
    }
    long_fields = {
        "columns": json.dumps(columns),
        "extra_columns": json.dumps(extra),
        "rejection": json.dumps(record.rejection.to_dict()) if record.rejection else "",
        "error": record.error or "",
        "drift": json.dumps(record.drift) if record.drift is not None else "",
        "labels": json.dumps(record.labels) if record.labels is not None else "",
        "performance": json.dumps(record.performance) if record.performance is not None
        else "",
    }
    for key, text in long_fields.items():
        _chunk(entity, key, text)
    return entity


def _from_entity(entity) -> IngestionRecord:
    def opt(key):
        value = entity.get(key)
        return value if value not in ("", None) else None

    size = entity.get("blob_size", -1)
    rows = entity.get("rows", -1)
    rejection = _unchunk(entity, "rejection") or None
    drift_text = _unchunk(entity, "drift") or None
    drift = json.loads(drift_text) if drift_text else None
    if isinstance(drift, dict) and drift.get("truncated") is True and len(drift) == 2:
        drift = {"note": f"drift summary of {drift['chars']} characters was too large to keep"}
    return IngestionRecord(
        model=entity["PartitionKey"],
        ingestion_id=entity["RowKey"],
        blob=BlobRef(
            container=entity["blob_container"],
            name=entity["blob_name"],
            etag=opt("blob_etag"),
            size=None if size is None or size < 0 else int(size),
            url=opt("blob_url"),
        ),
        status=entity["status"],
        created_at=float(entity["created_at"]),
        updated_at=float(entity["updated_at"]),
        attempts=int(entity.get("attempts", 0)),
        lease_until=float(entity.get("lease_until", 0.0)),
        owner=entity.get("owner", ""),
        layout=entity.get("layout", ""),
        rows=None if rows is None or rows < 0 else int(rows),
        columns=tuple(json.loads(_unchunk(entity, "columns") or "[]")),
        extra_columns=tuple(json.loads(_unchunk(entity, "extra_columns") or "[]")),
        asset_name=opt("asset_name"),
        asset_version=opt("asset_version"),
        rejection=Rejection(**json.loads(rejection)) if rejection else None,
        error=_unchunk(entity, "error") or None,
        quarantine_record=opt("quarantine_record"),
        replay_of=opt("replay_of"),
        drift=drift,
        partition=opt("partition"),
        labels=_json_field(entity, "labels"),
        performance=_json_field(entity, "performance"),
        etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None,
    )


def _json_field(entity, key: str) -> dict | None:
    text = _unchunk(entity, key)
    if not text:
        return None
    value = json.loads(text)
    if isinstance(value, dict) and value.get("truncated") is True and len(value) == 2:
        return {"note": f"{key} summary of {value['chars']} characters was too large to keep"}
    return value


class TableIngestionLedger:
    """Ingestion records in Azure Table storage, with ETag optimistic concurrency so that
    instances racing on the same delivery agree on one owner."""

    def __init__(self, service: TableServiceClient, prefix: str, clock=time.time):
        self._service = service
        self._prefix = prefix
        self._clock = clock

    # Tables are created on first use: building the services touches no storage, so health
    # can still answer (and say why) when storage refuses the app.
    @cached_property
    def _records(self) -> TableClient:
        return self._service.create_table_if_not_exists(f"{self._prefix}Ingestions")

    @cached_property
    def _counters(self) -> TableClient:
        return self._service.create_table_if_not_exists(f"{self._prefix}Counters")

    def claim(
        self, record: IngestionRecord, lease_seconds: int, *, retry_rejected: bool = False
    ) -> IngestionRecord | None:
        now = self._clock()
        fresh = replace(record, status="processing", attempts=1, lease_until=now + lease_seconds,
                         created_at=now, updated_at=now)
        try:
            meta = self._records.create_entity(_to_entity(fresh))
            return replace(fresh, etag=meta.get("etag"))
        except ResourceExistsError:
            pass
        current = self.get(record.model, record.ingestion_id)
        takeable = current.status == "failed" or (
            current.status == "processing" and current.lease_until <= now
        ) or (retry_rejected and current.status == "rejected")
        if not takeable:
            return None
        taken = replace(
            current, status="processing", attempts=current.attempts + 1,
            lease_until=now + lease_seconds, updated_at=now, owner=record.owner,
            blob=record.blob, error=None, rejection=None, quarantine_record=None,
        )
        try:
            return self.save(replace(taken, etag=current.etag))
        except Conflict:
            return None

    def save(self, record: IngestionRecord) -> IngestionRecord:
        entity = _to_entity(record)
        try:
            if record.etag:
                meta = self._records.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=record.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            else:
                meta = self._records.upsert_entity(entity, mode=UpdateMode.REPLACE)
        except (ResourceModifiedError, ResourceNotFoundError):
            raise Conflict(f"ingestion {record.ingestion_id} was changed by another instance")\
                from None
        return replace(record, etag=meta.get("etag"))

    def get(self, model: str, ingestion_id: str) -> IngestionRecord:
        try:
            return _from_entity(self._records.get_entity(model, ingestion_id))
        except ResourceNotFoundError:
            raise NotFound(f"no ingestion {ingestion_id} for model {model}") from None

    def list(self, model: str | None = None, status: str | None = None) -> list[IngestionRecord]:
        filters, params = [], {}
        if model is not None:
            filters.append("PartitionKey eq @model")
            params["model"] = model
        if status is not None:
            filters.append("status eq @status")
            params["status"] = status
        if filters:
            entities = self._records.query_entities(" and ".join(filters), parameters=params)
        else:
            entities = self._records.list_entities()
        records = [_from_entity(e) for e in entities]
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def allocate_version(
        self, asset_name: str, ingestion_id: str, *, seed: Callable[[], int],
        above: int = 0,
    ) -> str:
        mine = f"by:{ingestion_id}"

        def attempt() -> str:
            try:
                held = self._counters.get_entity(asset_name, mine)
            except ResourceNotFoundError:
                held = None
            if held is not None and int(held["version"]) > above:
                return str(held["version"])
            try:
                counter = self._counters.get_entity(asset_name, "next")
            except ResourceNotFoundError:
                counter = None
            start = int(counter["value"]) if counter is not None else seed() + 1
            version = max(start, above + 1)
            operations: list[tuple] = []
            new_counter = {"PartitionKey": asset_name, "RowKey": "next", "value": version + 1}
            if counter is None:
                operations.append(("create", new_counter))
            else:
                operations.append(("update", new_counter, {
                    "mode": UpdateMode.REPLACE, "etag": counter.metadata["etag"],
                    "match_condition": MatchConditions.IfNotModified}))
            claim = {"PartitionKey": asset_name, "RowKey": mine, "version": version}
            if held is None:
                operations.append(("create", claim))
            else:  # the number it had was taken by someone else: move it on
                operations.append(("update", claim, {
                    "mode": UpdateMode.REPLACE, "etag": held.metadata["etag"],
                    "match_condition": MatchConditions.IfNotModified}))
            self._transact(operations, f"counter of {asset_name}")
            return str(version)

        return retry_on_conflict(attempt, what=f"allocating a version of {asset_name}")

    def release_version(self, asset_name: str, ingestion_id: str, version: str) -> None:
        mine = f"by:{ingestion_id}"

        def attempt() -> None:
            try:
                counter = self._counters.get_entity(asset_name, "next")
                held = self._counters.get_entity(asset_name, mine)
            except ResourceNotFoundError:
                return
            if str(held["version"]) != str(version) or int(counter["value"]) != int(version) + 1:
                return  # a later number was handed out: this one stays a gap
            self._transact([
                ("update", {"PartitionKey": asset_name, "RowKey": "next", "value": int(version)},
                 {"mode": UpdateMode.REPLACE, "etag": counter.metadata["etag"],
                  "match_condition": MatchConditions.IfNotModified}),
                ("delete", held, {"etag": held.metadata["etag"],
                                  "match_condition": MatchConditions.IfNotModified}),
            ], f"counter of {asset_name}")

        retry_on_conflict(attempt, what=f"releasing {asset_name}:{version}")

    def _transact(self, operations: Sequence[tuple], what: str) -> None:
        try:
            self._counters.submit_transaction(operations)
        except TableTransactionError as exc:
            if exc.status_code in (409, 412, 404):  # someone else changed it first
                raise Conflict(f"{what} changed meanwhile") from None
            raise
        except (ResourceExistsError, ResourceModifiedError):
            raise Conflict(f"{what} changed meanwhile") from None
