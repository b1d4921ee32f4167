"""Trends: every batch's metrics, thresholds and statuses per model, kept compactly.

A `TrendPoint` is one batch seen once: an early drift check of an ingested batch, a monitor
run, or the champion's performance on a labelled version. It holds one metric per
(signal, feature, metric) with the value, the threshold it was judged against and a status:

- ``ok``, ``warning``, ``breach``: judged against a threshold (``warning`` when the engine
  reports one; results that only say breached or not give ``ok``/``breach``);
- ``info``: computed without a threshold (Azure computes it, nothing judges it);
- ``undefined``: the value could not be computed for this data (NaN).

The metrics are kept in columns (`MetricColumns`: the names once, then index, value, threshold
and status arrays), and stored as one binary record per batch (`TrendPoint.to_record`): a
small JSON header, then the columns as little-endian arrays. A model's history of thousands of
batches decodes without one Python object per metric, and `series` stacks the columns of
batches that share their metrics into one array. Keys are unique per model; a batch recorded
twice (a retry, a backfill) keeps its last record.

Pure: numpy and the standard library, no I/O.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

TREND_FORMAT = 1
MAGIC = b"TRP1"

STATUSES = ("ok", "warning", "breach", "info", "undefined")
_CODE = {"ok": "o", "warning": "w", "breach": "b", "info": "i", "undefined": "u"}
_STATUS = {v: k for k, v in _CODE.items()}
_STATUS_OF_BYTE = {ord(v): k for k, v in _CODE.items()}
# Worst first: the status a point shows for its batch.
_RANK = {"breach": 0, "warning": 1, "ok": 2, "info": 3, "undefined": 4}

KINDS = ("early_check", "monitor_run", "performance", "check")

_SEP = "\x1f"  # between names in a record (a unit separator: no name holds one)
_FRAME = struct.Struct("<4sII")  # magic, header bytes, column bytes


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


def _floats(values: Iterable[float | None]) -> NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


class MetricColumns:
    """One batch's metrics as columns: `names` once, `index` (3 x n: signal, feature and
    metric as positions in `names`), `values` and `thresholds` (NaN for none), `codes` (one
    status letter per metric)."""

    __slots__ = ("codes", "index", "names", "thresholds", "values")

    def __init__(self, names: tuple[str, ...], index: NDArray[np.uint16],
                 values: NDArray[np.float64], thresholds: NDArray[np.float64], codes: bytes):
        self.names = names
        self.index = index
        self.values = values
        self.thresholds = thresholds
        self.codes = codes

    @classmethod
    def of(cls, metrics: Iterable[MetricPoint]) -> MetricColumns:
        ms = list(metrics)
        positions: dict[str, int] = {}
        index = np.empty((3, len(ms)), dtype=np.uint16)
        for j, m in enumerate(ms):
            for row, name in enumerate((m.signal, m.feature, m.metric)):
                at = positions.get(name)
                if at is None:
                    if _SEP in name:
                        raise ValueError(f"a name holds the separator: {name!r}")
                    at = positions[name] = len(positions)
                index[row, j] = at
        if len(positions) > 65535:
            raise ValueError("more than 65,535 distinct names in one batch")
        return cls(tuple(positions), index, _floats(m.value for m in ms),
                   _floats(m.threshold for m in ms),
                   "".join(_CODE[m.status] for m in ms).encode())

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[MetricPoint]:
        names = self.names
        for j, (s, f, m) in enumerate(self.index.T.tolist()):
            v, t = float(self.values[j]), float(self.thresholds[j])
            yield MetricPoint(names[s], names[f], names[m], None if v != v else v,
                              None if t != t else t, _STATUS_OF_BYTE[self.codes[j]])

    @property
    def layout(self) -> tuple[tuple[str, ...], bytes]:
        """What batches with the same metrics in the same order share."""
        return self.names, self.index.tobytes()

    def statuses(self) -> tuple[str, ...]:
        return tuple(_STATUS_OF_BYTE[c] for c in self.codes)

    def to_bytes(self) -> bytes:
        names = _SEP.join(self.names).encode()
        return b"".join((struct.pack("<II", len(self), len(names)), names,
                         self.index.astype("<u2").tobytes(),
                         self.values.astype("<f8").tobytes(),
                         self.thresholds.astype("<f8").tobytes(), self.codes))

    @classmethod
    def from_bytes(cls, raw: bytes | memoryview) -> MetricColumns:
        n, names_len = struct.unpack_from("<II", raw, 0)
        pos = 8
        names = tuple(bytes(raw[pos:pos + names_len]).decode().split(_SEP)) if names_len \
            else ()
        pos += names_len
        index = np.frombuffer(raw, dtype="<u2", count=3 * n, offset=pos).reshape(3, n)
        pos += 6 * n
        values = np.frombuffer(raw, dtype="<f8", count=n, offset=pos)
        pos += 8 * n
        thresholds = np.frombuffer(raw, dtype="<f8", count=n, offset=pos)
        pos += 8 * n
        # Read-only views of the record: nothing is copied.
        return cls(names, index, values, thresholds, bytes(raw[pos:pos + n]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MetricColumns):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"MetricColumns({len(self)} metrics)"


@dataclass(frozen=True, init=False)
class TrendPoint:
    """One batch of one model (see the module docstring). `metrics` may be given as
    MetricPoints or as MetricColumns; it is kept as columns."""

    model: str
    key: str  # unique per model, e.g. "early_check:<ingestion id>"
    kind: str
    at: float  # seconds since the epoch
    columns: MetricColumns
    data: str = ""  # the production data version, e.g. "churn-inference:12"
    ingestion: str | None = None  # the ingestion whose drift report shows this batch
    rows: int | None = None
    notes: tuple[str, ...] = ()
    status: str = ""

    def __init__(self, *, model: str, key: str, kind: str, at: float,
                 metrics: Iterable[MetricPoint] | MetricColumns = (), data: str = "",
                 ingestion: str | None = None, rows: int | None = None,
                 notes: tuple[str, ...] = (), status: str = ""):
        if kind not in KINDS:
            raise ValueError(f"unknown trend kind {kind!r}")
        columns = metrics if isinstance(metrics, MetricColumns) else MetricColumns.of(metrics)
        for name, value in (("model", model), ("key", key), ("kind", kind), ("at", at),
                            ("columns", columns), ("data", data), ("ingestion", ingestion),
                            ("rows", rows), ("notes", tuple(notes)),
                            ("status", status or worst(columns.statuses()))):
            object.__setattr__(self, name, value)

    @cached_property
    def metrics(self) -> tuple[MetricPoint, ...]:
        return tuple(self.columns)

    def breached_features(self) -> list[str]:
        names, index = self.columns.names, self.columns.index
        found = {names[index[1, j]] for j, c in enumerate(self.columns.codes) if c == ord("b")}
        return sorted(found)

    def header(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"f": TREND_FORMAT, "k": self.key, "t": self.kind,
                               "at": self.at, "s": self.status, "d": self.data,
                               "i": self.ingestion, "n": self.rows}
        if self.notes:
            doc["no"] = list(self.notes)
        return doc

    def to_record(self) -> bytes:
        """One self-delimiting binary record (see the module docstring)."""
        header = json.dumps(self.header(), separators=(",", ":")).encode()
        columns = self.columns.to_bytes()
        return _FRAME.pack(MAGIC, len(header), len(columns)) + header + columns

    @classmethod
    def from_header(cls, model: str, doc: dict[str, Any],
                    columns: MetricColumns) -> TrendPoint:
        return cls(model=model, key=doc["k"], kind=doc["t"], at=float(doc["at"]),
                   metrics=columns, data=doc.get("d") or "", ingestion=doc.get("i"),
                   rows=doc.get("n"), notes=tuple(doc.get("no") or ()), status=doc["s"])


def _records(model: str, blob: bytes) -> Iterator[TrendPoint]:
    """The points of a run of records, in the order they were written. Records of another
    format are skipped; a blob that ends inside a record (it cannot, appends are atomic)
    stops there."""
    view = memoryview(blob)
    pos, end = 0, len(view)
    while pos + _FRAME.size <= end:
        magic, header_len, columns_len = _FRAME.unpack_from(view, pos)
        start = pos + _FRAME.size
        pos = start + header_len + columns_len
        if magic != MAGIC or pos > end:
            break  # not ours, or cut short: nothing after it can be framed
        doc = json.loads(bytes(view[start:start + header_len]))
        if doc.get("f") != TREND_FORMAT:
            continue
        yield TrendPoint.from_header(model, doc,
                                     MetricColumns.from_bytes(view[start + header_len:pos]))


# A chunk: a run of records rewritten in columns, one group per metrics layout, compressed
# (thresholds and statuses repeat from batch to batch: about a quarter of the records' size).
CHUNK_MAGIC = b"TRZ1"
_CHUNK = struct.Struct("<4sI")  # magic, groups
_GROUP = struct.Struct("<IIII")  # header bytes, names bytes, points, metrics


def encode_chunk(model: str, records: bytes) -> bytes:
    """A run of records (a full segment) as one chunk: per layout of metrics, the names and
    index once, the headers as one JSON list (each with its position in the run), and the
    values, thresholds and statuses as 2-D arrays; zlib-compressed after CHUNK_MAGIC."""
    groups: dict[tuple[tuple[str, ...], bytes], list[tuple[int, TrendPoint]]] = {}
    for seq, point in enumerate(_records(model, records)):
        groups.setdefault(point.columns.layout, []).append((seq, point))
    out = [_CHUNK.pack(CHUNK_MAGIC, len(groups))]  # the magic is repeated inside
    for members in groups.values():
        first = members[0][1].columns
        headers = json.dumps([{**p.header(), "q": seq} for seq, p in members],
                             separators=(",", ":")).encode()
        names = _SEP.join(first.names).encode()
        out += [_GROUP.pack(len(headers), len(names), len(members), len(first)), headers,
                names, first.index.astype("<u2").tobytes(),
                np.stack([p.columns.values for _, p in members]).astype("<f8").tobytes(),
                np.stack([p.columns.thresholds for _, p in members]).astype("<f8").tobytes(),
                b"".join(p.columns.codes for _, p in members)]
    return CHUNK_MAGIC + zlib.compress(b"".join(out), 6)


def _chunk_points(model: str, blob: bytes) -> list[TrendPoint]:
    """A chunk's points in the order they were written."""
    view = memoryview(zlib.decompress(memoryview(blob)[len(CHUNK_MAGIC):]))
    (_, groups), pos = _CHUNK.unpack_from(view, 0), _CHUNK.size
    found: list[tuple[int, TrendPoint]] = []
    for _ in range(groups):
        header_len, names_len, n, m = _GROUP.unpack_from(view, pos)
        pos += _GROUP.size
        headers = json.loads(bytes(view[pos:pos + header_len]))
        pos += header_len
        names = tuple(bytes(view[pos:pos + names_len]).decode().split(_SEP)) if names_len \
            else ()
        pos += names_len
        index = np.frombuffer(view, dtype="<u2", count=3 * m, offset=pos).reshape(3, m)
        pos += 6 * m
        values = np.frombuffer(view, dtype="<f8", count=n * m, offset=pos).reshape(n, m)
        pos += 8 * n * m
        thresholds = np.frombuffer(view, dtype="<f8", count=n * m, offset=pos).reshape(n, m)
        pos += 8 * n * m
        codes = bytes(view[pos:pos + n * m])
        pos += n * m
        for i, doc in enumerate(headers):
            if doc.get("f") != TREND_FORMAT:
                continue
            columns = MetricColumns(names, index, values[i], thresholds[i],
                                    codes[i * m:(i + 1) * m])
            found.append((int(doc.get("q", 0)), TrendPoint.from_header(model, doc, columns)))
    found.sort(key=lambda sp: sp[0])
    return [p for _, p in found]


