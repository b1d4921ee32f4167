"""The use cases as the composition root wires them, over the shared in-memory fakes.

`world` holds one fake per port; `world.services(**env)` builds `Services` from settings read
from `env` (as the app reads its environment) with every adapter replaced by its fake. Tests
may swap a fake (``world.ws = LaggingWorkspace()``) before building.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pyarrow as pa
import pytest

from core.bootstrap import Services, build_services
from core.domain import tables
from core.domain.ingestion import BlobRef
from core.services.ingest import IngestOutcome
from core.settings import load_settings
from tests.fakes import (
    FakeAutopilotEvents,
    FakeBlobStore,
    FakeClock,
    FakeEventSink,
    FakeGroundTruthStore,
    FakeLedger,
    FakeMonitorRunner,
    FakeQueue,
    FakeRetrainer,
    FakeStateStore,
    FakeTelemetry,
    FakeTrendStore,
    FakeWorkspace,
)
from tests.samples import REFERENCE_CSV

MODEL = "churn"
INFERENCE = "inference"  # the default INFERENCE_CONTAINER
QUARANTINE = "inference-quarantine"


def csv_table(text: str) -> pa.Table:
    return tables.read_csv(io.BytesIO(text.encode()))


REFERENCE = csv_table(REFERENCE_CSV)  # age int64, income double, city string, approved int64

_ROWS = REFERENCE_CSV.splitlines()[1:]
# The reference's own rows (plus an extra column): no drift, no data-quality problem.
CLEAN_CSV = "age,income,city,approved,request_id\n" + "".join(
    f"{row},r{i}\n" for i, row in enumerate(_ROWS))
# The reference's rows with 5% of the incomes missing: a data-quality breach, no data drift.
NULLS_CSV = "age,income,city,approved\n" + "".join(
    (row if i % 20 else ",".join(v if c != 1 else "" for c, v in enumerate(row.split(","))))
    + "\n" for i, row in enumerate(_ROWS))
# Clearly drifted against the reference: older, richer, other cities.
DRIFTED_CSV = "age,income,city,approved\n" + "".join(
    f"{80 + i % 15},{9000.0 + i * 40},{['tokyo', 'lima'][i % 2]},{i % 2}\n" for i in range(60)
)


@dataclass
class World:
    clock: FakeClock = field(default_factory=FakeClock)
    ws: FakeWorkspace = field(default_factory=FakeWorkspace)
    state: FakeStateStore = field(default_factory=FakeStateStore)
    blobs: FakeBlobStore = field(default_factory=FakeBlobStore)
    queue: FakeQueue = field(default_factory=lambda: FakeQueue("retrain-requests"))
    poison: FakeQueue = field(default_factory=lambda: FakeQueue("retrain-requests-poison"))
    events: FakeEventSink = field(default_factory=FakeEventSink)
    retrainer: FakeRetrainer = field(default_factory=FakeRetrainer)
    telemetry: FakeTelemetry = field(default_factory=FakeTelemetry)
    topic: FakeAutopilotEvents = field(default_factory=FakeAutopilotEvents)  # our own events
    labels: FakeGroundTruthStore = field(default_factory=FakeGroundTruthStore)
    trends: FakeTrendStore = field(default_factory=FakeTrendStore)
    ledger: FakeLedger = field(init=False)
    runner: FakeMonitorRunner = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = FakeLedger(self.clock)
        self.runner = FakeMonitorRunner(clock=self.clock)

    def services(self, **env: str) -> Services:
        settings = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true", **env})
        return build_services(
            settings, clock=self.clock, workspace=self.ws, artifacts=self.ws, state=self.state,
            blob_store=self.blobs, ledger=self.ledger, retrain_queue=self.queue,
            retrain_poison_queue=self.poison, events=self.events, retrainer=self.retrainer,
            monitor_runner=self.runner, telemetry=self.telemetry, autopilot_events=self.topic,
            ground_truth_store=self.labels, trend_store=self.trends,
        )

    # -- arranging the world

    def model(self, name: str = MODEL, **tags: str):
        return self.ws.add_model(name, tags=tags)

    def reference(self, model: str = MODEL, table: pa.Table = REFERENCE, **kw):
        return self.ws.add_data(f"{model}-training", table, **kw)

    def inference(self, model: str = MODEL, table: pa.Table = REFERENCE, **kw):
        return self.ws.add_data(f"{model}-inference", table, **kw)

    def upload(self, name: str, data: bytes | str, container: str = INFERENCE) -> BlobRef:
        return self.blobs.upload(container, name, data.encode() if isinstance(data, str)
                                 else data)

    # -- acting

    def ingest(self, name: str, text: str, *, svc: Services | None = None, advance: float = 0,
               **env: str) -> IngestOutcome:
        """A batch ``name`` of the model lands and is ingested (by ``svc``, else by services
        built from ``env``), ``advance`` seconds after the last."""
        self.upload(f"{MODEL}/batches/{name}", text)
        self.clock.advance(advance)
        svc = svc or self.services(**env)
        return svc.ingest.ingest(BlobRef(INFERENCE, f"{MODEL}/batches/{name}"))


@pytest.fixture
def world() -> World:
    return World()


class ProcessDied(BaseException):
    """The instance is killed mid-work: nothing after the point it is raised at runs (no
    `except Exception` handler records anything)."""


def deliver(world: World, retraining, queue=None) -> dict:
    """The queue trigger, as the host runs it: receive the next message (its dequeue count
    goes up), handle it, delete it on success, leave it for redelivery on failure."""
    queue = queue or world.queue
    (message,) = queue.receive(1)
    try:
        result = retraining.handle_message(message.body, message_id=message.id,
                                           dequeue_count=message.dequeue_count)
    except Exception:
        queue.release(message)  # visible again: the host redelivers it
        raise
    queue.delete(message)
    return result
