"""In-memory fakes of every port (`core.ports`), shared by the use-case unit tests.

Each one implements its port for real over dicts and lists, ETags included, so a use case runs
against them exactly as against the adapters; the type checker holds them to the ports (see
the `_check` assignments at the end). They also record what was asked of them, so tests can
assert on effects (messages sent, events published, versions registered) instead of patching.

Fakes are for unit tests of use cases; adapters are tested against Azurite, the local workspace
folder and the Azure SDK's real operations.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from core.domain.assets import DataAssetVersion, MLTable, ModelVersion, sorted_versions
from core.domain.ground_truth import StoredInput, WaitingLabel
from core.domain.ingestion import BlobRef, IngestionRecord
from core.domain.models import ModelDescription, ModelInspection, ModelProblem
from core.domain.monitoring import MonitorRunResult, MonitorSpec
from core.domain.observability import METRICS, AutopilotEvent
from core.domain.retraining import (
    JobStatus,
    Reason,
    RequestStatus,
    RetrainRequest,
    RetrainResult,
)
from core.ports import (
    Artifacts,
    AutopilotEvents,
    BlobStore,
    Conflict,
    EventSink,
    EventsUnavailable,
    GroundTruthStore,
    IngestionLedger,
    Jobs,
    MessageQueue,
    ModelLoader,
    MonitorRunner,
    NotFound,
    QueuedMessage,
    Retrainer,
    StateStore,
    Stored,
    StreamOpener,
    Telemetry,
    Workspace,
)

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00+00:00


class FakeClock:
    """A clock a test moves by hand."""

    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# ------------------------------------------------------------------------------- storage


class FakeStateStore:
    """StateStore over a dict, with ETags that change on every write."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], tuple[dict, str]] = {}
        self._etags = itertools.count(1)

    def _store(self, kind: str, key: str, doc: dict) -> Stored:
        etag = f'W/"{next(self._etags)}"'
        self.docs[(kind, key)] = (copy.deepcopy(doc), etag)
        return Stored(key, copy.deepcopy(doc), etag)

    def get(self, kind: str, key: str) -> Stored | None:
        if (kind, key) not in self.docs:
            return None
        doc, etag = self.docs[(kind, key)]
        return Stored(key, copy.deepcopy(doc), etag)

    def create(self, kind: str, key: str, doc: dict) -> Stored:
        if (kind, key) in self.docs:
            raise Conflict(f"{kind}/{key} exists")
        return self._store(kind, key, doc)

    def replace(self, kind: str, key: str, doc: dict, etag: str) -> Stored:
        current = self.docs.get((kind, key))
        if current is None or current[1] != etag:
            raise Conflict(f"{kind}/{key} changed")
        return self._store(kind, key, doc)

    def put(self, kind: str, key: str, doc: dict) -> Stored:
        return self._store(kind, key, doc)

    def list(self, kind: str) -> list[Stored]:
        out = []
        for k, key in sorted(self.docs):
            if k == kind:
                stored = self.get(k, key)
                assert stored is not None
                out.append(stored)
        return out


class FakeQueue:
    """MessageQueue over a list; received messages stay invisible until deleted or released."""

    def __init__(self, name: str = "retrain-requests"):
        self.name = name
        self.messages: list[QueuedMessage] = []
        self.invisible: set[str] = set()
        self._ids = itertools.count(1)

    def send(self, body: str) -> str:
        message = QueuedMessage(id=f"{self.name}-{next(self._ids)}", body=body, dequeue_count=0,
                                inserted_at="2027-01-15T08:00:00+00:00", pop_receipt="r")
        self.messages.append(message)
        return message.id

    def peek(self, limit: int = 32) -> list[QueuedMessage]:
        return [m for m in self.messages if m.id not in self.invisible][:limit]

    def approximate_count(self) -> int:
        return len(self.messages)

    def receive(self, limit: int = 32, visibility_seconds: int = 30) -> list[QueuedMessage]:
        got = [replace(m, dequeue_count=m.dequeue_count + 1) for m in self.peek(limit)]
        by_id = {m.id: m for m in got}
        self.messages = [by_id.get(m.id, m) for m in self.messages]
        self.invisible.update(by_id)
        return got

    def delete(self, message: QueuedMessage) -> None:
        self.messages = [m for m in self.messages if m.id != message.id]
        self.invisible.discard(message.id)

    def release(self, message: QueuedMessage) -> None:
        self.invisible.discard(message.id)

    def bodies(self) -> list[dict]:
        return [json.loads(m.body) for m in self.messages]


