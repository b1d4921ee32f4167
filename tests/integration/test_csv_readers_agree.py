"""Every CSV ingestion accepts reads back to the same rows and values through the MLTable it
registers: with our table reader (monitor runs, CLI, jobs) and with the official `mltable`
package, whose engine (rslex) is what Azure ML reads MLTables with (its Spark reader builds the
DataFrame from the same Arrow batches taken here). And every file pyarrow refuses is refused
with the line and column pyarrow refused.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import yaml

from core.adapters.table_reader import read_mltable
from core.domain import tables
from core.domain.assets import MLTable
from core.domain.validation import ReferenceSchema, validate_csv

REFERENCE = ReferenceSchema({
    "a": "double", "n": "int64", "s": "string", "b": "bool", "z": "int64",
})
HEADER = "a,n,s,b,z\n"


def rows(*lines: str, header: str = HEADER, end: str = "\n") -> bytes:
    return (header + "".join(line + end for line in lines)).encode()


# name -> file content; each is valid and must be accepted.
VALID = {
    "plain": rows("1.5,2,x,true,0", "2.5,3,y,false,1"),
    "quoted_delimiter": rows('1.5,2,"New York, NY",true,0', '2.5,3,"a,b,c",false,1'),
    "quoted_newline": rows('1.5,20,"web\nsite",true,1', "2.5,30,shop,false,0",
                           '3.5,40,"two\nline\nbreaks",true,1'),
    "quoted_crlf_newline": rows('1.5,20,"web\r\nsite",true,1', "2.5,30,shop,false,0",
                                end="\r\n"),
    "escaped_quotes": rows('1.5,2,"say ""hi""",true,0', '2.5,3,"""",false,1'),
    "empty_fields": rows(",,,,", "1.5,2,x,true,1", ",3,,false,"),
    "quoted_empty_numbers": rows('"","","x","",1', "1.5,2,y,true,0"),
    "quoted_empty_text": rows('1.5,2,"",true,0', "2.5,3,y,false,1"),
    "quoted_empty_in_0_1_column": rows('1.5,2,x,true,""', "2.5,3,y,false,1"),
    "unicode": rows("1.5,2,Zürich ✓ 東京,true,0", "2.5,3,😀,false,1"),
    "bom": b"\xef\xbb\xbf" + rows("1.5,2,x,true,0"),
    "crlf": rows("1.5,2,x,true,0", "2.5,3,y,false,1", end="\r\n"),
    "no_trailing_newline": rows("1.5,2,x,true,0") + b"2.5,3,y,false,1",
    "numbers": rows("1e5,-0,x,TRUE,0", "-0,7,y,False,1", "1E-3,007,z,1,0", ".5,8,w,0,1",
                    " 2.5 , 9 ,v,true,0", "+1,10,u,true,1"),
    "nan_and_infinities": rows("NaN,1,x,true,0", "nan,2,y,true,1", "inf,3,z,false,0",
                               "-Infinity,4,w,true,1", "+inf,5,v,false,0"),
    "null_words_are_text": rows("1.5,1,NA,true,0", "2.5,2,null,true,1", "3.5,3,N/A,false,0",
                                "4.5,4,None,true,1", "5.5,5,NaN,false,0"),
    "integers_then_fractions": rows(*[f"{i},{i},t{i % 3},true,{i % 2}" for i in range(250)],
                                    "1.5,3,x,true,7"),
    "text_that_looks_boolean": rows(*["1.5,1,1,true,0"] * 250, "2.5,2,hello,false,1"),
    "quoted_numbers": rows('"1.5","2","x","true","0"'),
    "spaces_in_text": rows("1.5,2, padded ,true,0"),
    "int_column_all_empty": rows("1.5,,x,true,", "2.5,,y,false,"),
}


# The documented differences (README, "Reading CSV: parity with Azure"): Azure's reader keeps a
# quoted "" as an empty string where Spark's CSV reader and ours read a null; in a 0/1 column,
# which the MLTable leaves to Azure's inference (boolean), that "" makes the column text.
KNOWN_DIFFERENCES = {
    "quoted_empty_text": ["row 0, s: ours None, mltable ''"],
    "quoted_empty_in_0_1_column": ["row 0, z: ours None, mltable ''",
                                   "row 1, z: ours 1, mltable '1'"],
}


def _validate(content: bytes, reference: ReferenceSchema = REFERENCE):
    batches: list[pa.RecordBatch] = []
    result = validate_csv(io.BytesIO(content), reference, reopen=lambda: io.BytesIO(content),
                          on_batch=batches.append)
    return result, batches


def _registered(tmp_path: Path, content: bytes) -> tuple[Path, MLTable, list[pa.RecordBatch]]:
    result, batches = _validate(content)
    assert result.ok, result.rejection
    folder = tmp_path / "asset"
    folder.mkdir()
    (folder / "batch.csv").write_bytes(content)
    mltable = result.mltable(("./batch.csv",))
    (folder / "MLTable").write_text(mltable.to_yaml())
    return folder, mltable, batches


def _azure_read(folder: Path) -> pa.Table:
    """The MLTable as Azure ML's reader reads it: the Arrow record batches rslex produces for
    `mltable.load(...)` (what `to_pandas_dataframe` and the Spark reader are built from)."""
    import mltable
    from azureml.dataprep.api._dataframereader import _execute

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = mltable.load(str(folder))
        batches, _, _ = _execute("test", loaded._dataflow, collect_results=True)
    return pa.Table.from_batches(batches)


def _same(x, y) -> bool:
    if x is None or y is None:
        return x is None and y is None
    if isinstance(x, float) or isinstance(y, float):
        x, y = float(x), float(y)
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        return x == y and math.copysign(1, x) == math.copysign(1, y)
    if isinstance(x, bool) != isinstance(y, bool):  # an undeclared 0/1 column reads as boolean
        return int(x) == int(y)
    return x == y


def _differences(ours: pa.Table, theirs: pa.Table) -> list[str]:
    assert ours.column_names == theirs.column_names
    assert ours.num_rows == theirs.num_rows, (ours.num_rows, theirs.num_rows)
    out = []
    for name in ours.column_names:
        for i, (x, y) in enumerate(zip(ours.column(name).to_pylist(),
                                       theirs.column(name).to_pylist(), strict=True)):
            if not _same(x, y):
                out.append(f"row {i}, {name}: ours {x!r}, mltable {y!r}")
    return out


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_accepted_file_reads_back_the_same_everywhere(tmp_path, name):
    content = VALID[name]
    folder, _, batches = _registered(tmp_path, content)
    validated = pa.Table.from_batches(batches)
    ours = read_mltable(folder)
    azure = _azure_read(folder)
    assert ours.num_rows == validated.num_rows
    assert not _differences(ours.select(validated.column_names), validated)
    assert _differences(ours, azure) == KNOWN_DIFFERENCES.get(name, [])


def test_the_mltable_declares_what_the_file_needs(tmp_path):
    _, mltable, _ = _registered(tmp_path, VALID["quoted_newline"])
    options = mltable.to_dict()["transformations"][0]["read_delimited"]
    assert options["support_multi_line"] is True
    declared = {e["columns"]: e["column_type"]
                for e in options["infer_column_types"]["column_type_overrides"]}
    # z holds only 0 and 1: left to the reader, which infers boolean as it does for the
    # reference's own 0/1 column.
    assert declared == {"a": "float", "n": "int", "s": "string", "b": "boolean"}
    assert MLTable.from_dict(yaml.safe_load(mltable.to_yaml())) == mltable
    plain = _validate(VALID["plain"])[0].mltable(("./b.csv",)).to_dict()
    assert plain["transformations"][0]["read_delimited"]["support_multi_line"] is False
    many = _validate(VALID["integers_then_fractions"])[0]
    assert ("z", "int") in many.column_types  # 7 is not 0/1


def test_without_the_declarations_azure_would_read_other_rows_and_values(tmp_path):
    """Why the MLTable declares: the bare `read_delimited` reads the same file differently."""
    folder, _, _ = _registered(tmp_path, VALID["quoted_newline"])
    (folder / "MLTable").write_text(MLTable(paths=("./batch.csv",)).to_yaml())
    assert _azure_read(folder).num_rows != 3  # a quoted line break splits the row
    folder2 = tmp_path / "two"
    folder2.mkdir()
    (folder2 / "batch.csv").write_bytes(VALID["integers_then_fractions"])
    (folder2 / "MLTable").write_text(MLTable(paths=("./batch.csv",)).to_yaml())
    assert _azure_read(folder2).column("a").to_pylist()[-1] == 1  # 1.5 truncated


def test_a_quoted_line_break_across_the_block_boundary(tmp_path):
    filler = "".join(f"{i}.5,{i},{'x' * 40},true,{i % 2}\n" for i in range(110_000))
    content = (HEADER + filler + '9.5,9,"a\nb",false,1\n' + filler).encode()
    assert len(content) > 2 * tables.BLOCK_BYTES
    folder, mltable, batches = _registered(tmp_path, content)
    assert mltable.support_multi_line
    assert sum(b.num_rows for b in batches) == 220_001
    assert read_mltable(folder).num_rows == 220_001


# (name, content, code, line, column) for files pyarrow or Azure's reader cannot take as read.
REFUSED = [
    ("whitespace_only_line", rows("1.5,2,x,true,0", "   ", "2.5,3,y,false,1"),
     "ragged_row", 3, None),
    ("underscore_digits_in_int", rows("1.5,2,x,true,0", "2.5,2_0,y,false,1"),
     "wrong_type", 3, "n"),
    ("fraction_in_int", rows("1.5,2.5,x,true,0"), "wrong_type", 2, "n"),
    ("plus_sign_in_int", rows("1.5,2,x,true,0", "1.5,+2,x,true,0"), "wrong_type", 3, "n"),
    ("null_word_in_float", rows("1.5,2,x,true,0", "NA,3,y,false,1"), "wrong_type", 3, "a"),
    ("yes_in_bool", rows("1.5,2,x,yes,0"), "wrong_type", 2, "b"),
    ("t_in_bool", rows("1.5,2,x,t,0"), "wrong_type", 2, "b"),
    ("empty_line", rows("1.5,2,x,true,0", "", "2.5,3,y,false,1"), "empty_line", 3, None),
    ("trailing_empty_line", rows("1.5,2,x,true,0") + b"\n", "empty_line", 3, None),
    ("crlf_empty_line", rows("1.5,2,x,true,0", "", end="\r\n"), "empty_line", 3, None),
    ("bare_cr", rows("1.5,2,x\ry,true,0"), "line_endings", 2, None),
    ("cr_after_header", (HEADER + "1.5,2,x,true,0\r2.5,3,y,false,1\r").encode(),
     "line_endings", 2, None),
    ("cr_only_line_ends", HEADER.replace("\n", "\r").encode() + b"1.5,2,x,true,0\r",
     "line_endings", 1, None),
    ("error_after_multiline_value", rows('1.5,2,"a\nb\nc",true,0', "2.5,x,y,false,1"),
     "wrong_type", 5, "n"),
    ("ragged_after_multiline_value", rows('1.5,2,"a\nb",true,0', "2.5,3,y"),
     "ragged_row", 4, None),
]


@pytest.mark.parametrize(("name", "content", "code", "line", "column"), REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_refused_files_name_the_line_and_column(name, content, code, line, column):
    result, _ = _validate(content)
    assert result.rejection is not None
    assert (result.rejection.code, result.rejection.line, result.rejection.column) == (
        code, line, column), result.rejection


def test_a_bare_cr_or_empty_line_inside_quotes_is_accepted(tmp_path):
    content = rows('1.5,2,"x\ry",true,0', '2.5,3,"a\n\nb",false,1')
    folder, _, batches = _registered(tmp_path, content)
    assert pa.Table.from_batches(batches).column("s").to_pylist() == ["x\ry", "a\n\nb"]
    assert not _differences(read_mltable(folder), _azure_read(folder))


TOKENS = ["1", "-0", "+1", "1.5", " 7 ", "1e5", "2_0", "0x10", "1,5", "NaN", "inf", "NA",
          "null", "true", "True", "TRUE", "t", "yes", "0", "", '""', "１", "9" * 20]


@pytest.mark.parametrize("column", ["a", "n", "b"])
def test_the_slow_pass_refuses_exactly_what_pyarrow_refuses(column):
    """Python's int() and float() accept what pyarrow refuses (`2_0`, `１`); the slow pass
    uses pyarrow's converter, so whenever pyarrow refuses a value it names that line."""
    types = {"a": pa.float64(), "n": pa.int64(), "b": pa.bool_()}
    for token in TOKENS:
        field = token if token.startswith('"') or "," not in token else f'"{token}"'
        good = {"a": "1.5", "n": "2", "b": "true"}
        cells = {**good, column: field}
        content = rows("1.5,2,x,true,0",
                       f"{cells['a']},{cells['n']},x,{cells['b']},1")
        try:
            pacsv.read_csv(io.BytesIO(f"v\n{field}\n".encode()),
                           parse_options=tables.csv_parse_options(ignore_empty_lines=False),
                           convert_options=tables.csv_convert_options(
                               column_types={"v": types[column]}))
            refused = False
        except pa.ArrowInvalid:
            refused = True
        result, _ = _validate(content)
        if refused:
            assert result.rejection is not None, token
            assert (result.rejection.code, result.rejection.line, result.rejection.column) == (
                "wrong_type", 3, column), (token, result.rejection)
        else:
            assert result.ok, (token, result.rejection)


