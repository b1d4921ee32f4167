"""Composition root: read settings once, build adapters, hand them to the use cases.

Entry points call `services()`; tests and the demo call `build_services(settings, **overrides)`
(any attribute of `Services` can be replaced, e.g. ``workspace=FakeWorkspace()``) or
`reset_services()` after changing the environment.

Events the local backend delivers in-process (as Event Grid would) go to the app's registered
functions through a dispatcher the app hands over (`use_event_dispatcher`): core never imports
`functions`, `function_app` or `devtools`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from core.ports import (
    NO_TELEMETRY,
    Artifacts,
    AutopilotEvents,
    EventSink,
    GroundTruthStore,
    IngestionLedger,
    Jobs,
    MessageQueue,
    ModelLoader,
    MonitorRunner,
    Retrainer,
    StateStore,
    Telemetry,
    TrendStore,
    Workspace,
)
from core.settings import Settings, load_settings

if TYPE_CHECKING:  # adapters load on first use (azure.ai.ml alone costs ~1.5 s)
    from core.adapters.azureml.workspace import AzureMLWorkspace
    from core.adapters.credentials import CredentialSource
    from core.adapters.local.workspace import LocalWorkspace
    from core.adapters.storage import AzureBlobStore

# host.json's queues.maxDequeueCount: after this many failed deliveries, a message is poison.
MAX_DEQUEUE_COUNT = 5
# Where the app is deployed: relative paths in settings (RETRAIN_JOB_FILE) are relative to it.
APP_ROOT = Path(__file__).resolve().parent.parent
# Health probes whose failure leaves the loop working: shown, never turning health down.
OPTIONAL_DEPENDENCIES = ("application_insights", "autopilot_events")

# (events, function name) -> invocation results; set by function_app.
EventDispatcher = Callable[[list[dict], str], list]
_dispatcher: EventDispatcher | None = None


def use_event_dispatcher(dispatch: EventDispatcher | None) -> None:
    """The app's in-process Event Grid dispatcher (function_app calls this at import)."""
    global _dispatcher
    _dispatcher = dispatch


def _current_dispatcher() -> EventDispatcher | None:
    return _dispatcher


