"""The ingestion ledger in Table storage: one entity per upload (path and ETag), with ETag
optimistic concurrency so that instances racing on the same delivery agree on one owner."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableServiceClient, UpdateMode

from core.concurrency import retry_on_conflict
from core.domain.ingestion import BlobRef, IngestionRecord, Rejection
from core.ports import Conflict, NotFound

_JSON_FIELDS = ("columns", "extra_columns", "rejection", "drift")


def _to_entity(record: IngestionRecord) -> dict:
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
        "columns": json.dumps(list(record.columns)),
        "extra_columns": json.dumps(list(record.extra_columns)),
        "asset_name": record.asset_name or "",
        "asset_version": record.asset_version or "",
        "rejection": json.dumps(record.rejection.to_dict()) if record.rejection else "",
        "error": record.error or "",
        "quarantine_record": record.quarantine_record or "",
        "replay_of": record.replay_of or "",
        "drift": json.dumps(record.drift) if record.drift is not None else "",
        "partition": record.partition or "",
    }
    return entity


def _from_entity(entity) -> IngestionRecord:
    def opt(key):
        value = entity.get(key)
        return value if value not in ("", None) else None

    size = entity.get("blob_size", -1)
    rows = entity.get("rows", -1)
    rejection = opt("rejection")
    drift = opt("drift")
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
        columns=tuple(json.loads(entity.get("columns") or "[]")),
        extra_columns=tuple(json.loads(entity.get("extra_columns") or "[]")),
        asset_name=opt("asset_name"),
        asset_version=opt("asset_version"),
        rejection=Rejection(**json.loads(rejection)) if rejection else None,
        error=opt("error"),
        quarantine_record=opt("quarantine_record"),
        replay_of=opt("replay_of"),
        drift=json.loads(drift) if drift else None,
        partition=opt("partition"),
        etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None,
    )


class TableIngestionLedger:
    """Ingestion records in Azure Table storage, with ETag optimistic concurrency so that
    instances racing on the same delivery agree on one owner."""

    def __init__(self, service: TableServiceClient, prefix: str, clock=time.time):
        self._records = service.create_table_if_not_exists(f"{prefix}Ingestions")
        self._counters = service.create_table_if_not_exists(f"{prefix}Counters")
        self._clock = clock

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

    def next_version(self, asset_name: str, at_least: int = 1) -> str:
        def attempt() -> str:
            try:
                entity = self._counters.get_entity(asset_name, "next")
            except ResourceNotFoundError:
                try:
                    self._counters.create_entity(
                        {"PartitionKey": asset_name, "RowKey": "next", "value": at_least + 1}
                    )
                except ResourceExistsError:
                    raise Conflict(f"counter of {asset_name} created meanwhile") from None
                return str(at_least)
            value = max(int(entity["value"]), at_least)
            entity["value"] = value + 1
            try:
                self._counters.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                raise Conflict(f"counter of {asset_name} changed meanwhile") from None
            return str(value)

        return retry_on_conflict(attempt, what=f"allocating a version of {asset_name}")


