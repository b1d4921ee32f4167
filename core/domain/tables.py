"""How the product reads tabular data: one set of parsing rules for every path (ingestion's
validation, the early check, monitor runs, retraining, the drift CLI, the retraining job), so a
file means the same rows and values everywhere.

Pure parsing with pyarrow on file objects the caller opened (`core.adapters.table_reader`
opens files and MLTable folders). CSV semantics: an empty field is a null in every column type
(strings included), as Azure ML's Spark readers read it; the other null tokens are pyarrow's
defaults (see `CSV_NULL_VALUES`), which the README's parity table lists where Spark differs.
"""

from __future__ import annotations

from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv

TableFormat = Literal["delimited", "json_lines", "parquet"]

# pyarrow's default null tokens (kept explicit so every reader uses the same list).
CSV_NULL_VALUES: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
)

BLOCK_BYTES = 4 * 1024 * 1024


def csv_read_options(*, use_threads: bool = True) -> pacsv.ReadOptions:
    return pacsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=use_threads)


def csv_parse_options(delimiter: str = ",", **kwargs: Any) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(delimiter=delimiter, **kwargs)


def csv_convert_options(
    *, column_types: dict[str, pa.DataType] | None = None,
    include_columns: list[str] | None = None, check_utf8: bool = True,
) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        column_types=column_types or {},
        include_columns=include_columns or [],
        null_values=list(CSV_NULL_VALUES),
        strings_can_be_null=True,
        check_utf8=check_utf8,
    )


def read_csv(source: IO[bytes], *, delimiter: str = ",",
             columns: list[str] | None = None) -> pa.Table:
    return pacsv.read_csv(
        source, read_options=csv_read_options(), parse_options=csv_parse_options(delimiter),
        convert_options=csv_convert_options(include_columns=columns),
    )


def read_json_lines(source: IO[bytes], *, columns: list[str] | None = None) -> pa.Table:
    import pyarrow.json as pajson

    table = pajson.read_json(source)
    return table.select(columns) if columns else table


def read_parquet(source: IO[bytes], *, columns: list[str] | None = None) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(source, columns=columns)


def read(source: IO[bytes], data_format: TableFormat, *, delimiter: str = ",",
         columns: list[str] | None = None) -> pa.Table:
    if data_format == "parquet":
        return read_parquet(source, columns=columns)
    if data_format == "json_lines":
        return read_json_lines(source, columns=columns)
    return read_csv(source, delimiter=delimiter, columns=columns)


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


def concat(tables: list[pa.Table]) -> pa.Table:
    """Files of one asset may disagree on a column's inferred type (int in one, float in
    another): promote to the wider type."""
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")
