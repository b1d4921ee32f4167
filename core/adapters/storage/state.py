"""Small shared JSON documents in Table storage (monitor state, retraining gates, requests,
alerts), ETag-checked."""

from __future__ import annotations

import json
from functools import cached_property

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from core.ports import Conflict, Stored


class TableStateStore:
    """`StateStore` over one Azure table: PartitionKey = kind, RowKey = key, the document as
    JSON in `doc` (a property holds up to 64 KiB, far more than our documents need)."""

    def __init__(self, service: TableServiceClient, prefix: str):
        self._service = service
        self._name = f"{prefix}State"

    @cached_property
    def _table(self) -> TableClient:
        """Created on first use (building the services touches no storage)."""
        return self._service.create_table_if_not_exists(self._name)

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


