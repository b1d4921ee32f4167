"""Streaming validation of inference files against a model's reference schema.

A file is read once, in blocks, and never has to fit in memory. CSV goes through pyarrow's
streaming reader (fast path) with the product's CSV rules (`core.domain.tables`). When that
reader refuses the file, a second, slow pass finds the exact line and column for the operator,
tokenising as pyarrow does and checking values with pyarrow's own converter, so it names what
pyarrow refused: errors are rare, so precision is paid for only then. An accepted CSV's result
says what its MLTable must declare to be read back as validated (`ValidationResult.mltable`).

Data-collector JSON lines are read line by line; their rows
(inside each record's `data` array) are written out flattened, one row object per line,
because a basic MLTable cannot explode nested arrays.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from core.domain import tables
from core.domain.assets import MLTable
from core.domain.ground_truth import collector_row_id
from core.domain.ingestion import Rejection

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from numpy.typing import NDArray

_HEAD_BYTES = 64 * 1024
_OTHER_DELIMITERS = (";", "\t", "|")
_UTF8_BOM = codecs.BOM_UTF8
_LF, _CR = ord("\n"), ord("\r")


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
_KIND_OF_ARROW = {t: k for k, t in _ARROW_FOR_KIND.items()}


@dataclass
class ValidationResult:
    rejection: Rejection | None = None
    rows: int = 0
    columns: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    multi_line: bool = False  # a quoted value holds a line break
    column_types: tuple[tuple[str, str], ...] = ()  # what the MLTable declares (CSV only)

    @property
    def ok(self) -> bool:
        return self.rejection is None

    def mltable(self, paths: tuple[str, ...]) -> MLTable:
        """The basic MLTable over an accepted CSV that reads it back as it was validated."""
        return MLTable(paths=paths, support_multi_line=self.multi_line,
                       column_types=self.column_types)


BatchSink = Callable[[pa.RecordBatch], None]


def read_into(stream: BinaryIO, buffer: WriteableBuffer) -> int:
    """`stream.readinto(buffer)` (no copy on the way) where the stream has it, as every `io`
    stream does; a read and a copy where it does not."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return int(readinto(buffer))
    with memoryview(buffer) as view:
        chunk = stream.read(len(view))
        view[:len(chunk)] = chunk
    return len(chunk)


def _line_feeds(data: NDArray[np.uint8]) -> int:
    # numpy counts four times faster than bytes.count, and without the GIL, which the parser's
    # threads and the early check need meanwhile.
    return int(np.count_nonzero(data == _LF))


class _Chain(io.RawIOBase):
    """A readable stream: bytes already read (the sniffed head) followed by the rest."""

    def __init__(self, head: bytes, rest: BinaryIO, scan: _ByteScan | None = None):
        self._head = memoryview(head)
        self._rest = rest
        self._scan = scan
        if scan is not None:
            scan.feed(head)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        with memoryview(buffer) as view:
            if self._head:
                n = min(len(view), len(self._head))
                view[:n] = self._head[:n]
                self._head = self._head[n:]
                return n
            n = read_into(self._rest, view)
            if not n:
                if self._scan is not None:
                    self._scan.finish()
                return 0
            if self._scan is not None:
                self._scan.feed(view[:n])
            return n


def _read_head(stream: BinaryIO) -> bytes:
    """At least the first 64 KiB, and the whole header line when it is longer (a file of
    thousands of columns), up to the block size the parser can take a row of."""
    head = b""
    while len(head) < _HEAD_BYTES or (b"\n" not in head and len(head) < tables.BLOCK_BYTES):
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
    if b"\r" in first and b'"' not in first:
        return None, Rejection(
            "line_endings",
            "line 1 holds a carriage return (\\r) that ends no line (old Mac line endings?): "
            "Azure ML's MLTable reader cannot read them; end lines with \\n or \\r\\n",
            line=1,
        )
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

    Parsing follows `core.domain.tables` (the one set of CSV rules). `reopen` gives a fresh
    stream over the same content, used only for the slow pass that locates a problem: when
    pyarrow refuses the file, or when the bytes hold an empty line or a carriage return that
    ends no line (which Azure ML's MLTable reader reads differently; the slow pass tells them
    from the same bytes inside a quoted value).
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

    scan = _ByteScan()
    shape = _Shape(column_types)
    rows = 0
    try:
        reader = pacsv.open_csv(
            io.BufferedReader(_Chain(head, stream, scan), buffer_size=tables.BLOCK_BYTES),
            read_options=tables.csv_read_options(),
            parse_options=tables.csv_parse_options(invalid_row_handler=on_invalid),
            convert_options=tables.csv_convert_options(column_types=column_types),
        )
        for batch in reader:
            if invalid_rows:
                break
            rows += batch.num_rows
            shape.add(batch)
            if on_batch is not None and batch.num_rows:
                on_batch(batch)
    except pa.ArrowInvalid as exc:
        return ValidationResult(
            rejection=_locate_csv_problem(reopen, header, column_types, str(exc)),
            columns=tuple(header),
        )
    if invalid_rows:
        return ValidationResult(
            rejection=_locate_csv_problem(reopen, header, column_types, "ragged row"),
            columns=tuple(header),
        )
    if scan.suspicious or scan.empty_lines(rows, shape.value_newlines):
        problem = _locate_csv_problem(reopen, header, column_types, None)
        if problem is not None:
            return ValidationResult(rejection=problem, columns=tuple(header))
    if rows == 0:
        return ValidationResult(
            rejection=Rejection("no_rows", "the file has a header but no data rows"),
            columns=tuple(header),
        )
    return ValidationResult(
        rows=rows, columns=tuple(header), extra_columns=extra,
        multi_line=shape.multi_line,
        column_types=shape.declarations(reference or {}, kinds),
    )