def decode_records(model: str, blobs: Sequence[bytes]) -> list[TrendPoint]:
    """Points from stored blobs, oldest first, one per key (the last one written for a key
    wins). Each blob is a run of records or a chunk (`encode_chunk`), in the order they were
    written."""
    by_key: dict[str, TrendPoint] = {}
    for blob in blobs:
        points = _chunk_points(model, blob) if blob[:4] == CHUNK_MAGIC else \
            _records(model, blob)
        for point in points:
            by_key.pop(point.key, None)  # re-recorded: it moves to where it was written last
            by_key[point.key] = point
    return sorted(by_key.values(), key=lambda p: p.at)


@dataclass(frozen=True, eq=False)
class Series:
    """One (signal, feature, metric) over a model's batches, oldest first: values and
    thresholds as float arrays (NaN where there is none; `values` and `thresholds` give them
    as tuples with None), `codes` one status letter per batch (`statuses` spells them out)."""

    signal: str
    feature: str
    metric: str
    at: tuple[float, ...]
    value_array: NDArray[np.float64]
    threshold_array: NDArray[np.float64]
    codes: str
    keys: tuple[str, ...]

    @cached_property
    def values(self) -> tuple[float | None, ...]:
        return _nones(self.value_array)

    @cached_property
    def thresholds(self) -> tuple[float | None, ...]:
        return _nones(self.threshold_array)

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(_STATUS[c] for c in self.codes)

    @property
    def latest_status(self) -> str:
        return _STATUS[self.codes[-1]] if self.codes else "ok"

    @property
    def latest_value(self) -> float | None:
        return _none(float(self.value_array[-1])) if len(self.codes) else None

    @property
    def latest_threshold(self) -> float | None:
        return _none(float(self.threshold_array[-1])) if len(self.codes) else None


