"""Drift engine speed: ours vs a single-core floor, a scipy loop, Evidently and NannyML.

Not a test. Usage (peers live in ``.venv-bench``, created from
``benchmarks/requirements-bench.txt`` by ``benchmarks/bench_env.sh``)::

    benchmarks/run_drift.sh                       # one scenario: 1Mx25
    benchmarks/run_drift.sh --shape 250kx25 --shape 200kx100
    benchmarks/run_drift.sh --quick               # 100kx25, a minute or two
    benchmarks/run_drift.sh --shape 1Mx25 --only ours,floor   # a subset of engines

A shape is ROWSxCOLUMNS (``k``/``M`` suffixes), 80% numerical and 20% categorical columns,
generated once into ``benchmarks/out/`` (reference and production, same rows each; a quarter of
the numerical columns and one categorical column drifted). Every measurement runs in a fresh
subprocess, so its peak RSS (ru_maxrss, data loading included) is its own:

- ``ours``: ``build_profile`` on the reference (once) and ``compare`` per batch, timed
  separately, every metric on (4 numerical + 3 categorical drift metrics, 3 quality rates);
  best of ``--repeats`` in each of ``--rounds`` fresh processes, alternating with the floor's
  (a load that comes and goes on a shared machine falls on both); the best round is shown,
  and the ratio of each round's pair beside it.
- ``floor``: the least work an exact KS/Wasserstein + histogram needs per batch, production
  columns only, one core (``pyarrow.set_cpu_count(1)``, BLAS/OpenMP threads 1): per numerical
  column one ``np.sort`` and one ``np.searchsorted`` of the k+1 Sturges edges into the sorted
  values (k lookups, the cheap direction); per categorical column one
  ``pyarrow.compute.value_counts``. Best of ``--repeats``, over ``--rounds`` as ours.
- ``scipy``: the same definitions as a direct numpy/scipy loop from the raw frames.
- ``evidently``: ``Report([DataDriftPreset()]).run(current, reference)`` plus ``.dict()``.
- ``nannyml binned`` / ``nannyml exact``: ``UnivariateDriftCalculator`` with continuous methods
  jensen_shannon, wasserstein, kolmogorov_smirnov and categorical jensen_shannon, chi2,
  l_infinity (its constructor default is jensen_shannon alone; these are its methods closest to
  ours). ``binned`` keeps ``computation_params`` at its default (``calculation_method='auto'``:
  a 10,000-bin reference histogram for Wasserstein and KS when the reference has 10,000 rows or
  more; Jensen-Shannon always bins, Doane's rule); ``exact`` makes Wasserstein and KS keep the
  whole reference and call scipy (see ``NANNYML_EXACT``: 0.13.1 ignores its documented nested
  form alone). ``chunk_size`` = the
  production row count, so the production batch is one chunk (one batch comparison) and so is
  the equally sized reference during ``fit`` (which computes every method on its own reference
  chunks to set thresholds: that is part of its fit). ``fit`` and ``calculate`` timed apart.

Peers run with telemetry off (``NML_DISABLE_USAGE_LOGGING``, ``DO_NOT_TRACK``) and, where the
machine allows, in an empty network namespace (``unshare --net``), so nothing is fetched.
Targets printed (pass/miss): ours >= 100x faster per batch than Evidently, >= 5x faster than
NannyML binned, and no slower than the single-core floor (ours / floor <= 1.0).
Results go to ``benchmarks/out/drift_results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from offline import offline_prefix  # beside this script

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


def worker_floor(ref_path: str, prod_path: str, repeats: int) -> dict:
    """Production columns only, one core: sort + edge lookups per numerical column, one
    Arrow hash count per categorical column (what any exact engine must at least do)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    prod = pq.read_table(prod_path)
    loaded = _peak_mb()
    numeric = [f.name for f in prod.schema if pa.types.is_floating(f.type)]
    categorical = [f.name for f in prod.schema if f.name not in numeric]
    k = math.ceil(math.log2(prod.num_rows) + 1)

    def run() -> None:
        for c in numeric:
            s = np.sort(prod.column(c).to_numpy())
            np.searchsorted(s, np.linspace(s[0], s[-1], k + 1))
        for c in categorical:
            pc.value_counts(prod.column(c))

    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return {"compare_s": min(times), "compare_all_s": times, "peak_mb": _peak_mb(),
            "loaded_mb": loaded, "numeric": len(numeric), "categorical": len(categorical),
            "bins": k}


