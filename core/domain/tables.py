"""How the product reads tabular data: one set of parsing rules for every path (ingestion's
validation, the early check, monitor runs, retraining, the drift CLI, the retraining job), so a
file means the same rows and values everywhere.

Pure parsing with pyarrow on file objects the caller opened (`core.adapters.table_reader`
opens files and MLTable folders). The CSV semantics are Azure's readers' (README, "Reading CSV:
parity with Azure"):

- an empty field, quoted or not, is a null in every column type (Spark's CSV reader:
  `nullValue` "" and `emptyValue` ""; Azure ML's MLTable reader reads an unquoted one so, and a
  quoted `""` in a text column as an empty string: the one documented difference);
- no other token is a null: `NA`, `null`, `N/A`, `None`... are text, as both Spark and the
  MLTable reader read them (pyarrow's defaults would make them nulls). In a numeric column such a
  token is not a number, so ingestion refuses it with its line and column;
- in floating columns `NaN`/`nan` is NaN and `inf`/`Infinity` (signed) infinite, as the MLTable
  reader reads them; `1e5`, `-0`, `+1`, `.5` and surrounding spaces are numbers;
- a quoted value may hold the delimiter, doubled quotes and line breaks; line breaks are CRLF or
  LF; empty lines are skipped (ingestion refuses them: Azure's reader turns some into rows).

`csv_read_options` / `csv_parse_options` / `csv_convert_options` are those rules as pyarrow
options; ingestion's streaming validation builds its reader from the same three.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv

TableFormat = Literal["delimited", "json_lines", "parquet"]

#: The only CSV token read as a null: the empty field (Spark's `nullValue` default).
CSV_NULL_VALUES: tuple[str, ...] = ("",)

#: The CSV parser's block (and record batch) size, also the longest row it takes. Streamed
#: reading's resident memory grows with it (about 45 blocks, measured with pyarrow 25 on
#: 2 cores: +55 MB at 1 MiB, +185 MB at 4 MiB) while throughput does not.
BLOCK_BYTES = 1024 * 1024

#: Column types an MLTable can declare (`read_delimited.infer_column_types.column_type_overrides`)
#: and the Arrow type each one reads as here.
MLTABLE_COLUMN_TYPES: dict[str, pa.DataType] = {
    "float": pa.float64(), "int": pa.int64(), "boolean": pa.bool_(), "string": pa.string(),
}


def csv_read_options(*, use_threads: bool = True) -> pacsv.ReadOptions:
    return pacsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=use_threads)


def csv_parse_options(delimiter: str = ",", **kwargs: Any) -> pacsv.ParseOptions:
    # A quoted value may hold line breaks; without this pyarrow may split a block inside one.
    return pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, **kwargs)


def csv_convert_options(
    *, column_types: Mapping[str, pa.DataType] | None = None,
    include_columns: list[str] | None = None, check_utf8: bool = True,
) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        column_types=dict(column_types or {}),
        include_columns=include_columns or [],
        null_values=list(CSV_NULL_VALUES),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        check_utf8=check_utf8,
    )


def read_csv(source: IO[bytes], *, delimiter: str = ",", columns: list[str] | None = None,
             column_types: Mapping[str, str] | None = None) -> pa.Table:
    """A delimited file; ``column_types`` are MLTable column type names (``"float"``...) that
    fix a column's type instead of inferring it."""
    return pacsv.read_csv(
        source, read_options=csv_read_options(), parse_options=csv_parse_options(delimiter),
        convert_options=csv_convert_options(
            include_columns=columns,
            column_types={c: MLTABLE_COLUMN_TYPES[t] for c, t in (column_types or {}).items()},
        ),
    )


def read_json_lines(source: IO[bytes], *, columns: list[str] | None = None) -> pa.Table:
    import pyarrow.json as pajson

    table = pajson.read_json(source)
    return table.select(columns) if columns else table


def read_parquet(source: IO[bytes], *, columns: list[str] | None = None) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(source, columns=columns)


def read(source: IO[bytes], data_format: TableFormat, *, delimiter: str = ",",
         columns: list[str] | None = None,
         column_types: Mapping[str, str] | None = None) -> pa.Table:
    if data_format == "parquet":
        return read_parquet(source, columns=columns)
    if data_format == "json_lines":
        return read_json_lines(source, columns=columns)
    return read_csv(source, delimiter=delimiter, columns=columns, column_types=column_types)


def format_of(file_name: str) -> tuple[TableFormat, str] | None:
    """(format, delimiter) a data file's name implies, or None when it is not tabular."""
    name = file_name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet", ","
    if name.endswith((".jsonl", ".json")):
        return "json_lines", ","
    if name.endswith(".tsv"):
        return "delimited", "\t"
    if name.endswith((".csv", ".txt")):
        return "delimited", ","
    return None


def mltable_column_type(arrow_type: pa.DataType) -> str | None:
    """The MLTable column type that reads a column as ``arrow_type``, or None when an MLTable
    cannot declare it (dates and timestamps are left to the reader's inference)."""
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    return None


def concat(tables: list[pa.Table]) -> pa.Table:
    """Files of one asset may disagree on a column's inferred type (int in one, float in
    another): promote to the wider type."""
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")
