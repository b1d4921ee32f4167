"""Drift engine benchmark: our engine vs a direct scipy loop vs Evidently's data drift preset.

Not a test. One run, same generated data for everyone (reference and production, 1M rows each
by default, 20 numerical + 5 categorical columns, 5 numerical and 1 categorical drifted):

- ours: profile build (once per reference) and per-batch ``compare`` timed separately, every
  metric enabled (4 numerical + 3 categorical drift metrics, 3 data quality rates);
- scipy: a direct implementation of the same definitions (numpy/scipy per column, straight
  from the raw reference every time, as Azure's components and most hand-written monitors do);
- evidently: ``Report([DataDriftPreset()]).run(current, reference)`` in its own venv
  (``.venv-bench``, pandas<3), via ``benchmarks/run_drift.sh``.

Each measurement runs in a fresh subprocess so peak memory (ru_maxrss) is its own; the data is
read from Parquet files under ``benchmarks/out/``. Scaling: ours at 1x/4x rows and 1x/4x columns.

    benchmarks/run_drift.sh            # full run (about 5-10 minutes on 2 cores)
    benchmarks/run_drift.sh --quick    # 100k rows
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


# ------------------------------------------------------------------------------------ data


def generate(rows: int, numerical: int, categorical: int, seed: int = 0) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    OUT.mkdir(parents=True, exist_ok=True)
    tag = f"{rows}x{numerical}n{categorical}c"
    ref_path, prod_path = OUT / f"ref_{tag}.parquet", OUT / f"prod_{tag}.parquet"
    if ref_path.exists() and prod_path.exists():
        return ref_path, prod_path
    rng = np.random.default_rng(seed)
    cats = np.array([f"cat_{i}" for i in range(12)])
    base_p = np.linspace(2, 1, 12)
    base_p /= base_p.sum()
    drift_p = np.roll(base_p, 3)

    def frame(drifted: bool) -> pa.Table:
        cols = {}
        for i in range(numerical):
            shift = 0.25 if drifted and i % 4 == 0 else 0.0
            kind = i % 3
            if kind == 0:
                cols[f"num_{i}"] = rng.normal(shift, 1.0, rows)
            elif kind == 1:
                cols[f"num_{i}"] = rng.lognormal(shift, 0.8, rows)
            else:
                cols[f"num_{i}"] = np.round(rng.gamma(2.0 + shift, 2.0, rows), 2)
        for j in range(categorical):
            p = drift_p if drifted and j == 0 else base_p
            cols[f"cat_{j}"] = pa.array(rng.choice(cats, rows, p=p)).dictionary_encode().cast(
                pa.string())
        return pa.table(cols)

    pq.write_table(frame(False), ref_path)
    pq.write_table(frame(True), prod_path)
    return ref_path, prod_path


# ------------------------------------------------------------------------------------ workers


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_ours(ref_path: str, prod_path: str, repeats: int) -> dict:
    import pyarrow.parquet as pq

    sys.path.insert(0, str(ROOT))
    from core.drift import DriftConfig, build_profile, compare

    ref, prod = pq.read_table(ref_path), pq.read_table(prod_path)
    loaded = _peak_mb()
    t = time.perf_counter()
    profile = build_profile(ref)
    build = time.perf_counter() - t
    del ref
    config = DriftConfig(thresholds={
        "data_drift": {
            "numerical": {"normalized_wasserstein_distance": 0.1, "jensen_shannon_distance": 0.1,
                          "population_stability_index": 0.2,
                          "two_sample_kolmogorov_smirnov_test": 0.05},
            "categorical": {"jensen_shannon_distance": 0.1, "population_stability_index": 0.2,
                            "pearsons_chi_squared_test": 0.05},
        }
    })
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = compare(profile, prod, config)
        times.append(time.perf_counter() - t)
    n_metrics = len(result.metrics())
    drifted = sorted({m.feature for s, m in result.breaches() if s == "data_drift"
                      and m.metric == "normalized_wasserstein_distance"})
    return {"build_s": build, "compare_s": min(times), "compare_all_s": times,
            "metrics": n_metrics, "peak_mb": _peak_mb(), "loaded_mb": loaded,
            "profile_mb": profile.nbytes / 2**20, "drifted_nwd": drifted}


def worker_scipy(ref_path: str, prod_path: str, repeats: int) -> dict:
    """The same definitions, computed directly with numpy/scipy from the raw frames."""
    import math

    import pyarrow.parquet as pq
    from scipy import stats
    from scipy.spatial import distance

    ref, prod = pq.read_table(ref_path), pq.read_table(prod_path)
    loaded = _peak_mb()

    def run() -> int:
        out = 0
        r_cols = {c: ref.column(c) for c in ref.column_names}
        p_cols = {c: prod.column(c) for c in prod.column_names}
        n_r, n_p = ref.num_rows, prod.num_rows
        k = math.ceil(math.log2(min(n_r, n_p)) + 1)
        for c in ref.column_names:
            rc, pcol = r_cols[c], p_cols[c]
            if rc.type == "string":
                rv = rc.to_numpy(zero_copy_only=False)
                pv = pcol.to_numpy(zero_copy_only=False)
                r_keys, r_counts = np.unique(rv, return_counts=True)
                p_keys, p_counts = np.unique(pv, return_counts=True)
                keys = np.union1d(r_keys, p_keys)
                rf = np.zeros(keys.size)
                pf = np.zeros(keys.size)
                rf[np.searchsorted(keys, r_keys)] = r_counts
                pf[np.searchsorted(keys, p_keys)] = p_counts
                distance.jensenshannon(rf / n_r, pf / n_p, base=2)
                b, p = (rf + 1) / (n_r + keys.size), (pf + 1) / (n_p + keys.size)
                np.sum((p - b) * np.log(p / b))
                with np.errstate(divide="ignore", invalid="ignore"):
                    stats.chisquare(pf, rf / n_r * n_p)
                np.count_nonzero(~np.isin(pv, r_keys))  # out of bounds
                out += 3
            else:
                rv = rc.to_numpy()
                pv = pcol.to_numpy()
                lo, hi = min(rv.min(), pv.min()), max(rv.max(), pv.max())
                edges = lo + (hi - lo) / k * np.arange(k + 1)
                hr = np.histogram(rv, edges)[0]
                hp = np.histogram(pv, edges)[0]
                distance.jensenshannon(hr / n_r, hp / n_p, base=2)
                b, p = (hr + 1) / (n_r + k), (hp + 1) / (n_p + k)
                np.sum((p - b) * np.log(p / b))
                stats.wasserstein_distance(rv, pv) / max(np.std(rv, ddof=1), 0.001)
                stats.ks_2samp(rv, pv)
                np.count_nonzero((pv < rv.min()) | (pv > rv.max()))  # out of bounds
                out += 4
            int(np.isnan(pv).sum()) if pv.dtype.kind == "f" else pcol.null_count  # null rate
        return out

    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        n = run()
        times.append(time.perf_counter() - t)
    return {"compare_s": min(times), "compare_all_s": times, "metrics": n,
            "peak_mb": _peak_mb(), "loaded_mb": loaded}


def worker_evidently(ref_path: str, prod_path: str, repeats: int) -> dict:
    import importlib.metadata

    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref, prod = pd.read_parquet(ref_path), pd.read_parquet(prod_path)
    loaded = _peak_mb()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(prod, ref)
        snapshot.dict()
        times.append(time.perf_counter() - t)
    return {"compare_s": min(times), "compare_all_s": times, "peak_mb": _peak_mb(),
            "loaded_mb": loaded, "version": importlib.metadata.version("evidently"),
            "pandas": pd.__version__}


WORKERS = {"ours": worker_ours, "scipy": worker_scipy, "evidently": worker_evidently}


# ------------------------------------------------------------------------------------ driver


def spawn(python: str, kind: str, ref: Path, prod: Path, repeats: int) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", kind, str(ref), str(prod),
           "--repeats", str(repeats)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100k rows instead of 1M")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3, help="compare repeats (best is shown)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for ours/scipy")
    ap.add_argument("--evidently-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.paths[0], args.paths[1], args.repeats)))
        return 0

    rows = args.rows or (100_000 if args.quick else 1_000_000)
    print(f"drift benchmark: {rows:,} rows per frame, 20 numerical + 5 categorical columns, "
          f"{os.cpu_count()} cores")
    ref, prod = generate(rows, 20, 5)
    results: dict[str, dict] = {}
    results["ours"] = spawn(args.python, "ours", ref, prod, args.repeats)
    results["scipy"] = spawn(args.python, "scipy", ref, prod, max(1, args.repeats - 2))
    if Path(args.evidently_python).exists():
        results["evidently"] = spawn(args.evidently_python, "evidently", ref, prod, 1)
    else:
        results["evidently"] = {"error": f"{args.evidently_python} not found: run "
                                "benchmarks/run_drift.sh to create .venv-bench"}

    ours = results["ours"]
    print()
    print(f"{'engine':<12}{'per batch (s)':>14}{'vs ours':>10}{'peak RSS MB':>13}"
          f"{'data MB':>10}  notes")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<12}{'-':>14}{'-':>10}{'-':>13}{'-':>10}  error: {r['error']}")
            continue
        ratio = r["compare_s"] / ours["compare_s"] if "compare_s" in ours else float("nan")
        note = ""
        if name == "ours":
            note = (f"profile build {ours['build_s']:.2f} s (once), profile "
                    f"{ours['profile_mb']:.0f} MB, {ours['metrics']} metric values")
        elif name == "scipy":
            note = f"same {r['metrics']} drift metrics + quality rates, raw reference each batch"
        elif name == "evidently":
            note = f"evidently {r['version']}, pandas {r['pandas']}, DataDriftPreset"
        print(f"{name:<12}{r['compare_s']:>14.2f}{ratio:>9.1f}x{r['peak_mb']:>13.0f}"
              f"{r['loaded_mb']:>10.0f}  {note}")
    if "compare_s" in ours:
        for name, target in (("evidently", 20), ("scipy", 5)):
            r = results[name]
            if "compare_s" in r:
                ratio = r["compare_s"] / ours["compare_s"]
                verdict = "met" if ratio >= target else "NOT met"
                print(f"target: >= {target}x faster than {name}: {ratio:.1f}x ({verdict})")
        print(f"drifted by normalized Wasserstein: {', '.join(ours['drifted_nwd'])}")

    if not args.no_scaling and "compare_s" in ours:
        print("\nscaling (ours, per-batch compare):")
        print(f"{'rows':>10}{'columns':>9}{'compare (s)':>13}{'x time':>8}{'build (s)':>11}"
              f"{'peak MB':>9}")
        base = ours["compare_s"]
        rows_line = [(rows, 25, ours)]
        r4, p4 = generate(rows * 4, 20, 5)
        rows_line.append((rows * 4, 25, spawn(args.python, "ours", r4, p4, 2)))
        c4r, c4p = generate(rows, 80, 20)
        rows_line.append((rows, 100, spawn(args.python, "ours", c4r, c4p, 2)))
        for n, cols, r in rows_line:
            if "error" in r:
                print(f"{n:>10}{cols:>9}  error: {r['error']}")
                continue
            print(f"{n:>10,}{cols:>9}{r['compare_s']:>13.2f}{r['compare_s'] / base:>7.1f}x"
                  f"{r['build_s']:>11.2f}{r['peak_mb']:>9.0f}")
        print("(linear scaling means about 4x time at 4x rows or 4x columns)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "drift_results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
