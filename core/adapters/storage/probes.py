"""Health probes of the storage the app depends on, each one cheap and bounded: its own
clients with no SDK retries and short connect/read timeouts, so an unreachable account answers
"down" in about two seconds instead of after the SDK's minute of retries."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

# azure-core pipeline options: one attempt, short socket timeouts (seconds).
BOUNDED: dict[str, Any] = {"retry_total": 0, "connection_timeout": 2, "read_timeout": 2}


def storage_probes(
    *, tables_connection: str, blobs_connection: str, queue_connection: str,
    queue_name: str, inference_container: str,
) -> dict[str, Callable[[], object]]:
    """Dependency name -> a call that returns when it is reachable and raises when not."""
    tables = TableServiceClient.from_connection_string(tables_connection, **BOUNDED)
    blobs = BlobServiceClient.from_connection_string(blobs_connection, **BOUNDED)
    queue = QueueClient.from_connection_string(queue_connection, queue_name, **BOUNDED)

    def table_storage() -> object:
        return next(iter(tables.query_tables("TableName eq 'probe'", results_per_page=1)), None)

    def inference_storage() -> object:
        return blobs.get_container_client(inference_container).exists()

    def queue_storage() -> object:
        try:
            return queue.get_queue_properties()
        except ResourceNotFoundError:  # reachable; the queue is created on first send
            return None

    return {"table_storage": table_storage, "inference_storage": inference_storage,
            "queue_storage": queue_storage}


def folder_probe(folder: str) -> Callable[[], object]:
    """The local workspace folder: there (or creatable) and writable."""

    def workspace() -> object:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError("the workspace folder is not writable")
        return True

    return workspace
