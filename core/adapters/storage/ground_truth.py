"""The ground-truth join's pending side in Table storage (`<prefix>GroundTruth`).

Layout, for a model `M` and a row id (a correlation id, any characters) whose key is
`row_key(id)` (a SHA-256 prefix, safe in a RowKey):

- inputs and logged outputs: PartitionKey `M~<first hex digit of the key>` (16 partitions, so
  one model's rows spread over several partition servers), RowKey `i~<key>` (the input row)
  and `o~<key>` (the logged outputs);
- labels waiting for their input: PartitionKey `M~waiting~<first hex digit of the key>`,
  RowKey `<key>` (an input file lists them all: they are few, and expire).

Writes are entity-group transactions of up to 100 entities (and 4 MiB) per partition; a
transaction that meets an entity already there (a duplicate id, or a retry) is redone one
entity at a time, so the first row stored for an id stays and a retry is recognised by its
source. Reads look up ids 14 at a time in one query (`RowKey eq ... or ...`: a filter takes
at most 15 comparisons), so a file of N labels costs about N/14 queries, never a scan. Up to
four transactions (on different partitions) or queries are in flight at once: they wait on
the network.

A row's JSON is split over `row`, `row__1`, ... (a string property holds 64 KiB); rows are
kept under `MAX_ROW_CHARS` by the caller.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode

from core.domain.ground_truth import Row, StoredInput, WaitingLabel, row_key

_CHUNK_CHARS = 30_000  # under 32K UTF-16 characters (64 KiB) per string property
_BATCH = 100  # entities per transaction
_BATCH_CHARS = 1_500_000  # characters per transaction: under 4 MiB at 2 bytes each, and change
_IDS_PER_QUERY = 14  # with the PartitionKey comparison, 15: a filter's limit
INPUT, OUTPUT = "i~", "o~"


def _partition(model: str, key: str) -> str:
    return f"{model}~{key[0]}"


def _waiting_partition(model: str, key: str) -> str:
    return f"{model}~waiting~{key[0]}"


_HEX = "0123456789abcdef"


def _put_json(entity: dict, name: str, value: Any) -> int:
    text = json.dumps(value, separators=(",", ":"), default=str)
    parts = [text[i:i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)] or [""]
    entity[name] = parts[0]
    for n, part in enumerate(parts[1:], start=1):
        entity[f"{name}__{n}"] = part
    if len(parts) > 1:
        entity[f"{name}__chunks"] = len(parts)
    return len(text)


def _get_json(entity: Any, name: str) -> Any:
    count = int(entity.get(f"{name}__chunks") or 1)
    text = (entity.get(name) or "") + "".join(entity.get(f"{name}__{n}") or ""
                                              for n in range(1, count))
    return json.loads(text) if text else None


class TableGroundTruthStore:
    """`core.ports.GroundTruthStore` over one Azure table (Azurite locally)."""

    def __init__(self, service: TableServiceClient, prefix: str):
        self._service = service
        self._name = f"{prefix}GroundTruth"

    @cached_property
    def _table(self) -> TableClient:
        """Created on first use (building the services touches no storage)."""
        return self._service.create_table_if_not_exists(self._name)

    # ------------------------------------------------------------------ inputs and outputs

    def put_inputs(self, model: str, rows: Sequence[tuple[str, Row]], *, source: str,
                   labelled: Mapping[str, tuple[object, str]] | None = None) -> list[str]:
        duplicates: list[str] = []
        entities = []
        seen: set[str] = set()
        for row_id, row in rows:
            if row_id in seen:  # twice in this call: the first one stays
                duplicates.append(row_id)
                continue
            seen.add(row_id)
            key = row_key(row_id)
            entity = {"PartitionKey": _partition(model, key), "RowKey": INPUT + key,
                      "id": row_id, "source": source}
            _put_json(entity, "row", row)
            if labelled and row_id in labelled:
                label, label_source = labelled[row_id]
                entity["label_source"] = label_source
                _put_json(entity, "label", label)
            entities.append(entity)
        duplicates.extend(self._stored_by_another_source(entities, source))
        return duplicates

    def put_outputs(self, model: str, rows: Sequence[tuple[str, Row]], *,
                    source: str) -> None:
        entities: dict[str, dict] = {}
        for row_id, row in rows:
            key = row_key(row_id)
            entity = {"PartitionKey": _partition(model, key), "RowKey": OUTPUT + key,
                      "id": row_id, "source": source}
            _put_json(entity, "row", row)
            entities[entity["RowKey"]] = entity  # the last one written for an id stays
        self._each_partition(lambda batch: self._table.submit_transaction(
            [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in batch]),
            list(entities.values()))

    def get_inputs(self, model: str, ids: Sequence[str]) -> dict[str, StoredInput]:
        out = {}
        for entity in self._lookup(model, INPUT, ids):
            out[entity["id"]] = StoredInput(
                row_id=entity["id"], row=_get_json(entity, "row") or {},
                source=entity.get("source") or "",
                label_source=entity.get("label_source") or None,
                label=_get_json(entity, "label"))
        return out

    def get_outputs(self, model: str, ids: Sequence[str]) -> dict[str, Row]:
        return {e["id"]: _get_json(e, "row") or {} for e in self._lookup(model, OUTPUT, ids)}

    def mark_labelled(self, model: str, labels: Sequence[tuple[str, object]], *,
                      source: str) -> None:
        entities = []
        for row_id, label in labels:
            key = row_key(row_id)
            entity = {"PartitionKey": _partition(model, key), "RowKey": INPUT + key,
                      "label_source": source}
            _put_json(entity, "label", label)
            entities.append(entity)
        self._each_partition(lambda batch: self._table.submit_transaction(
            [("update", e, {"mode": UpdateMode.MERGE}) for e in batch]), entities)

    # ------------------------------------------------------------------ waiting labels

    def put_waiting(self, model: str, labels: Sequence[tuple[str, object]], *, source: str,
                    at: float) -> list[str]:
        duplicates: list[str] = []
        entities = []
        seen: set[str] = set()
        for row_id, label in labels:
            if row_id in seen:
                duplicates.append(row_id)
                continue
            seen.add(row_id)
            key = row_key(row_id)
            entity: dict[str, Any] = {
                "PartitionKey": _waiting_partition(model, key), "RowKey": key,
                "id": row_id, "source": source, "at": float(at)}
            _put_json(entity, "label", label)
            entities.append(entity)
        duplicates.extend(self._stored_by_another_source(entities, source))
        return duplicates

    def waiting(self, model: str) -> Iterator[WaitingLabel]:
        for digit in _HEX:
            entities = self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": _waiting_partition(model, digit)})
            for e in entities:
                yield WaitingLabel(row_id=e["id"], label=_get_json(e, "label"),
                                   source=e.get("source") or "", at=float(e.get("at") or 0.0))

    def remove_waiting(self, model: str, ids: Sequence[str]) -> None:
        keys = dict.fromkeys(row_key(i) for i in ids)
        entities = [{"PartitionKey": _waiting_partition(model, k), "RowKey": k} for k in keys]

        def delete(batch: list[dict]) -> None:
            try:
                self._table.submit_transaction([("delete", e) for e in batch])
            except TableTransactionError:  # one was gone already (a retry): one at a time
                for e in batch:
                    try:
                        self._table.delete_entity(e["PartitionKey"], e["RowKey"])
                    except ResourceNotFoundError:
                        continue

        self._each_partition(delete, entities)

    # ------------------------------------------------------------------ helpers

    def _stored_by_another_source(self, entities: list[dict], source: str) -> list[str]:
        """Create ``entities``; the ids of those another file had stored already (a redelivery
        of the same file, ``source``, is not a duplicate)."""
        ids = []
        for entity in self._create_all(entities):
            existing = self._table.get_entity(entity["PartitionKey"], entity["RowKey"])
            if existing.get("source") != source:
                ids.append(entity["id"])
        return ids

    def _create_all(self, entities: list[dict]) -> list[dict]:
        """Create every entity; returns those that existed already (not overwritten)."""
        def create(batch: list[dict]) -> list[dict]:
            try:
                self._table.submit_transaction([("create", e) for e in batch])
                return []
            except TableTransactionError:
                there = []
                for e in batch:  # redo one at a time: the first one stored stays
                    try:
                        self._table.create_entity(e)
                    except ResourceExistsError:
                        there.append(e)
                return there

        return [e for found in self._each_partition(create, entities) for e in found]

    def _each_partition(self, work: Callable[[list[dict]], Any],
                        entities: list[dict]) -> list[Any]:
        """`work` on every transaction-sized batch of `entities`: a partition's batches one
        after the other (Azurite resets concurrent transactions on one partition), several
        partitions at once."""
        groups: dict[str, list[dict]] = defaultdict(list)
        for e in entities:
            groups[e["PartitionKey"]].append(e)
        per_partition = _parallel(lambda group: [work(b) for b in _batches(group)],
                                  list(groups.values()))
        return [result for results in per_partition for result in results]

    def _lookup(self, model: str, prefix: str, ids: Sequence[str]) -> Iterator[Any]:
        by_partition: dict[str, dict[str, str]] = defaultdict(dict)
        for row_id in dict.fromkeys(ids):
            key = row_key(row_id)
            by_partition[_partition(model, key)][prefix + key] = row_id
        queries = []
        for partition, wanted in by_partition.items():
            keys = list(wanted)
            queries += [(partition, wanted, keys[start:start + _IDS_PER_QUERY])
                        for start in range(0, len(keys), _IDS_PER_QUERY)]

        def query(item: tuple[str, dict[str, str], list[str]]) -> list[Any]:
            partition, wanted, chunk = item
            params = {"pk": partition, **{f"r{i}": k for i, k in enumerate(chunk)}}
            where = " or ".join(f"RowKey eq @r{i}" for i in range(len(chunk)))
            # Spaces around the parameters: azure-data-tables finds them between spaces.
            found = self._table.query_entities(f"PartitionKey eq @pk and ( {where} )",
                                               parameters=params)
            # The id checked too: a key collision is not a match.
            return [e for e in found if wanted.get(e["RowKey"]) == e.get("id")]

        for entities in _parallel(query, queries):
            yield from entities


_WORKERS = 4  # requests in flight at once: they wait on the network, not on each other


def _parallel(work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """`work` over `items`, a few at a time (independent partitions and queries), in order."""
    if len(items) <= 1:
        return [work(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(_WORKERS, len(items))) as pool:
        return list(pool.map(work, items))


def _batches(entities: list[dict]) -> Iterator[list[dict]]:
    """Groups of one partition's entities a transaction takes (at most 100, under 4 MiB)."""
    by_partition: dict[str, list[dict]] = defaultdict(list)
    for e in entities:
        by_partition[e["PartitionKey"]].append(e)
    for group in by_partition.values():
        batch: list[dict] = []
        chars = 0
        for e in group:
            size = sum(len(v) for v in e.values() if isinstance(v, str))
            if batch and (len(batch) >= _BATCH or chars + size > _BATCH_CHARS):
                yield batch
                batch, chars = [], 0
            batch.append(e)
            chars += size
        if batch:
            yield batch


__all__ = ["TableGroundTruthStore"]
