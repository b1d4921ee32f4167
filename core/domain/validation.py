"""Streaming validation of inference files against a model's reference schema.

A file is read once, in blocks, and never has to fit in memory. CSV goes through pyarrow's
streaming reader (fast path). When that reader refuses the file, a second, slow pass with the
standard `csv` module finds the exact line and column for the operator: errors are rare, so
precision is paid for only then. Data-collector JSON lines are read line by line; their rows
(inside each record's `data` array) are written out flattened, one row object per line,
because a basic MLTable cannot explode nested arrays.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from core.domain.ingestion import Rejection

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_HEAD_BYTES = 64 * 1024
_BLOCK_BYTES = 4 * 1024 * 1024
_OTHER_DELIMITERS = (";", "\t", "|")
_UTF8_BOM = codecs.BOM_UTF8


class ReferenceSchema(dict[str, str]):
    """Column name -> arrow type string of the reference (training) data, e.g. "double"."""

    @classmethod
    def from_arrow(cls, schema: pa.Schema) -> ReferenceSchema:
        return cls({f.name: str(f.type) for f in schema})


def value_kind(arrow_type: str) -> str:
    """The family a reference column's values must belong to: int, float, bool or text."""
    t = arrow_type.lower()
    if re.match(r"^u?int\d+$", t):
        return "int"
    if t in ("float", "double", "halffloat", "float16", "float32", "float64") or t.startswith(
        "decimal"
    ):
        return "float"
    if t in ("bool", "boolean"):
        return "bool"
    return "text"


_ARROW_FOR_KIND = {
    "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "text": pa.string()
}


@dataclass
class ValidationResult:
    rejection: Rejection | None = None
    rows: int = 0
    columns: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejection is None


BatchSink = Callable[[pa.RecordBatch], None]