class FakeBlobStore:
    """BlobStore over a dict of (container, name) -> bytes; ETags change on every write."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str], tuple[bytes, str]] = {}
        self._etags = itertools.count(1)

    def upload(self, container: str, name: str, data: bytes) -> BlobRef:
        etag = f'"0x{next(self._etags):X}"'
        self.blobs[(container, name)] = (data, etag)
        return BlobRef(container, name, etag=etag, size=len(data),
                       url=f"https://fake.blob/{container}/{name}")

    def properties(self, ref: BlobRef) -> BlobRef:
        if (ref.container, ref.name) not in self.blobs:
            raise NotFound(f"blob {ref.path} does not exist")
        data, etag = self.blobs[(ref.container, ref.name)]
        return ref.with_properties(etag=etag, size=len(data),
                                   url=f"https://fake.blob/{ref.container}/{ref.name}")

    def open(self, ref: BlobRef) -> BinaryIO:
        current = self.properties(ref)
        if ref.etag and ref.etag != current.etag:
            raise Conflict(f"blob {ref.path} changed since ETag {ref.etag}")
        return io.BytesIO(self.blobs[(ref.container, ref.name)][0])

    def write_text(self, container: str, blob_name: str, text: str, content_type: str) -> str:
        return self.upload(container, blob_name, text.encode()).url or ""

    def read_text(self, container: str, blob_name: str) -> str:
        if (container, blob_name) not in self.blobs:
            raise NotFound(f"blob {container}/{blob_name} does not exist")
        return self.blobs[(container, blob_name)][0].decode()


class FakeLedger:
    """IngestionLedger over a dict, with the adapter's claim rules (lease, takeover)."""

    def __init__(self, clock: Callable[[], float] | None = None):
        self.records: dict[tuple[str, str], IngestionRecord] = {}
        self.counters: dict[str, int] = {}
        self.allocations: dict[tuple[str, str], int] = {}
        self._clock = clock or FakeClock()
        self._etags = itertools.count(1)

    def _put(self, record: IngestionRecord) -> IngestionRecord:
        stored = replace(record, etag=f'W/"{next(self._etags)}"')
        self.records[(record.model, record.ingestion_id)] = stored
        return stored

    def claim(self, record: IngestionRecord, lease_seconds: int, *,
              retry_rejected: bool = False) -> IngestionRecord | None:
        now = self._clock()
        key = (record.model, record.ingestion_id)
        fresh = replace(record, status="processing", attempts=1, lease_until=now + lease_seconds,
                        created_at=now, updated_at=now)
        current = self.records.get(key)
        if current is None:
            return self._put(fresh)
        takeable = current.status == "failed" or (
            current.status == "processing" and current.lease_until <= now
        ) or (retry_rejected and current.status == "rejected")
        if not takeable:
            return None
        return self._put(replace(
            current, status="processing", attempts=current.attempts + 1,
            lease_until=now + lease_seconds, updated_at=now, owner=record.owner,
            blob=record.blob, error=None, rejection=None, quarantine_record=None))

    def save(self, record: IngestionRecord) -> IngestionRecord:
        current = self.records.get((record.model, record.ingestion_id))
        if record.etag and (current is None or current.etag != record.etag):
            raise Conflict(f"ingestion {record.ingestion_id} was changed by another instance")
        return self._put(record)

    def get(self, model: str, ingestion_id: str) -> IngestionRecord:
        try:
            return self.records[(model, ingestion_id)]
        except KeyError:
            raise NotFound(f"no ingestion {ingestion_id} for model {model}") from None

    def list(self, model: str | None = None, status: str | None = None) -> list[IngestionRecord]:
        found = [r for r in self.records.values()
                 if (model is None or r.model == model) and (status is None or r.status == status)]
        return sorted(found, key=lambda r: r.created_at, reverse=True)

    def allocate_version(self, asset_name: str, ingestion_id: str, *,
                         seed: Callable[[], int], above: int = 0) -> str:
        """The adapter's rules: one number per ingestion, the counter the source of truth."""
        held = self.allocations.get((asset_name, ingestion_id))
        if held is not None and held > above:
            return str(held)
        start = self.counters[asset_name] if asset_name in self.counters else seed() + 1
        version = max(start, above + 1)
        self.counters[asset_name] = version + 1
        self.allocations[(asset_name, ingestion_id)] = version
        return str(version)

    def release_version(self, asset_name: str, ingestion_id: str, version: str) -> None:
        if self.allocations.get((asset_name, ingestion_id)) == int(version) \
                and self.counters.get(asset_name) == int(version) + 1:
            self.counters[asset_name] = int(version)
            del self.allocations[(asset_name, ingestion_id)]


