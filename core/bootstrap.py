"""Composition root: read settings once, build adapters, hand them to the use cases.

Entry points call `services()`; tests and the demo call `build_services(settings)` or
`reset_services()` after changing the environment.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

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
    def state(self):
        from core.adapters.storage import TableStateStore, table_service

        return TableStateStore(
            table_service(self.settings.storage_connection), self.settings.table_prefix
        )

    @cached_property
    def events(self):
        """Where the local backend sends the events Azure would send through Event Grid."""
        from core.adapters.local.event_sink import (
            InProcessEventSink,
            NullEventSink,
            WebhookEventSink,
        )

        sink = self.settings.event_sink
        if sink == "none":
            return NullEventSink()
        if sink == "inprocess":
            return InProcessEventSink(_dispatch_in_process)
        return WebhookEventSink(sink)

    @cached_property
    def workspace(self):
        if self.settings.backend == "local":
            from core.adapters.local.workspace import LocalWorkspace

            return LocalWorkspace(self.settings.local_workspace_dir, events=self.events)
        from core.adapters.azureml.workspace import AzureMLWorkspace

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
        from core.services.reference import ReferenceData

        return ReferenceData(self.workspace, self.artifacts, self.settings.reference_asset,
                             self.settings.label_columns)

    @cached_property
    def ingest(self):
        from core.services.ingest import IngestConfig, IngestService

        s = self.settings
        config = IngestConfig(
            inference_container=s.inference_container,
            quarantine_container=s.quarantine_container,
            max_file_bytes=s.max_file_bytes,
            lease_seconds=s.ingest_lease_seconds,
            inference_asset=s.inference_asset,
            outputs_asset=s.outputs_asset,
        )
        return IngestService(
            config, self.workspace, self.blob_store, self.ledger, self.reference,
            observer_factory=self.drift.observer_for, after_registered=self.after_batch,
        )

    def after_batch(self, record) -> None:
        """A batch became a data asset version: re-aim the model's monitor at it (monitors pin
        data versions), then act on the early drift check's verdict."""
        from core.ports import NotFound

        # Data before the model: the monitor is created when the model is registered.
        with contextlib.suppress(NotFound):
            self.monitors.ensure(record.model, reason=f"new inference data "
                                 f"{record.asset_name}:{record.asset_version}")
        drift = record.drift or {}
        if "breached" not in drift or not self.settings.retrain_on_early_drift:
            return
        # Retraining answers drift; data-quality breaches stay in the result for operators.
        if not drift.get("signals", {}).get("data_drift"):
            self.retraining.on_clean_check(record.model)
            return
        from core.domain.alerts import DriftAlert, early_check_features

        features = early_check_features(
            {"breaches": [b for b in drift.get("breaches", []) if b["signal"] == "data_drift"]}
        )
        outcome = self.retraining.on_alert(DriftAlert(
            alert_key=f"early:{record.model}:{record.ingestion_id}",
            source="early_check",
            model=record.model,
            signal="early_check_data_drift",
            features=features,
            detail=f"early drift check on {drift.get('production')} vs "
                   f"{drift.get('reference')}: data drift on "
                   f"{', '.join(sorted({f.feature for f in features}))}",
            extra={"ingestion": record.ingestion_id, "result": drift.get("result")},
        ))
        logging.getLogger(__name__).info("early drift alert for %s: %s (%s)", record.model,
                                         outcome.decision, outcome.reason)

    @cached_property
    def retrain_queue(self):
        from core.adapters.storage import StorageQueue

        return StorageQueue(self.settings.storage_connection, RETRAIN_QUEUE)

    @cached_property
    def retrain_poison_queue(self):
        from core.adapters.storage import StorageQueue

        return StorageQueue(self.settings.storage_connection, RETRAIN_QUEUE + "-poison")

    @cached_property
    def retrainer(self):
        s = self.settings
        if s.backend == "local":
            from core.adapters.local.retrainer import LocalRetrainConfig, LocalRetrainer

            return LocalRetrainer(self.workspace, LocalRetrainConfig(
                reference_asset_template=s.reference_asset_template,
                inference_asset_template=s.inference_asset_template,
                primary_metric=s.retrain_primary_metric,
                margin=s.retrain_min_improvement,
            ))
        from core.adapters.azureml.retrainer import AzureRetrainConfig, AzureRetrainer

        assert s.retrain_job_file is not None  # load_settings requires it on Azure
        return AzureRetrainer(self.workspace, AzureRetrainConfig(
            job_file=s.retrain_job_file, experiment=s.retrain_experiment,
            reference_asset_template=s.reference_asset_template,
            inference_asset_template=s.inference_asset_template,
            primary_metric=s.retrain_primary_metric, margin=s.retrain_min_improvement,
            ml_task=s.monitor_ml_task,
        ))

    @cached_property
    def retraining(self):
        from core.services.retraining.service import RetrainConfig, RetrainingService

        s = self.settings
        return RetrainingService(
            self.workspace, self.state, self.retrain_queue, self.retrain_poison_queue,
            self.retrainer,
            RetrainConfig(
                cooldown_seconds=s.retrain_cooldown_hours * 3600,
                breaches_in_a_row=s.retrain_breaches_in_a_row,
                lease_seconds=s.retrain_lease_seconds,
                max_attempts=MAX_DEQUEUE_COUNT,
                retrain_on_early_drift=s.retrain_on_early_drift,
            ),
            monitor_name_template=s.monitor_name_template,
        )

    @cached_property
    def monitor_config(self):
        from core.domain.monitor_decision import MonitorConfig
        from core.domain.monitoring import MonitorTrigger

        s = self.settings
        return MonitorConfig(
            monitor_name_template=s.monitor_name_template,
            reference_asset_template=s.reference_asset_template,
            inference_asset_template=s.inference_asset_template,
            outputs_asset_template=s.outputs_asset_template,
            watch_all_models=s.watch_all_models,
            ml_task=s.monitor_ml_task,  # type: ignore[arg-type]
            trigger=MonitorTrigger.parse(s.monitor_schedule, s.monitor_time_zone),
            lookback_window=s.monitor_lookback,
            alert_emails=s.monitor_alert_emails,
            instance_type=s.monitor_instance_type,
            runtime_version=s.monitor_runtime_version,
        )

    @cached_property
    def monitors(self):
        from core.services.monitors import MonitorService

        labels = self.settings.label_columns
        return MonitorService(
            self.workspace, self.state, self.monitor_config,
            monitored_columns=(lambda asset: list(self.reference.schema(asset))) if labels
            else None,
        )

    @cached_property
    def monitor_runs(self):
        from core.services.monitor_runs import MonitorRunner

        return MonitorRunner(self.workspace, self.drift, self.monitors, self.events,
                             workspace_label=Path(self.settings.local_workspace_dir).name)

    @cached_property
    def drift(self):
        from core.services.drift_checks import DriftChecks

        s = self.settings
        return DriftChecks(
            self.workspace, self.artifacts, self.ledger, s.reference_asset, s.inference_asset,
            enabled=s.early_drift_check, row_limit=s.early_drift_row_limit,
        )

    @cached_property
    def admin(self):
        from core.services.admin import Admin

        return Admin(self)


# The queue the retraining trigger reads, and host.json's queues.maxDequeueCount.
RETRAIN_QUEUE = "retrain-requests"
MAX_DEQUEUE_COUNT = 5


def _dispatch_in_process(events: list[dict], function: str) -> list:
    """Invoke a registered Event Grid function of this app, as the host would."""
    from devtools.invoke import LocalHost

    return LocalHost().event_grid(events, function=function)


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
