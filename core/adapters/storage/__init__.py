"""Azure Storage adapters: blobs (inference files, quarantine records, artifacts), Table
storage (the ingestion ledger, shared state) and queues. The same code talks to Azure and to
Azurite. Imports `core.ports`, `core.domain` and the Azure Storage SDKs only."""

from __future__ import annotations

from azure.data.tables import TableServiceClient

from core.adapters.storage.blobs import AzureBlobStore, BlobArtifacts, blob_service
from core.adapters.storage.ledger import TableIngestionLedger
from core.adapters.storage.queues import StorageQueue
from core.adapters.storage.state import TableStateStore


def table_service(connection: str) -> TableServiceClient:
    return TableServiceClient.from_connection_string(connection)




__all__ = [
    "AzureBlobStore",
    "BlobArtifacts",
    "StorageQueue",
    "TableIngestionLedger",
    "TableStateStore",
    "blob_service",
    "table_service",
]
