"""Composition root: read settings once, build adapters, hand them to the use cases.

Entry points call `services()`; tests and the demo call `build_services(settings)` or
`reset_services()` after changing the environment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

from core.settings import Settings, load_settings


@dataclass
class Services:
    settings: Settings

    @cached_property
    def blob_store(self):
        from core.adapters.storage import AzureBlobStore, blob_service

        return AzureBlobStore(blob_service(self.settings.inference_connection))

    @cached_property
    def host_blob_store(self):
        """Blob storage of the Function app itself (quarantine records, artifacts)."""
        from core.adapters.storage import AzureBlobStore, blob_service

        if self.settings.storage_connection == self.settings.inference_connection:
            return self.blob_store
        return AzureBlobStore(blob_service(self.settings.storage_connection))

    @cached_property
    def ledger(self):
        from core.adapters.storage import TableIngestionLedger, table_service

        return TableIngestionLedger(
            table_service(self.settings.storage_connection), self.settings.table_prefix
        )

    @cached_property
    def workspace(self):
        if self.settings.backend == "local":
            from core.adapters.local_workspace import LocalWorkspace

            return LocalWorkspace(self.settings.local_workspace_dir)
        from core.adapters.azureml_workspace import AzureMLWorkspace

        return AzureMLWorkspace(
            subscription_id=self.settings.subscription_id,
            resource_group=self.settings.resource_group,
            workspace_name=self.settings.workspace_name,
            inference_datastore=self.settings.inference_datastore,
        )

    @cached_property
    def artifacts(self):
        if self.settings.backend == "local":
            return self.workspace
        from core.adapters.storage import BlobArtifacts

        return BlobArtifacts(self.host_blob_store, self.settings.artifacts_container)

    @cached_property
    def reference(self):
        from core.reference import ReferenceData

        return ReferenceData(self.workspace, self.artifacts, self.settings.reference_asset)

    @cached_property
    def ingest(self):
        from core.ingest import IngestConfig, IngestService

        s = self.settings
        config = IngestConfig(
            inference_container=s.inference_container,
            quarantine_container=s.quarantine_container,
            max_file_bytes=s.max_file_bytes,
            lease_seconds=s.ingest_lease_seconds,
            inference_asset=s.inference_asset,
        )
        return IngestService(
            config, self.workspace, self.blob_store, self.ledger, self.reference,
            observer_factory=self.drift.observer_for,
        )

    @cached_property
    def drift(self):
        from core.drift_checks import DriftChecks

        s = self.settings
        return DriftChecks(
            self.workspace, self.artifacts, self.ledger, s.reference_asset, s.inference_asset,
            enabled=s.early_drift_check, row_limit=s.early_drift_row_limit,
        )

    @cached_property
    def admin(self):
        from core.admin import Admin

        return Admin(self)


_lock = threading.Lock()
_services: Services | None = None


def build_services(settings: Settings | None = None) -> Services:
    return Services(settings or load_settings())


def services() -> Services:
    """The process-wide services, built on first use from the environment."""
    global _services
    with _lock:
        if _services is None:
            _services = build_services()
        return _services


def reset_services() -> None:
    global _services
    with _lock:
        _services = None
