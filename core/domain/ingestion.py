"""Inference files and what became of them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from core.domain.ground_truth import GROUND_TRUTH_FOLDER
from core.domain.names import InvalidName, check_blob_path, check_name, shown

IngestionStatus = Literal["processing", "registered", "rejected", "failed", "ignored"]
FileLayout = Literal["csv", "collector_jsonl", "ground_truth_csv", "ground_truth_jsonl"]

_COLLECTOR_PATH = re.compile(
    r"^(?P<endpoint>[^/]+)/(?P<deployment>[^/]+)/(?P<collection>model_inputs|model_outputs)/"
    r"(?P<yyyy>\d{4})/(?P<MM>\d{2})/(?P<dd>\d{2})/(?P<HH>\d{2})/(?P<file>[^/]+\.jsonl)$"
)


@dataclass(frozen=True)
class BlobRef:
    container: str
    name: str
    etag: str | None = None
    size: int | None = None
    url: str | None = None

    @property
    def path(self) -> str:
        return f"{self.container}/{self.name}"

    def with_properties(self, etag: str, size: int, url: str) -> BlobRef:
        return replace(self, etag=etag, size=size, url=url)


@dataclass(frozen=True)
class InferenceFile:
    """Where an inference file sits, parsed from its path: `<model>/...`."""

    model: str
    layout: FileLayout
    relative_path: str
    endpoint: str | None = None
    deployment: str | None = None
    collection: str | None = None
    partition: str | None = None  # data-collector hour, "yyyy/MM/dd/HH"

    @property
    def is_ground_truth(self) -> bool:
        return self.layout in ("ground_truth_csv", "ground_truth_jsonl")


class UnsupportedPath(ValueError):
    """The blob path does not name a model or is not a file type we ingest. `model` is the
    model the path names when its folder is a valid model name (the file is recorded under
    that model), else None; `code` is the rejection's reason code."""

    def __init__(self, message: str, *, model: str | None = None,
                 code: str = "unsupported_path"):
        super().__init__(message)
        self.model = model
        self.code = code


def parse_inference_path(blob_name: str) -> InferenceFile:
    parts = blob_name.split("/", 1)
    if len(parts) != 2 or not parts[1]:
        raise UnsupportedPath(
            f"blob {shown(blob_name)} is not under a model folder: expected "
            "'<model-name>/<file>'"
        )
    model, rest = parts
    try:
        check_name(model, "model name")
    except InvalidName as exc:
        raise UnsupportedPath(str(exc), code="invalid_name") from None
    try:
        check_blob_path(rest)
    except InvalidName as exc:
        raise UnsupportedPath(str(exc), model=model, code="invalid_name") from None
    lowered = rest.lower()
    if rest.startswith(GROUND_TRUTH_FOLDER + "/") and not _COLLECTOR_PATH.match(rest):
        if lowered.endswith((".csv", ".jsonl")):
            layout: FileLayout = "ground_truth_csv" if lowered.endswith(".csv") \
                else "ground_truth_jsonl"
            return InferenceFile(model=model, layout=layout, relative_path=rest)
        raise UnsupportedPath(
            f"ground truth file {shown(rest)} is neither CSV (.csv) nor JSON lines (.jsonl)",
            model=model,
        )
    if lowered.endswith(".csv"):
        return InferenceFile(model=model, layout="csv", relative_path=rest)
    if lowered.endswith(".jsonl"):
        match = _COLLECTOR_PATH.match(rest)
        if not match:
            raise UnsupportedPath(
                f"JSON-lines file {shown(rest)} is not in the data collector layout "
                "'<endpoint>/<deployment>/model_inputs|model_outputs/yyyy/MM/dd/HH/<file>.jsonl'",
                model=model,
            )
        g = match.groupdict()
        return InferenceFile(
            model=model,
            layout="collector_jsonl",
            relative_path=rest,
            endpoint=g["endpoint"],
            deployment=g["deployment"],
            collection=g["collection"],
            partition=f"{g['yyyy']}/{g['MM']}/{g['dd']}/{g['HH']}",
        )
    raise UnsupportedPath(
        f"{shown(rest)} is neither a CSV batch (.csv) nor data collector output (.jsonl)",
        model=model,
    )


def ingestion_id(blob: BlobRef) -> str:
    """Stable id of one upload: the same path and ETag always give the same id."""
    digest = hashlib.sha256(f"{blob.container}/{blob.name}\n{blob.etag}".encode()).hexdigest()
    return digest[:24]


@dataclass(frozen=True)
class Rejection:
    """Why a file was refused, precise enough for an operator to fix it."""

    code: str
    message: str
    line: int | None = None
    column: str | None = None

    def to_dict(self) -> dict[str, str | int]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class IngestionRecord:
    model: str
    ingestion_id: str
    blob: BlobRef
    status: IngestionStatus
    created_at: float
    updated_at: float
    attempts: int = 0
    lease_until: float = 0.0
    owner: str = ""
    layout: str = ""
    rows: int | None = None
    columns: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    asset_name: str | None = None
    asset_version: str | None = None
    rejection: Rejection | None = None
    error: str | None = None
    quarantine_record: str | None = None
    replay_of: str | None = None
    drift: dict[str, Any] | None = None  # the early drift check's summary
    partition: str | None = None
    # The ground-truth join: what this file did (JoinCounts, and the labelled version it
    # produced), and the champion's metrics on that version (core.domain.performance).
    labels: dict[str, Any] | None = None
    performance: dict[str, Any] | None = None
    etag: str | None = field(default=None, compare=False)  # ledger's own optimistic-lock tag

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "id": self.ingestion_id,
            "status": self.status,
            "blob": {
                "container": self.blob.container,
                "name": self.blob.name,
                "etag": self.blob.etag,
                "size": self.blob.size,
                "url": self.blob.url,
            },
            "layout": self.layout,
            "partition": self.partition,
            "rows": self.rows,
            "columns": list(self.columns),
            "extra_columns": list(self.extra_columns),
            "data_asset": (
                {"name": self.asset_name, "version": self.asset_version}
                if self.asset_version
                else None
            ),
            "rejection": self.rejection.to_dict() if self.rejection else None,
            "error": self.error,
            "quarantine_record": self.quarantine_record,
            "replay_of": self.replay_of,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "drift": self.drift,
            "labels": self.labels,
            "performance": self.performance,
        }