class Services:
    """Every adapter and use case, built on first use. `overrides` replace any of them."""

    def __init__(self, settings: Settings, **overrides: Any):
        self.settings = settings
        self._telemetry_error: str | None = None  # why telemetry could not be configured
        unknown = [k for k in overrides if not isinstance(getattr(type(self), k, None),
                                                          cached_property)]
        if unknown:
            raise TypeError(f"unknown services to override: {', '.join(sorted(unknown))}")
        # cached_property reads the instance dict first: an override is a pre-filled cache.
        self.__dict__.update(overrides)

    @cached_property
    def clock(self) -> Callable[[], float]:
        return time.time

    @cached_property
    def credentials(self) -> CredentialSource:
        """Every Entra ID credential the app uses (storage in identity form, Azure ML): one
        user-assigned identity when the settings name one."""
        from core.adapters.credentials import AzureCredentials

        return AzureCredentials(self.settings.azure_client_id)

    # ------------------------------------------------------------------ observability

    @cached_property
    def telemetry(self) -> Telemetry:
        """Spans, metrics and log dimensions to Application Insights when
        APPLICATIONINSIGHTS_CONNECTION_STRING is set; otherwise nothing (and OpenTelemetry is
        never imported). A telemetry that cannot be configured is logged and left off: the
        app runs without it."""
        t = self.settings.telemetry
        if t.connection_string is None:
            return NO_TELEMETRY
        try:
            from core.adapters import telemetry as otel

            if t.worker_configured:  # the Python worker configured the distro already
                return otel.from_worker()
            credential = self.credentials.default() if t.entra_id else None
            return otel.azure_monitor(t.connection_string, credential)
        except Exception as exc:
            import logging

            logging.getLogger(__name__).exception("telemetry to Application Insights could "
                                                  "not be configured; running without it")
            self._telemetry_error = f"{type(exc).__name__}: {exc}"[:500]
            return NO_TELEMETRY

    @cached_property
    def autopilot_events(self) -> AutopilotEvents:
        """Where the autopilot's own events go: the Event Grid topic AUTOPILOT_EVENTS_ENDPOINT
        (the app's identity, or AUTOPILOT_EVENTS_KEY), else the log."""
        e, source = self.settings.events, self.events_source
        if e.endpoint is None:
            from core.adapters.local.autopilot_events import LoggedAutopilotEvents

            return LoggedAutopilotEvents(source)
        from core.adapters.eventgrid import EventGridAutopilotEvents

        if e.key is not None:
            from azure.core.credentials import AzureKeyCredential

            return EventGridAutopilotEvents(e.endpoint, AzureKeyCredential(e.key), source=source)
        return EventGridAutopilotEvents(e.endpoint, self.credentials.default(), source=source)

    @property
    def events_source(self) -> str:
        """The CloudEvents `source` of our events: this deployment's workspace."""
        s = self.settings
        if s.backend == "azureml":
            return (f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}/"
                    f"providers/Microsoft.MachineLearningServices/workspaces/{s.workspace_name}"
                    "/monitor-autopilot")
        return "/monitor-autopilot/local"

    @cached_property
    def reporter(self):
        from core.services.reporting import BestEffortEvents, Reporter

        # The log cannot refuse an event: only a topic's deliveries are recorded.
        return Reporter(self.telemetry, BestEffortEvents(
            self.autopilot_events, telemetry=self.telemetry,
            state=self.state if self.settings.events.endpoint else None, clock=self.clock))

    @cached_property
    def queue_gauges(self):
        from core.services.reporting import QueueGauges

        return QueueGauges(self.retrain_queue, self.retrain_poison_queue, self.reporter)

    # ------------------------------------------------------------------ storage

    @cached_property
    def blob_store(self) -> AzureBlobStore:
        """The inference files' account (a `BlobStore`; tools and tests also upload with it)."""
        from core.adapters.storage import AzureBlobStore, blob_service

        return AzureBlobStore(blob_service(self.settings.inference_connection, self.credentials))

    @cached_property
    def ledger(self) -> IngestionLedger:
        from core.adapters.storage import TableIngestionLedger, table_service

        return TableIngestionLedger(
            table_service(self.settings.storage_connection, self.credentials),
            self.settings.table_prefix, clock=self.clock,
        )

    @cached_property
    def ground_truth_store(self) -> GroundTruthStore:
        """The ground-truth join's pending side (Table storage, `<prefix>GroundTruth`)."""
        from core.adapters.storage import TableGroundTruthStore, table_service

        return TableGroundTruthStore(
            table_service(self.settings.storage_connection, self.credentials),
            self.settings.table_prefix,
        )

    @cached_property
    def state(self) -> StateStore:
        from core.adapters.storage import TableStateStore, table_service

        return TableStateStore(
            table_service(self.settings.storage_connection, self.credentials),
            self.settings.table_prefix,
        )

    def storage_queue(self, name: str) -> MessageQueue:
        """A queue in AzureWebJobsStorage (the retraining queue, its poison queue)."""
        from core.adapters.storage import StorageQueue

        return StorageQueue(self.settings.storage_connection, name, self.credentials)

    @cached_property
    def retrain_queue(self) -> MessageQueue:
        return self.storage_queue(self.settings.retrain_queue)

    @cached_property
    def retrain_poison_queue(self) -> MessageQueue:
        return self.storage_queue(self.settings.retrain_queue + "-poison")

    # ------------------------------------------------------------------ workspace

    @cached_property
    def events(self) -> EventSink:
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
            return InProcessEventSink(_current_dispatcher)
        return WebhookEventSink(sink)

    @cached_property
    def local_workspace(self) -> LocalWorkspace:
        from core.adapters.local.workspace import LocalWorkspace

        return LocalWorkspace(self.settings.local_workspace_dir, events=self.events)

    @cached_property
    def azureml_workspace(self) -> AzureMLWorkspace:
        from core.adapters.azureml.workspace import AzureMLWorkspace

        s = self.settings
        return AzureMLWorkspace(
            subscription_id=s.subscription_id, resource_group=s.resource_group,
            workspace_name=s.workspace_name, inference_datastore=s.inference_datastore,
            credential=self.credentials.default(),
        )

    @cached_property
    def workspace(self) -> Workspace:
        if self.settings.backend == "local":
            return self.local_workspace
        return self.azureml_workspace

    @cached_property
    def artifacts(self) -> Artifacts:
        if self.settings.backend == "local":
            return self.local_workspace
        from core.adapters.storage import BlobArtifacts, blob_service

        return BlobArtifacts(blob_service(self.settings.storage_connection, self.credentials),
                             self.settings.artifacts_container)

    @cached_property
    def monitor_runner(self) -> MonitorRunner:
        if self.settings.backend == "local":
            from core.adapters.local.monitor_runner import LocalMonitorRunner

            return LocalMonitorRunner(
                self.workspace, self.events, profile=self.drift.profile,
                save_result=self.trends.recording(self.drift.save_result), clock=self.clock,
                workspace_label=Path(self.settings.local_workspace_dir).name,
                correlation_column=self.settings.correlation_column,
                compare=self.drift_thresholds.compare_over,
            )
        from core.adapters.azureml.monitor_runner import AzureMonitorRunner

        return AzureMonitorRunner(self.azureml_workspace, clock=self.clock)

    @cached_property
    def jobs(self) -> Jobs:
        """Where retraining jobs run: Azure ML, or a subprocess on the local workspace."""
        if self.settings.backend == "local":
            from core.adapters.local.jobs import LocalJobs

            # The job runs inside the request's lease; a quarter of it (at most 5 minutes) is
            # left for the work before and after the job (reading, scoring, registering).
            lease = self.settings.retrain_lease_seconds
            return LocalJobs(self.local_workspace, clock=self.clock,
                             max_seconds=lease - min(300, lease // 4))
        return self.azureml_workspace

    @cached_property
    def model_loader(self) -> ModelLoader:
        """The model port (imports scikit-learn; MLflow on first use)."""
        from core.training.loader import SklearnModelLoader

        return SklearnModelLoader()

    @cached_property
    def retrainer(self) -> Retrainer:
        from core.services.retraining.runner import JobRetrainer, RetrainConfig

        s = self.settings
        job_file = Path(s.retrain_job_file)
        if not job_file.is_absolute():
            job_file = APP_ROOT / job_file
        return JobRetrainer(self.workspace, self.jobs, self.models, RetrainConfig(
            job_file=str(job_file), experiment=s.retrain_experiment,
            reference_asset_template=s.reference_asset_template,
            inference_asset_template=s.inference_asset_template,
            labelled_asset_template=s.labelled_asset_template,
            primary_metric=s.retrain_primary_metric, margin=s.retrain_min_improvement,
            ml_task=s.monitor_ml_task,
        ))

    # ------------------------------------------------------------------ use cases

    @cached_property
    def reference(self):
        from core.services.reference import ReferenceData

        return ReferenceData(self.workspace, self.artifacts, self.settings.reference_asset,
                             self.settings.label_columns,
                             features_for=lambda model, asset: self.models.input_features(
                                 model, asset))

    @cached_property
    def models(self):
        """What each registered model is: features, target, task, retrainability."""
        from core.services.models import ModelCatalog

        s = self.settings
        return ModelCatalog(
            self.workspace, self.artifacts, lambda: self.model_loader,
            lambda asset: list(self.reference.full_schema(asset)), s.reference_asset,
            label_columns=s.label_columns, default_task=cast(Any, s.monitor_ml_task),
            reference_types=self.reference.full_schema,
        )

    @cached_property
    def performance(self):
        """The champion's realised metrics on each labelled version."""
        from core.services.performance import ModelPerformance

        return ModelPerformance(self.workspace, self.artifacts, self.models,
                                lambda: self.model_loader, self.ledger,
                                thresholds=self.settings.performance_thresholds,
                                clock=self.clock)

    @cached_property
    def ground_truth(self):
        """Ground truth that arrives later, joined to the collected inputs."""
        from core.services.ground_truth import GroundTruth, GroundTruthConfig

        s = self.settings
        return GroundTruth(
            GroundTruthConfig(labelled_asset=s.labelled_asset, id_column=s.correlation_column,
                              wait_seconds=s.ground_truth_wait_days * 86400),
            self.workspace, self.ground_truth_store, self.ledger,
            target_for=self.models.target_of,
            evaluate=lambda model, labelled: self.performance.evaluate(model, labelled),
            clock=self.clock)

    @cached_property
    def ingest(self):
        from core.services.batches import OnBatchRegistered
        from core.services.ingest import IngestConfig, IngestService
        from core.services.trends import AlsoRecordTrends

        s = self.settings
        config = IngestConfig(
            inference_container=s.inference_container,
            quarantine_container=s.quarantine_container,
            max_file_bytes=s.max_file_bytes,
            lease_seconds=s.ingest_lease_seconds,
            inference_asset=s.inference_asset,
            outputs_asset=s.outputs_asset,
            labelled_asset=s.labelled_asset,
            correlation_column=s.correlation_column,
        )
        return IngestService(
            config, self.workspace, self.blob_store, self.ledger, self.reference,
            observer_factory=self.drift.observer_for,
            after_registered=AlsoRecordTrends(OnBatchRegistered(self.monitors, self.retraining),
                                              self.trends),
            clock=self.clock, reporter=self.reporter,
            ground_truth=self.ground_truth if s.ground_truth_join else None,
        )

    @cached_property
    def drift(self):
        from core.services.drift_checks import DriftChecks

        s = self.settings
        return DriftChecks(
            self.workspace, self.artifacts, self.ledger, s.reference_asset, s.inference_asset,
            enabled=s.early_drift_check, row_limit=s.early_drift_row_limit,
            memory_bytes=s.early_drift_memory_mb * 1024 * 1024, reporter=self.reporter,
            thresholds=self.drift_thresholds, model_tags=self._latest_model_tags,
        )

    def _latest_model_tags(self, model: str) -> dict[str, str]:
        latest = self.workspace.latest_model(model)
        return dict(latest.tags) if latest is not None else {}

    @cached_property
    def drift_thresholds(self):
        from core.services.thresholds import DriftThresholds

        return DriftThresholds.from_settings(self.settings, self.ledger)

    @cached_property
    def trend_store(self) -> TrendStore:
        """Every batch's metrics per model: append blobs in the artifacts container (Azurite
        locally)."""
        from core.adapters.storage import BlobTrendStore, blob_service

        return BlobTrendStore(blob_service(self.settings.storage_connection, self.credentials),
                              self.settings.artifacts_container)

    @cached_property
    def trends(self):
        from core.services.trends import Trends

        return Trends(self.trend_store, self.ledger, self.state,
                      load_result=self.drift.load_result, clock=self.clock)

    @cached_property
    def dashboard(self):
        from core.services.dashboard import Dashboard

        return Dashboard(monitors=self.monitors, trends=self.trends, ledger=self.ledger,
                         retraining=self.retraining,
                         registered_models=self.workspace.list_models, clock=self.clock)

    @cached_property
    def monitor_config(self):
        from core.domain.monitor_decision import MonitorConfig
        from core.domain.monitoring import MLTask, MonitorTrigger

        s = self.settings
        return MonitorConfig(
            monitor_name_template=s.monitor_name_template,
            reference_asset_template=s.reference_asset_template,
            inference_asset_template=s.inference_asset_template,
            outputs_asset_template=s.outputs_asset_template,
            watch_all_models=s.watch_all_models,
            ml_task=cast(MLTask, s.monitor_ml_task),
            trigger=MonitorTrigger.parse(s.monitor_schedule, s.monitor_time_zone),
            lookback_window=s.monitor_lookback,
            alert_emails=s.monitor_alert_emails,
            instance_type=s.monitor_instance_type,
            runtime_version=s.monitor_runtime_version,
            labelled_asset_template=s.labelled_asset_template,
            performance_thresholds=s.performance_thresholds,
            correlation_column=s.correlation_column,
            **_monitor_thresholds(s.drift_thresholds),
        )

    @cached_property
    def monitors(self):
        from core.services.monitors import MonitorService

        return MonitorService(self.workspace, self.state, self.monitor_config,
                              clock=self.clock, catalog=self.models, reporter=self.reporter)

    @cached_property
    def monitor_runs(self):
        from core.services.monitor_runs import MonitorRuns

        return MonitorRuns(self.workspace, self.monitor_runner, self.monitors, clock=self.clock)

    @cached_property
    def retrain_policy(self):
        from core.domain.retraining import RetrainPolicy

        s = self.settings
        return RetrainPolicy(
            cooldown_seconds=s.retrain_cooldown_hours * 3600,
            breaches_in_a_row=s.retrain_breaches_in_a_row,
            lease_seconds=s.retrain_lease_seconds,
            max_attempts=MAX_DEQUEUE_COUNT,
            retrain_on_early_drift=s.retrain_on_early_drift,
        )

    @cached_property
    def retraining(self):
        from core.services.retraining import Retraining
        from core.services.retraining.alerts import RetrainAlerts
        from core.services.retraining.poison import RetrainPoison
        from core.services.retraining.records import RetrainRecords
        from core.services.retraining.repair import RetrainRepair
        from core.services.retraining.worker import RetrainWorker

        records = RetrainRecords(self.state)
        policy = self.retrain_policy
        worker = RetrainWorker(records, self.retrain_poison_queue, self.retrainer, policy,
                               clock=self.clock, reporter=self.reporter)
        return Retraining(
            records,
            RetrainAlerts(self.workspace, records, self.retrain_queue, policy,
                          monitor_name_template=self.settings.monitor_name_template,
                          clock=self.clock),
            worker,
            RetrainRepair(records, self.retrain_queue, self.retrainer, worker,
                          clock=self.clock),
            RetrainPoison(records, self.retrain_queue, self.retrain_poison_queue,
                          clock=self.clock),
            reporter=self.reporter,
        )

    @cached_property
    def admin(self):
        from core.services.admin import Admin, AdminContext

        s = self.settings
        context = AdminContext(
            backend=s.backend,
            settings=s.describe(),
            reference_asset=s.reference_asset,
        )
        return Admin(context, ledger=self.ledger, ingest=self.ingest, drift=self.drift,
                     monitors=self.monitors, monitor_runs=self.monitor_runs,
                     retraining=self.retraining, performance=self.performance,
                     waiting_labels=lambda model: sum(
                         1 for _ in self.ground_truth_store.waiting(model)))


    @cached_property
    def health(self):
        from core.services.health import Health

        return Health(self.settings.backend, self.health_probes,
                      settings=self.settings.describe(), versions=_versions(),
                      optional=frozenset(OPTIONAL_DEPENDENCIES))

    @cached_property
    def health_probes(self) -> dict[str, Callable[[], object]]:
        """Dependency name -> a bounded probe (no SDK retries, short timeouts)."""
        from core.adapters.storage.probes import folder_probe, storage_probes

        s = self.settings
        probes = storage_probes(
            tables_connection=s.storage_connection, blobs_connection=s.inference_connection,
            queue_connection=s.storage_connection, queue_name=s.retrain_queue,
            inference_container=s.inference_container, credentials=self.credentials,
        )
        if s.backend == "local":
            probes["workspace"] = folder_probe(s.local_workspace_dir)
        if s.telemetry.enabled:
            probes["application_insights"] = self._telemetry_probe
        if s.events.endpoint is not None:
            from core.adapters.storage import TableStateStore, table_service
            from core.adapters.storage.probes import BOUNDED
            from core.services.reporting import check_events

            bounded = TableStateStore(
                table_service(s.storage_connection, self.credentials, **BOUNDED),
                s.table_prefix)
            probes["autopilot_events"] = lambda: check_events(bounded)
        return probes

    def _telemetry_probe(self) -> object:
        """Application Insights as this instance's exporter last saw it."""
        telemetry, error = self.telemetry, self._telemetry_error
        if error is not None:
            raise RuntimeError(f"telemetry could not be configured: {error}")
        check = getattr(telemetry, "check", None)
        return check() if callable(check) else None


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for package in ("azure-functions", "azure-ai-ml", "azure-storage-blob", "azure-data-tables",
                    "pyarrow", "numpy", "scipy", "scikit-learn"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


_lock = threading.Lock()
_services: Services | None = None


def build_services(settings: Settings | None = None, **overrides: Any) -> Services:
    return Services(settings or load_settings(), **overrides)


def services() -> Services:
    """The process-wide services, built on first use from the environment."""
    global _services
    with _lock:
        if _services is None:
            _services = build_services()
        return _services


def reset_services(replacement: Services | None = None) -> None:
    """Forget the process-wide services (they are rebuilt from the environment on next use),
    or install `replacement`, e.g. services built with overrides for a test."""
    global _services
    with _lock:
        _services = replacement


def _monitor_thresholds(given: dict) -> dict:
    """What Azure monitors are sent: Azure takes one threshold per metric and data type (not
    per feature), so they get Azure's defaults, or the DRIFT_THRESHOLDS values (a drift
    metric replaces its type's default whole: Azure judges one drift metric per type; a
    quality rate replaces that rate's default)."""
    from core.domain.monitoring import DEFAULT_DATA_QUALITY_THRESHOLDS, DEFAULT_DRIFT_THRESHOLDS

    out = {}
    for signal, defaults in (("data_drift", DEFAULT_DRIFT_THRESHOLDS),
                             ("data_quality", DEFAULT_DATA_QUALITY_THRESHOLDS)):
        if signal in given:
            merged = {t: dict(v) for t, v in defaults.items()}
            for ftype, values in given[signal].items():
                if signal == "data_drift":
                    merged[ftype] = dict(values)
                else:  # every quality rate is sent: the ones not given keep Azure's default
                    merged.setdefault(ftype, {}).update(values)
            out[f"{signal}_thresholds"] = merged
    return out