class FakeEventSink:
    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, events: list[dict]) -> None:
        self.published.extend(events)


# ------------------------------------------------------------------------------- telemetry


@dataclass
class FakeSpan:
    name: str
    dimensions: dict
    kind: str = "internal"
    parent: str | None = None
    links: tuple[str, ...] = ()
    failed: str | None = None
    error: BaseException | None = None

    def annotate(self, **dimensions) -> None:
        self.dimensions.update({k: v for k, v in dimensions.items() if v is not None})

    def fail(self, description: str) -> None:
        self.failed = description


class FakeTelemetry:
    """Telemetry kept in lists, held to the catalogue as the OpenTelemetry adapter is (an
    unknown metric, a wrong kind or an undeclared dimension raises)."""

    enabled = True

    def __init__(self) -> None:
        self.spans: list[FakeSpan] = []
        self._open: list[FakeSpan] = []
        self.points: list[tuple[str, float, dict]] = []

    @contextlib.contextmanager
    def span(self, name: str, /, *, kind: str = "internal", parent: str | None = None,
             links=(), **dimensions):
        span = FakeSpan(name, {k: v for k, v in dimensions.items() if v is not None}, kind,
                        parent, tuple(links))
        self.spans.append(span)
        self._open.append(span)
        try:
            yield span
        except BaseException as exc:
            span.error = exc
            raise
        finally:
            self._open.pop()

    def annotate(self, **dimensions) -> None:
        if self._open:
            self._open[-1].annotate(**dimensions)

    def _check(self, name: str, kinds: tuple[str, ...], dimensions: dict) -> None:
        metric = METRICS.get(name)
        if metric is None or metric.kind not in kinds:
            raise ValueError(f"{name} is not a {' or '.join(kinds)} of the catalogue")
        if set(dimensions) - set(metric.dimensions):
            raise ValueError(f"{name}: undeclared dimensions {set(dimensions)}")

    def count(self, name: str, value: float = 1, /, **dimensions) -> None:
        self._check(name, ("counter",), dimensions)
        self.points.append((name, value, dimensions))

    def record(self, name: str, value: float, /, **dimensions) -> None:
        self._check(name, ("histogram", "gauge"), dimensions)
        self.points.append((name, value, dimensions))

    def values(self, name: str, **match) -> list[float]:
        return [v for n, v, d in self.points
                if n == name and all(d.get(k) == want for k, want in match.items())]

    def span_named(self, name: str) -> FakeSpan:
        (found,) = [s for s in self.spans if s.name == name]
        return found


class FakeAutopilotEvents:
    """A destination that keeps what it accepted; `refuse` makes it fail as a topic does."""

    destination = "the fake topic"

    def __init__(self) -> None:
        self.published: list[AutopilotEvent] = []
        self.refuse: str | None = None
        self.attempts = 0

    def publish(self, events) -> None:
        self.attempts += 1
        if self.refuse is not None:
            raise EventsUnavailable(f"{self.destination} answered {self.refuse}")
        self.published.extend(events)

    def of_type(self, event_type: str) -> list[AutopilotEvent]:
        return [e for e in self.published if e.type == event_type]