NANNYML_CONTINUOUS = ["jensen_shannon", "wasserstein", "kolmogorov_smirnov"]
NANNYML_CATEGORICAL = ["jensen_shannon", "chi2", "l_infinity"]
# NannyML 0.13.1 checks that the method's name is a key of computation_params but then reads
# calculation_method from the top level, so its documented nested form alone stays 'auto':
# both are given (the worker checks that every Wasserstein/KS method ended up 'exact').
NANNYML_EXACT = {"wasserstein": {"calculation_method": "exact"},
                 "kolmogorov_smirnov": {"calculation_method": "exact"},
                 "calculation_method": "exact"}


def _worker_nannyml(ref_path: str, prod_path: str, exact: bool) -> dict:
    import logging
    import warnings

    import nannyml as nml
    import pandas as pd

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    ref, prod = pd.read_parquet(ref_path), pd.read_parquet(prod_path)
    loaded = _peak_mb()
    calc = nml.UnivariateDriftCalculator(
        column_names=list(ref.columns),
        continuous_methods=NANNYML_CONTINUOUS,
        categorical_methods=NANNYML_CATEGORICAL,
        chunk_size=len(prod),
        computation_params=NANNYML_EXACT if exact else None,
    )
    t = time.perf_counter()
    calc.fit(ref)
    fit = time.perf_counter() - t
    modes = sorted({m.calculation_method for methods in calc._column_to_models_mapping.values()
                    for m in methods if hasattr(m, "calculation_method")})
    if exact and modes != ["exact"]:
        raise SystemExit(f"nannyml exact mode not applied: {modes}")
    t = time.perf_counter()
    result = calc.calculate(prod)
    calc_s = time.perf_counter() - t
    df = result.filter(period="analysis").to_df()
    alert_cols = [c for c in df.columns if c[-1] == "alert"]
    alerted = sorted({c[0] for c in alert_cols if bool(df[c].iloc[0])})
    return {"compare_s": calc_s, "build_s": fit, "peak_mb": _peak_mb(), "loaded_mb": loaded,
            "chunks": len(df), "values": len(alert_cols), "alerted": alerted, "modes": modes,
            "version": nml.__version__, "pandas": pd.__version__}


def worker_nannyml_binned(ref_path: str, prod_path: str, repeats: int) -> dict:
    return _worker_nannyml(ref_path, prod_path, exact=False)


def worker_nannyml_exact(ref_path: str, prod_path: str, repeats: int) -> dict:
    return _worker_nannyml(ref_path, prod_path, exact=True)


WORKERS = {"ours": worker_ours, "floor": worker_floor, "scipy": worker_scipy,
           "evidently": worker_evidently, "nannyml_binned": worker_nannyml_binned,
           "nannyml_exact": worker_nannyml_exact}
PEERS = {"evidently", "nannyml_binned", "nannyml_exact"}
ENGINES = ("ours", "floor", "scipy", "evidently", "nannyml_binned", "nannyml_exact")


# ------------------------------------------------------------------------------------ driver


