"""Data quality of one production column: null value, data type error and out-of-bounds rates.

Each rate is ``round(count / rows, 5)`` half-up like Spark, over every production row (no
row-wise drop), and the raw count is kept beside it. A null (or NaN) is never a type error nor
out of bounds (Azure imputes nulls before counting those; we do not).

- null value rate: nulls (``parity="azure"``: Spark's ``isNull`` does not count NaN;
  ``"corrected"``: NaN counts too);
- data type error rate: values that cannot be read as the reference type, read strictly
  (``"1.5"`` is an error for an integer reference, where Spark's cast truncates);
- out-of-bounds rate, as Azure's components compute it (``data_quality_statistics`` keeps a
  min/max only for numerical features and a value set only for string categorical ones):
  numerical features outside the reference ``[min, max]`` (a production +/-inf is, unless the
  reference has one); string categorical values not in the reference's value set, which in
  ``"azure"`` parity is Azure's: the set written as one string and split on ``", "`` (so
  ``"New York, NY"`` is never in it); boolean and integer categorical features get no rate in
  ``"azure"`` parity and one against the reference's values in ``"corrected"``; dates, times
  and binary get none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from core.drift import stats
from core.drift import types as ftypes
from core.drift.batch import ProductionColumn
from core.drift.config import DriftConfig, judge
from core.drift.profile import ReferenceProfile, canonical_keys, numeric_values
from core.drift.result import Departure, FeatureResult, MetricValue

_NUMERIC_RE = r"^\s*[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)\s*$"
_INTEGER_RE = r"^\s*[+-]?\d+\s*$"


@dataclass
class QualityCounts:
    """The counts behind one column's data quality rates. Each is a count of rows, so the
    counts of a file's record batches add up to the counts of the whole file (``+``)."""

    nulls: int = 0
    nan: int = 0  # NaN values that are not nulls
    type_errors: int = 0
    type_error_kind: str = ""  # "" (none), "unreadable", "non_integral", "overflow"
    out_of_bounds: int | None = None  # None: no rate for this feature
    split_extra: int = 0  # string sets: values out only because Azure splits on ", "
    computed_for: str = ""  # "boolean"/"long": a rate computed in "corrected" parity only

    def __add__(self, other: QualityCounts) -> QualityCounts:
        def add(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return QualityCounts(
            self.nulls + other.nulls, self.nan + other.nan,
            self.type_errors + other.type_errors,
            self.type_error_kind or other.type_error_kind,
            add(self.out_of_bounds, other.out_of_bounds),
            self.split_extra + other.split_extra, self.computed_for or other.computed_for,
        )


def quality_feature(
    config: DriftConfig,
    profile: ReferenceProfile,
    c: str,
    ftype: str,
    prod_col: ProductionColumn,
    rows: int,
) -> FeatureResult:
    """The data quality rates of production column ``c`` (``rows`` production rows)."""
    counts = quality_counts(config, profile, c, ftype, prod_col)
    return quality_result(config, profile, c, ftype, counts, rows, prod_col.column.type)


def quality_counts(
    config: DriftConfig, profile: ReferenceProfile, c: str, ftype: str,
    prod_col: ProductionColumn,
) -> QualityCounts:
    """The counts of production column ``c`` (all of it, or one record batch of it)."""
    ref_type = ftypes.parse_arrow_type(profile.schema[c])
    nulls = int(prod_col.column.null_count)
    if prod_col.values is not None:
        nan = prod_col.nan_count() - nulls
    elif pa.types.is_floating(prod_col.column.type):
        nan = int(prod_col.missing.sum()) - nulls
    else:
        nan = 0
    errors, kind = type_error_count(prod_col.column, ref_type)
    out = QualityCounts(nulls, nan, errors, kind)
    _out_of_bounds(config, profile, c, ftype, prod_col, ref_type, out)
    return out


def quality_result(
    config: DriftConfig, profile: ReferenceProfile, c: str, ftype: str, counts: QualityCounts,
    rows: int, prod_type: pa.DataType,
) -> FeatureResult:
    """The rates, notes and departures of column ``c`` from its counts over ``rows`` rows."""
    wanted = config.metrics_for("data_quality", ftype)
    ref_type = ftypes.parse_arrow_type(profile.schema[c])
    fnotes: list[str] = []
    departures: list[Departure] = []
    by_metric: dict[str, int | None] = {}
    nulls, nan = counts.nulls, counts.nan
    by_metric["null_value_rate"] = nulls
    if nan:
        if config.parity == "corrected":
            by_metric["null_value_rate"] = nulls + nan
            departures.append(Departure("nan_counted_as_null", f"{nan} NaN values",
                                        metric="null_value_rate"))
        else:
            fnotes.append(f"{nan} NaN values are not nulls (as Spark's isNull counts them)")
    by_metric["data_type_error_rate"] = counts.type_errors
    why = type_error_reason(counts.type_error_kind, counts.type_errors, prod_type, ref_type)
    if why:
        fnotes.append(why)
        departures.append(Departure("strict_type_errors", why, metric="data_type_error_rate"))
    by_metric["out_of_bounds_rate"] = counts.out_of_bounds
    if counts.split_extra:
        if config.parity == "azure":
            fnotes.append(
                f"Azure's category set quirk reproduced: {counts.split_extra} values counted "
                "out of bounds because Azure splits the reference's categories on ', '")
        else:
            departures.append(Departure(
                "category_set_not_split",
                f"{counts.split_extra} values Azure would count out of bounds are in the "
                "reference's categories", metric="out_of_bounds_rate"))
    if counts.computed_for:
        departures.append(Departure(
            "out_of_bounds_computed", f"against the reference's {counts.computed_for} values",
            metric="out_of_bounds_rate"))
    out: list[MetricValue] = []
    for m in wanted:
        count = by_metric[m]
        if count is None:
            continue  # Azure computes no such rate for this feature
        value = None if rows == 0 else stats.round5(count / rows)
        out.append(judge(config, "data_quality", c, ftype, m, value, count=count))
    return FeatureResult(c, ftype, tuple(out), None, tuple(fnotes),
                         departures=tuple(departures))


def azure_category_set(values: list[str], has_null: bool = False) -> set[str]:
    """The reference value set as Azure's out-of-bounds check ends up with it: the list of
    distinct values stored as one string (Java's ``[a, b, null]``), brackets stripped, trimmed
    and split on ``( +)?, ?`` (``compute_data_quality_metrics.convert_set_string_to_array``)."""
    text = "[" + ", ".join(values + (["null"] if has_null else [])) + "]"
    text = re.sub(r"^\[+", "", text)
    text = re.sub(r"\]+$", "", text)
    return set(re.split(r"( +)?, ?", text.strip(" "))[::2])


def _out_of_bounds(
    config: DriftConfig, profile: ReferenceProfile, c: str, ftype: str,
    prod: ProductionColumn, ref_type: pa.DataType, out: QualityCounts,
) -> None:
    """Production values of column ``c`` outside the reference's range or value set, into
    ``out`` (left None when no rate is computed for this feature: see the module docstring)."""
    ref_group = ftypes.type_group(ref_type)
    ok, _ = ftypes.compatible(ref_type, prod.column.type)
    if ftype == "numerical":
        if not ftypes.is_numeric_group(ref_group):
            return
        out.out_of_bounds = 0
        if not ok or prod.group == "null":
            return
        lo, hi = profile.bounds(c)
        if lo is None or hi is None:
            return
        # Compatible with a numeric reference: a numeric column.
        out.out_of_bounds = prod.count_outside(lo, hi)
        return
    if ref_group == "string":
        out.out_of_bounds = 0
        if not ok or prod.group == "null":
            return
        # Over the distinct values (one hash count, shared with the drift signal), not rows.
        distinct, counts = prod.value_counts()
        keys = pc.cast(distinct, pa.string())
        exact = _outside(keys, counts, profile.value_set(c))
        has_null = profile.null_counts.get(c, 0) > 0
        split = _outside(keys, counts, sorted(azure_category_set(profile.value_set(c), has_null)))
        out.split_extra = split - exact
        out.out_of_bounds = split if config.parity == "azure" else exact
        return
    if ref_group in ("boolean", "long") and config.parity == "corrected":
        out.out_of_bounds = 0
        if not ok or prod.group == "null" or c not in profile.categorical:
            return
        distinct, counts = prod.value_counts()
        out.computed_for = ref_group
        out.out_of_bounds = _outside(canonical_keys(distinct), counts, profile.value_set(c))


def _outside(keys: pa.Array, counts: NDArray[np.int64], allowed: list[str]) -> int:
    """Rows whose value is not ``allowed``, given the distinct values' keys and counts."""
    inside = pc.is_in(keys, value_set=pa.array(allowed, type=pa.string()))
    mask = inside.to_numpy(zero_copy_only=False)
    return int(counts[~mask].sum())


def type_error_reason(kind: str, errors: int, prod_type: pa.DataType,
                      ref_type: pa.DataType) -> str:
    """The note on a column's type errors (empty when its types raise none)."""
    if kind == "non_integral":
        return f"production is {prod_type}, reference {ref_type}: {errors} non-integral"
    if kind == "overflow":
        return f"{errors} values overflow {ref_type}"
    if kind == "unreadable":
        return f"production is {prod_type}, reference {ref_type}: {errors} values unreadable"
    return ""


def type_errors(column: pa.ChunkedArray, ref_type: pa.DataType) -> tuple[int, str]:
    """Values of ``column`` that cannot be read as the reference type, and the note on them."""
    errors, kind = type_error_count(column, ref_type)
    return errors, type_error_reason(kind, errors, column.type, ref_type)


def type_error_count(column: pa.ChunkedArray, ref_type: pa.DataType) -> tuple[int, str]:
    """Values of ``column`` that cannot be read as the reference type (nulls are not errors),
    and their kind (see :func:`type_error_reason`; "" when the types raise none).

    Strict reading, not Spark's lenient cast: ``"1.5"`` is an error for an integer reference
    (Spark truncates it to 1), a fractional float is an error for an integer reference.
    """
    prod_type = column.type
    if prod_type == ref_type or pa.types.is_null(prod_type):
        return 0, ""
    ref_group, prod_group = ftypes.type_group(ref_type), ftypes.type_group(prod_type)
    if ref_group == prod_group and ref_group not in ("long",):
        return 0, ""
    if ref_group == "string":
        return 0, ""  # everything reads as a string
    valid = column.drop_null()
    if len(valid) == 0:
        return 0, ""
    if prod_group == "string" and ref_group in ("double", "long"):
        pattern = _INTEGER_RE if ref_group == "long" else _NUMERIC_RE
        ok = pc.match_substring_regex(valid, pattern, ignore_case=True)
        return int(len(valid) - pc.sum(ok).as_py()), "unreadable"
    if prod_group == "double" and ref_group == "long":
        v = numeric_values(valid)
        with np.errstate(invalid="ignore"):
            errors = int(np.count_nonzero(~np.isfinite(v) | (v != np.floor(v))))
        return errors, "non_integral"
    if prod_group == ref_group == "long":
        try:
            pc.cast(valid, ref_type, safe=True)
            return 0, ""
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            v = numeric_values(valid)
            info = np.iinfo(ref_type.to_pandas_dtype())
            return int(np.count_nonzero((v < info.min) | (v > info.max))), "overflow"
    # Other combinations: try each distinct value.
    uniq = pc.unique(valid)
    vc = pc.value_counts(valid)
    counts = dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True))
    errors = 0
    for value in uniq.to_pylist():
        try:
            pc.cast(pa.array([value], type=prod_type), ref_type, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            errors += counts.get(value, 0)
    return errors, "unreadable"
