"""Ingestion throughput and memory against pyarrow's raw CSV parse, in one run.

    ./dev bench ingest [--mb 200]

Generates a CSV of about --mb megabytes (20 numerical, 3 categorical columns), registers
reference data for its model, uploads it to Azurite, then in separate child processes
(so each peak RSS is its own):
  * pyarrow: `pyarrow.csv.read_csv` of the local file, nothing else;
  * ingest:  the whole ingestion use case on the local backend (stream from Azurite, validate
             against the reference schema, copy into the workspace, write the MLTable,
             register the version, record it in the Table ledger).
Prints both times, throughput, the ratio, and peak memory above each child's baseline.
Targets (issue 2): ingest at least half of pyarrow's raw parse throughput, and peak memory
under the file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "out"
MODEL = "bench-model"
NUMERIC = [f"x{i}" for i in range(20)]
CATEGORICAL = ["region", "segment", "channel"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, megabytes: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(7)
    header_written = False
    with open(path, "wb") as sink:
        while sink.tell() < megabytes * 1024 * 1024:
            n = 100_000
            columns = {name: np.round(rng.normal(i, 1 + i / 10, n), 6)
                       for i, name in enumerate(NUMERIC)}
            for name, k in zip(CATEGORICAL, (8, 30, 4), strict=True):
                columns[name] = pa.array(rng.integers(0, k, n)).cast(pa.string())
            table = pa.table(columns)
            pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=not header_written))
            header_written = True


def phase_pyarrow(path: Path) -> dict:
    import pyarrow.csv as pacsv

    base = rss_mb()
    started = time.perf_counter()
    table = pacsv.read_csv(path)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": table.num_rows, "peak_mb": rss_mb() - base}


def phase_ingest(blob_name: str) -> dict:
    from core.bootstrap import services
    from core.domain.ingestion import BlobRef

    svc = services()
    ingest = svc.ingest
    # Warm the clients and the reference schema cache outside the timed section.
    svc.reference.schema(svc.reference.asset(MODEL))
    base = rss_mb()
    started = time.perf_counter()
    outcome = ingest.ingest(BlobRef(svc.settings.inference_container, blob_name))
    seconds = time.perf_counter() - started
    if outcome.kind != "registered":
        raise SystemExit(f"ingestion did not register: {outcome.kind}: {outcome.message}")
    return {"seconds": seconds, "rows": outcome.record.rows, "peak_mb": rss_mb() - base}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--phase", choices=["pyarrow", "ingest"])
    parser.add_argument("--target")
    args = parser.parse_args()
    if args.phase == "pyarrow":
        print(json.dumps(phase_pyarrow(Path(args.target))))
        return 0
    if args.phase == "ingest":
        print(json.dumps(phase_ingest(args.target)))
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    data = OUT / f"inference-{args.mb}mb.csv"
    if not data.exists():
        print(f"generating {data} ...", flush=True)
        generate(data, args.mb)
    size_mb = data.stat().st_size / 1024 / 1024

    os.environ.setdefault("LOCAL_WORKSPACE_DIR", str(OUT / "workspace"))
    os.environ.setdefault("LEDGER_TABLE_PREFIX", f"bench{int(time.time())}")
    os.environ["MAX_INFERENCE_FILE_BYTES"] = str(10 * 1024**3)
    from core.bootstrap import services

    svc = services()
    reference = OUT / "reference.csv"
    with open(data, "rb") as src, open(reference, "wb") as dst:
        dst.write(b"".join(src.readline() for _ in range(20_001)))
    version = str(int(time.time()))
    svc.workspace.register_file_version(f"{MODEL}-training", version, reference, tags={})
    blob_name = f"{MODEL}/bench-{version}.csv"
    with open(data, "rb") as f:
        svc.blob_store.upload(svc.settings.inference_container, blob_name, f)

    def child(*extra: str) -> dict:
        result = subprocess.run(
            [sys.executable, __file__, *extra], capture_output=True, text=True, env=os.environ,
            check=False,
        )
        if result.returncode:
            raise SystemExit(result.stderr)
        return json.loads(result.stdout.strip().splitlines()[-1])

    raw = child("--phase", "pyarrow", "--target", str(data))
    ours = child("--phase", "ingest", "--target", blob_name)
    assert raw["rows"] == ours["rows"], (raw, ours)
    ratio = (size_mb / ours["seconds"]) / (size_mb / raw["seconds"])
    columns = len(NUMERIC) + len(CATEGORICAL)
    print(f"file: {size_mb:.0f} MB, {raw['rows']:,} rows, {columns} columns")
    for label, m in (("pyarrow.csv.read_csv alone", raw), ("ingest end to end (local)", ours)):
        print(f"{label:27}: {m['seconds']:6.2f} s  {size_mb / m['seconds']:7.1f} MB/s"
              f"  peak +{m['peak_mb']:.0f} MB")
    print(f"throughput ratio ingest/pyarrow: {ratio:.2f} (target >= 0.5)")
    print(f"ingest peak memory / file size: {ours['peak_mb'] / size_mb:.2f} (target < 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
