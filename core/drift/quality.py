"""Data quality of one production column: null value, data type error and out-of-bounds rates.

Each rate is ``round(count / rows, 5)`` half-up like Spark, over every production row (no
row-wise drop), and the raw count is kept beside it. A null (or NaN) is never a type error nor
out of bounds (Azure imputes nulls before counting those; we do not).

- null value rate: null or NaN;
- data type error rate: values that cannot be read as the reference type, read strictly
  (``"1.5"`` is an error for an integer reference, where Spark's cast truncates);
- out-of-bounds rate: numeric values outside the reference ``[min, max]`` (a production
  +/-inf is, unless the reference has one), string values not in the reference value set;
  other types 0.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.drift import stats
from core.drift import types as ftypes
from core.drift.batch import ProductionColumn
from core.drift.config import DriftConfig, judge
from core.drift.profile import ReferenceProfile, numeric_values
from core.drift.result import FeatureResult, MetricValue

_NUMERIC_RE = r"^\s*[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)\s*$"
_INTEGER_RE = r"^\s*[+-]?\d+\s*$"


def quality_feature(
    config: DriftConfig,
    profile: ReferenceProfile,
    c: str,
    ftype: str,
    prod_col: ProductionColumn,
    rows: int,
) -> FeatureResult:
    """The data quality rates of production column ``c`` (``rows`` production rows)."""
    wanted = config.metrics_for("data_quality", ftype)
    ref_type = ftypes.parse_arrow_type(profile.schema[c])
    fnotes: list[str] = []
    counts: dict[str, int] = {}
    counts["null_value_rate"] = (
        int(np.isnan(prod_col.values).sum()) if prod_col.values is not None
        else int(prod_col.missing.sum())
    )
    errors, why = type_errors(prod_col.column, ref_type)
    counts["data_type_error_rate"] = errors
    if why:
        fnotes.append(why)
    counts["out_of_bounds_rate"] = out_of_bounds(profile, c, prod_col, ref_type)
    out: list[MetricValue] = []
    for m in wanted:
        value = None if rows == 0 else stats.round5(counts[m] / rows)
        out.append(judge(config, "data_quality", c, ftype, m, value, count=counts[m]))
    return FeatureResult(c, ftype, tuple(out), None, tuple(fnotes))


def out_of_bounds(
    profile: ReferenceProfile, c: str, prod: ProductionColumn, ref_type: pa.DataType
) -> int:
    """Production values of column ``c`` outside the reference's range or value set."""
    ref_group = ftypes.type_group(ref_type)
    ok, _ = ftypes.compatible(ref_type, prod.column.type)
    if not ok or prod.group == "null":
        return 0
    if ftypes.is_numeric_group(ref_group):
        lo, hi = profile.bounds(c)
        if lo is None or hi is None:
            return 0
        v = prod.floats  # compatible with a numeric reference: a numeric column
        with np.errstate(invalid="ignore"):
            return int(np.count_nonzero((v < lo) | (v > hi)))
    if ref_group == "string":
        value_set = pa.array(profile.value_set(c), type=pa.string())
        col = pc.cast(prod.column, pa.string()).drop_null()
        inside = pc.is_in(col, value_set=value_set)
        return int(len(col) - (pc.sum(inside).as_py() or 0))
    return 0


def type_errors(column: pa.ChunkedArray, ref_type: pa.DataType) -> tuple[int, str]:
    """Values of ``column`` that cannot be read as the reference type (nulls are not errors).

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
        errors = int(len(valid) - pc.sum(ok).as_py())
        return errors, (
            f"production is {prod_type}, reference {ref_type}: {errors} values unreadable"
        )
    if prod_group == "double" and ref_group == "long":
        v = numeric_values(valid)
        with np.errstate(invalid="ignore"):
            errors = int(np.count_nonzero(~np.isfinite(v) | (v != np.floor(v))))
        return errors, f"production is {prod_type}, reference {ref_type}: {errors} non-integral"
    if prod_group == ref_group == "long":
        try:
            pc.cast(valid, ref_type, safe=True)
            return 0, ""
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            v = numeric_values(valid)
            info = np.iinfo(ref_type.to_pandas_dtype())
            errors = int(np.count_nonzero((v < info.min) | (v > info.max)))
            return errors, f"{errors} values overflow {ref_type}"
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
    return errors, f"production is {prod_type}, reference {ref_type}: {errors} values unreadable"