# ------------------------------------------------------------------------------- workspace


class FakeWorkspace:
    """Data assets (tables kept in memory), models, monitor schedules, artifacts and jobs.

    With `datastore`, inference blobs are referenced in place (`blob_uri`), as on Azure ML;
    without, data is copied into the workspace, as in the local workspace."""

    def __init__(self, datastore: str | None = None) -> None:
        self.datastore = datastore
        self.data: dict[str, list[DataAssetVersion]] = {}
        self.tables: dict[tuple[str, str], pa.Table] = {}
        self.mltables: dict[tuple[str, str], MLTable] = {}  # the MLTable of each version made
        self.models: dict[str, list[ModelVersion]] = {}
        self.monitors: dict[str, MonitorSpec] = {}
        self.broken_monitors: set[str] = set()
        self.artifacts: dict[str, bytes] = {}
        self.jobs: dict[str, JobStatus] = {}
        self.submitted: list[dict] = []
        self.monitor_writes: list[MonitorSpec] = []
        self.reads: list[str] = []  # asset ids read with read_table
        self.downloads: list[str] = []  # model ids whose files were asked for
        self._created = itertools.count(1)

    # -- helpers for tests
    def add_data(self, name: str, table: pa.Table, *, version: str | None = None,
                 tags: Mapping[str, str] | None = None) -> DataAssetVersion:
        versions = self.data.setdefault(name, [])
        version = version or str(len(versions) + 1)
        asset = DataAssetVersion(name, version, "mltable", f"fake://{name}/{version}",
                                 tags=dict(tags or {}), created_at=f"t{next(self._created):06d}")
        versions.append(asset)
        self.tables[(name, version)] = table
        return asset

    def add_model(self, name: str, *, tags: Mapping[str, str] | None = None,
                  path: str = "", version: str | None = None,
                  model_type: str = "custom_model") -> ModelVersion:
        versions = self.models.setdefault(name, [])
        model = ModelVersion(name, version or str(len(versions) + 1), path or f"fake://{name}",
                             type=model_type, tags=dict(tags or {}),
                             created_at=f"t{next(self._created):06d}")
        versions.append(model)
        return model

    # -- DataAssets
    def blob_uri(self, container: str, blob_name: str) -> str | None:
        if self.datastore is None:
            return None
        return f"azureml://datastores/{self.datastore}/paths/{container}/{blob_name}"

    def create_mltable_version(self, name: str, version: str, mltable: MLTable, *,
                               files: Mapping[str, StreamOpener], tags: Mapping[str, str],
                               description: str = "") -> DataAssetVersion:
        for existing in self.data.get(name, []):
            if existing.version == version:
                return existing
        table: pa.Table | None = None
        from core.domain import tables as parsing

        for opener in files.values():
            fmt: parsing.TableFormat = (
                "json_lines" if mltable.data_format == "json_lines" else "delimited")
            with opener() as stream:
                table = parsing.read(io.BytesIO(stream.read()), fmt, delimiter=mltable.delimiter)
        asset = DataAssetVersion(name, str(version), "mltable", f"fake://{name}/{version}",
                                 tags=dict(tags), description=description,
                                 created_at=f"t{next(self._created):06d}")
        self.data.setdefault(name, []).append(asset)
        self.mltables[(name, str(version))] = mltable
        if table is not None:
            self.tables[(name, str(version))] = table
        return asset

    def get_data(self, name: str, version: str) -> DataAssetVersion:
        for asset in self.data.get(name, []):
            if asset.version == version:
                return asset
        raise NotFound(f"data asset {name}:{version} does not exist")

    def list_data_versions(self, name: str) -> list[DataAssetVersion]:
        return sorted_versions(self.data.get(name, []))

    def latest_data(self, name: str) -> DataAssetVersion | None:
        versions = self.list_data_versions(name)
        return versions[-1] if versions else None

    def register_mltable_folder(self, name: str, version: str, path: str, *,
                                tags: Mapping[str, str],
                                description: str = "") -> DataAssetVersion:
        for existing in self.data.get(name, []):
            if existing.version == version:
                return existing
        asset = DataAssetVersion(name, str(version), "mltable", str(path), tags=dict(tags),
                                 description=description,
                                 created_at=f"t{next(self._created):06d}")
        self.data.setdefault(name, []).append(asset)
        return asset

    def read_table(self, asset: DataAssetVersion, columns: list[str] | None = None) -> pa.Table:
        self.reads.append(asset.asset_id)
        try:
            table = self.tables[(asset.name, asset.version)]
        except KeyError:
            raise NotFound(f"no rows stored for {asset.asset_id}") from None
        return table.select(columns) if columns else table

    # -- Artifacts
    def put_artifact(self, key: str, content: bytes) -> None:
        self.artifacts[key] = content

    def get_artifact(self, key: str) -> bytes | None:
        return self.artifacts.get(key)

    # -- Models
    def register_model(self, name: str, local_path: str | Path,
                       tags: Mapping[str, str] | None = None,
                       properties: Mapping[str, str] | None = None,
                       description: str = "", *,
                       model_type: str = "custom_model") -> ModelVersion:
        versions = self.models.setdefault(name, [])
        numbers = [int(v.version) for v in versions if v.version.isdigit()]
        model = ModelVersion(name, str(max(numbers, default=0) + 1), str(local_path),
                             type=model_type,
                             tags=dict(tags or {}), properties=dict(properties or {}),
                             description=description, created_at=f"t{next(self._created):06d}")
        versions.append(model)
        return model

    def download_model(self, model: ModelVersion, destination: Path) -> Path:
        """The folder the model's path names (a fake path has no files: the loader says so)."""
        self.downloads.append(model.asset_id)
        return Path(model.path.replace("fake://", str(destination) + "/"))

    def get_model(self, name: str, version: str) -> ModelVersion:
        for model in self.models.get(name, []):
            if model.version == version:
                return model
        raise NotFound(f"model {name}:{version} does not exist")

    def latest_model(self, name: str) -> ModelVersion | None:
        versions = self.list_model_versions(name)
        return versions[-1] if versions else None

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        return sorted_versions(self.models.get(name, []))

    def list_models(self) -> list[str]:
        return sorted(n for n, v in self.models.items() if v)

    # -- Monitors
    def get_monitor(self, name: str) -> MonitorSpec | None:
        if name in self.broken_monitors:
            raise ValueError(f"schedule {name} is not a monitor schedule")
        return self.monitors.get(name)

    def create_or_update_monitor(self, spec: MonitorSpec) -> MonitorSpec:
        self.monitors[spec.name] = spec
        self.monitor_writes.append(spec)
        return spec

    def list_monitors(self) -> list[MonitorSpec]:
        return [self.monitors[n] for n in sorted(self.monitors)]

    def enable_monitor(self, name: str) -> MonitorSpec:
        return self._toggle(name, True)

    def disable_monitor(self, name: str) -> MonitorSpec:
        return self._toggle(name, False)

    def _toggle(self, name: str, enabled: bool) -> MonitorSpec:
        if name not in self.monitors:
            raise NotFound(f"schedule {name}: not found")
        return self.create_or_update_monitor(replace(self.monitors[name], enabled=enabled))

    # -- Jobs
    def submit_job(self, definition_path: str, *, inputs: Mapping[str, str],
                   tags: Mapping[str, str], experiment_name: str,
                   display_name: str | None = None,
                   input_types: Mapping[str, str] | None = None,
                   literal_inputs: Mapping[str, str] | None = None) -> str:
        name = f"job-{len(self.submitted) + 1}"
        self.submitted.append({"definition": definition_path, "inputs": dict(inputs),
                               "tags": dict(tags), "experiment": experiment_name,
                               "display_name": display_name, "name": name,
                               "input_types": dict(input_types or {}),
                               "literal_inputs": dict(literal_inputs or {})})
        self.jobs[name] = JobStatus(name, "Running", dict(tags))
        return name

    def get_job(self, name: str) -> JobStatus:
        try:
            return self.jobs[name]
        except KeyError:
            raise NotFound(f"job {name} does not exist") from None