def spawn(python: str, kind: str, ref: Path, prod: Path, repeats: int,
          prefix: list[str] | None = None) -> dict:
    cmd = [*(prefix or []), python, str(Path(__file__).resolve()), "--worker", kind, str(ref),
           str(prod), "--repeats", str(repeats)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NML_DISABLE_USAGE_LOGGING": "1",
           "DO_NOT_TRACK": "1", "ITERATIVE_DO_NOT_TRACK": "1"}
    if kind == "floor":
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def parse_shape(text: str) -> tuple[int, int, int]:
    """``250kx25`` -> (250000 rows, 20 numerical, 5 categorical): 80/20 split of columns."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)x(\d+)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"shape {text!r}: expected ROWSxCOLUMNS, e.g. 250kx25")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    rows, cols = int(float(m.group(1)) * scale), int(m.group(3))
    if rows < 10 or cols < 2:
        raise argparse.ArgumentTypeError(f"shape {text!r}: at least 10 rows and 2 columns")
    numerical = max(1, round(cols * 0.8))
    return rows, numerical, cols - numerical


LABELS = {"ours": "ours (compare)", "floor": "floor (1 core)", "scipy": "scipy loop",
          "evidently": "evidently", "nannyml_binned": "nannyml binned",
          "nannyml_exact": "nannyml exact"}


def run_scenario(name: str, shape: tuple[int, int, int], args, prefix: list[str]) -> dict:
    rows, n_num, n_cat = shape
    load = os.getloadavg()
    print(f"\n== scenario {name}: {rows:,} rows per frame (reference and production), "
          f"{n_num} numerical + {n_cat} categorical columns; {os.cpu_count()} cores, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    t = time.perf_counter()
    ref, prod = generate(rows, n_num, n_cat)
    print(f"   data ready in {time.perf_counter() - t:.1f} s", flush=True)
    results: dict[str, dict] = {}
    peer_ok = Path(args.peer_python).exists()
    # Ours and the floor alternate over the rounds (in turn first), so a load that comes and
    # goes on a shared machine falls on both; each keeps its best round.
    paired = [k for k in ("ours", "floor") if k in args.only]
    rounds: dict[str, list[dict]] = {k: [] for k in paired}
    for i in range(args.rounds if paired else 0):
        for kind in (paired if i % 2 == 0 else paired[::-1]):
            t = time.perf_counter()
            r = spawn(args.python, kind, ref, prod, args.repeats)
            r["wall_s"] = time.perf_counter() - t
            rounds[kind].append(r)
            print(f"   {LABELS[kind]:<16} round {i + 1} done in {r['wall_s']:.1f} s", flush=True)
    for kind, runs in rounds.items():
        ok = [r for r in runs if "compare_s" in r]
        results[kind] = dict(min(ok, key=lambda r: r["compare_s"])) if ok else runs[-1]
        results[kind]["rounds_s"] = [r.get("compare_s") for r in runs]
    for kind in ENGINES:
        if kind not in args.only or kind in rounds:
            continue
        if kind in PEERS and not peer_ok:
            results[kind] = {"error": f"{args.peer_python} not found: run benchmarks/run_drift.sh"}
            continue
        repeats = {"ours": args.repeats, "floor": args.repeats,
                   "scipy": max(1, args.repeats - 2)}.get(kind, 1)
        t = time.perf_counter()
        python = args.peer_python if kind in PEERS else args.python
        results[kind] = spawn(python, kind, ref, prod, repeats, prefix if kind in PEERS else None)
        results[kind]["wall_s"] = time.perf_counter() - t
        print(f"   {LABELS[kind]:<16} done in {results[kind]['wall_s']:.1f} s", flush=True)
    print_table(results)
    return {"rows": rows, "numerical": n_num, "categorical": n_cat, "load_average": load,
            "results": results}


def print_table(results: dict[str, dict]) -> None:
    ours = results.get("ours", {})
    floor = results.get("floor", {})
    base = ours.get("compare_s")
    print()
    print(f"{'engine':<16}{'per batch s':>12}{'fit s':>9}{'peak RSS MB':>13}{'data MB':>9}"
          f"{'peer/ours':>11}  notes")
    for kind in ENGINES:
        if kind not in results:
            continue
        r = results[kind]
        if "error" in r:
            print(f"{LABELS[kind]:<16}{'-':>12}{'-':>9}{'-':>13}{'-':>9}{'-':>11}  "
                  f"error: {r['error']}")
            continue
        ratio = f"{r['compare_s'] / base:.1f}x" if base and kind not in ("ours",) else ""
        fit = f"{r['build_s']:.2f}" if "build_s" in r else ""
        note = ""
        if kind == "ours":
            note = (f"build_profile once; profile {r['profile_mb']:.0f} MB; "
                    f"{r['metrics']} metric values")
            if floor.get("compare_s"):
                note += f"; ours/floor {r['compare_s'] / floor['compare_s']:.2f}"
                pairs = [a / b for a, b in zip(r.get("rounds_s", []), floor.get("rounds_s", []),
                                               strict=False) if a and b]
                if len(pairs) > 1:
                    note += (" (round by round " + ", ".join(f"{q:.2f}" for q in pairs)
                             + f"; median {float(np.median(pairs)):.2f})")
        elif kind == "floor":
            ratio = ""
            note = (f"{r['numeric']} x (np.sort + searchsorted of {r['bins'] + 1} edges), "
                    f"{r['categorical']} x value_counts; production only")
        elif kind == "scipy":
            note = f"same {r['metrics']} drift metrics + quality rates, raw reference each batch"
        elif kind == "evidently":
            note = f"evidently {r['version']}, pandas {r['pandas']}, DataDriftPreset"
        elif kind.startswith("nannyml"):
            note = (f"nannyml {r['version']}: {r['chunks']} chunk, {r['values']} method values, "
                    f"WD/KS calculation_method {'/'.join(r['modes'])}; fit includes its "
                    "reference-chunk pass")
        print(f"{LABELS[kind]:<16}{r['compare_s']:>12.3f}{fit:>9}{r['peak_mb']:>13.0f}"
              f"{r['loaded_mb']:>9.0f}{ratio:>11}  {note}")
    if not base:
        return
    print()

    def verdict(ok: bool) -> str:
        return "pass" if ok else "MISS"

    for kind, target in (("evidently", 100), ("nannyml_binned", 5), ("scipy", 5)):
        r = results.get(kind, {})
        if "compare_s" in r:
            ratio = r["compare_s"] / base
            extra = ""
            if "build_s" in r and "build_s" in ours:
                extra = (f"; fit {r['build_s']:.2f} s vs our build {ours['build_s']:.2f} s = "
                         f"{r['build_s'] / ours['build_s']:.1f}x")
            print(f"target: ours >= {target}x faster per batch than {LABELS[kind]}: "
                  f"{ratio:.1f}x ({verdict(ratio >= target)}){extra}")
    if floor.get("compare_s"):
        q = base / floor["compare_s"]
        print(f"target: ours no slower than the single-core floor (ours/floor <= 1.0): "
              f"{q:.2f} ({verdict(q <= 1.0)})")
    if "drifted_nwd" in ours:
        print(f"drifted by normalized Wasserstein (ours): {', '.join(ours['drifted_nwd'])}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", action="append", type=str, default=None,
                    help="ROWSxCOLUMNS scenario, repeatable: 250kx25, 1Mx25, 200kx100 "
                         "(default 1Mx25)")
    ap.add_argument("--quick", action="store_true", help="the 100kx25 scenario")
    ap.add_argument("--repeats", type=int, default=3,
                    help="repeats for ours and the floor (best is shown); peers run once")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of ours and the floor, alternating (each keeps its best)")
    ap.add_argument("--only", default=",".join(ENGINES),
                    help=f"engines to run, comma-separated from {','.join(ENGINES)}")
    ap.add_argument("--python", default=sys.executable, help="interpreter for ours/floor/scipy")
    ap.add_argument("--peer-python", "--evidently-python", dest="peer_python",
                    default=str(ROOT / ".venv-bench" / "bin" / "python"),
                    help="interpreter with Evidently and NannyML (.venv-bench)")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.paths[0], args.paths[1], args.repeats)))
        return 0

    args.only = {e.strip() for e in args.only.split(",") if e.strip()}
    unknown = args.only - set(ENGINES)
    if unknown:
        ap.error(f"unknown engines {sorted(unknown)}")
    names = list(args.shape or []) + (["100kx25"] if args.quick else [])
    names = names or ["1Mx25"]
    shapes = {}
    for n in names:
        try:
            shapes[n] = parse_shape(n)
        except argparse.ArgumentTypeError as e:
            ap.error(str(e))
    prefix = offline_prefix()
    print("drift speed benchmark; peers "
          + ("offline (unshare --net)" if prefix else "with telemetry off (no unshare here)"))
    out = {name: run_scenario(name, shape, args, prefix) for name, shape in shapes.items()}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "drift_results.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
