"""Trends: every batch's metrics, thresholds and statuses per model, kept compactly.

A `TrendPoint` is one batch seen once: an early drift check of an ingested batch, a monitor
run, or the champion's performance on a labelled version. It holds one `MetricPoint` per
(signal, feature, metric) with the value, the threshold it was judged against and a status:

- ``ok``, ``warning``, ``breach``: judged against a threshold (``warning`` when the engine
  reports one; results that only say breached or not give ``ok``/``breach``);
- ``info``: computed without a threshold (Azure computes it, nothing judges it);
- ``undefined``: the value could not be computed for this data (NaN).

On the wire a point is one line of JSON with the metrics in columns (one list per field, the
statuses as one string of letters), so a model's history of thousands of batches parses in one
`json.loads` (see `decode_lines`). Keys are unique per model; a batch recorded twice (a retry,
a backfill) keeps its last line.

Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

TREND_FORMAT = 1

STATUSES = ("ok", "warning", "breach", "info", "undefined")
_CODE = {"ok": "o", "warning": "w", "breach": "b", "info": "i", "undefined": "u"}
_STATUS = {v: k for k, v in _CODE.items()}
# Worst first: the status a point shows for its batch.
_RANK = {"breach": 0, "warning": 1, "ok": 2, "info": 3, "undefined": 4}

KINDS = ("early_check", "monitor_run", "performance", "check")


def worst(statuses: Iterable[str]) -> str:
    """The most severe status among `statuses` (``ok`` when nothing was judged)."""
    best = "ok"
    for status in statuses:
        if _RANK.get(status, 9) < _RANK[best]:
            best = status
    return best


@dataclass(frozen=True)
class MetricPoint:
    signal: str
    feature: str
    metric: str
    value: float | None
    threshold: float | None
    status: str

    def __post_init__(self) -> None:
        if self.status not in _CODE:
            raise ValueError(f"unknown trend status {self.status!r}")


@dataclass(frozen=True)
class TrendPoint:
    """One batch of one model (see the module docstring)."""

    model: str
    key: str  # unique per model, e.g. "early_check:<ingestion id>"
    kind: str
    at: float  # seconds since the epoch
    metrics: tuple[MetricPoint, ...] = ()
    data: str = ""  # the production data version, e.g. "churn-inference:12"
    ingestion: str | None = None  # the ingestion whose drift report shows this batch
    rows: int | None = None
    notes: tuple[str, ...] = ()
    status: str = field(default="")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown trend kind {self.kind!r}")
        if not self.status:
            object.__setattr__(self, "status", worst(m.status for m in self.metrics))

    def to_line(self) -> str:
        """One line of compact JSON (no newline inside; see the module docstring)."""
        ms = self.metrics
        doc: dict[str, Any] = {
            "f": TREND_FORMAT, "k": self.key, "t": self.kind, "at": round(self.at, 3),
            "s": self.status, "d": self.data, "i": self.ingestion, "n": self.rows,
            "sg": [m.signal for m in ms], "fe": [m.feature for m in ms],
            "me": [m.metric for m in ms], "v": [_enc(m.value) for m in ms],
            "th": [_enc(m.threshold) for m in ms], "st": "".join(_CODE[m.status] for m in ms),
        }
        if self.notes:
            doc["no"] = list(self.notes)
        return json.dumps(doc, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_doc(cls, model: str, doc: dict[str, Any]) -> TrendPoint:
        metrics = tuple(
            MetricPoint(sg, fe, me, v, th, _STATUS[st])
            for sg, fe, me, v, th, st in zip(doc["sg"], doc["fe"], doc["me"], doc["v"],
                                             doc["th"], doc["st"], strict=True))
        return cls(model=model, key=doc["k"], kind=doc["t"], at=float(doc["at"]),
                   metrics=metrics, data=doc.get("d") or "", ingestion=doc.get("i"),
                   rows=doc.get("n"), notes=tuple(doc.get("no") or ()), status=doc["s"])


def _enc(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return x


def decode_lines(model: str, blobs: Sequence[bytes]) -> list[TrendPoint]:
    """Points from stored JSON lines (each blob a run of lines), oldest first, one per key
    (the last line written for a key wins). Lines of an unknown format are skipped."""
    docs: list[dict[str, Any]] = []
    for blob in blobs:
        body = blob.strip()
        if body:
            # One parse per blob: the lines joined as the items of one array.
            docs.extend(json.loads(b"[" + body.replace(b"\n", b",") + b"]"))
    by_key: dict[str, TrendPoint] = {}
    for doc in docs:
        if doc.get("f") != TREND_FORMAT:
            continue
        point = TrendPoint.from_doc(model, doc)
        by_key.pop(point.key, None)  # re-recorded: it moves to where it was written last
        by_key[point.key] = point
    return sorted(by_key.values(), key=lambda p: p.at)


@dataclass(frozen=True)
class Series:
    """One (signal, feature, metric) over a model's batches, oldest first."""

    signal: str
    feature: str
    metric: str
    at: tuple[float, ...]
    values: tuple[float | None, ...]
    thresholds: tuple[float | None, ...]
    statuses: tuple[str, ...]
    keys: tuple[str, ...]

    @property
    def latest_status(self) -> str:
        return self.statuses[-1] if self.statuses else "ok"


def series(points: Sequence[TrendPoint], *, kinds: Iterable[str] | None = None) -> list[Series]:
    """Every (signal, feature, metric) in `points` as a series, in first-seen order."""
    wanted = set(kinds) if kinds is not None else None
    columns: dict[tuple[str, str, str],
                  tuple[list[float], list[float | None], list[float | None], list[str],
                        list[str]]] = {}
    for p in points:
        if wanted is not None and p.kind not in wanted:
            continue
        for m in p.metrics:
            col = columns.get((m.signal, m.feature, m.metric))
            if col is None:
                col = columns[(m.signal, m.feature, m.metric)] = ([], [], [], [], [])
            col[0].append(p.at)
            col[1].append(m.value)
            col[2].append(m.threshold)
            col[3].append(m.status)
            col[4].append(p.key)
    return [Series(s, f, m, tuple(c[0]), tuple(c[1]), tuple(c[2]), tuple(c[3]), tuple(c[4]))
            for (s, f, m), c in columns.items()]


__all__ = ["KINDS", "STATUSES", "MetricPoint", "Series", "TrendPoint", "decode_lines",
           "series", "worst"]
