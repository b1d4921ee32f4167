"""Sample inference files shared by tests and the demo: a reference schema, good batches in
both layouts, and a corpus of bad files each with the rejection it must get."""

from __future__ import annotations

import json

REFERENCE_CSV = (
    "age,income,city,approved\n"
    + "".join(f"{20 + i % 50},{1000.0 + i * 12.5},{['paris', 'rome', 'oslo'][i % 3]},{i % 2}\n"
              for i in range(200))
)

GOOD_CSV = (
    "age,income,city,approved,request_id\n"
    + "".join(
        f"{25 + i % 40},{1100.0 + i * 10.25},{['rome', 'oslo', 'paris'][i % 3]},{i % 2},r{i}\n"
        for i in range(50)
    )
)


def collector_record(rows: list[dict], **overrides) -> dict:
    record = {
        "specversion": "1.0",
        "id": "6b4a6a53-0c7e-4ec0-b1b5-3f4d1d0f4a10",
        "source": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/"
                  "workspaces/ws/onlineEndpoints/credit-ep/deployments/blue",
        "type": "azureml.inference.model_inputs",
        "datacontenttype": "application/json",
        "time": "2026-11-23T10:15:00Z",
        "data": rows,
        "contentrange": "bytes 0-120/120",
        "correlationid": "aaaa-bbbb",
        "xrequestid": "cccc-dddd",
        "modelversion": "default",
        "collectdatatype": "pandas.core.frame.DataFrame",
        "agent": "azureml-ai-monitoring/0.1.0b4",
    }
    record.update(overrides)
    return record


def jsonl(*records) -> bytes:
    return "".join(
        (r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records
    ).encode()


GOOD_ROWS = [
    {"age": 30 + i, "income": 1200.5 + i, "city": ["paris", "rome"][i % 2], "approved": i % 2}
    for i in range(7)
]
# Several rows per record, as the collector batches requests.
GOOD_JSONL = jsonl(collector_record(GOOD_ROWS[:3]), collector_record(GOOD_ROWS[3:]))
COLLECTOR_PATH = "credit-ep/blue/model_inputs/2026/11/23/10/instance-0.jsonl"

HEADER = "age,income,city,approved\n"

# (blob name under the model folder, content, expected rejection code, expected line or None)
BAD_FILES: list[tuple[str, bytes, str, int | None]] = [
    ("empty.csv", b"", "empty_file", None),
    ("blank-lines.csv", b"\n\n  \n", "empty_file", None),
    ("header-only.csv", HEADER.encode(), "no_rows", None),
    ("ragged.csv", (HEADER + "30,100.0,rome,1\n31,200.0,oslo\n").encode(), "ragged_row", 3),
    ("too-many-fields.csv", (HEADER + "30,100.0,rome,1,extra\n").encode(), "ragged_row", 2),
    ("semicolons.csv", b"age;income;city;approved\n30;100.0;rome;1\n", "wrong_delimiter", 1),
    ("tabs.csv", b"age\tincome\tcity\tapproved\n30\t100.0\trome\t1\n", "wrong_delimiter", 1),
    ("latin1.csv", (HEADER + "30,100.0,rome,1\n31,200.0,").encode() + b"caf\xe9,0\n",
     "encoding", 3),
    ("utf16.csv", (HEADER + "30,100.0,rome,1\n").encode("utf-16"), "encoding", 1),
    ("duplicate-header.csv", b"age,income,city,approved,age\n1,2.0,x,1,3\n", "duplicate_column", 1),
    ("empty-column-name.csv", b"age,income,,city,approved\n1,2.0,z,x,1\n", "empty_column_name", 1),
    ("missing-reference-columns.csv", b"age,city\n30,rome\n", "missing_columns", None),
    ("wrong-type-float.csv", (HEADER + "30,100.0,rome,1\n31,lots,oslo,0\n").encode(),
     "wrong_type", 3),
    ("wrong-type-int.csv", (HEADER + "30.5,100.0,rome,1\n").encode(), "wrong_type", 2),
    ("binary-junk.csv", bytes(range(256)) * 8, "binary_content", 1),
    ("broken-line.jsonl", b"", "malformed_json", 2),  # content filled below
    ("no-data.jsonl", b"", "missing_data", 1),
    ("data-not-array.jsonl", b"", "malformed_record", 1),
    ("row-not-object.jsonl", b"", "malformed_record", 1),
    ("data-in-blob.jsonl", b"", "data_in_blob", 1),
    ("wrong-type.jsonl", b"", "wrong_type", 2),
    ("no-rows.jsonl", b"", "no_rows", None),
    ("missing-columns.jsonl", b"", "missing_columns", None),
    ("not-json-object.jsonl", b"", "malformed_record", 1),
]

_JSONL_CONTENT = {
    "broken-line.jsonl": jsonl(collector_record(GOOD_ROWS[:2]), '{"specversion": "1.0", "data": [')
    + jsonl(collector_record(GOOD_ROWS[2:])),
    "no-data.jsonl": jsonl({k: v for k, v in collector_record([]).items() if k != "data"}),
    "data-not-array.jsonl": jsonl(collector_record(42)),  # type: ignore[arg-type]
    "row-not-object.jsonl": jsonl(collector_record([1, 2, 3])),  # type: ignore[list-item]
    "data-in-blob.jsonl": jsonl(collector_record(
        "https://acct.blob.core.windows.net/c/payload.json", datainblob="true"  # type: ignore
    )),
    "wrong-type.jsonl": jsonl(
        collector_record(GOOD_ROWS[:2]),
        collector_record([{"age": "old", "income": 1.0, "city": "x", "approved": 1}]),
    ),
    "no-rows.jsonl": jsonl(collector_record([]), collector_record([])),
    "missing-columns.jsonl": jsonl(collector_record([{"age": 1, "city": "x"}])),
    "not-json-object.jsonl": jsonl("[1, 2, 3]"),
}

BAD_FILES = [
    (name, _JSONL_CONTENT.get(name, content), code, line)
    for name, content, code, line in BAD_FILES
]


def bad_blob_name(name: str) -> str:
    """Where a bad sample goes under the model folder (JSON lines need the collector layout)."""
    if name.endswith(".jsonl"):
        return f"credit-ep/blue/model_inputs/2026/11/23/11/{name}"
    return f"batches/{name}"