class _ByteScan:
    """Watches the raw bytes for what the MLTable reader reads differently from pyarrow: an
    empty line (Azure's reader turns some into rows of nulls; pyarrow skips it) and a carriage
    return that ends no line (pyarrow breaks the row there, Azure's reader does not). Either
    may also sit inside a quoted value, where both readers agree: the slow pass decides.

    Empty lines are found by counting: every line feed in the file ends the header or a record,
    sits inside a parsed value, or is an empty line's, so a count above the first three is an
    empty line (or more). Counting one byte is several times cheaper than searching for pairs."""

    def __init__(self) -> None:
        self.suspicious = False  # a carriage return that ends no line
        self.newlines = 0
        self._tail = _LF  # the last byte seen

    def feed(self, chunk: bytes | memoryview) -> None:
        data = np.frombuffer(chunk, np.uint8)
        if not data.size:
            return
        self.newlines += _line_feeds(data)
        if not self.suspicious:
            if self._tail == _CR and data[0] != _LF:
                self.suspicious = True
            else:
                crs = np.flatnonzero(data[:-1] == _CR)  # one ending the chunk: seen next
                self.suspicious = bool(crs.size) and bool(np.any(data[crs + 1] != _LF))
        self._tail = int(data[-1])

    def finish(self) -> None:
        if self._tail == _CR:  # the file ends with a bare carriage return
            self.suspicious = True

    def empty_lines(self, rows: int, value_newlines: int) -> bool:
        """Whether line feeds are left over once the header's, the `rows` records' and those
        inside values are counted (the last record may end the file without one)."""
        records_ended = 1 + rows - (self._tail != _LF)
        return self.newlines > records_ended + value_newlines


class _Shape:
    """What the accepted batches say about reading the file back: whether a quoted value holds
    a line break, and which integer columns hold only 0 and 1."""

    def __init__(self, column_types: dict[str, pa.DataType]):
        self.value_newlines = 0  # line feeds inside quoted values
        self._text = [c for c, t in column_types.items() if t == pa.string()]
        self._ints = {c: False for c, t in column_types.items() if t == pa.int64()}  # seen != 0/1
        self._int_values = dict.fromkeys(self._ints, False)

    @property
    def multi_line(self) -> bool:
        return self.value_newlines > 0

    def add(self, batch: pa.RecordBatch) -> None:
        for c in self._text:
            self.value_newlines += _newlines_in(batch.column(c))
        for c, beyond in self._ints.items():
            if beyond:
                continue
            low_high = pc.min_max(batch.column(c)).as_py()
            if low_high["min"] is None:
                continue
            self._int_values[c] = True
            if low_high["min"] < 0 or low_high["max"] > 1:
                self._ints[c] = True

    def declarations(self, reference: ReferenceSchema | dict[str, str],
                     kinds: dict[str, str]) -> tuple[tuple[str, str], ...]:
        """The column types the MLTable declares: those ingestion checked every value against.

        An integer column holding only 0 and 1 is left undeclared: Azure ML's reader infers it
        as boolean, as it does for such a column of the reference data, and a declared `int`
        would make the two frames' types differ (Azure then leaves the column out). Dates,
        timestamps and columns the reference does not describe are left to inference too.
        """
        out: list[tuple[str, str]] = []
        for c, kind in kinds.items():
            if kind == "float":
                out.append((c, "float"))
            elif kind == "bool":
                out.append((c, "boolean"))
            elif kind == "int" and (self._ints[c] or not self._int_values[c]):
                out.append((c, "int"))
            elif kind == "text" and reference.get(c) in ("string", "large_string"):
                out.append((c, "string"))
        return tuple(out)


