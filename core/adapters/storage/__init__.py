"""Azure Storage adapters: blobs (inference files, quarantine records, artifacts), Table
storage (the ingestion ledger, shared state) and queues. The same code talks to Azure and to
Azurite; every client is built by `clients` from a `StorageConnection` (connection string or
identity). Imports `core.ports`, `core.domain`, `core.settings` and the Azure SDKs only."""

from __future__ import annotations

from core.adapters.storage.blobs import AzureBlobStore, BlobArtifacts
from core.adapters.storage.clients import (
    StorageAccessDenied,
    blob_service,
    queue_client,
    table_service,
)
from core.adapters.storage.ground_truth import TableGroundTruthStore
from core.adapters.storage.ledger import TableIngestionLedger
from core.adapters.storage.queues import StorageQueue
from core.adapters.storage.state import TableStateStore
from core.adapters.storage.trends import BlobTrendStore

__all__ = [
    "AzureBlobStore",
    "BlobArtifacts",
    "BlobTrendStore",
    "StorageAccessDenied",
    "StorageQueue",
    "TableGroundTruthStore",
    "TableIngestionLedger",
    "TableStateStore",
    "blob_service",
    "queue_client",
    "table_service",
]