@pytest.mark.parametrize(("chunks", "rows", "suspicious"), [
    ([b"a,b\r", b"\nc,d\r\n"], 1, False),  # CRLF split across reads
    ([b"a,b\r", b"c,d\n"], 1, True),  # a bare CR at a read's end
    ([b"a,b\n", b"\nc,d\n"], 1, True),  # an empty line across reads
    ([b"a,b\r\n", b"\r\nc"], 1, True),  # an empty CRLF line, the last record unended
    ([b"a,b\n", b"c,d"], 1, False),
    ([b"a,b\n", b"c,d\n", b"\n"], 1, True),  # a trailing empty line
    ([b"a,b\n\n", b"c,d\n"], 1, True),  # an empty first data line
    ([b"a,b\r"], 0, True),  # the file ends with a bare CR
])
def test_the_byte_scan_sees_patterns_across_reads(chunks, rows, suspicious):
    from core.domain.validation import _ByteScan

    scan = _ByteScan()
    for chunk in chunks:
        scan.feed(chunk)
    scan.finish()
    assert (scan.suspicious or scan.empty_lines(rows, value_newlines=0)) is suspicious


@pytest.mark.parametrize("content", [
    b"v\n1.5\n\n2.5\n",  # one column: pyarrow skips the empty line as it does with several
    b"v\n1.5\n2.5\n\n",
    b"v\r\n1.5\r\n\r\n2.5\r\n",
])
def test_an_empty_line_in_a_one_column_file_is_refused(content):
    result, _ = _validate(content, ReferenceSchema(v="double"))
    assert result.rejection is not None
    assert result.rejection.code == "empty_line", result.rejection