# ------------------------------------------------------------------------------- backends


@dataclass
class FakeModelLoader:
    """A ModelLoader that says what it is told each folder holds (default: an MLflow
    classifier taking `features`); records the folders it inspected."""

    features: tuple[str, ...] = ("x",)
    target: str = "y"
    by_folder: dict[str, ModelInspection] = field(default_factory=dict)
    inspected: list[str] = field(default_factory=list)

    def inspect(self, folder: Path) -> ModelInspection:
        self.inspected.append(str(folder))
        if str(folder) in self.by_folder:
            return self.by_folder[str(folder)]
        return ModelInspection(format="mlflow", file="MLmodel", flavor="sklearn",
                               estimator="Pipeline",
                               signature_inputs=tuple((f, "double") for f in self.features),
                               signature_outputs=(self.target,), task="classification",
                               refittable=True)

    def load(self, folder: Path, description: ModelDescription):
        raise NotImplementedError("the fake loader describes models; it does not score them")


def unreadable(problem: ModelProblem, message: str) -> ModelInspection:
    return ModelInspection.unreadable(problem, message)



@dataclass
class FakeRetrainer:
    """A Retrainer that answers what it is told to and records the requests it saw."""

    result: RetrainResult = field(default_factory=lambda: RetrainResult(
        RequestStatus.REGISTERED, "challenger wins", Reason.CHALLENGER_WON,
        {"new_version": "4"}))
    error: Exception | None = None
    completion: RetrainResult | None = None
    jobs: dict[str, JobStatus] = field(default_factory=dict)
    started: list[RetrainRequest] = field(default_factory=list)
    completed: list[tuple[RetrainRequest, JobStatus]] = field(default_factory=list)

    def start(self, request: RetrainRequest) -> RetrainResult:
        self.started.append(request)
        if self.error is not None:
            raise self.error
        return self.result

    def job_status(self, job: str) -> JobStatus:
        try:
            return self.jobs[job]
        except KeyError:
            raise NotFound(f"job {job} does not exist") from None

    def complete(self, request: RetrainRequest, job: JobStatus) -> RetrainResult:
        self.completed.append((request, job))
        return self.completion or self.result