def _none(v: float) -> float | None:
    return None if v != v else v


def status_of_code(code: str) -> str:
    """The status a letter of `Series.codes` stands for."""
    return _STATUS[code]


def _nones(a: NDArray[np.float64]) -> tuple[float | None, ...]:
    values = a.tolist()
    if not np.isnan(a).any():
        return tuple(values)
    return tuple(None if v != v else v for v in values)


def series(points: Sequence[TrendPoint], *, kinds: Iterable[str] | None = None) -> list[Series]:
    """Every (signal, feature, metric) in `points` as a series, in first-seen order. Batches
    that share their metrics' layout are stacked into one array each."""
    wanted = set(kinds) if kinds is not None else None
    chosen = [p for p in points if wanted is None or p.kind in wanted]
    groups: dict[tuple[tuple[str, ...], bytes], list[int]] = {}
    for i, p in enumerate(chosen):
        groups.setdefault(p.columns.layout, []).append(i)
    parts: dict[tuple[str, str, str], list[tuple[NDArray[np.int64], NDArray[np.float64],
                                                NDArray[np.float64], NDArray[np.uint8]]]] = {}
    for members in groups.values():
        first = chosen[members[0]].columns
        at = np.array(members, dtype=np.int64)
        values = np.stack([chosen[i].columns.values for i in members])
        thresholds = np.stack([chosen[i].columns.thresholds for i in members])
        codes = np.frombuffer(b"".join(chosen[i].columns.codes for i in members),
                              dtype=np.uint8).reshape(len(members), len(first))
        for j, (s, f, m) in enumerate(first.index.T.tolist()):
            triple = (first.names[s], first.names[f], first.names[m])
            parts.setdefault(triple, []).append((at, values[:, j], thresholds[:, j],
                                                 codes[:, j]))
    order = sorted(parts, key=lambda t: min(int(p[0][0]) for p in parts[t]))
    # Series over the same batches share their times and keys (one tuple each).
    shared: dict[bytes, tuple[tuple[float, ...], tuple[str, ...]]] = {}
    out = []
    for triple in order:
        pieces = parts[triple]
        where = np.concatenate([p[0] for p in pieces])
        rank = np.argsort(where, kind="stable")
        where = where[rank]
        values = np.concatenate([p[1] for p in pieces])[rank]
        thresholds = np.concatenate([p[2] for p in pieces])[rank]
        codes = np.concatenate([p[3] for p in pieces])[rank]
        marker = where.tobytes()
        if marker not in shared:
            rows = where.tolist()
            shared[marker] = (tuple(chosen[i].at for i in rows),
                              tuple(chosen[i].key for i in rows))
        times, keys = shared[marker]
        out.append(Series(*triple, at=times, value_array=values,
                          threshold_array=thresholds, codes=codes.tobytes().decode(),
                          keys=keys))
    return out


__all__ = ["KINDS", "STATUSES", "MetricColumns", "MetricPoint", "Series", "TrendPoint",
           "decode_records", "encode_chunk", "series", "status_of_code", "worst"]
