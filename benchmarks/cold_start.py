"""Cold start of the Functions app, each figure in a fresh process (not a test):

- importing `function_app` (what the worker does before the first invocation);
- an ingest-only invocation: import, then one blob-trigger call on a 10k-row CSV without its
  label column through the registered function on Azurite, for a model registered as an MLflow
  model (the reference's profile and the model's description are built beforehand, as they are
  once per reference version and on the model's registration), and which heavy packages the
  process loaded by then. It must never pay `azure.ai.ml`, MLflow or scikit-learn: the file is
  validated against the model's features from the cached description; and without
  APPLICATIONINSIGHTS_CONNECTION_STRING never OpenTelemetry;
- the same invocation with APPLICATIONINSIGHTS_CONNECTION_STRING set (a loopback ingestion
  endpoint that accepts everything; the SDK's own statistics and remote configuration off), as
  the peer: what configuring the Azure Monitor distro costs the first invocation.

    ./dev bench cold_start [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("azure.ai.ml", "sklearn", "mlflow", "pandas", "scipy", "opentelemetry")

_PREPARE = r"""
import os, sys, numpy as np, pyarrow as pa, pyarrow.csv as pacsv
sys.path.insert(0, os.getcwd())
from devtools.invoke import LocalHost
from core.bootstrap import services
svc = services()
rng = np.random.default_rng(0)
def table(n, label=True):
    columns = {"amount": rng.lognormal(3, 1, n), "age": rng.integers(18, 90, n),
               "city": rng.choice(["paris", "rome", "oslo"], n)}
    if label:
        columns["label"] = rng.integers(0, 2, n)
    return pa.table(columns)
ref = os.environ["BENCH_DIR"] + "/ref.csv"
reference = table(20000)
pacsv.write_csv(reference, ref)
svc.local_workspace.register_file_version("m-training", "1", ref, tags={})
# A user's MLflow model: the batches below carry its features, not the label.
import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
frame = reference.to_pandas()
X, y = frame[["amount", "age"]], frame["label"]
folder = os.environ["BENCH_DIR"] + "/model"
mlflow.sklearn.save_model(LogisticRegression().fit(X, y), folder,
                          signature=infer_signature(frame[["amount", "age", "city"]], y),
                          serialization_format="cloudpickle", pip_requirements=["scikit-learn"])
svc.local_workspace.register_model("m", folder, model_type="mlflow_model")
path = os.environ["BENCH_DIR"] + "/batch.csv"
pacsv.write_csv(table(10000, label=False), path)
data = open(path, "rb").read()
for i in range(int(os.environ["BENCH_REPEATS"]) + 1):
    svc.blob_store.upload(svc.settings.inference_container, f"m/batch-{i}.csv", data)
# Warm-up: builds the reference profile (kept as an artifact), as the first batch ever does,
# and describes the model (what its registration does when ModelRegistered is delivered).
assert LocalHost().blob(svc.settings.inference_container + "/m/batch-0.csv").ok
"""

_IMPORT = r"""
import sys, time, os, json
t0 = time.perf_counter()
sys.path.insert(0, os.getcwd())
import function_app  # noqa: F401
t1 = time.perf_counter()
print(json.dumps({"import": t1 - t0,
                  "heavy": [m for m in %(heavy)r if m in sys.modules]}))
"""

_INGEST = r"""
import sys, time, os, json
t0 = time.perf_counter()
sys.path.insert(0, os.getcwd())
from devtools.invoke import LocalHost
host = LocalHost()
t1 = time.perf_counter()
result = host.blob(os.environ["INFERENCE_CONTAINER"] + "/m/batch-" + os.environ["BENCH_I"] + ".csv")
t2 = time.perf_counter()
assert result.ok, result.error
print(json.dumps({"import": t1 - t0, "first_call": t2 - t1,
                  "heavy": [m for m in %(heavy)r if m in sys.modules]}))
"""


@contextlib.contextmanager
def _ingestion_endpoint():
    """A loopback Application Insights ingestion endpoint that accepts every envelope."""

    class Accept(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"itemsReceived": 0, "itemsAccepted": 0, "errors": []}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _run(code: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if "127.0.0.1" not in os.environ.get("AzureWebJobsStorage", ""):
        print("run under Azurite: ./dev bench cold_start", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cold-") as tmp:
        suffix = uuid.uuid4().hex[:8]
        # Batches for the plain and the traced invocations.
        env = dict(os.environ, BENCH_DIR=tmp, BENCH_REPEATS=str(2 * args.repeats),
                   AUTOPILOT_BACKEND="local", LOCAL_WORKSPACE_DIR=f"{tmp}/ws",
                   INFERENCE_CONTAINER=f"cold-{suffix}", LEDGER_TABLE_PREFIX=f"cold{suffix}",
                   RETRAIN_QUEUE=f"cold-{suffix}", EVENT_SINK="none")
        env = {k: v for k, v in env.items() if not k.startswith("APPLICATIONINSIGHTS")}
        subprocess.run([sys.executable, "-c", _PREPARE], cwd=ROOT, env=env, check=True)
        imports = [_run(_IMPORT % {"heavy": HEAVY}, env) for _ in range(args.repeats)]
        ingests = [_run(_INGEST % {"heavy": HEAVY}, {**env, "BENCH_I": str(i + 1)})
                   for i in range(args.repeats)]
        with _ingestion_endpoint() as endpoint:
            traced_env = {
                **env, "APPLICATIONINSIGHTS_CONNECTION_STRING":
                f"InstrumentationKey=00000000-0000-0000-0000-000000000001;"
                f"IngestionEndpoint={endpoint}/;LiveEndpoint={endpoint}/",
                "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true", "TMPDIR": tmp}
            traced = [_run(_INGEST % {"heavy": HEAVY},
                           {**traced_env, "BENCH_I": str(args.repeats + i + 1)})
                      for i in range(args.repeats)]

    def med(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f})"

    print(f"cold start, {args.repeats} fresh processes each (median):")
    print(f"  import function_app:            {med([r['import'] for r in imports])}; "
          f"heavy modules loaded: {imports[0]['heavy'] or 'none'}")
    print(f"  ingest-only invocation, import: {med([r['import'] for r in ingests])}")
    print(f"  ingest-only invocation, call:   {med([r['first_call'] for r in ingests])} "
          "(10k-row CSV, validation + MLTable + registration + early check)")
    heavy = sorted({m for r in ingests for m in r["heavy"]})
    print(f"  heavy modules loaded by then:   {heavy or 'none'}")
    forbidden = [m for m in heavy if m in ("azure.ai.ml", "sklearn", "mlflow", "opentelemetry")]
    print(f"  target: no azure.ai.ml, MLflow, scikit-learn or OpenTelemetry on this path "
          f"(without APPLICATIONINSIGHTS_CONNECTION_STRING): "
          f"{'met' if not forbidden else 'MISSED: ' + ', '.join(forbidden)}")
    plain = statistics.median([r["first_call"] for r in ingests])
    with_telemetry = statistics.median([r["first_call"] for r in traced])
    print(f"  with APPLICATIONINSIGHTS_CONNECTION_STRING, call: "
          f"{med([r['first_call'] for r in traced])} (the distro configured on the first "
          f"invocation); ratio {with_telemetry / plain:.2f} against the call without it")
    print(f"  heavy modules loaded then:      "
          f"{sorted({m for r in traced for m in r['heavy']}) or 'none'}")
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    sys.exit(code)