@dataclass
class FakeMonitorRunner:
    """A MonitorRunner that breaches the signals it is told to (and fails the monitors named
    in `errors`, as a run whose data cannot be read)."""

    fires_schedules: bool = True
    breached: tuple[str, ...] = ()  # signal kinds that breach
    errors: dict[str, Exception] = field(default_factory=dict)  # monitor name -> raised
    runs: list[MonitorRunResult] = field(default_factory=list)
    clock: Callable[[], float] = field(default_factory=FakeClock)

    def run(self, spec: MonitorSpec, *, run_id: str, trigger: str) -> MonitorRunResult:
        if spec.name in self.errors:
            raise self.errors[spec.name]
        signals = {spec.signal_name(k): k in self.breached for k in spec.signal_kinds()}
        run = MonitorRunResult(
            run_id=run_id, monitor=spec.name, model=spec.model_name, trigger=trigger,
            started_at=self.clock(), finished_at=self.clock(), completed=self.fires_schedules,
            job=None if self.fires_schedules else f"job-{run_id}",
            breached=any(signals.values()), signals=signals,
            reference=str(spec.reference_data), production=str(spec.production_data),
        )
        self.runs.append(run)
        return run


class FakeGroundTruthStore:
    """GroundTruthStore over dicts: the first input or waiting label stored for an id stays,
    the last output; it counts the calls so tests can see what was asked of it."""

    def __init__(self) -> None:
        self.inputs: dict[tuple[str, str], StoredInput] = {}
        self.outputs: dict[tuple[str, str], dict] = {}
        self.waiting_labels: dict[tuple[str, str], WaitingLabel] = {}
        self.calls: list[str] = []

    def put_inputs(self, model: str, rows, *, source: str, labelled=None) -> list[str]:
        self.calls.append("put_inputs")
        duplicates = []
        seen: set[str] = set()
        for row_id, row in rows:
            kept = self.inputs.get((model, row_id))
            if row_id in seen or (kept is not None and kept.source != source):
                duplicates.append(row_id)  # the first one stored stays
            elif kept is None:
                label, label_source = (labelled or {}).get(row_id, (None, None))
                self.inputs[(model, row_id)] = StoredInput(row_id, copy.deepcopy(row), source,
                                                           label_source, label)
            seen.add(row_id)
        return duplicates

    def put_outputs(self, model: str, rows, *, source: str) -> None:
        self.calls.append("put_outputs")
        for row_id, row in rows:
            self.outputs[(model, row_id)] = copy.deepcopy(row)

    def get_inputs(self, model: str, ids) -> dict[str, StoredInput]:
        self.calls.append("get_inputs")
        return {i: self.inputs[(model, i)] for i in ids if (model, i) in self.inputs}

    def get_outputs(self, model: str, ids) -> dict[str, dict]:
        self.calls.append("get_outputs")
        return {i: self.outputs[(model, i)] for i in ids if (model, i) in self.outputs}

    def mark_labelled(self, model: str, labels, *, source: str) -> None:
        self.calls.append("mark_labelled")
        for row_id, label in labels:
            kept = self.inputs[(model, row_id)]
            self.inputs[(model, row_id)] = replace(kept, label_source=source, label=label)

    def put_waiting(self, model: str, labels, *, source: str, at: float) -> list[str]:
        self.calls.append("put_waiting")
        duplicates = []
        seen: set[str] = set()
        for row_id, label in labels:
            kept = self.waiting_labels.get((model, row_id))
            if row_id in seen or (kept is not None and kept.source != source):
                duplicates.append(row_id)
            elif kept is None:
                self.waiting_labels[(model, row_id)] = WaitingLabel(row_id, label, source, at)
            seen.add(row_id)
        return duplicates

    def waiting(self, model: str):
        return iter([w for (m, _), w in list(self.waiting_labels.items()) if m == model])

    def remove_waiting(self, model: str, ids) -> None:
        for row_id in ids:
            self.waiting_labels.pop((model, row_id), None)


