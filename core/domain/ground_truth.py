"""Ground truth that arrives later, joined to the collected inputs by correlation id. Pure.

Every collected row carries an id column (`CORRELATION_ID_COLUMN`, default ``correlationid``):

- data collector rows (`model_inputs`, `model_outputs`) get the id Azure ML's model
  performance monitoring gives them, ``<record correlationid>_<row index>``: the collector
  batches several requests' rows into one record under one correlation id, and Azure tells
  them apart by their index (``test_0``, ``test_1``, ...; a record of one row is
  ``<correlationid>_0``). A row that carries the id column itself keeps its own value (the
  docs' advice: log your own unique id in its own column);
- CSV inference batches may carry the column themselves.

Ground truth files (`<model>/ground_truth/...csv|jsonl`) hold the id and the target. A label
joins the input row of the same id, whichever arrives first; the joined rows (the input's
columns, the label as the target, the id, and the logged outputs as ``predicted_<column>``)
become a version of the labelled data asset (`<model>-labelled`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

DEFAULT_CORRELATION_COLUMN = "correlationid"
GROUND_TRUTH_FOLDER = "ground_truth"  # <model>/ground_truth/... holds label files
PREDICTED_PREFIX = "predicted_"  # a logged model output column, in the labelled rows

# What a row may hold: JSON values.
Row = dict[str, Any]


def collector_row_id(correlation_id: str, index: int) -> str:
    """The id Azure ML model performance monitoring gives row `index` of a collector record."""
    return f"{correlation_id}_{index}"


def row_key(row_id: str) -> str:
    """A Table-storage-safe key of an id (ids may hold any character): its SHA-256 prefix."""
    return hashlib.sha256(row_id.encode("utf-8")).hexdigest()[:40]


def predicted_column(output_column: str) -> str:
    """Where a logged model output column goes in the labelled rows (it often has the
    target's name: the label keeps that name)."""
    return PREDICTED_PREFIX + output_column


def joined_row(input_row: Row, output_row: Row | None, *, id_column: str, target: str,
               label: Any, row_id: str) -> Row:
    """One labelled row: the input's columns, the logged outputs as ``predicted_<column>``,
    the label under the target's name, and the id."""
    out = {k: v for k, v in input_row.items() if k not in (target, id_column)}
    for name, value in (output_row or {}).items():
        if name != id_column:
            out[predicted_column(name)] = value
    out[target] = label
    out[id_column] = row_id
    return out


def logged_prediction_column(prediction_columns: tuple[str, ...] | list[str],
                             columns: list[str] | tuple[str, ...]) -> str | None:
    """The labelled rows' column holding the model's logged prediction: ``predicted_<first
    prediction column>``, else the one ``predicted_*`` column there is; None when the
    deployment's outputs were not collected (or are ambiguous)."""
    for name in prediction_columns[:1]:
        if predicted_column(name) in columns:
            return predicted_column(name)
    logged = [c for c in columns if c.startswith(PREDICTED_PREFIX)]
    return logged[0] if len(logged) == 1 else None


# A collected row larger than this (as JSON) is not kept for the join (Table storage keeps an
# entity under 1 MiB).
MAX_ROW_CHARS = 400_000


def row_json(row: Row) -> str:
    return json.dumps(row, separators=(",", ":"), sort_keys=False, default=str)


@dataclass
class JoinCounts:
    """What one file did to the join (ground truth or inputs); shown per ingestion.

    - `labels`: label rows read; `empty`: rows without an id or a label (skipped);
    - `joined`: labels joined with their input now (a labelled version holds them);
    - `waiting`: labels kept until their inputs arrive (early, or an unknown id: a label
      still waiting after GROUND_TRUTH_WAIT_DAYS is dropped and counted `expired`);
    - `duplicates`: labels for an id already labelled by another file, or twice in this file
      (the first one counts); `conflicting`: those whose value differs from the kept one;
    - `inputs`, `duplicate_inputs`: input rows stored for later labels, and those whose id
      another file already stored (the first one is kept); `outputs`: logged output rows;
    - `completed`: waiting labels an input file joined; `expired`: waiting labels dropped
      after GROUND_TRUTH_WAIT_DAYS (ids no input ever carried: unknown ids);
    - `too_large`: rows over MAX_ROW_CHARS of JSON, not kept for the join.
    """

    labels: int = 0
    empty: int = 0
    joined: int = 0
    waiting: int = 0
    duplicates: int = 0
    conflicting: int = 0
    inputs: int = 0
    duplicate_inputs: int = 0
    outputs: int = 0
    completed: int = 0
    expired: int = 0
    too_large: int = 0

    def to_doc(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> JoinCounts:
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in doc.items() if k in names})


@dataclass(frozen=True)
class StoredInput:
    """A collected row kept for a later label (the pending side of the join)."""

    row_id: str
    row: Row
    source: str  # the ingestion that stored it
    label_source: str | None = None  # the ingestion whose label joined it
    label: Any = None


@dataclass(frozen=True)
class WaitingLabel:
    """A label whose input has not arrived (yet)."""

    row_id: str
    label: Any
    source: str  # the ground truth ingestion it came from
    at: float


def same_label(a: Any, b: Any) -> bool:
    return a == b or (str(a) == str(b))


__all__ = [
    "DEFAULT_CORRELATION_COLUMN",
    "GROUND_TRUTH_FOLDER",
    "PREDICTED_PREFIX",
    "JoinCounts",
    "StoredInput",
    "WaitingLabel",
    "collector_row_id",
    "joined_row",
    "logged_prediction_column",
    "predicted_column",
    "row_key",
]
