"""Health probes of the storage the app depends on, each one cheap and bounded: its own
clients with no SDK retries and short connect/read timeouts, so an unreachable account answers
"down" in about two seconds instead of after the SDK's minute of retries. Built by the one
client factory (`clients`), so a probe reaches the account the app uses, with its identity, and
a refusal reads as the same `StorageAccessDenied` naming the connection and the role."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError

from core.adapters.storage.clients import blob_service, queue_client, table_service
from core.settings import StorageConnection

if TYPE_CHECKING:
    from core.adapters.credentials import CredentialSource

# azure-core pipeline options: one attempt, short socket timeouts (seconds).
BOUNDED: dict[str, Any] = {"retry_total": 0, "connection_timeout": 2, "read_timeout": 2}


def storage_probes(
    *, tables_connection: StorageConnection, blobs_connection: StorageConnection,
    queue_connection: StorageConnection, queue_name: str, inference_container: str,
    credentials: CredentialSource | None = None,
) -> dict[str, Callable[[], object]]:
    """Dependency name -> a call that returns when it is reachable and raises when not."""
    tables = table_service(tables_connection, credentials, **BOUNDED)
    blobs = blob_service(blobs_connection, credentials, **BOUNDED)
    queue = queue_client(queue_connection, queue_name, credentials, **BOUNDED)

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