# The type checker holds each fake to its port.
_check_state: StateStore = FakeStateStore()
_check_queue: MessageQueue = FakeQueue()
_check_blobs: BlobStore = FakeBlobStore()
_check_ledger: IngestionLedger = FakeLedger()
_check_events: EventSink = FakeEventSink()
_check_workspace: Workspace = FakeWorkspace()
_check_artifacts: Artifacts = FakeWorkspace()
_check_jobs: Jobs = FakeWorkspace()
_check_retrainer: Retrainer = FakeRetrainer()
_check_runner: MonitorRunner = FakeMonitorRunner()
_check_loader: ModelLoader = FakeModelLoader()
_check_telemetry: Telemetry = FakeTelemetry()
_check_autopilot_events: AutopilotEvents = FakeAutopilotEvents()
_check_ground_truth: GroundTruthStore = FakeGroundTruthStore()


# ------------------------------------------------------------------------------- trends


class FakeTrendStore:
    """TrendStore over lists of encoded records (the adapter's wire form, decoded as it
    does)."""

    def __init__(self) -> None:
        self.lines: dict[str, list[bytes]] = {}
        self.appends = 0

    def append(self, model: str, points) -> None:
        if not points:
            return
        self.appends += 1
        self.lines.setdefault(model, []).extend(p.to_record() for p in points)

    def read(self, model: str):
        from core.domain.trends import decode_records

        return decode_records(model, [b"".join(self.lines.get(model, []))])

    def latest(self, model: str):
        from core.domain.trends import decode_records

        lines = self.lines.get(model)
        return decode_records(model, [lines[-1]])[0] if lines else None

    def models(self) -> list[str]:
        return sorted(self.lines)
