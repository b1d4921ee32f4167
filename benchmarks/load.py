"""Load and fault benchmark: many files, several worker processes, redeliveries, a killed
worker and a storage outage; then the delivery invariants, checked and printed.

    ./dev bench load [--files 1000] [--workers 4] [--redeliver 0.15] [--no-crash] [--no-outage]

Each worker is its own process with its own `LocalHost` (the registered blob trigger, with the
worker's real converters and a real `BlobClient`), against one real Azurite that this benchmark
starts itself (so it can stop and restart it) and one local workspace folder. Deliveries behave
as the Functions host's: an invocation that raises is delivered again later with a growing
pause (up to 12 times); a share of the files is delivered twice, at random moments.

Phases:
  1. load:    N files (default 1,000) over 4 models, about 80% valid and 20% invalid of
              several kinds (wrong delimiter, missing column, wrong type, empty, unsupported
              path, hostile name); files/s and latency p50/p95 for the first and the last
              tenth of the run (target: the last tenth's files/s within 20% of the first's).
  2. crash:   a worker is SIGKILLed in the middle of copying a file; the host's redelivery
              raises `ClaimHeld` while the dead worker's lease runs, then takes the file over
              and finishes it; its staging folder is swept.
  3. outage:  Azurite is stopped mid-run for a few seconds and restarted on the same ports
              and data; the deliveries that failed are retried, and after the lease the
              reconcile timer (`monitor_scheduler`) finishes any claim left `processing`.

Invariants after each phase: one final ledger record per blob upload, one data asset version
per (path, ETag), versions contiguous per asset, every rejected file byte-identical with what
was uploaded and with its quarantine record present, nothing `processing` or `failed`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import queue as queue_module
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ("fraud", "churn", "credit", "demand")
LEASE_SECONDS = 6
MAX_ATTEMPTS = 12
REFERENCE = "age,income,city,approved\n" + "".join(
    f"{20 + i % 50},{1000.0 + i * 12.5},{['paris', 'rome', 'oslo'][i % 3]},{i % 2}\n"
    for i in range(300))


def valid_csv(rng: random.Random, rows: int = 200) -> bytes:
    lines = ["age,income,city,approved,request_id"]
    for _ in range(rows):
        lines.append(f"{rng.randint(18, 80)},{rng.uniform(500, 9000):.2f},"
                     f"{rng.choice(['paris', 'rome', 'oslo', 'lima'])},{rng.randint(0, 1)},"
                     f"r{uuid.uuid4().hex[:8]}")
    return ("\n".join(lines) + "\n").encode()


def invalid_file(rng: random.Random, n: int) -> tuple[str, bytes]:
    """(relative name, content) of a bad file of one of several kinds."""
    kind = n % 6
    good = valid_csv(rng, 50)
    if kind == 0:
        return f"bad-{n}.csv", good.replace(b",", b";")
    if kind == 1:
        return f"bad-{n}.csv", b"age,income,approved\n30,100.0,1\n"
    if kind == 2:
        return f"bad-{n}.csv", good.replace(b"\n3", b"\nthirty", 1)
    if kind == 3:
        return f"bad-{n}.csv", b""
    if kind == 4:
        return f"loose-{n}.jsonl", b'{"age": 30}\n'
    return f".hidden-{n}.csv", good


# ---------------------------------------------------------------- the worker processes

def worker_main(env: dict, tasks, results, crash_victim: bool) -> None:
    """One Functions host instance: takes deliveries, invokes the blob trigger, retries what
    raised (as the host does), reports each invocation."""
    os.environ.update(env)
    import logging

    logging.basicConfig(level=logging.CRITICAL)  # the report says what happened
    from devtools.invoke import LocalHost

    if crash_victim:
        _pause_mid_copy(results)
    host = LocalHost()
    from core.bootstrap import services

    services().ingest  # noqa: B018 - build the clients and tables before the clock starts
    results.put(("ready", os.getpid(), time.time()))
    while True:
        try:
            task = tasks.get(timeout=0.5)
        except queue_module.Empty:
            continue
        if task is None:
            return
        path, attempt, not_before, tag = task
        delay = not_before - time.time()
        if delay > 0:
            time.sleep(delay)
        started = time.time()
        result = host.blob(path)
        ended = time.time()
        error = None if result.ok else type(result.error).__name__
        retry = not result.ok and attempt + 1 < MAX_ATTEMPTS
        results.put(("delivery", path, attempt, started, ended, error, retry, tag, os.getpid()))
        if retry:
            pause = min(0.5 * 2 ** attempt, 8.0) * random.uniform(0.8, 1.2)
            tasks.put((path, attempt + 1, time.time() + pause, tag))


def _pause_mid_copy(results) -> None:
    """The crash victim: the first copy into the workspace stops halfway (the coordinator then
    SIGKILLs this process), leaving a claim, an allocated version and a staging folder."""
    import core.adapters.local.workspace as local_ws

    real = local_ws.shutil.copyfileobj

    def copy_then_hang(source, target, length=0):
        target.write(source.read(64))
        target.flush()
        results.put(("mid-file", os.getpid(), time.time()))
        time.sleep(3600)
        return real(source, target, length)

    local_ws.shutil.copyfileobj = copy_then_hang  # type: ignore[assignment]


class Pool:
    def __init__(self, env: dict, workers: int):
        self.ctx = mp.get_context("spawn")
        self.tasks = self.ctx.Queue()
        self.results = self.ctx.Queue()
        self.env = env
        self.procs = [self._start() for _ in range(workers)]

    def _start(self, crash_victim: bool = False):
        proc = self.ctx.Process(target=worker_main,
                                args=(self.env, self.tasks, self.results, crash_victim))
        proc.start()
        return proc

    def wait_ready(self, timeout: float = 300) -> None:
        ready = 0
        deadline = time.time() + timeout
        while ready < len(self.procs):
            report = self.results.get(timeout=max(deadline - time.time(), 1))
            ready += report[0] == "ready"

    def deliver(self, path: str, at: float | None = None, tag: str = "first") -> None:
        self.tasks.put((path, 0, at or time.time(), tag))

    def close(self) -> None:
        for _ in self.procs:
            self.tasks.put(None)
        for proc in self.procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()


def collect(pool: Pool, expected_final: int, *, timeout: float, on_tick=None) -> list[tuple]:
    """Delivery reports until `expected_final` deliveries ended for good (succeeded, or gave
    up after MAX_ATTEMPTS)."""
    reports, final = [], 0
    deadline = time.time() + timeout
    while final < expected_final:
        if time.time() > deadline:
            raise TimeoutError(f"only {final} of {expected_final} deliveries ended in time")
        if on_tick:
            on_tick(final)
        try:
            report = pool.results.get(timeout=0.5)
        except queue_module.Empty:
            continue
        if report[0] != "delivery":
            continue
        reports.append(report)
        if not report[6]:  # no retry scheduled: this delivery ended
            final += 1
    return reports


# ---------------------------------------------------------------- invariants

def check_invariants(svc, uploaded: dict[str, tuple[str, str]], quarantine: str) -> dict:
    """`uploaded`: blob path -> (etag, sha256 of the bytes uploaded)."""
    from core.domain.ingestion import BlobRef, ingestion_id

    records = svc.ledger.list()
    by_id = {}
    for r in records:
        by_id.setdefault(r.ingestion_id, []).append(r)
    problems: list[str] = []
    finals = {"registered": 0, "rejected": 0}
    for path, (etag, digest) in uploaded.items():
        container, name = path.split("/", 1)
        rid = ingestion_id(BlobRef(container, name, etag=etag))
        mine = by_id.get(rid, [])
        if len(mine) != 1:
            problems.append(f"{path}: {len(mine)} ledger records")
            continue
        record = mine[0]
        if record.status not in finals:
            problems.append(f"{path}: {record.status} ({record.error})")
            continue
        finals[record.status] += 1
        if record.status == "rejected":
            blob = svc.blob_store.properties(BlobRef(container, name))
            with svc.blob_store.open(blob) as stream:
                now = hashlib.sha256(stream.read()).hexdigest()
            if now != digest or blob.etag != etag:
                problems.append(f"{path}: rejected file changed")
            try:
                svc.blob_store.read_text(quarantine, record.quarantine_record.split("/", 1)[1])
            except Exception as exc:  # reported as a broken invariant
                problems.append(f"{path}: quarantine record unreadable: {exc}")
    processing = [r for r in records if r.status in ("processing", "failed")]
    versions_ok, per_asset = True, {}
    for model in MODELS:
        asset = f"{model}-inference"
        versions = svc.workspace.list_data_versions(asset)
        numbers = sorted(int(v.version) for v in versions)
        per_asset[asset] = len(numbers)
        if numbers != list(range(1, len(numbers) + 1)):
            versions_ok = False
            missing = sorted(set(range(1, max(numbers, default=0) + 1)) - set(numbers))
            problems.append(f"{asset}: versions not contiguous, missing {missing[:10]}")
        keys = [(v.tags.get("source_url"), v.tags.get("source_etag")) for v in versions]
        if len(set(keys)) != len(keys):
            problems.append(f"{asset}: {len(keys) - len(set(keys))} files registered twice")
    registered_versions = sum(per_asset.values())
    if registered_versions != finals["registered"]:
        problems.append(f"{registered_versions} versions for {finals['registered']} "
                        "registered files")
    staging = list((svc.workspace.root / "data").glob("*/.staging/*"))
    return {"records": len(records), "registered": finals["registered"],
            "rejected": finals["rejected"], "processing_or_failed": len(processing),
            "versions": per_asset, "contiguous": versions_ok, "staging_left": len(staging),
            "problems": problems}


def print_invariants(title: str, inv: dict) -> bool:
    ok = not inv["problems"] and inv["processing_or_failed"] == 0
    print(f"  invariants after {title}: {'OK' if ok else 'BROKEN'}")
    print(f"    one final record per blob: {inv['registered']} registered + {inv['rejected']} "
          f"rejected of {inv['registered'] + inv['rejected']}; ledger rows {inv['records']}")
    print(f"    one version per (path, ETag), contiguous: {inv['contiguous']} "
          f"{inv['versions']}")
    print(f"    nothing processing or failed: {inv['processing_or_failed'] == 0} "
          f"({inv['processing_or_failed']}); staging folders left: {inv['staging_left']}")
    for problem in inv["problems"][:15]:
        print(f"    ! {problem}")
    return ok


# ---------------------------------------------------------------- phases

def upload_batch(svc, container: str, n: int, rng: random.Random, prefix: str,
                 invalid_share: float = 0.2) -> dict[str, tuple[str, str]]:
    uploaded = {}
    for i in range(n):
        model = MODELS[i % len(MODELS)]
        if rng.random() < invalid_share:
            name, data = invalid_file(rng, i)
        else:
            name, data = f"batch-{i:05d}.csv", valid_csv(rng)
        blob_name = f"{model}/{prefix}/{name}"
        ref = svc.blob_store.upload(container, blob_name, data)
        uploaded[f"{container}/{blob_name}"] = (ref.etag, hashlib.sha256(data).hexdigest())
    return uploaded


def tenth_stats(reports: list[tuple]) -> dict:
    """Each file's first delivery that succeeded (after the host's retries, if any), in the
    order they finished; redeliveries load the workers but are not counted (their arrival
    times are ours, not the service's)."""
    ok = sorted((r for r in reports if r[5] is None and r[7] == "first"), key=lambda r: r[4])
    tenth = max(len(ok) // 10, 1)

    def stats(part):
        span = part[-1][4] - part[0][4] if len(part) > 1 else float("nan")
        latencies = sorted(r[4] - r[3] for r in part)
        p95 = latencies[min(int(len(latencies) * 0.95), len(latencies) - 1)]
        return {"files_per_s": (len(part) - 1) / span if span else float("nan"),
                "p50_ms": statistics.median(latencies) * 1000, "p95_ms": p95 * 1000}

    return {"first": stats(ok[:tenth]), "last": stats(ok[-tenth:]), "n": len(ok)}


def phase_load(svc, pool: Pool, env: dict, args, rng) -> tuple[dict, list[tuple]]:
    container = env["INFERENCE_CONTAINER"]
    print(f"\n== load: {args.files} files, {len(MODELS)} models, {args.workers} worker "
          f"processes, {args.redeliver:.0%} delivered twice")
    # Warm-up, not timed: one valid file per model and worker fills each worker's caches
    # (reference schemas and profiles), as a host that has been running has them.
    warm = {}
    for w in range(args.workers):
        for model in MODELS:
            name = f"{model}/warmup/w{w}.csv"
            data = valid_csv(rng)
            ref = svc.blob_store.upload(container, name, data)
            warm[f"{container}/{name}"] = (ref.etag, hashlib.sha256(data).hexdigest())
            pool.deliver(f"{container}/{name}")
    collect(pool, len(warm), timeout=args.timeout)
    uploaded = upload_batch(svc, container, args.files, rng, "load")
    paths = list(uploaded)
    twice = set(rng.sample(paths, int(len(paths) * args.redeliver)))
    started = time.time()
    for path in paths:
        pool.deliver(path)
    # Duplicates arrive at random moments over the expected run (some while the first runs).
    expected = max(len(paths) / 8.0, 5.0)
    for path in twice:
        pool.deliver(path, at=started + rng.uniform(0, expected), tag="redelivery")
    reports = collect(pool, len(paths) + len(twice), timeout=args.timeout)
    elapsed = time.time() - started
    stats = tenth_stats(reports)
    first, last = stats["first"], stats["last"]
    ratio = last["files_per_s"] / first["files_per_s"]
    retried = sum(1 for r in reports if r[5] is not None)
    errors: dict[str, int] = {}
    for r in reports:
        if r[5]:
            errors[r[5]] = errors.get(r[5], 0) + 1
    print(f"  {len(reports)} invocations in {elapsed:.1f} s: {len(paths) / elapsed:.1f} files/s "
          f"overall; {retried} raised and were delivered again {errors or ''}")
    print(f"  first tenth: {first['files_per_s']:.1f} files/s, latency p50 "
          f"{first['p50_ms']:.0f} ms, p95 {first['p95_ms']:.0f} ms")
    print(f"  last tenth:  {last['files_per_s']:.1f} files/s, latency p50 "
          f"{last['p50_ms']:.0f} ms, p95 {last['p95_ms']:.0f} ms")
    verdict = "OK" if ratio >= 0.8 else "SLOWER"
    print(f"  last/first throughput: {ratio:.2f} (target >= 0.80: {verdict})")
    uploaded.update(warm)
    inv = check_invariants(svc, uploaded, env["QUARANTINE_CONTAINER"])
    ok = print_invariants("load", inv)
    return {"uploaded": uploaded, "ok": ok and ratio >= 0.8, "ratio": ratio}, reports


def phase_crash(svc, pool: Pool, env: dict, args, rng, uploaded: dict) -> bool:
    from core.domain.ingestion import BlobRef, ingestion_id

    container = env["INFERENCE_CONTAINER"]
    print(f"\n== crash: SIGKILL a worker in the middle of a file (lease {LEASE_SECONDS} s)")
    name = "fraud/crash/victim.csv"
    data = valid_csv(rng, 5000)
    ref = svc.blob_store.upload(container, name, data)
    path = f"{container}/{name}"
    uploaded[path] = (ref.etag, hashlib.sha256(data).hexdigest())
    # The victim has queues of its own: a process killed while using a queue may corrupt it.
    victim_tasks, victim_results = pool.ctx.Queue(), pool.ctx.Queue()
    victim = pool.ctx.Process(target=worker_main,
                              args=(env, victim_tasks, victim_results, True))
    victim.start()
    victim_tasks.put((path, 0, time.time(), "victim"))
    while True:
        report = victim_results.get(timeout=120)
        if report[0] == "mid-file":
            break
    killed_at = time.time()
    os.kill(victim.pid, signal.SIGKILL)
    victim.join()
    rid = ingestion_id(BlobRef(container, name, etag=ref.etag))
    held = svc.ledger.get("fraud", rid)
    staging = [p.name for p in (svc.workspace.root / "data" / "fraud-inference" / ".staging"
                                ).glob("*")]
    print(f"  killed pid {victim.pid} mid-copy: record {held.status}, version "
          f"{held.asset_version} allocated, staging left: {staging}")
    pool.deliver(path, tag="after-crash")  # the host delivers the failed invocation again
    reports = collect(pool, 1, timeout=120)
    for r in reports:
        outcome = "succeeded" if r[5] is None else f"raised {r[5]} (delivered again later)"
        print(f"  redelivery attempt {r[2] + 1} at +{r[3] - killed_at:.1f} s: {outcome}")
    done = svc.ledger.get("fraud", rid)
    # The next write to the asset sweeps the dead writer's staging folder.
    extra = "fraud/crash/after.csv"
    extra_ref = svc.blob_store.upload(container, extra, valid_csv(rng))
    uploaded[f"{container}/{extra}"] = (extra_ref.etag, "")
    pool.deliver(f"{container}/{extra}")
    collect(pool, 1, timeout=120)
    staging = [p.name for p in (svc.workspace.root / "data" / "fraud-inference" / ".staging"
                                ).glob("*")]
    print(f"  finished: {done.status} as fraud-inference:{done.asset_version} after "
          f"{done.attempts} attempts, {done.updated_at - killed_at:.1f} s after the kill; "
          f"staging left after the next write: {staging}")
    inv = check_invariants(svc, uploaded, env["QUARANTINE_CONTAINER"])
    return print_invariants("crash", inv) and done.status == "registered"


def phase_outage(svc, pool: Pool, env: dict, args, rng, uploaded: dict, emulator) -> bool:
    container = env["INFERENCE_CONTAINER"]
    n = max(args.files // 5, 40)
    print(f"\n== outage: {n} files; Azurite stopped for {args.outage_seconds:.0f} s "
          "mid-run, then restarted on the same ports and data")
    batch = upload_batch(svc, container, n, rng, "outage")
    uploaded.update(batch)
    for path in batch:
        pool.deliver(path)
    state = {"stopped": False}

    def maybe_stop(final: int) -> None:
        if not state["stopped"] and final >= n // 3:
            state["stopped"] = True
            emulator.stop()
            print(f"  Azurite stopped after {final} files")
            time.sleep(args.outage_seconds)
            emulator.start()
            print("  Azurite restarted")

    reports = collect(pool, n, timeout=args.timeout, on_tick=maybe_stop)
    raised = {}
    for r in reports:
        if r[5]:
            raised[r[5]] = raised.get(r[5], 0) + 1
    gave_up = [r for r in reports if r[5] and not r[6]]
    print(f"  {len(reports)} invocations; raised during the outage and delivered again: "
          f"{raised}; gave up: {len(gave_up)}")
    stuck = [r for r in svc.ledger.list() if r.status in ("processing", "failed")]
    print(f"  right after: {len(stuck)} records processing or failed")
    if stuck:
        time.sleep(LEASE_SECONDS + 1)
        from devtools.invoke import LocalHost

        os.environ.update(env)
        timer = LocalHost().timer("monitor_scheduler")
        left = [r for r in svc.ledger.list() if r.status in ("processing", "failed")]
        print(f"  reconcile timer ({'ok' if timer.ok else timer.error}): {len(left)} left")
    inv = check_invariants(svc, uploaded, env["QUARANTINE_CONTAINER"])
    return print_invariants("outage", inv)


class Emulator:
    """Our own Azurite, stoppable and restartable on the same ports and data."""

    def __init__(self, location: Path):
        from devtools.azurite import choose_ports, connection_string

        self.location = location
        self.ports = choose_ports()
        self.connection = connection_string(*self.ports)
        self.proc = None
        self.log = None

    def start(self) -> None:
        from devtools.azurite import start_azurite_on

        self.proc, self.log = start_azurite_on(self.location, self.ports)

    def stop(self) -> None:
        from devtools.azurite import stop_azurite

        if self.proc is not None:
            stop_azurite(self.proc)
            self.log.close()
            self.proc = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--redeliver", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=1800)
    # Longer than the storage SDK's own retries (about 14 s), so invocations really fail.
    parser.add_argument("--outage-seconds", type=float, default=25)
    parser.add_argument("--no-crash", action="store_true")
    parser.add_argument("--no-outage", action="store_true")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="load-bench-"))
    emulator = Emulator(tmp / "azurite")
    emulator.location.mkdir()
    emulator.start()
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": emulator.connection, "INFERENCE_STORAGE": emulator.connection,
        "INFERENCE_CONTAINER": f"inference-{suffix}", "QUARANTINE_CONTAINER": f"quar-{suffix}",
        "ARTIFACTS_CONTAINER": f"art-{suffix}", "LEDGER_TABLE_PREFIX": f"load{suffix}",
        "AUTOPILOT_BACKEND": "local", "LOCAL_WORKSPACE_DIR": str(tmp / "workspace"),
        "RETRAIN_QUEUE": f"retrain-{suffix}", "INGEST_LEASE_SECONDS": str(LEASE_SECONDS),
        "EVENT_SINK": "none",
    }
    os.environ.update(env)
    pool = None
    try:
        from core.bootstrap import reset_services, services

        reset_services()
        svc = services()
        for model in MODELS:
            path = tmp / f"{model}-training.csv"
            path.write_text(REFERENCE)
            svc.workspace.register_file_version(f"{model}-training", "1", path, tags={})
        print(f"load benchmark: {os.cpu_count()} cores, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        pool = Pool(env, args.workers)
        pool.wait_ready()
        result, _ = phase_load(svc, pool, env, args, rng)
        ok = result["ok"]
        if not args.no_crash:
            ok = phase_crash(svc, pool, env, args, rng, result["uploaded"]) and ok
        if not args.no_outage:
            ok = phase_outage(svc, pool, env, args, rng, result["uploaded"], emulator) and ok
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("RESULT:", "all invariants held" if ok else "SOMETHING BROKE (see above)")
        summary = {"ratio_last_to_first": result["ratio"], "ok": ok}
        out = ROOT / "benchmarks" / "out"
        out.mkdir(exist_ok=True)
        (out / "load.json").write_text(json.dumps(summary, indent=2))
        return 0 if ok else 1
    finally:
        if pool is not None:
            pool.close()
        emulator.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
