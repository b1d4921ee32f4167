"""The production side of a comparison: its columns, read once, and a drift signal's rows.

:class:`ProductionColumn` is one production column as Arrow and, for numeric columns, as
float64 (NaN where null), with its missing-row mask (null, NaN, +/-inf) computed on first use.
:class:`SignalRows` is the outcome of a drift signal's row-wise null drop, which every feature of
the signal is compared over: the features whose missing rows were dropped (the reference side
reads its drop from the profile), the production rows kept, and the row counts of both frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from core.drift import types as ftypes
from core.drift.profile import numeric_values


@dataclass
class ProductionColumn:
    name: str
    column: pa.ChunkedArray
    group: str | None
    values: NDArray[np.float64] | None = None  # float64 for numeric columns (NaN where null)
    _missing: NDArray[np.bool_] | None = None
    _sorted: NDArray[np.float64] | None = None
    _counts: tuple[pa.Array, NDArray[np.int64]] | None = None

    @classmethod
    def read(cls, table: pa.Table, name: str, *, numeric_reference: bool) -> ProductionColumn:
        """Column ``name`` of ``table``; read as float64 too when it is numeric, or all-null
        (Arrow type ``null``) where the reference column is numeric."""
        column = table.column(name)
        group = ftypes.type_group(column.type)
        out = cls(name, column, group)
        if ftypes.is_numeric_group(group) or (group == "null" and numeric_reference):
            out.values = numeric_values(column)
        return out

    @property
    def floats(self) -> NDArray[np.float64]:
        """The float64 values of a numeric column (TypeError for other columns)."""
        if self.values is None:
            raise TypeError(f"production column {self.name!r} is not numeric")
        return self.values

    @property
    def missing(self) -> NDArray[np.bool_]:
        if self._missing is None:
            if self.values is not None:
                self._missing = ~np.isfinite(self.values)
            else:
                col = self.column
                mask = col.is_null()
                if pa.types.is_floating(col.type):
                    mask = pc.or_(mask, pc.fill_null(pc.is_nan(col), False))
                self._missing = mask.to_numpy(zero_copy_only=False)
        return self._missing

    def sorted_values(self, keep: NDArray[np.bool_] | None) -> NDArray[np.float64]:
        """The float64 values of the rows ``keep`` selects (all when None), sorted; a column
        compared over all its rows is sorted once however many signals compare it."""
        values = self.floats
        if keep is not None:
            return np.sort(values[keep])
        if self._sorted is None:
            self._sorted = np.sort(values)
        return self._sorted

    def value_counts(
        self, keep: NDArray[np.bool_] | None = None
    ) -> tuple[pa.Array, NDArray[np.int64]]:
        """The distinct non-null values of the rows ``keep`` selects (all when None) and how
        often each occurs: one Arrow hash count, shared by the drift and quality signals."""
        if keep is None and self._counts is not None:
            return self._counts
        column = self.column if keep is None else self.column.filter(pa.array(keep))
        vc = pc.value_counts(column)
        values = vc.field("values")
        counts: NDArray[np.int64] = (
            vc.field("counts").to_numpy(zero_copy_only=False).astype(np.int64)
        )
        if values.null_count:
            valid = values.is_valid().to_numpy(zero_copy_only=False)
            values = values.filter(pa.array(valid))
            counts = counts[valid]
        if keep is None:
            self._counts = (values, counts)
        return values, counts


@dataclass(frozen=True, eq=False)
class SignalRows:
    """The rows one drift signal compares, after dropping rows with a missing value in any of
    ``selection``'s features from both frames."""

    selection: tuple[str, ...]  # the features of the drop (the profile gives the reference side)
    keep: NDArray[np.bool_] | None  # production rows kept; None when none is dropped
    n_ref: int
    n_prod: int

