"""The reference profile: everything a comparison needs from the reference data, built once.

Azure's histogram bins depend on both frames (the range over reference and production, the bin
count from the smaller frame after the row-wise null drop), and the Wasserstein distance and the
KS test need every value. So the profile is exact, not a sketch:

- numerical (integer and floating) columns: the finite values **sorted**, their min/max, and,
  when the reference has rows with a missing value anywhere, the row index of each sorted value
  (``order``) so that any row-wise null drop is one gather that keeps the values sorted;
- categorical columns: the categories (canonical string keys) and one int32 code per row
  (-1 where missing), so category counts under any row drop are one ``bincount``;
- per column: a packed mask of missing rows (null, NaN and, for numeric columns, +/-inf), the
  null count (null and NaN), the arrow type, the feature type; the row count.

- optionally a :class:`Calibration` (format 2): each drift metric of each feature computed over
  chunks of the reference, from which :mod:`core.drift.policy` derives per-feature thresholds
  (:mod:`core.drift.calibration` computes it).

A batch then costs one sort of its own values per numerical column and one hash count per
categorical column; the reference is never re-read.

Serialisation (:meth:`ReferenceProfile.to_bytes`): ``MAGIC``, a little-endian u32 format
version, a u64 header length, a JSON header, then the raw arrays (8-byte aligned). A profile of
an unknown or newer format raises :class:`ProfileFormatError` with what to do.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from core.drift import types as ftypes

MAGIC = b"MADRIFT\x00"
#: 2: the optional calibration (header fields and one float64 matrix of chunk values).
#: 1: no calibration (still read; such a profile has ``calibration = None``).
PROFILE_FORMAT_VERSION = 2


class ProfileFormatError(ValueError):
    """The bytes are not a reference profile this code can read."""


def canonical_keys(values: pa.Array) -> pa.Array:
    """String keys for category values, equal for equal values across compatible types.

    Integers of any width, floats of any width, timestamps of any unit and dates map to one
    representation each, so a reference ``int32`` column and a production ``int64`` column
    share keys (Azure compares ``str(value)`` after Spark's type unification).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    dtype = values.type
    if pa.types.is_dictionary(dtype):
        values = values.dictionary_decode()
        dtype = values.type
    group = ftypes.type_group(dtype)
    if group == "long":
        values = pc.cast(values, pa.int64())
    elif group == "double":
        values = pc.cast(values, pa.float64())
    elif group == "timestamp":
        values = pc.cast(values, pa.timestamp("us", tz=dtype.tz), safe=False)
    elif group == "date":
        values = pc.cast(values, pa.date32())
    elif group == "time":
        values = pc.cast(values, pa.time64("us"), safe=False)
    elif group == "binary":
        return pa.array(
            [None if v is None else v.hex() for v in values.to_pylist()], type=pa.string()
        )
    return pc.cast(values, pa.string())


def encode_categories(column: pa.ChunkedArray | pa.Array) -> tuple[list[str], NDArray[np.int32]]:
    """``(categories, codes)``: sorted distinct keys and an int32 code per row (-1 = null)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_null(column.type):
        return [], np.full(len(column), -1, dtype=np.int32)
    encoded = pc.dictionary_encode(column)
    keys = canonical_keys(encoded.dictionary).to_pylist()
    uniq, inverse = np.unique(np.array(keys, dtype=object), return_inverse=True)
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    remap = np.append(inverse.astype(np.int32), np.int32(-1))  # index -1 -> -1
    codes: NDArray[np.int32] = remap[indices]
    return [str(u) for u in uniq], codes


def numeric_values(column: pa.ChunkedArray | pa.Array) -> NDArray[np.float64]:
    """A numeric column as float64 with NaN where null. Several chunks are joined by numpy,
    in one copy the caller owns (and may sort in place); one chunk without nulls is a
    read-only view of Arrow's buffer."""
    arr = pc.cast(column, pa.float64())
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks > 1:
            return np.concatenate([c.to_numpy(zero_copy_only=False) for c in arr.chunks])
        arr = arr.combine_chunks()
    values: NDArray[np.float64] = arr.to_numpy(zero_copy_only=False)
    return values


@dataclass
class NumericColumn:
    sorted_values: NDArray[np.float64]  # finite values, ascending
    # Row of each sorted value (int32, int64 from 2**31 rows); None when no row is ever dropped.
    order: NDArray[np.int32] | NDArray[np.int64] | None
    minimum: float | None  # over non-null, non-NaN values (infinities included)
    maximum: float | None
    inf_count: int = 0


@dataclass
class CategoricalColumn:
    categories: list[str]
    codes: NDArray[np.int32]  # per row, -1 where missing
    counts: NDArray[np.int64]  # per category, over all rows where the column is present


@dataclass
class Calibration:
    """Each drift metric of each feature over chunks of the reference (no drift by
    construction): the null distribution a calibrated threshold is read from.

    ``keys[i] = (feature, metric)`` owns row ``i`` of ``values`` (shape: keys x chunks, float64,
    full precision; NaN where a chunk gave no value). Each chunk of ``chunk_rows`` reference
    rows was compared with ``rest_rows`` other reference rows, with ``bins`` histogram bins
    (Sturges' rule at ``batch_rows``, the batch size calibrated for). ``method``:
    ``disjoint`` chunks, or ``subsets`` (random, overlapping: the reference holds too few
    chunks of ``batch_rows``). ``notes`` say what was done about a small reference.
    """

    batch_rows: int
    chunk_rows: int
    rest_rows: int
    reference_rows: int
    bins: int
    method: str
    parity: str
    seed: int
    keys: list[tuple[str, str]]
    values: NDArray[np.float64]
    notes: list[str] = field(default_factory=list)

    @property
    def chunks(self) -> int:
        return int(self.values.shape[1]) if self.values.ndim == 2 else 0

    def row(self, feature: str, metric: str) -> NDArray[np.float64] | None:
        index = self._index().get((feature, metric))
        return None if index is None else self.values[index]

    def _index(self) -> dict[tuple[str, str], int]:
        cached: dict[tuple[str, str], int] | None = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {k: i for i, k in enumerate(self.keys)}
            self.__dict__["_index_cache"] = cached
        return cached

    def header(self) -> dict[str, Any]:
        return {"batch_rows": self.batch_rows, "chunk_rows": self.chunk_rows,
                "rest_rows": self.rest_rows, "reference_rows": self.reference_rows,
                "bins": self.bins, "method": self.method, "parity": self.parity,
                "seed": self.seed, "keys": [list(k) for k in self.keys],
                "notes": list(self.notes)}

    @classmethod
    def from_header(cls, h: dict[str, Any], values: NDArray[np.float64]) -> Calibration:
        return cls(batch_rows=int(h["batch_rows"]), chunk_rows=int(h["chunk_rows"]),
                   rest_rows=int(h["rest_rows"]), reference_rows=int(h["reference_rows"]),
                   bins=int(h["bins"]), method=str(h["method"]), parity=str(h["parity"]),
                   seed=int(h["seed"]), keys=[(str(f), str(m)) for f, m in h["keys"]],
                   values=values, notes=[str(n) for n in h.get("notes", ())])


@dataclass
class _SelectionCache:
    """What a profile computes per row-wise drop (a comparison asks for each many times)."""

    drop: dict[tuple[str, ...], NDArray[np.bool_] | None] = field(default_factory=dict)
    sorted: dict[tuple[str, tuple[str, ...]], NDArray[np.float64]] = field(default_factory=dict)
    categories: dict[tuple[str, tuple[str, ...]], tuple[list[str], NDArray[np.int64]]] = field(
        default_factory=dict
    )
    std: dict[tuple[str, tuple[str, ...]], float | None] = field(default_factory=dict)


@dataclass
class ReferenceProfile:
    """Built by :func:`build_profile`; read with :meth:`from_bytes`."""

    n_rows: int
    columns: list[str]
    schema: dict[str, str]
    feature_types: dict[str, str]
    overrides: dict[str, str]
    unsupported: dict[str, str]
    null_counts: dict[str, int]
    missing: dict[str, NDArray[np.uint8] | None]  # packed bits (np.packbits); None: none missing
    numeric: dict[str, NumericColumn]
    categorical: dict[str, CategoricalColumn]
    format_version: int = PROFILE_FORMAT_VERSION
    calibration: Calibration | None = None
    _cache: _SelectionCache = field(default_factory=_SelectionCache, repr=False, compare=False)

    # ----------------------------------------------------------------- row-wise null drop
    def missing_mask(self, column: str) -> NDArray[np.bool_] | None:
        packed = self.missing.get(column)
        if packed is None:
            return None
        return np.unpackbits(packed, count=self.n_rows).astype(bool)

    def drop_mask(self, columns: tuple[str, ...]) -> NDArray[np.bool_] | None:
        """Rows dropped when any of ``columns`` is missing (None when no row is dropped)."""
        cache = self._cache.drop
        if columns in cache:
            return cache[columns]
        mask = None
        for c in columns:
            m = self.missing_mask(c)
            if m is not None:
                mask = m if mask is None else (mask | m)
        cache[columns] = mask
        return mask

    def kept_rows(self, columns: tuple[str, ...]) -> int:
        mask = self.drop_mask(columns)
        return self.n_rows if mask is None else int(self.n_rows - mask.sum())

    def sorted_values(self, column: str, selection: tuple[str, ...]) -> NDArray[np.float64]:
        """The column's finite values, sorted, over rows kept under ``selection``'s drop."""
        key = (column, selection)
        cache = self._cache.sorted
        if key in cache:
            return cache[key]
        store = self.numeric[column]
        drop = self.drop_mask(selection)
        values = store.sorted_values
        if drop is not None and store.order is not None:
            values = values[~drop[store.order]]
        cache[key] = values
        return values

    def category_counts(
        self, column: str, selection: tuple[str, ...]
    ) -> tuple[list[str], NDArray[np.int64]]:
        """``(categories, counts)`` over rows kept under ``selection``'s drop."""
        key = (column, selection)
        cache = self._cache.categories
        if key in cache:
            return cache[key]
        drop = self.drop_mask(selection)
        if column in self.categorical:
            store = self.categorical[column]
            if drop is None:
                out = (store.categories, store.counts)
            else:
                codes = store.codes[~drop]
                codes = codes[codes >= 0]
                out = (store.categories, np.bincount(codes, minlength=len(store.categories)))
        else:  # a numeric column treated as categorical by a compare-time override
            values = self.sorted_values(column, selection)
            uniq, counts = _sorted_unique_counts(values)
            arrow_type = _parse_type(self.schema[column])
            keys = canonical_keys(pa.array(uniq).cast(arrow_type, safe=False)).to_pylist()
            out = (keys, counts)
        cache[key] = out
        return out

    def std(self, column: str, selection: tuple[str, ...]) -> float | None:
        key = (column, selection)
        cache = self._cache.std
        if key not in cache:
            values = self.sorted_values(column, selection)
            cache[key] = float(np.std(values, ddof=1)) if values.size >= 2 else None
        return cache[key]

    def value_set(self, column: str) -> list[str]:
        return self.categorical[column].categories if column in self.categorical else []

    def bounds(self, column: str) -> tuple[float | None, float | None]:
        store = self.numeric.get(column)
        return (store.minimum, store.maximum) if store else (None, None)

    # ----------------------------------------------------------------- serialisation
    def to_bytes(self) -> bytes:
        arrays: list[NDArray[Any]] = []
        index: list[dict[str, Any]] = []  # the header's entry per array

        def put(arr: NDArray[Any] | None) -> int | None:
            if arr is None:
                return None
            arr = np.ascontiguousarray(arr)
            arrays.append(arr)
            index.append({"dtype": arr.dtype.str, "shape": list(arr.shape)})
            return len(arrays) - 1

        header = {
            "format_version": PROFILE_FORMAT_VERSION,
            "n_rows": self.n_rows,
            "columns": self.columns,
            "schema": self.schema,
            "feature_types": self.feature_types,
            "overrides": self.overrides,
            "unsupported": self.unsupported,
            "null_counts": self.null_counts,
            "missing": {c: put(m) for c, m in self.missing.items()},
            "numeric": {
                c: {
                    "sorted_values": put(s.sorted_values),
                    "order": put(s.order),
                    "minimum": s.minimum,
                    "maximum": s.maximum,
                    "inf_count": s.inf_count,
                }
                for c, s in self.numeric.items()
            },
            "categorical": {
                c: {"categories": s.categories, "codes": put(s.codes), "counts": put(s.counts)}
                for c, s in self.categorical.items()
            },
        }
        if self.calibration is not None:
            cal = self.calibration
            header["calibration"] = {**cal.header(),
                                     "values": put(cal.values.astype("<f8", copy=False))}
        offset = 0
        for entry, arr in zip(index, arrays, strict=True):
            entry["offset"] = offset
            entry["nbytes"] = arr.nbytes
            offset += _align8(arr.nbytes)
        header["arrays"] = index
        head = json.dumps(header, allow_nan=True).encode()
        # Written in the current format whatever was read (format 1 is a subset of 2).
        prefix = MAGIC + struct.pack("<IQ", PROFILE_FORMAT_VERSION, len(head)) + head
        parts = [prefix, b"\0" * (_align8(len(prefix)) - len(prefix))]
        for arr in arrays:
            raw = arr.tobytes()
            parts.append(raw)
            parts.append(b"\0" * (_align8(len(raw)) - len(raw)))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        if len(data) < len(MAGIC) + 12 or data[: len(MAGIC)] != MAGIC:
            raise ProfileFormatError(
                "not a drift reference profile (bad magic bytes); rebuild it with "
                "core.drift.build_profile"
            )
        version, head_len = struct.unpack_from("<IQ", data, len(MAGIC))
        if version > PROFILE_FORMAT_VERSION or version < 1:
            raise ProfileFormatError(
                f"reference profile format {version} is not readable by this code, which reads "
                f"formats 1..{PROFILE_FORMAT_VERSION}; rebuild the profile from the reference "
                "data (core.drift.build_profile) or upgrade the service"
            )
        start = len(MAGIC) + 12
        try:
            header = json.loads(data[start : start + head_len].decode())
            body = _align8(start + head_len)
            arrays: list[NDArray[Any]] = []
            for entry in header["arrays"]:
                lo = body + entry["offset"]
                raw = data[lo : lo + entry["nbytes"]]
                if len(raw) != entry["nbytes"]:
                    raise ValueError("truncated")
                arrays.append(
                    np.frombuffer(raw, dtype=np.dtype(entry["dtype"])).reshape(entry["shape"])
                )

            def get(i: int | None) -> NDArray[Any] | None:
                return None if i is None else arrays[i]

            def need(i: int) -> NDArray[Any]:  # an array the writer always stores
                return arrays[i]

            return cls(
                n_rows=int(header["n_rows"]),
                columns=list(header["columns"]),
                schema=dict(header["schema"]),
                feature_types=dict(header["feature_types"]),
                overrides=dict(header["overrides"]),
                unsupported=dict(header["unsupported"]),
                null_counts={k: int(v) for k, v in header["null_counts"].items()},
                missing={c: get(i) for c, i in header["missing"].items()},
                numeric={
                    c: NumericColumn(
                        sorted_values=need(s["sorted_values"]),
                        order=get(s["order"]),
                        minimum=s["minimum"],
                        maximum=s["maximum"],
                        inf_count=int(s.get("inf_count", 0)),
                    )
                    for c, s in header["numeric"].items()
                },
                categorical={
                    c: CategoricalColumn(
                        categories=list(s["categories"]),
                        codes=need(s["codes"]),
                        counts=need(s["counts"]),
                    )
                    for c, s in header["categorical"].items()
                },
                format_version=version,
                calibration=(None if header.get("calibration") is None else
                             Calibration.from_header(header["calibration"],
                                                     need(header["calibration"]["values"]))),
            )
        except ProfileFormatError:
            raise
        except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise ProfileFormatError(f"reference profile is corrupt or truncated: {exc}") from exc

    @property
    def nbytes(self) -> int:
        total = 0
        for num in self.numeric.values():
            total += num.sorted_values.nbytes + (num.order.nbytes if num.order is not None else 0)
        for cat in self.categorical.values():
            total += cat.codes.nbytes + cat.counts.nbytes
        if self.calibration is not None:
            total += self.calibration.values.nbytes
        return total


def _align8(n: int) -> int:
    return (n + 7) // 8 * 8


def _sorted_unique_counts(
    values: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    if values.size == 0:
        return values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, values.size))
    return values[starts], counts


