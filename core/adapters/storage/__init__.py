"""Azure Storage adapters: blobs (inference files, quarantine records, artifacts) and the
ingestion ledger in Table storage. The same code talks to Azure and to Azurite."""

from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import replace
from typing import BinaryIO

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableServiceClient, UpdateMode
from azure.storage.blob import BlobServiceClient, ContentSettings

from core.domain.ingestion import BlobRef, IngestionRecord, Rejection
from core.ports import Conflict, NotFound, QueuedMessage, Stored

_DOWNLOAD_CHUNK = 8 * 1024 * 1024


def blob_service(connection: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(
        connection, max_single_get_size=_DOWNLOAD_CHUNK, max_chunk_get_size=_DOWNLOAD_CHUNK
    )


class _DownloadStream(io.RawIOBase):
    """A raw reader over a blob download, fetched chunk by chunk (never the whole blob)."""

    def __init__(self, downloader):
        self._downloader = downloader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._downloader.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


class AzureBlobStore:
    def __init__(self, service: BlobServiceClient):
        self._service = service
        self._ensured: set[str] = set()

    def _container(self, name: str):
        client = self._service.get_container_client(name)
        if name not in self._ensured:
            with contextlib.suppress(ResourceExistsError):
                client.create_container()
            self._ensured.add(name)
        return client

    def properties(self, ref: BlobRef) -> BlobRef:
        client = self._service.get_blob_client(ref.container, ref.name)
        try:
            props = client.get_blob_properties()
        except ResourceNotFoundError:
            raise NotFound(f"blob {ref.path} does not exist") from None
        return ref.with_properties(etag=props.etag, size=props.size, url=client.url)

    def open(self, ref: BlobRef) -> BinaryIO:
        client = self._service.get_blob_client(ref.container, ref.name)
        kwargs = {}
        if ref.etag:
            kwargs = {"etag": ref.etag, "match_condition": MatchConditions.IfNotModified}
        try:
            downloader = client.download_blob(max_concurrency=1, **kwargs)
        except ResourceNotFoundError:
            raise NotFound(f"blob {ref.path} does not exist") from None
        except ResourceModifiedError:
            raise Conflict(f"blob {ref.path} changed since ETag {ref.etag}") from None
        return io.BufferedReader(_DownloadStream(downloader), buffer_size=_DOWNLOAD_CHUNK)

    def write_text(self, container: str, blob_name: str, text: str, content_type: str) -> str:
        client = self._container(container).get_blob_client(blob_name)
        client.upload_blob(
            text.encode("utf-8"), overwrite=True,
            content_settings=ContentSettings(content_type=content_type),
        )
        return client.url

    def read_text(self, container: str, blob_name: str) -> str:
        client = self._service.get_blob_client(container, blob_name)
        try:
            return client.download_blob().readall().decode("utf-8")
        except ResourceNotFoundError:
            raise NotFound(f"blob {container}/{blob_name} does not exist") from None

    def upload(self, container: str, blob_name: str, data: bytes | BinaryIO) -> BlobRef:
        """Upload (overwrite) a blob; used by the demo, the tests and operators' tools."""
        client = self._container(container).get_blob_client(blob_name)
        result = client.upload_blob(data, overwrite=True)
        return BlobRef(container, blob_name, etag=result["etag"], url=client.url)


class BlobArtifacts:
    """Workspace-side artifacts kept in a blob container (used by both backends on Azure)."""

    def __init__(self, store: AzureBlobStore, container: str):
        self._store = store
        self._container = container

    def put_artifact(self, key: str, content: bytes) -> None:
        client = self._store._container(self._container).get_blob_client(key)
        client.upload_blob(content, overwrite=True)

    def get_artifact(self, key: str) -> bytes | None:
        client = self._store._service.get_blob_client(self._container, key)
        try:
            return client.download_blob().readall()
        except ResourceNotFoundError:
            return None


# ------------------------------------------------------------------------------- ledger

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
        for _ in range(50):
            try:
                entity = self._counters.get_entity(asset_name, "next")
            except ResourceNotFoundError:
                try:
                    self._counters.create_entity(
                        {"PartitionKey": asset_name, "RowKey": "next", "value": at_least + 1}
                    )
                    return str(at_least)
                except ResourceExistsError:
                    continue
            value = max(int(entity["value"]), at_least)
            entity["value"] = value + 1
            try:
                self._counters.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return str(value)
            except ResourceModifiedError:
                continue
        raise Conflict(f"could not allocate a version of {asset_name}: too much contention")


class TableStateStore:
    """`StateStore` over one Azure table: PartitionKey = kind, RowKey = key, the document as
    JSON in `doc` (a property holds up to 64 KiB, far more than our documents need)."""

    def __init__(self, service: TableServiceClient, prefix: str):
        self._table = service.create_table_if_not_exists(f"{prefix}State")

    @staticmethod
    def _stored(entity) -> Stored:
        return Stored(entity["RowKey"], json.loads(entity["doc"]), entity.metadata["etag"])

    @staticmethod
    def _entity(kind: str, key: str, doc: dict) -> dict:
        return {"PartitionKey": kind, "RowKey": key, "doc": json.dumps(doc, sort_keys=True)}

    def get(self, kind: str, key: str) -> Stored | None:
        try:
            return self._stored(self._table.get_entity(kind, key))
        except ResourceNotFoundError:
            return None

    def create(self, kind: str, key: str, doc: dict) -> Stored:
        try:
            meta = self._table.create_entity(self._entity(kind, key, doc))
        except ResourceExistsError:
            raise Conflict(f"{kind}/{key} already exists") from None
        return Stored(key, doc, meta["etag"])

    def replace(self, kind: str, key: str, doc: dict, etag: str) -> Stored:
        try:
            meta = self._table.update_entity(
                self._entity(kind, key, doc), mode=UpdateMode.REPLACE, etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise Conflict(f"{kind}/{key} was changed by another instance") from None
        return Stored(key, doc, meta["etag"])

    def put(self, kind: str, key: str, doc: dict) -> Stored:
        meta = self._table.upsert_entity(self._entity(kind, key, doc), mode=UpdateMode.REPLACE)
        return Stored(key, doc, meta["etag"])

    def list(self, kind: str) -> list[Stored]:
        entities = self._table.query_entities("PartitionKey eq @kind", parameters={"kind": kind})
        return sorted((self._stored(e) for e in entities), key=lambda s: s.key)


# ------------------------------------------------------------------------------- queues


class StorageQueue:
    """`MessageQueue` over an Azure storage queue, base64-encoded as host.json's
    `messageEncoding` tells the Functions queue trigger to read it."""

    def __init__(self, connection: str, name: str):
        from azure.storage.queue import (
            BinaryBase64DecodePolicy,
            BinaryBase64EncodePolicy,
            QueueClient,
        )

        self.name = name
        self._client = QueueClient.from_connection_string(
            connection, name,
            message_encode_policy=BinaryBase64EncodePolicy(),
            message_decode_policy=BinaryBase64DecodePolicy(),
        )
        self._created = False

    def _ensure(self) -> None:
        if not self._created:
            with contextlib.suppress(ResourceExistsError):
                self._client.create_queue()
            self._created = True

    @staticmethod
    def _message(m) -> QueuedMessage:
        body = m.content.decode("utf-8", errors="replace") if isinstance(m.content, bytes) \
            else str(m.content)
        inserted = m.inserted_on.isoformat() if getattr(m, "inserted_on", None) else None
        return QueuedMessage(m.id, body, int(m.dequeue_count or 0), inserted,
                             getattr(m, "pop_receipt", None))

    def send(self, body: str) -> str:
        self._ensure()
        return self._client.send_message(body.encode("utf-8")).id

    def peek(self, limit: int = 32) -> list[QueuedMessage]:
        self._ensure()
        return [self._message(m) for m in self._client.peek_messages(max_messages=limit)]

    def approximate_count(self) -> int:
        self._ensure()
        return int(self._client.get_queue_properties().approximate_message_count or 0)

    def receive(self, limit: int = 32, visibility_seconds: int = 30) -> list[QueuedMessage]:
        self._ensure()
        messages = self._client.receive_messages(
            messages_per_page=limit, max_messages=limit, visibility_timeout=visibility_seconds
        )
        return [self._message(m) for m in messages]

    def delete(self, message: QueuedMessage) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._client.delete_message(message.id, message.pop_receipt)

    def release(self, message: QueuedMessage) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._client.update_message(message.id, message.pop_receipt, visibility_timeout=0)


def table_service(connection: str) -> TableServiceClient:
    return TableServiceClient.from_connection_string(connection)


__all__ = [
    "AzureBlobStore",
    "AzureError",
    "BlobArtifacts",
    "StorageQueue",
    "TableIngestionLedger",
    "TableStateStore",
    "blob_service",
    "table_service",
]
