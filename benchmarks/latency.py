"""Latency of the early drift check: a batch landing in blob storage to its early-check result,
through the registered blob trigger on Azurite (not a test).

    ./dev bench latency [--files 50] [--rows 10000]

One process, as a warm Functions worker: reference data registered, its profile built by a
first file (the warm-up, reported apart: the first batch of a reference version builds and
stores its profile; the worker's first invocation also loads the drift engine). Then for each
of --files CSV files of --rows rows (4 numerical, 2 categorical columns, every tenth file
drifted): the clock starts when the upload to Azurite returns (the blob has landed), the blob
trigger's function runs as the host calls it (`devtools.invoke.LocalHost`, the worker's real
converters and BlobClient), and the clock stops when the ingestion's ledger record holds the
early check's result. The host's own delivery delay (Event Grid or polling, seconds on Azure)
is not part of it: it is not ours to measure locally. Prints p50, p95 and max with the load
average. Target (issue 14): p95 < 1 s.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODEL = "latency-model"


def _csv(rng, rows: int, drifted: bool) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    shift = 0.5 if drifted else 0.0
    table = pa.table({
        "amount": rng.lognormal(3 + shift, 1, rows),
        "score": rng.normal(shift, 1, rows),
        "age": rng.integers(18, 90, rows).astype(float),
        "tenure": rng.gamma(2, 3 + shift, rows),
        "city": rng.choice(["paris", "rome", "oslo", "lima"], rows),
        "plan": rng.choice(["free", "pro", "team"], rows, p=[0.6, 0.3, 0.1]),
    })
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    if "127.0.0.1" not in os.environ.get("AzureWebJobsStorage", ""):
        print("run under Azurite: ./dev bench latency", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="latency-")
    suffix = uuid.uuid4().hex[:8]
    os.environ.update(AUTOPILOT_BACKEND="local", LOCAL_WORKSPACE_DIR=f"{tmp}/ws",
                      INFERENCE_CONTAINER=f"lat-{suffix}", LEDGER_TABLE_PREFIX=f"lat{suffix}",
                      RETRAIN_QUEUE=f"lat-{suffix}", EVENT_SINK="none")
    for key in [k for k in os.environ if k.startswith("APPLICATIONINSIGHTS")]:
        del os.environ[key]
    from core.bootstrap import services
    from devtools.invoke import LocalHost

    svc = services()
    rng = np.random.default_rng(0)
    reference = Path(tmp) / "reference.csv"
    reference.write_bytes(_csv(rng, 50_000, drifted=False))
    svc.local_workspace.register_file_version(f"{MODEL}-training", "1", reference, tags={})
    host = LocalHost()
    container = svc.settings.inference_container

    def land_and_check(name: str, data: bytes) -> tuple[float, dict]:
        svc.blob_store.upload(container, name, data)
        started = time.perf_counter()
        result = host.blob(f"{container}/{name}")
        if not result.ok:
            raise SystemExit(f"{name}: {result.error}")
        records = [r for r in svc.ledger.list(model=MODEL) if r.blob.name == name]
        drift = records[0].drift if records else None
        if not drift or "result" not in drift:
            raise SystemExit(f"{name}: no early-check result in the ledger: {drift}")
        return time.perf_counter() - started, drift

    first, _ = land_and_check(f"{MODEL}/warmup.csv", _csv(rng, args.rows, drifted=False))
    files = [_csv(rng, args.rows, drifted=i % 10 == 9) for i in range(args.files)]
    load = os.getloadavg()
    seconds, breached = [], 0
    for i, data in enumerate(files):
        took, drift = land_and_check(f"{MODEL}/batch-{i:03d}.csv", data)
        seconds.append(took)
        breached += bool(drift.get("breached"))
    seconds.sort()
    p95 = seconds[max(0, round(0.95 * len(seconds)) - 1)]
    print(f"early-check latency, blob landed -> result in the ledger, {args.files} files of "
          f"{args.rows:,} rows through the blob trigger on Azurite; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"  first file of the worker (builds the reference profile): {first:.3f} s")
    print(f"  p50 {statistics.median(seconds):.3f} s, p95 {p95:.3f} s, max {seconds[-1]:.3f} s; "
          f"{breached} of {args.files} results breached (Azure's default thresholds)")
    print(f"  target: p95 < 1 s: {'pass' if p95 < 1 else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