_TYPE_PARSERS = {
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "halffloat": pa.float16(), "float": pa.float32(), "double": pa.float64(),
}


def _parse_type(name: str) -> pa.DataType:
    return _TYPE_PARSERS.get(name, pa.float64())


def type_string(dtype: pa.DataType) -> str:
    return str(dtype)


def column_missing(
    column: pa.ChunkedArray | pa.Array, values: NDArray[np.float64] | None = None
) -> NDArray[np.bool_]:
    """Missing rows of a column for drift: null, NaN and, for numeric columns, +/-inf."""
    if values is not None:
        return ~np.isfinite(values)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    mask = column.is_null()
    if pa.types.is_floating(column.type):
        mask = pc.or_(mask, pc.fill_null(pc.is_nan(column), False))
    missing: NDArray[np.bool_] = mask.to_numpy(zero_copy_only=False)
    return missing


def build_profile(
    table: pa.Table, *, feature_overrides: dict[str, str] | None = None
) -> ReferenceProfile:
    """Profile reference data once; see the module docstring for what is kept and why."""
    feature_types, unsupported = ftypes.infer_feature_types(table, feature_overrides)
    n = table.num_rows
    numeric_vals: dict[str, NDArray[np.float64]] = {}
    missing_masks: dict[str, NDArray[np.bool_]] = {}
    null_counts: dict[str, int] = {}
    for name in table.column_names:
        column = table.column(name)
        if name in unsupported:
            null_counts[name] = column.null_count
            continue
        if ftypes.is_numeric_group(ftypes.type_group(column.type)):
            values = numeric_values(column)
            numeric_vals[name] = values
            missing = ~np.isfinite(values)
            null_counts[name] = int(np.isnan(values).sum())
        else:
            missing = column_missing(column)
            null_counts[name] = int(missing.sum())
        missing_masks[name] = missing
    any_missing = any(m.any() for m in missing_masks.values())

    numeric: dict[str, NumericColumn] = {}
    for name, values in numeric_vals.items():
        finite = ~missing_masks[name]
        observed = values[~np.isnan(values)]
        minimum = float(observed.min()) if observed.size else None
        maximum = float(observed.max()) if observed.size else None
        inf_count = int(np.isinf(observed).sum())
        if any_missing:
            rows = np.flatnonzero(finite)
            vals = values[rows]
            perm = np.argsort(vals, kind="stable")
            order = rows[perm]
            numeric[name] = NumericColumn(
                vals[perm], order.astype(np.int32) if n < 2**31 else order.astype(np.int64),
                minimum, maximum, inf_count,
            )
        else:
            numeric[name] = NumericColumn(np.sort(values), None, minimum, maximum, inf_count)

    categorical: dict[str, CategoricalColumn] = {}
    for name, ftype in feature_types.items():
        if ftype != "categorical":
            continue
        cats, codes = encode_categories(table.column(name))
        if missing_masks[name].any():
            codes = np.where(missing_masks[name], np.int32(-1), codes).astype(np.int32)
        present = codes[codes >= 0]
        categorical[name] = CategoricalColumn(
            cats, codes.astype(np.int32), np.bincount(present, minlength=len(cats))
        )

    return ReferenceProfile(
        n_rows=n,
        columns=list(table.column_names),
        schema={name: type_string(table.schema.field(name).type) for name in table.column_names},
        feature_types=dict(feature_types),
        overrides=dict(feature_overrides or {}),
        unsupported=unsupported,
        null_counts=null_counts,
        missing={c: (np.packbits(m) if m.any() else None) for c, m in missing_masks.items()},
        numeric=numeric,
        categorical=categorical,
    )
