"""Ports: what the use cases need from the outside world, as `typing.Protocol`s.

Adapters in `core/adapters/` implement them over Azure SDKs, Azurite and a local folder;
`tests/fakes.py` implements them in memory for the use-case tests. The type checker holds every
adapter to its port (see the `_check_*` assignments in the adapters' tests and bootstrap).

Layer: imports `core.domain` only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from core.domain.assets import DataAssetVersion, MLTable, ModelVersion
from core.domain.errors import InvalidName as InvalidName  # re-exported
from core.domain.errors import PermanentError as PermanentError  # re-exported
from core.domain.ground_truth import Row, StoredInput, WaitingLabel
from core.domain.ingestion import BlobRef, IngestionRecord
from core.domain.models import ModelDescription, ModelInspection
from core.domain.monitoring import MonitorRunResult, MonitorSpec
from core.domain.observability import AutopilotEvent
from core.domain.retraining import JobStatus, RetrainRequest, RetrainResult

if TYPE_CHECKING:  # pyarrow is heavy; only adapters that read tables import it
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from core.domain.trends import TrendPoint  # imports numpy

# Opens a fresh binary stream over some content; called at most once per use.
StreamOpener = Callable[[], BinaryIO]


@dataclass(frozen=True)
class LocalFile:
    """A StreamOpener over a finished file on this machine (nobody writes it any more): a
    workspace on the same disk may link it where it would otherwise copy it."""

    path: Path

    def __call__(self) -> BinaryIO:
        return open(self.path, "rb")


class WorkspaceError(Exception):
    """A workspace call failed for a reason a retry may fix (unreachable, throttled)."""


class ClaimHeld(Exception):
    """Another delivery holds a live claim on this work (its lease has not ended). Transient:
    entry points raise it so the host delivers again later, when the owner has finished (the
    redelivery is then a duplicate) or died (the redelivery takes the claim over)."""


class NotFound(Exception):
    """The named entity does not exist."""


class Conflict(Exception):
    """An optimistic-concurrency check failed: someone else changed the entity first."""


class DataAssets(Protocol):
    """Data assets of a workspace (Azure ML `ml_client.data`)."""

    def blob_uri(self, container: str, blob_name: str) -> str | None:
        """A URI monitoring can read the blob through without copying it, or None when this
        workspace cannot reference the inference storage and data must be copied in."""

    def create_mltable_version(
        self,
        name: str,
        version: str,
        mltable: MLTable,
        *,
        files: Mapping[str, StreamOpener],
        tags: Mapping[str, str],
        description: str = "",
    ) -> DataAssetVersion:
        """Register `version` of asset `name`: an MLTable file plus `files` beside it.

        Idempotent: registering an existing version with the same tags returns it unchanged.
        """

    def get_data(self, name: str, version: str) -> DataAssetVersion:
        """Raises NotFound."""

    def list_data_versions(self, name: str) -> list[DataAssetVersion]:
        """Oldest first; empty when the asset does not exist."""

    def latest_data(self, name: str) -> DataAssetVersion | None: ...

    def read_table(self, asset: DataAssetVersion, columns: list[str] | None = None) -> pa.Table:
        """The rows of a tabular data asset (MLTable, CSV, Parquet or JSON lines)."""

    def register_mltable_folder(
        self, name: str, version: str, path: str, *, tags: Mapping[str, str],
        description: str = "",
    ) -> DataAssetVersion:
        """Register `path` (a local folder holding an MLTable file and its data, or a job
        output URI such as azureml://jobs/<job>/outputs/<name>) as `version` of asset `name`.
        Idempotent like `create_mltable_version`."""


class Artifacts(Protocol):
    """Small derived files the service keeps in the workspace (reference profiles, reports)."""

    def put_artifact(self, key: str, content: bytes) -> None: ...

    def get_artifact(self, key: str) -> bytes | None: ...


class BlobStore(Protocol):
    """Blob storage holding inference files, quarantine records and reports."""

    def properties(self, ref: BlobRef) -> BlobRef:
        """The blob's current ETag, size and URL. Raises NotFound."""

    def open(self, ref: BlobRef) -> BinaryIO:
        """A streaming reader over the blob as of `ref.etag` (if set). Raises NotFound, or
        Conflict when the blob changed since."""

    def write_text(self, container: str, blob_name: str, text: str, content_type: str) -> str:
        """Write (overwrite) a small blob; returns its URL."""

    def read_text(self, container: str, blob_name: str) -> str:
        """Raises NotFound."""


class IngestionLedger(Protocol):
    """Durable, shared record of every inference file the service has seen."""

    def claim(
        self, record: IngestionRecord, lease_seconds: int, *, retry_rejected: bool = False
    ) -> IngestionRecord | None:
        """Insert `record` (status processing) or take over a failed one, or one whose owner's
        lease expired (a crashed instance); with `retry_rejected`, a rejected one too (replay).

        Returns the stored record now owned by the caller, or None when the same file is
        already done or being processed by a live owner (the caller then reads it with `get`).
        """

    def save(self, record: IngestionRecord) -> IngestionRecord:
        """Update a record the caller owns (ETag-checked). Raises Conflict."""

    def get(self, model: str, ingestion_id: str) -> IngestionRecord:
        """Raises NotFound."""

    def list(self, model: str | None = None, status: str | None = None) -> list[IngestionRecord]:
        """Newest first."""

    def allocate_version(
        self, asset_name: str, ingestion_id: str, *, seed: Callable[[], int],
        above: int = 0,
    ) -> str:
        """The integer version of `asset_name` that ingestion `ingestion_id` registers: the one
        allocated to it before (a retry after a crash re-uses it), else the next one of the
        asset's counter, recorded against the ingestion in the same atomic step, so a crash
        never burns a number. The counter is the source of truth; `seed()` (the highest version
        the workspace has, 0 for none) is called only when the asset has no counter yet.
        `above`: the caller found versions up to this taken by someone else; allocate past it.
        """

    def release_version(self, asset_name: str, ingestion_id: str, version: str) -> None:
        """The ingestion will never register `version` (it failed permanently): hand the
        number back if it is still the last one allocated, so versions stay contiguous."""


class GroundTruthStore(Protocol):
    """The pending side of the ground-truth join, keyed by correlation id, shared by every
    instance (Table storage): collected rows wait here for their labels, and labels that
    arrive first wait for their rows. Every method takes a bounded batch; nothing here
    loads a model's history."""

    def put_inputs(self, model: str, rows: Sequence[tuple[str, Row]], *, source: str,
                   labelled: Mapping[str, tuple[object, str]] | None = None) -> list[str]:
        """Keep input rows by id. The first row stored for an id stays: returns the ids
        another source had stored already (duplicates); a retry of `source` is not one.
        `labelled`: id -> (label, the ingestion it came from), for rows stored labelled."""

    def put_outputs(self, model: str, rows: Sequence[tuple[str, Row]], *,
                    source: str) -> None:
        """Keep logged model outputs by id (the last one written stays)."""

    def get_inputs(self, model: str, ids: Sequence[str]) -> dict[str, StoredInput]:
        """The stored inputs among `ids`."""

    def get_outputs(self, model: str, ids: Sequence[str]) -> dict[str, Row]:
        """The stored outputs among `ids`."""

    def mark_labelled(self, model: str, labels: Sequence[tuple[str, object]], *,
                      source: str) -> None:
        """Record on each stored input that `source` labelled it (with that label)."""

    def put_waiting(self, model: str, labels: Sequence[tuple[str, object]], *, source: str,
                    at: float) -> list[str]:
        """Keep labels whose input has not arrived. Returns the ids another source had left
        waiting already (the first label stays); a retry of `source` is not one."""

    def waiting(self, model: str) -> Iterator[WaitingLabel]:
        """The labels waiting for their inputs, streamed (a bounded set: they expire)."""

    def remove_waiting(self, model: str, ids: Sequence[str]) -> None: ...


class TrendStore(Protocol):
    """Every batch's metrics per model (core.domain.trends), append-only: a point is
    appended as it lands and a model's whole history is read in one go."""

    def append(self, model: str, points: Sequence[TrendPoint]) -> None:
        """Add points to the model's history (a key recorded again: the last one wins)."""

    def read(self, model: str) -> list[TrendPoint]:
        """The model's points, oldest first, one per key; empty when it has none."""

    def latest(self, model: str) -> TrendPoint | None:
        """The model's most recently appended point, without its history (cheap)."""

    def models(self) -> list[str]:
        """Every model with a history, sorted."""


class EventSink(Protocol):
    """Delivers events the way Event Grid would (in-process locally, or to a webhook)."""

    def publish(self, events: list[dict]) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""


class Models(Protocol):
    """Registered models of a workspace (Azure ML `ml_client.models`)."""

    def register_model(
        self,
        name: str,
        local_path: str | Path,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, str] | None = None,
        description: str = "",
        *,
        model_type: str = "custom_model",
    ) -> ModelVersion:
        """Copy `local_path` (a file or a folder; on Azure also a job output URI) into the
        workspace and register the next version of `name`, as a `custom_model` or an
        `mlflow_model` (a folder with an MLmodel file)."""

    def download_model(self, model: ModelVersion, destination: Path) -> Path:
        """A local folder holding the model version's files: the workspace's own folder
        locally, a download into `destination` on Azure."""

    def get_model(self, name: str, version: str) -> ModelVersion:
        """Raises NotFound."""

    def latest_model(self, name: str) -> ModelVersion | None: ...

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Oldest first; empty when the model does not exist."""

    def list_models(self) -> list[str]:
        """The names of every registered model, sorted."""


class Monitors(Protocol):
    """Model monitors of a workspace: monitor schedules (Azure ML `ml_client.schedules`)."""

    def get_monitor(self, name: str) -> MonitorSpec | None: ...

    def create_or_update_monitor(self, spec: MonitorSpec) -> MonitorSpec:
        """Create or replace the schedule; returns the monitor as stored."""

    def list_monitors(self) -> list[MonitorSpec]:
        """Every monitor, enabled or not, sorted by name."""

    def enable_monitor(self, name: str) -> MonitorSpec:
        """Raises NotFound."""

    def disable_monitor(self, name: str) -> MonitorSpec:
        """Raises NotFound."""


class Workspace(DataAssets, Models, Monitors, Protocol):
    """What both workspace adapters are: data assets, models and monitor schedules."""


class Jobs(Protocol):
    """Jobs of a workspace (Azure ML `ml_client.jobs`)."""

    def submit_job(
        self,
        definition_path: str,
        *,
        inputs: Mapping[str, str],
        tags: Mapping[str, str],
        experiment_name: str,
        display_name: str | None = None,
        input_types: Mapping[str, str] | None = None,
        literal_inputs: Mapping[str, str] | None = None,
    ) -> str:
        """Submit the job definition (YAML) with its inputs pointed at `inputs` (name -> asset
        id; each must be declared) and, for those named in `input_types`, given that type (e.g.
        `mlflow_model`); `literal_inputs` set string inputs the definition declares (others
        are left out: a job of the user's own need not take them). Returns the job name. The
        local backend runs the job to its end before returning."""

    def get_job(self, name: str) -> JobStatus:
        """Raises NotFound."""


class ScoringModel(Protocol):
    """A loaded model: scores tables (pyarrow or pandas) with its features, in its order."""

    def predict(self, data: pa.Table | pd.DataFrame) -> np.ndarray: ...

    def predict_proba(self, data: pa.Table | pd.DataFrame) -> np.ndarray | None:
        """Class probabilities, columns in `classes` order; None for a regressor or a model
        without probabilities."""

    @property
    def classes(self) -> list: ...


class ModelLoader(Protocol):
    """Reads model folders in the formats users register (MLflow, joblib or pickle files, the
    service's own format): says what a model is, and loads it to score."""

    def inspect(self, folder: Path) -> ModelInspection:
        """What the model's files say; a model that cannot be read gets an inspection whose
        `problem` says why (bad files never raise)."""

    def load(self, folder: Path, description: ModelDescription) -> ScoringModel:
        """The model, ready to score with the description's features. Raises
        `core.training.loader.ModelLoadError` (a ValueError) with its reason code."""


class Retrainer(Protocol):
    """Trains and judges a challenger for a request: in-process (local) or as an Azure ML job
    whose completion is reported later (`complete`)."""

    def start(self, request: RetrainRequest) -> RetrainResult:
        """Run (or submit) one attempt. A `submitted` result finishes through `complete`."""

    def job_status(self, job: str) -> JobStatus:
        """Raises NotFound when this backend has no such job."""

    def complete(self, request: RetrainRequest, job: JobStatus) -> RetrainResult:
        """The request's job reached a terminal status: judge and register."""


class MonitorRunner(Protocol):
    """Runs a monitor once: locally with our drift engine, or by asking Azure ML to."""

    # True when this service fires monitor schedules (local backend); False when the
    # workspace runs them itself (Azure ML).
    fires_schedules: bool

    def run(self, spec: MonitorSpec, *, run_id: str, trigger: str) -> MonitorRunResult: ...


@dataclass(frozen=True)
class Stored:
    """A document kept in the state store, with the ETag that guards its next update."""

    key: str
    doc: dict
    etag: str


class StateStore(Protocol):
    """Small JSON documents shared by every instance, with optimistic concurrency (ETags).

    `kind` groups documents (a Table storage partition): "monitor", "retrain-gate", ...
    """

    def get(self, kind: str, key: str) -> Stored | None: ...

    def create(self, kind: str, key: str, doc: dict) -> Stored:
        """Raises Conflict when the document already exists."""

    def replace(self, kind: str, key: str, doc: dict, etag: str) -> Stored:
        """Raises Conflict when the document changed since `etag` was read (or was deleted)."""

    def put(self, kind: str, key: str, doc: dict) -> Stored:
        """Create or overwrite, unconditionally (for records only their writer updates)."""

    def list(self, kind: str) -> list[Stored]:
        """Every document of `kind`, by key."""


@dataclass(frozen=True)
class QueuedMessage:
    id: str
    body: str
    dequeue_count: int
    inserted_at: str | None = None
    pop_receipt: str | None = None


class MessageQueue(Protocol):
    """A storage queue, encoded as the Functions queue trigger reads it (host.json)."""

    name: str

    def send(self, body: str) -> str:
        """Enqueue; returns the message id."""

    def peek(self, limit: int = 32) -> list[QueuedMessage]: ...

    def approximate_count(self) -> int: ...

    def receive(self, limit: int = 32, visibility_seconds: int = 30) -> list[QueuedMessage]: ...

    def delete(self, message: QueuedMessage) -> None: ...

    def release(self, message: QueuedMessage) -> None:
        """Make a received message visible again now."""


# ------------------------------------------------------------------ telemetry and our events

# A dimension's value (None values are left out).
Dimension = str | int | float | bool | None


class Span(Protocol):
    def annotate(self, **dimensions: Dimension) -> None:
        """Add dimensions to this span (and to the log lines written inside it from now on)."""

    def fail(self, description: str) -> None:
        """Mark the span failed without an exception (an HTTP answer of 5xx)."""


class Telemetry(Protocol):
    """Spans, metrics and log dimensions: exported to Application Insights through
    OpenTelemetry (`core/adapters/telemetry.py`), or nowhere (`NO_TELEMETRY`). Metric names and
    their kinds are `core.domain.observability.METRICS`; dimension names the span and log
    context carry are `DIMENSIONS` (others are span attributes only)."""

    enabled: bool

    def span(self, name: str, /, *, kind: str = "internal", parent: str | None = None,
             links: Sequence[str] = (),
             **dimensions: Dimension) -> contextlib.AbstractContextManager[Span]:
        """A span around one use case. `kind`: "consumer" (a trigger's invocation), "server"
        (an HTTP request) or "internal"; `parent`: the host's W3C traceparent to continue;
        `links`: traceparents of upstream work (an event that carried one). An exception
        leaving the span marks it failed and is recorded, then propagates."""

    def annotate(self, **dimensions: Dimension) -> None:
        """Add dimensions to the current span and to the log lines written inside it."""

    def count(self, name: str, value: float = 1, /, **dimensions: Dimension) -> None:
        """Add to a counter."""

    def record(self, name: str, value: float, /, **dimensions: Dimension) -> None:
        """Record a histogram value or set a gauge (the catalogue says which)."""


class _NoSpan:
    def annotate(self, **dimensions: Dimension) -> None:
        return None

    def fail(self, description: str) -> None:
        return None


class NullTelemetry:
    """Nothing exported, nothing imported: what runs without
    APPLICATIONINSIGHTS_CONNECTION_STRING (and in use-case tests that do not look)."""

    enabled = False
    _SPAN = _NoSpan()

    @contextlib.contextmanager
    def span(self, name: str, /, *, kind: str = "internal", parent: str | None = None,
             links: Sequence[str] = (), **dimensions: Dimension) -> Iterator[Span]:
        yield self._SPAN

    def annotate(self, **dimensions: Dimension) -> None:
        return None

    def count(self, name: str, value: float = 1, /, **dimensions: Dimension) -> None:
        return None

    def record(self, name: str, value: float, /, **dimensions: Dimension) -> None:
        return None


NO_TELEMETRY: Telemetry = NullTelemetry()


class EventsUnavailable(Exception):
    """The destination did not accept the autopilot's events (refused, unreachable, timed out).
    The message names the destination and what to do."""


class AutopilotEvents(Protocol):
    """Where the autopilot's own events go: an Event Grid topic (CloudEvents), or the log."""

    destination: str  # for messages and health: "Event Grid topic https://...", "the log"

    def publish(self, events: Sequence[AutopilotEvent]) -> None:
        """Deliver them, or raise EventsUnavailable."""
