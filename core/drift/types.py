"""Feature typing and column compatibility, as Azure ML model monitoring decides them.

Azure (``shared_utilities/df_utils.py`` of the monitoring components) works on Spark types; we
map Arrow types onto the same groups:

- ``string``, ``bool``, timestamps, dates and binary are **categorical**;
- ``float``, ``double`` and ``decimal`` are **numerical**;
- integers are **categorical when distinct/total < 0.05** in the reference (baseline) data, a
  null counting as one distinct value, else numerical;
- an explicit override (``{"col": "categorical"}``) wins.

Two frames share a column when it exists in both with a compatible type: the same group, where
all integer widths form one group and all floating types another. A column that is integer in one
frame and floating in the other is left out, as Azure does.

Better than Azure: a production column of Arrow type ``null`` (a CSV column that happened to be
empty in this batch) is compatible with any reference type instead of being silently dropped.

The profile stores each column's Arrow type as its string form (``str(dtype)``);
:func:`parse_arrow_type` reads it back.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

FeatureType = Literal["numerical", "categorical"]
FEATURE_TYPES: tuple[FeatureType, ...] = ("numerical", "categorical")
_FEATURE_TYPE: dict[str, FeatureType] = {t: t for t in FEATURE_TYPES}

#: Azure's cut-off: integer columns with distinct/total below this are categorical.
INTEGER_CATEGORICAL_RATIO = 0.05


def type_group(dtype: pa.DataType) -> str | None:
    """The Spark-like type group of an Arrow type, or None when monitoring cannot use it.

    Groups: ``long`` (all integers), ``double`` (floats, decimals), ``string``, ``boolean``,
    ``timestamp``, ``date``, ``time``, ``binary``, ``null``.
    """
    if pa.types.is_dictionary(dtype):
        return type_group(dtype.value_type)
    if pa.types.is_integer(dtype):
        return "long"
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "double"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or _is_string_view(dtype):
        return "string"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_timestamp(dtype):
        return "timestamp"
    if pa.types.is_date(dtype):
        return "date"
    if pa.types.is_time(dtype):
        return "time"
    if (
        pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or pa.types.is_fixed_size_binary(dtype)
    ):
        return "binary"
    if pa.types.is_null(dtype):
        return "null"
    return None


def _is_string_view(dtype: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(dtype))


def is_numeric_group(group: str | None) -> bool:
    return group in ("long", "double")


def compatible(reference: pa.DataType, production: pa.DataType) -> tuple[bool, str]:
    """Whether a production column can be compared with the reference column, and why not.

    Returns ``(True, "")`` or ``(False, reason)``.
    """
    ref_group, prod_group = type_group(reference), type_group(production)
    if ref_group is None:
        return False, f"unsupported reference type {reference}"
    if prod_group == "null":
        return True, ""
    if prod_group is None:
        return False, f"unsupported production type {production}"
    if ref_group == prod_group:
        return True, ""
    if {ref_group, prod_group} == {"long", "double"}:
        return False, (
            f"integer in one frame and floating in the other (reference {reference}, "
            f"production {production}); Azure leaves such columns out"
        )
    return False, f"type mismatch: reference {reference}, production {production}"


def default_feature_type(column: pa.ChunkedArray | pa.Array) -> FeatureType | None:
    """Azure's typing of one reference column (no override). None when unsupported."""
    group = type_group(column.type)
    if group in ("string", "boolean", "timestamp", "date", "time", "binary"):
        return "categorical"
    if group == "double":
        return "numerical"
    if group == "long":
        total = len(column)
        if total == 0:
            return "numerical"
        distinct = pc.count_distinct(column, mode="all").as_py()  # a null counts as a value
        return "categorical" if distinct / total < INTEGER_CATEGORICAL_RATIO else "numerical"
    return None


def check_override(name: str, dtype: pa.DataType, feature_type: str) -> FeatureType:
    """The override as a feature type; ValueError when it cannot apply to a column of this
    type."""
    if feature_type not in FEATURE_TYPES:
        raise ValueError(
            f"feature override for '{name}' must be 'numerical' or 'categorical', "
            f"not {feature_type!r}"
        )
    checked = _FEATURE_TYPE[feature_type]
    group = type_group(dtype)
    if group is None:
        raise ValueError(f"column '{name}' has unsupported type {dtype}")
    if feature_type == "numerical" and not is_numeric_group(group):
        raise ValueError(
            f"column '{name}' of type {dtype} cannot be treated as numerical "
            "(only integer and floating columns can)"
        )
    return checked


def parse_arrow_type(name: str) -> pa.DataType:
    """An Arrow type from its string form (as stored in the profile schema)."""
    simple = {
        "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
        "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(),
        "uint64": pa.uint64(), "halffloat": pa.float16(), "float": pa.float32(),
        "double": pa.float64(), "string": pa.string(), "large_string": pa.large_string(),
        "bool": pa.bool_(), "date32[day]": pa.date32(), "date64[ms]": pa.date64(),
        "binary": pa.binary(), "large_binary": pa.large_binary(), "null": pa.null(),
        "string_view": getattr(pa, "string_view", pa.string)(),
    }
    if name in simple:
        return simple[name]
    if name.startswith("timestamp["):
        inner = name[len("timestamp["):-1]
        unit, _, tz = inner.partition(", tz=")
        return pa.timestamp(unit, tz=tz or None)
    if name.startswith("time32["):
        return pa.time32(name[7:-1])
    if name.startswith("time64["):
        return pa.time64(name[7:-1])
    if name.startswith("decimal"):
        inside = name[name.index("(") + 1 : -1].split(",")
        return pa.decimal128(int(inside[0]), int(inside[1]))
    if name.startswith("dictionary<values="):
        value = name[len("dictionary<values="):].split(",")[0]
        return pa.dictionary(pa.int32(), parse_arrow_type(value))
    raise ValueError(f"unknown arrow type string {name!r}")


def infer_feature_types(
    table: pa.Table, overrides: dict[str, str] | None = None
) -> tuple[dict[str, FeatureType], dict[str, str]]:
    """Type every column of a reference table.

    Returns ``(feature_types, unsupported)``: column -> "numerical"/"categorical", and
    column -> reason for columns that cannot be monitored.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(table.column_names))
    if unknown:
        raise ValueError(f"feature overrides name columns not in the data: {unknown}")
    types: dict[str, FeatureType] = {}
    unsupported: dict[str, str] = {}
    for name in table.column_names:
        column = table.column(name)
        if name in overrides:
            types[name] = check_override(name, column.type, overrides[name])
            continue
        ftype = default_feature_type(column)
        if ftype is None:
            unsupported[name] = f"unsupported type {column.type}"
        else:
            types[name] = ftype
    return types, unsupported
