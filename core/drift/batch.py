"""The production side of a comparison: its columns, read once, and a drift signal's rows.

:class:`ProductionColumn` is one production column as Arrow and, for numeric columns, as
float64 (NaN where null), with its missing-row mask (null, NaN, +/-inf) computed on first use.
Most batches have no missing value: that is found without the mask (a float sum is finite only
when every term is), and a numeric column compared over all its rows is then sorted in place
when its float64 values are a copy of its own, so the counts that need the rows in order (data
quality's NaN and out-of-bounds counts, the infinities) are read off the sorted values.
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
    _any_missing: bool | None = None
    _sorted: NDArray[np.float64] | None = None
    _in_place: bool = False  # ``values`` were sorted in place (``_sorted`` is ``values``)
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
        """The float64 values of a numeric column, in row order (TypeError for other
        columns; RuntimeError once they were sorted in place)."""
        if self.values is None:
            raise TypeError(f"production column {self.name!r} is not numeric")
        if self._in_place:
            raise RuntimeError(f"production column {self.name!r} was sorted in place")
        return self.values

    @property
    def any_missing(self) -> bool:
        """Whether any row is missing (null, NaN or +/-inf). For a numeric column one sum:
        it is finite only when every value is (an overflow to inf just builds the mask)."""
        if self._any_missing is None:
            if self._missing is not None:
                self._any_missing = bool(self._missing.any())
            elif self.values is not None:
                with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN: fine
                    total = np.add.reduce(self.values)
                self._any_missing = not np.isfinite(total) and bool(self.missing.any())
            elif not pa.types.is_floating(self.column.type):
                self._any_missing = self.column.null_count > 0
            else:
                self._any_missing = bool(self.missing.any())
        return self._any_missing

    @property
    def missing(self) -> NDArray[np.bool_]:
        if self._missing is None:
            if self.values is not None:
                if self._any_missing is False:
                    self._missing = np.zeros(self.values.size, dtype=bool)
                else:
                    self._missing = ~np.isfinite(self.floats)
            else:
                col = self.column
                mask = col.is_null()
                if pa.types.is_floating(col.type):
                    mask = pc.or_(mask, pc.fill_null(pc.is_nan(col), False))
                self._missing = mask.to_numpy(zero_copy_only=False)
        return self._missing

    def sorted_values(self, keep: NDArray[np.bool_] | None) -> NDArray[np.float64]:
        """The float64 values of the rows ``keep`` selects (all when None), sorted; a column
        compared over all its rows is sorted once however many signals compare it, in place
        when its values are its own copy (Arrow's buffers are read-only)."""
        if keep is not None:
            return np.sort(self.floats[keep])
        if self._sorted is None:
            values = self.floats
            if values.flags.writeable and values.flags.owndata and not self.any_missing:
                values.sort()
                self._sorted, self._in_place = values, True
            else:
                self._sorted = np.sort(values)
        return self._sorted

    def count_outside(self, lo: float, hi: float) -> int:
        """Values below ``lo`` or above ``hi`` (``lo <= hi``; NaN is neither), by two searches
        when the column is sorted over all its rows, else one pass."""
        s = self._sorted
        if s is not None:
            below = int(np.searchsorted(s, lo, "left"))
            above = _nan_start(s) - int(np.searchsorted(s, hi, "right"))
            return below + max(above, 0)
        v = self.floats
        with np.errstate(invalid="ignore"):
            return int(np.count_nonzero(v < lo)) + int(np.count_nonzero(v > hi))

    def nan_count(self) -> int:
        """NaN values, nulls included (they are NaN in ``values``)."""
        if not self.any_missing:
            return 0
        s = self._sorted
        if s is not None:
            return s.size - _nan_start(s)
        return int(np.isnan(self.floats).sum())

    def inf_count(self) -> int:
        """Infinite values (either sign)."""
        if not self.any_missing:
            return 0
        s = self._sorted
        if s is not None:
            neg = int(np.searchsorted(s, -np.inf, "right"))
            pos = _nan_start(s) - int(np.searchsorted(s, np.inf, "left"))
            return neg + pos
        return int(np.isinf(self.floats).sum())

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


def _nan_start(sorted_values: NDArray[np.float64]) -> int:
    """Where the NaNs begin in sorted values (numpy sorts them last)."""
    return int(np.searchsorted(sorted_values, np.nan, "left"))


@dataclass(frozen=True, eq=False)
class SignalRows:
    """The rows one drift signal compares, after dropping rows with a missing value in any of
    ``selection``'s features from both frames."""

    selection: tuple[str, ...]  # the features of the drop (the profile gives the reference side)
    keep: NDArray[np.bool_] | None  # production rows kept; None when none is dropped
    n_ref: int
    n_prod: int