class _Chain(io.RawIOBase):
    """A readable stream: bytes already read (the sniffed head) followed by the rest."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        with memoryview(buffer) as view:
            if self._head:
                n = min(len(view), len(self._head))
                view[:n] = self._head[:n]
                self._head = self._head[n:]
                return n
            chunk = self._rest.read(len(view))
            if not chunk:
                return 0
            n = len(chunk)
            view[:n] = chunk
            return n


def _read_head(stream: BinaryIO) -> bytes:
    """At least the first 64 KiB, and the whole header line when it is longer (a file of
    thousands of columns), up to the block size the parser can take a row of."""
    head = b""
    while len(head) < _HEAD_BYTES or (b"\n" not in head and len(head) < _BLOCK_BYTES):
        chunk = stream.read(_HEAD_BYTES)
        if not chunk:
            break
        head += chunk
    return head


def _sniff_text(head: bytes) -> Rejection | None:
    """Refuse what is clearly not UTF-8 text before parsing."""
    if not head.strip():
        return Rejection("empty_file", "the file is empty (no header, no rows)")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Rejection("encoding", "the file is UTF-16 encoded; expected UTF-8", line=1)
    if b"\x00" in head:
        line = head[: head.index(b"\x00")].count(b"\n") + 1
        return Rejection(
            "binary_content", "the file contains NUL bytes: it is binary, not delimited text",
            line=line,
        )
    return None


def _header_problem(header: list[str], reference: ReferenceSchema | None) -> Rejection | None:
    if len(header) == 1:
        for delimiter in _OTHER_DELIMITERS:
            if delimiter in header[0]:
                return Rejection(
                    "wrong_delimiter",
                    f"the header has a single column {header[0][:80]!r}: the file seems "
                    f"delimited by {delimiter!r}; expected ','",
                    line=1,
                )
    for index, name in enumerate(header):
        if not name.strip():
            return Rejection(
                "empty_column_name", f"column {index + 1} of the header has no name", line=1,
                column=str(index + 1),
            )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            return Rejection(
                "duplicate_column", f"column {name!r} appears more than once in the header",
                line=1, column=name,
            )
        seen.add(name)
    return _missing_columns(header, reference)


def _missing_columns(columns: Iterable[str], reference: ReferenceSchema | None) -> Rejection | None:
    if reference is None:
        return None
    present = set(columns)
    missing = [c for c in reference if c not in present]
    if missing:
        return Rejection(
            "missing_columns",
            f"reference feature columns missing from the file: {', '.join(missing)}",
            column=missing[0],
        )
    return None


def _parse_header(head: bytes) -> tuple[list[str] | None, Rejection | None]:
    first = head.split(b"\n", 1)[0]
    if first.endswith(b"\r"):
        first = first[:-1]
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, Rejection(
            "encoding", f"the header is not valid UTF-8 (byte {exc.start + 1})", line=1
        )
    try:
        return next(csv.reader([text])), None
    except (csv.Error, StopIteration) as exc:
        return None, Rejection("malformed_header", f"the header cannot be parsed: {exc}", line=1)


def validate_csv(
    stream: BinaryIO,
    reference: ReferenceSchema | None,
    *,
    reopen: Callable[[], BinaryIO],
    on_batch: BatchSink | None = None,
) -> ValidationResult:
    """Validate a CSV batch in one streaming pass; `on_batch` sees each typed record batch.

    `reopen` gives a fresh stream over the same content, used only to locate an error.
    """
    head = _read_head(stream)
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM):]
    problem = _sniff_text(head)
    if problem:
        return ValidationResult(rejection=problem)
    header, problem = _parse_header(head)
    if problem:
        return ValidationResult(rejection=problem)
    assert header is not None
    problem = _header_problem(header, reference)
    if problem:
        return ValidationResult(rejection=problem, columns=tuple(header))

    kinds = {c: value_kind(reference[c]) for c in header if reference and c in reference}
    column_types = {c: _ARROW_FOR_KIND[kinds.get(c, "text")] for c in header}
    extra = tuple(c for c in header if reference is not None and c not in reference)
    invalid_rows: list[tuple[int, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid_rows.append((row.expected_columns, row.actual_columns))
        return "skip"

    rows = 0
    try:
        reader = pacsv.open_csv(
            io.BufferedReader(_Chain(head, stream), buffer_size=_BLOCK_BYTES),
            read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES, use_threads=True),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=column_types, strings_can_be_null=True, check_utf8=True
            ),
        )
        for batch in reader:
            if invalid_rows:
                break
            rows += batch.num_rows
            if on_batch is not None and batch.num_rows:
                on_batch(batch)
    except pa.ArrowInvalid as exc:
        return ValidationResult(
            rejection=_locate_csv_problem(reopen, header, kinds, str(exc)),
            columns=tuple(header),
        )
    if invalid_rows:
        return ValidationResult(
            rejection=_locate_csv_problem(reopen, header, kinds, "ragged row"),
            columns=tuple(header),
        )
    if rows == 0:
        return ValidationResult(
            rejection=Rejection("no_rows", "the file has a header but no data rows"),
            columns=tuple(header),
        )
    return ValidationResult(rows=rows, columns=tuple(header), extra_columns=extra)


_BOOL_WORDS = {"true", "false", "1", "0", "t", "f", "yes", "no", "y", "n"}
_NULL_WORDS = {"", "na", "n/a", "nan", "null", "none", "#n/a", "-nan", "nul"}


def _value_fits(value: str, kind: str) -> bool:
    if kind == "text" or value.strip().lower() in _NULL_WORDS:
        return True
    try:
        if kind == "int":
            int(value)
        elif kind == "float":
            float(value)
        elif kind == "bool":
            return value.strip().lower() in _BOOL_WORDS
    except ValueError:
        return False
    return True


def _locate_csv_problem(
    reopen: Callable[[], BinaryIO], header: list[str], kinds: dict[str, str], arrow_message: str
) -> Rejection:
    """Slow pass over a refused CSV, only to tell the operator exactly where it is wrong."""
    stream = reopen()
    try:
        for line_no, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                return Rejection(
                    "encoding",
                    f"line {line_no} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                    f"position {exc.start + 1})",
                    line=line_no,
                )
            if line_no == 1 or not line.strip():
                continue
            fields = next(csv.reader([line]))
            if len(fields) != len(header):
                return Rejection(
                    "ragged_row",
                    f"line {line_no} has {len(fields)} fields; the header has {len(header)}",
                    line=line_no,
                )
            for name, value in zip(header, fields, strict=True):
                kind = kinds.get(name)
                if kind and not _value_fits(value, kind):
                    return Rejection(
                        "wrong_type",
                        f"line {line_no}, column {name!r}: {value[:60]!r} is not a valid "
                        f"{kind} value (the reference column is {kind})",
                        line=line_no, column=name,
                    )
    finally:
        stream.close()
    return Rejection("unparseable", f"the CSV parser refused the file: {arrow_message}")


# ---------------------------------------------------------------- data collector JSON lines


def _json_value_fits(value: object, kind: str) -> bool:
    if value is None or kind == "text":
        return True
    if kind == "int":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and _value_fits(value, "int")
        )
    if kind == "float":
        return (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and _value_fits(value, "float")
        )
    if kind == "bool":
        return isinstance(value, bool) or (isinstance(value, str) and _value_fits(value, "bool"))
    return True


def validate_collector_jsonl(
    stream: BinaryIO,
    reference: ReferenceSchema | None,
    *,
    write_row_line: Callable[[bytes], object],
    on_batch: BatchSink | None = None,
    batch_rows: int = 10_000,
) -> ValidationResult:
    """Validate Azure ML data collector output and write its rows out, one JSON object a line.

    Each line is a record with a `data` array of row objects (several requests may be
    batched in one record). Payloads over 4 MB are stored in a separate blob
    (`"datainblob": "true"`); those are refused with that reason, not silently skipped.
    """
    head = _read_head(stream)
    problem = _sniff_text(head)
    if problem:
        return ValidationResult(rejection=problem)
    kinds = {c: value_kind(t) for c, t in (reference or {}).items()}
    columns: dict[str, None] = {}
    pending: list[dict[str, Any]] = []
    rows = 0
    line_no = 0

    def flush() -> None:
        if on_batch is not None and pending:
            names = list(columns)
            arrays = {}
            for name in names:
                values = [row.get(name) for row in pending]
                arrays[name] = _to_arrow(values, kinds.get(name))
            on_batch(pa.RecordBatch.from_pydict(arrays))
        pending.clear()

    for raw_line in io.BufferedReader(_Chain(head, stream), buffer_size=1 << 20):
        line_no += 1
        raw_line = raw_line.rstrip(b"\r\n")
        if not raw_line.strip():
            continue
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return ValidationResult(rejection=Rejection(
                "encoding", f"line {line_no} is not valid UTF-8 (byte {exc.start + 1})",
                line=line_no,
            ))
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            return ValidationResult(rejection=Rejection(
                "malformed_json", f"line {line_no} is not valid JSON: {exc.msg} at column "
                f"{exc.colno}", line=line_no,
            ))
        if not isinstance(record, dict):
            return ValidationResult(rejection=Rejection(
                "malformed_record", f"line {line_no} is a JSON {type(record).__name__}, "
                "expected a data collector record object", line=line_no,
            ))
        if str(record.get("datainblob", "")).lower() == "true":
            return ValidationResult(rejection=Rejection(
                "data_in_blob",
                f"line {line_no}: the payload is stored in a separate blob (datainblob=true, "
                "payload over 4 MB); such records are not ingested yet",
                line=line_no,
            ))
        if "data" not in record:
            return ValidationResult(rejection=Rejection(
                "missing_data", f"line {line_no}: the record has no 'data' field", line=line_no,
            ))
        data = record["data"]
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError:
                data = None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            return ValidationResult(rejection=Rejection(
                "malformed_record",
                f"line {line_no}: 'data' must be an array of row objects",
                line=line_no,
            ))
        for position, row in enumerate(data):
            if not isinstance(row, dict):
                return ValidationResult(rejection=Rejection(
                    "malformed_record",
                    f"line {line_no}: data[{position}] is not an object of feature values",
                    line=line_no,
                ))
            for name, value in row.items():
                kind = kinds.get(name)
                if kind and not _json_value_fits(value, kind):
                    return ValidationResult(rejection=Rejection(
                        "wrong_type",
                        f"line {line_no}, data[{position}], column {name!r}: {value!r:.60} is "
                        f"not a valid {kind} value (the reference column is {kind})",
                        line=line_no, column=name,
                    ))
                if name not in columns:
                    columns[name] = None
            write_row_line(json.dumps(row, separators=(",", ":")).encode() + b"\n")
            pending.append(row)
            rows += 1
            if len(pending) >= batch_rows:
                flush()
    flush()
    if rows == 0:
        return ValidationResult(rejection=Rejection(
            "no_rows", "the file holds no rows (no record has a non-empty 'data' array)"
        ))
    problem = _missing_columns(columns, reference)
    if problem:
        return ValidationResult(rejection=problem, columns=tuple(columns))
    extra = tuple(c for c in columns if reference is not None and c not in reference)
    return ValidationResult(rows=rows, columns=tuple(columns), extra_columns=extra)


def _to_arrow(values: list[Any], kind: str | None) -> pa.Array:  # JSON values
    target = _ARROW_FOR_KIND.get(kind or "text", pa.string())
    if target == pa.string():
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if target == pa.bool_():
        return pa.array(
            [None if v is None else (v if isinstance(v, bool) else str(v).lower() in
                                     ("true", "1", "t", "yes", "y")) for v in values],
            type=pa.bool_(),
        )
    caster = int if target == pa.int64() else float
    return pa.array([None if v is None else caster(v) for v in values], type=target)