def _newlines_in(values: pa.Array) -> int:
    """The line feeds inside a string array's values, counted in its data buffer (one pass
    over the bytes, where a per-value string kernel costs more than the parse of them)."""
    if len(values) == values.null_count:
        return 0
    _, offsets, data = values.buffers()
    if data is None:
        return 0
    ends = memoryview(offsets).cast("i")
    start, stop = ends[values.offset], ends[values.offset + len(values)]
    return _line_feeds(np.frombuffer(data, np.uint8)[start:stop])


# ---------------------------------------------------------------- the slow pass


@dataclass
class _Record:
    line: int  # physical line the record starts on
    fields: list[str | None]  # None: an empty field (a null under the CSV rules)
    bare_cr: bool = False  # a carriage return outside quotes that ends no line
    empty: bool = False


class _NotUtf8(Exception):
    def __init__(self, rejection: Rejection):
        self.rejection = rejection


def _records(stream: BinaryIO, delimiter: str = ",") -> Iterator[_Record | Rejection]:
    """The records of a CSV after its header, tokenised as pyarrow does (double-quote quoting,
    `""` inside quotes, line breaks inside quotes kept; an empty field, quoted or not, is a
    null), each with the line it starts on; a line that is not UTF-8 yields a Rejection.

    The standard `csv` module splits the same way for these rules (it refuses a carriage
    return that ends no line outside quotes, which is what `bare_cr` reports).
    """
    csv.field_size_limit(2**31 - 1)  # a quoted value may be large; pyarrow has no such limit

    def lines() -> Iterator[str]:
        for line_no, raw in enumerate(stream, start=1):
            if line_no == 1:
                continue  # the header (checked before the fast pass)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _NotUtf8(Rejection(
                    "encoding",
                    f"line {line_no} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                    f"position {exc.start + 1})",
                    line=line_no,
                )) from None

    reader = csv.reader(lines(), delimiter=delimiter, quotechar='"', doublequote=True,
                        strict=False)
    while True:
        start = reader.line_num + 2  # the header is line 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except _NotUtf8 as exc:
            yield exc.rejection
            return
        except csv.Error as exc:
            if "new-line character" in str(exc):
                yield _Record(start, [], bare_cr=True)
            else:
                yield Rejection("unparseable", f"line {start} cannot be parsed: {exc}",
                                line=start)
            return
        if not fields:
            yield _Record(start, [], empty=True)
            continue
        yield _Record(start, [f or None for f in fields])


_CHUNK_RECORDS = 4096


def _first_refused(
    records: list[_Record], header: list[str], column_types: dict[str, pa.DataType]
) -> Rejection | None:
    """The first value of these records that pyarrow's CSV converter refuses for its column's
    type (the same converter and options as the fast pass), with its line and column."""
    typed = [(i, n, column_types[n]) for i, n in enumerate(header)
             if column_types.get(n, pa.string()) != pa.string()]
    if not records or not typed:
        return None
    if _converts_all(records, typed):  # one parse for the whole chunk, the common case
        return None
    for index, name, target in typed:
        values = [r.fields[index] for r in records]
        if _converts(values, target):
            continue
        lo, hi = 0, len(values)  # the first refused value lies in [lo, hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _converts(values[lo:mid], target):
                lo = mid
            else:
                hi = mid
        bad = records[lo]
        value = values[lo] or ""
        kind = _KIND_OF_ARROW[target]
        return Rejection(
            "wrong_type",
            f"line {bad.line}, column {name!r}: {value[:60]!r} is not a valid {kind} value "
            f"(the reference column is {kind}; write a missing value as an empty field)",
            line=bad.line, column=name,
        )
    return None


def _quoted(value: str | None) -> str:
    return "" if value is None else '"' + value.replace('"', '""') + '"'


def _converts_all(records: list[_Record], typed: list[tuple[int, str, pa.DataType]]) -> bool:
    names = [f"c{i}" for i, _, _ in typed]
    body = "".join(",".join(_quoted(r.fields[i]) for i, _, _ in typed) + "\n" for r in records)
    try:
        pacsv.read_csv(
            io.BytesIO((",".join(names) + "\n" + body).encode("utf-8")),
            read_options=tables.csv_read_options(use_threads=False),
            parse_options=tables.csv_parse_options(ignore_empty_lines=False),
            convert_options=tables.csv_convert_options(
                column_types={f"c{i}": t for i, _, t in typed}),
        )
    except pa.ArrowInvalid:
        return False
    return True