def test_line_feeds_inside_values_are_not_taken_for_empty_lines(tmp_path):
    """The empty-line count subtracts the line feeds inside quoted values: a file whose values
    hold many of them (and a CRLF one) is accepted, and read as multi-line."""
    content = rows('1.5,2,"a\n\n\nb",true,0', '2.5,3,"\n",false,1', '3.5,4,"x\r\ny",true,1')
    folder, mltable, batches = _registered(tmp_path, content)
    assert mltable.support_multi_line
    assert pa.Table.from_batches(batches).column("s").to_pylist() == ["a\n\n\nb", "\n", "x\r\ny"]
    assert not _differences(read_mltable(folder), _azure_read(folder))


def test_a_stream_with_only_read_is_validated_as_one_with_readinto():
    """The fast pass reads with `readinto` (no copy) where the stream has it; a stream that
    only reads gives the same result."""

    class ReadOnly:
        def __init__(self, content: bytes):
            self._inner = io.BytesIO(content)

        def read(self, n: int = -1) -> bytes:
            return self._inner.read(min(n, 7) if n > 0 else n)  # short reads, too

    content = VALID["quoted_newline"] + b"".join(
        f"{i}.5,{i},x,true,{i % 2}\n".encode() for i in range(3000))
    plain, _ = _validate(content)
    only_read = validate_csv(ReadOnly(content), REFERENCE, reopen=lambda: io.BytesIO(content))
    assert only_read == plain and plain.ok and plain.multi_line