def _converts(values: list[str | None], target: pa.DataType) -> bool:
    body = "".join(_quoted(v) + "\n" for v in values)
    try:
        pacsv.read_csv(
            io.BytesIO(("v\n" + body).encode("utf-8")),
            read_options=tables.csv_read_options(use_threads=False),
            parse_options=tables.csv_parse_options(ignore_empty_lines=False),
            convert_options=tables.csv_convert_options(column_types={"v": target}),
        )
    except pa.ArrowInvalid:
        return False
    return True


def _locate_csv_problem(
    reopen: Callable[[], BinaryIO], header: list[str],
    column_types: dict[str, pa.DataType], arrow_message: str | None,
) -> Rejection | None:
    """Slow pass over a CSV, only to tell the operator exactly where it is wrong.

    Structure is read as pyarrow tokenises it, values are checked with pyarrow's own converter,
    so the line and column named are those pyarrow refused. `arrow_message` is what the fast
    pass reported; None when it accepted the file and only the byte scan asked for this pass
    (then None means the file is fine).
    """
    stream = reopen()
    pending: list[_Record] = []
    try:
        for record in _records(stream):
            if isinstance(record, Rejection):
                return _first_refused(pending, header, column_types) or record
            problem = _structure_problem(record, header)
            if problem is not None:
                return _first_refused(pending, header, column_types) or problem
            pending.append(record)
            if len(pending) >= _CHUNK_RECORDS:
                refused = _first_refused(pending, header, column_types)
                if refused:
                    return refused
                pending = []
        refused = _first_refused(pending, header, column_types)
        if refused:
            return refused
    finally:
        stream.close()
    if arrow_message is None:
        return None
    return Rejection("unparseable", f"the CSV parser refused the file: {arrow_message}")


def _structure_problem(record: _Record, header: list[str]) -> Rejection | None:
    line = record.line
    if record.empty:
        return Rejection(
            "empty_line",
            f"line {line} is empty: Azure ML's MLTable reader reads some empty lines as rows "
            "of nulls; remove empty lines",
            line=line,
        )
    if record.bare_cr:
        return Rejection(
            "line_endings",
            f"line {line} holds a carriage return (\\r) that ends no line: this parser breaks "
            "the row there and Azure ML's MLTable reader does not; end lines with \\n or \\r\\n",
            line=line,
        )
    if len(record.fields) != len(header):
        blank = all(not (f or "").strip() for f in record.fields)
        what = " (the line holds only whitespace)" if blank else ""
        return Rejection(
            "ragged_row",
            f"line {line} has {len(record.fields)} fields; the header has {len(header)}{what}",
            line=line,
        )
    return None


# ---------------------------------------------------------------- data collector JSON lines


# JSON string values for numeric and boolean columns follow pyarrow's CSV rules too.
_JSON_INT_RE = re.compile(r"^\s*-?[0-9]+\s*$")
_JSON_FLOAT_RE = re.compile(
    r"^\s*[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|nan|inf|infinity)\s*$", re.I
)
_JSON_BOOL_WORDS = {"true", "True", "TRUE", "false", "False", "FALSE", "1", "0"}


def _value_fits(value: str, kind: str) -> bool:
    if kind == "text" or value == "":
        return True
    if kind == "int":
        return bool(_JSON_INT_RE.match(value))
    if kind == "float":
        return bool(_JSON_FLOAT_RE.match(value))
    if kind == "bool":
        return value in _JSON_BOOL_WORDS
    return True


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
    correlation_column: str | None = None,
    plain_rows: bool = False,
) -> ValidationResult:
    """Validate Azure ML data collector output and write its rows out, one JSON object a line.

    Each line is a record with a `data` array of row objects (several requests may be
    batched in one record). Payloads over 4 MB are stored in a separate blob
    (`"datainblob": "true"`); those are refused with that reason, not silently skipped.

    `correlation_column`: each row gets this column (unless it carries it already) holding
    the id Azure's model performance monitoring gives it, ``<record correlationid>_<index>``
    (core.domain.ground_truth); it joins inputs, outputs and ground truth, and is not reported
    as an extra column. `plain_rows`: a line without a `data` field is itself one row (ground
    truth files: one row object per line).
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
        if "data" not in record and plain_rows:
            record = {"data": [record]}
        if "data" not in record:
            return ValidationResult(rejection=Rejection(
                "missing_data", f"line {line_no}: the record has no 'data' field", line=line_no,
            ))
        data = record["data"]
        record_id = record.get("correlationid")
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
            if correlation_column and correlation_column not in row and \
                    isinstance(record_id, str | int) and str(record_id):
                row = {**row, correlation_column: collector_row_id(str(record_id), position)}
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
    extra = tuple(c for c in columns if reference is not None and c not in reference
                  and c != correlation_column)
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
