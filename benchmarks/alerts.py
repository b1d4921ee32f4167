"""Alert quality: how often each drift policy cries wolf on clean batches, and what it catches.

Not a test. Usage (peers live in ``.venv-bench``, created from
``benchmarks/requirements-bench.txt`` by ``benchmarks/bench_env.sh``)::

    benchmarks/run_alerts.sh                 # full run: 4,620 batches; Evidently is ~95% of
                                             # it (~90 CPU-minutes; 1 h 54 min on a busy 2-core box)
    benchmarks/run_alerts.sh --quick         # diabetes + car_loan, sizes 200 and 1000, < 2 min
    benchmarks/run_alerts.sh --datasets car_loan,randhie --clean 100 --drifted 10 --jobs 1
    benchmarks/run_alerts.sh --ours-k 3,2,1 --peers nannyml  # ours at other k too, no Evidently
    benchmarks/run_alerts.sh --ours-rate 0.01 --peers none   # k per dataset from a rate

Data: only tables shipped inside installed packages, nothing downloaded. scikit-learn's bundled
``load_breast_cancer``, ``load_diabetes`` (also ``load_wine``, ``load_iris``, ``load_digits``
on request; wine and iris are too small for a 200-row held-out batch), NannyML's bundled
synthetic car-loan and binary-classification reference sets, and statsmodels' RAND health
insurance experiment (``randhie``). Each has numerical and categorical features; where a
dataset has none, one is made by binning a numerical feature into quintile bands (said in the
output). Rows are split at random, half reference, half held-out; where the held-out part holds
fewer than 5 batches of a size, that size's batches are spread over 10 different splits (each
its own reference), so overlapping samples of one split do not decide a false-alarm rate.

Batches, per dataset and batch size (200, 1000, 5000; sizes above the held-out row count are
skipped): ``--clean`` (default 200) random samples of held-out rows without replacement (no
drift by construction), and ``--drifted`` (default 20) batches per drift kind and magnitude,
each a fresh clean sample with one change to one feature chosen at random per batch:

- shift: a numerical feature + 0.1, 0.25, 0.5, 1.0 x its reference standard deviation;
- mix: one category's share set to 2x, 4x its reference share (categories with reference share
  in [0.02, 0.225], so 4x stays below 0.9), the other rows drawn from the other categories;
- nulls: 2%, 10% of a feature's values (any feature) set to null;
- unit: a numerical feature x1000 (kg to g) or /100 (cm to m);
- broken: a numerical feature constant at its reference median.

Policies, one verdict per batch:

- ``azure``: our engine, ``DriftConfig()`` = Azure's defaults (normalized Wasserstein 0.1,
  categorical Jensen-Shannon 0.1, quality rates 0.0); alert when any signal breaches;
  ``azure:drift`` and ``azure:quality`` are its two signals alone.
- ``evid:ds``: Evidently 0.7 ``Report([DataDriftPreset()])``: dataset drift (share of drifted
  columns >= 0.5); ``evid:any``: at least one column drifted. Columns typed explicitly.
- ``nannyml``: ``UnivariateDriftCalculator`` with its defaults (jensen_shannon for both feature
  types, thresholds mean + 3 std of the method's values on the reference chunks) and
  ``chunk_size`` = the batch size, so the reference is cut into batch-sized chunks for the
  thresholds and each batch is one chunk; alert when any feature's alert flag is set.
- ``ours``: :func:`ours` below: the engine with the calibrated threshold policy
  (``core.drift.policy``), the reference calibrated for the batch size (as NannyML is given
  ``chunk_size``).

Peers run in ``.venv-bench`` with telemetry off and, where the machine allows, in an empty
network namespace (``unshare --net``); ours and azure in the project's ``.venv``. Data goes
through Parquet files under ``benchmarks/out/alerts/``; results to
``benchmarks/out/alerts_results.json``. Printed: false-alarm rate on clean batches per batch size
and overall, detection rate per drift kind, magnitude and batch size, the smallest shift detected
in at least half the batches per batch size, time per batch, and the target line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from offline import offline_prefix  # beside this script

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "alerts"
RESULTS = ROOT / "benchmarks" / "out" / "alerts_results.json"

BATCH_SIZES = (200, 1000, 5000)
DRIFTS: tuple[tuple[str, float], ...] = (
    ("shift", 0.1), ("shift", 0.25), ("shift", 0.5), ("shift", 1.0),
    ("mix", 2.0), ("mix", 4.0),
    ("nulls", 0.02), ("nulls", 0.10),
    ("unit", 1000.0), ("unit", 0.01),
    ("broken", 0.0),
)
DEFAULT_DATASETS = ("breast_cancer", "diabetes", "wine", "iris", "car_loan",
                    "binary_classification", "randhie")
QUICK_DATASETS = ("diabetes", "car_loan")
TARGET_FA = 0.01
DETECTED = 0.5  # "smallest shift detected": detected in at least this share of batches
SPLITS = 10  # reference/held-out splits where the held-out part is under 5 batches



# ============================================================================================
# The pluggable policy (project .venv). Change this one function to plug in a calibrated
# engine; it gets the reference table and one batch table (pyarrow) and returns the verdict,
# and its docstring up to the first colon names it in the output. Per-reference work (a
# profile, a calibration) goes through _cached, so it runs once per reference like the product.

_CACHE: dict[tuple[int, str], tuple[object, object]] = {}


def _cached(reference, key: str, make: Callable):
    """``make(reference)`` once per reference table and key."""
    hit = _CACHE.get((id(reference), key))
    if hit is None or hit[0] is not reference:
        hit = _CACHE[(id(reference), key)] = (reference, make(reference))
    return hit[1]


#: Extra k values ``ours`` is judged at (``--ours-k``), each a column ``ours k=K``: the same
#: comparison re-judged against the thresholds of ``ThresholdPolicy(k=K)``, so the table shows
#: what lower thresholds buy in detections and cost in false alarms.
EXTRA_K: tuple[float, ...] = ()
#: Batch false alarm rates ``ours`` is judged at (``--ours-rate``), each a column ``ours
#: rate=R``: ``ThresholdPolicy(false_alarm_rate=R)``, k per dataset from its judged metrics.
EXTRA_RATES: tuple[float, ...] = ()


def ours(reference, batch) -> dict[str, bool]:
    """ours (calibrated): the engine with the calibrated policy (``ThresholdPolicy()``,
    k = 4): thresholds per feature from leave-out chunks of the reference of the batch's size
    (gamma tail), data quality as a rate clearly above the reference's own (beta-binomial);
    alert on any breached signal."""
    from core.drift import metrics as registry
    from core.drift.calibration import build_calibrated_profile
    from core.drift.policy import ThresholdPolicy, compare_with_policy

    size = batch.num_rows  # the expected batch size, as NannyML gets chunk_size
    profile = _cached(reference, f"calibrated-{size}",
                      lambda ref: build_calibrated_profile(ref, size))
    k = float(os.environ.get("ALERTS_OURS_K") or 4.0)  # the default unless a run asks
    result = compare_with_policy(profile, batch, ThresholdPolicy(k=k))
    out = {"ours": result.breached}
    variants = [(f"ours k={k:g}", ThresholdPolicy(k=k)) for k in EXTRA_K]
    variants += [(f"ours rate={r:g}", ThresholdPolicy(false_alarm_rate=r)) for r in EXTRA_RATES]
    for label, policy in variants:
        config = _cached(reference, f"config-{size}-{label}",
                         lambda _, policy=policy: policy.config(profile, size))
        out[label] = any(
            registry.get(m.metric).breached(
                m.value, config.threshold_for(signal, m.feature, m.feature_type, m.metric)[0])
            for signal, m in result.metrics())
    return out


#: How the output names ``ours``.
OURS_LABEL = ours.__doc__.split(":", 1)[0].strip()


def azure(reference, batch) -> dict[str, bool]:
    """Azure's defaults: ``DriftConfig()``; drift and quality verdicts kept apart."""
    from core.drift import DriftConfig, build_profile, compare

    result = compare(_cached(reference, "profile", build_profile), batch, DriftConfig())
    drift, quality = result.signal("data_drift"), result.signal("data_quality")
    d = bool(drift is not None and drift.breached)
    q = bool(quality is not None and quality.breached)
    return {"azure": d or q, "azure:drift": d, "azure:quality": q}


# ============================================================================================
# Datasets (run in .venv-bench: scikit-learn, nannyml and statsmodels are there)


def _quintile_band(values, prefix: str):
    import pandas as pd

    return pd.qcut(values, 5, labels=[f"{prefix}_q{i + 1}" for i in range(5)]).astype(str)


def load_dataset(name: str):
    """(frame, numerical columns, categorical columns, note). Numerical become float64,
    categorical become strings, so every policy sees the same types."""
    import pandas as pd

    note = ""
    if name in ("breast_cancer", "diabetes", "wine", "iris", "digits"):
        from sklearn import datasets as skd

        frame = getattr(skd, f"load_{name}")(as_frame=True).frame.drop(columns=["target"])
        if name == "diabetes":
            frame["sex"] = frame["sex"].map(lambda v: "a" if v < 0 else "b")
            frame["age"] = _quintile_band(frame["age"], "age")
            note = "sex (2 codes) as a category; age binned into quintile bands (categorical)"
        else:
            col = {"breast_cancer": "mean texture", "wine": "alcohol",
                   "iris": "sepal length (cm)", "digits": "pixel_4_4"}[name]
            if name == "digits":
                frame[col] = pd.cut(frame[col], [-1, 0, 8, 16],
                                    labels=["blank", "light", "dark"]).astype(str)
                note = f"{col} binned into 3 ink levels (categorical)"
            else:
                frame[col] = _quintile_band(frame[col], "band")
                note = f"{col!r} binned into quintile bands (categorical)"
        categorical = [c for c in frame.columns if frame[c].dtype == object]
    elif name in ("car_loan", "binary_classification"):
        import nannyml as nml

        loader = {"car_loan": nml.load_synthetic_car_loan_dataset,
                  "binary_classification": nml.load_synthetic_binary_classification_dataset}
        reference = loader[name]()[0]
        feats = {"car_loan": ["car_value", "salary_range", "debt_to_income_ratio", "loan_length",
                              "repaid_loan_on_prev_car", "size_of_downpayment", "driver_tenure"],
                 "binary_classification": ["distance_from_office", "salary_range",
                                           "gas_price_per_litre", "public_transportation_cost",
                                           "wfh_prev_workday", "workday", "tenure"]}[name]
        frame = reference[feats].copy()
        categorical = [c for c in feats if frame[c].dtype in (object, bool)]
        for c in categorical:
            frame[c] = frame[c].astype(str)
        note = "NannyML's reference period only; model outputs, target, id, timestamp left out"
    elif name == "randhie":
        import statsmodels.api as sm

        d = sm.datasets.randhie.load_pandas().data
        frame = d[["mdvis", "lpi", "fmde", "physlm", "disea"]].copy()
        frame["lncoins"] = d["lncoins"].round(3).astype(str)
        frame["idp"] = d["idp"].astype(str)
        health = ["excellent"] * len(d)
        for col, label in (("hlthg", "good"), ("hlthf", "fair"), ("hlthp", "poor")):
            health = [label if flag == 1 else h for h, flag in zip(health, d[col], strict=True)]
        frame["health"] = health
        categorical = ["lncoins", "idp", "health"]
        note = "health = the hlthg/hlthf/hlthp indicators as one category"
    else:
        raise SystemExit(f"unknown dataset {name!r}")
    numerical = [c for c in frame.columns if c not in categorical]
    for c in numerical:
        frame[c] = frame[c].astype("float64")
    return frame.reset_index(drop=True), numerical, categorical, note


def make_batches(held, ref, numerical, categorical, size, n_clean, n_drifted, rng):
    """The batches of one dataset and size: list of (meta, frame)."""
    import numpy as np

    std = ref[numerical].std(ddof=1)
    median = ref[numerical].median()
    movable = [c for c in numerical if std[c] > 0]
    mixable = []
    for c in categorical:
        for value, share in ref[c].value_counts(normalize=True).items():
            if 0.02 <= share <= 0.225 and (held[c] == value).any():
                mixable.append((c, value, float(share)))
    features = numerical + categorical
    n = len(held)

    def sample(k: int = size):
        return held.iloc[rng.choice(n, k, replace=False)].reset_index(drop=True)

    out = [({"kind": "clean", "magnitude": None, "feature": None}, sample())
           for _ in range(n_clean)]
    for kind, mag in DRIFTS:
        if kind in ("shift", "unit", "broken") and not movable:
            continue
        if kind == "mix" and not mixable:
            continue
        for _ in range(n_drifted):
            meta = {"kind": kind, "magnitude": mag}
            if kind == "mix":
                c, value, share = mixable[rng.integers(len(mixable))]
                is_v = (held[c] == value).to_numpy()
                rows_v, rows_o = np.flatnonzero(is_v), np.flatnonzero(~is_v)
                k_v = round(min(share * mag, 0.9) * size)
                pick_v = rng.choice(rows_v, k_v, replace=k_v > len(rows_v))
                pick_o = rng.choice(rows_o, size - k_v, replace=size - k_v > len(rows_o))
                rows = rng.permutation(np.concatenate([pick_v, pick_o]))
                b = held.iloc[rows].reset_index(drop=True)
                meta.update(feature=c, category=value, share=share)
            else:
                b = sample()
                c = (features if kind == "nulls" else movable)[
                    rng.integers(len(features) if kind == "nulls" else len(movable))]
                if kind == "shift":
                    b[c] = b[c] + mag * std[c]
                elif kind == "unit":
                    b[c] = b[c] * mag
                elif kind == "broken":
                    b[c] = median[c]
                elif kind == "nulls":
                    rows = rng.choice(size, max(1, round(mag * size)), replace=False)
                    col = b[c].astype(object) if c in categorical else b[c].copy()
                    col.iloc[rows] = None if c in categorical else np.nan
                    b[c] = col
                meta["feature"] = c
            out.append((meta, b))
    for _, b in out:
        assert len(b) == size and list(b.columns) == list(held.columns)
    return out


def _shares(total: int, parts: int) -> list[int]:
    """``total`` items over ``parts`` as evenly as possible (the first parts get the extra)."""
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


def worker_prepare(args) -> dict:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {"datasets": {}, "combos": {}}
    for di, name in enumerate(args.datasets):
        frame, numerical, categorical, note = load_dataset(name)
        d = OUT / name
        d.mkdir(exist_ok=True)
        schema = pa.schema([(c, pa.float64() if c in numerical else pa.string())
                            for c in frame.columns])
        half = len(frame) // 2
        splits: dict[int, tuple] = {}

        def split(k: int, frame=frame, d=d, schema=schema, half=half, splits=splits, di=di):
            """Split k of the rows: half reference, half held-out (seeded by dataset and k)."""
            if k not in splits:
                perm = np.random.default_rng([di, k]).permutation(len(frame))
                ref = frame.iloc[perm[:half]].reset_index(drop=True)
                held = frame.iloc[perm[half:]].reset_index(drop=True)
                path = d / f"reference_s{k}.parquet"
                pq.write_table(pa.Table.from_pandas(ref, schema=schema, preserve_index=False),
                               path)
                splits[k] = (ref, held, path)
            return splits[k]

        held_rows = len(frame) - half
        sizes = [s for s in args.sizes if s <= held_rows]
        info = manifest["datasets"][name] = {
            "rows": len(frame), "reference_rows": half, "held_out_rows": held_rows,
            "numerical": numerical, "categorical": categorical, "note": note,
            "sizes": sizes, "skipped_sizes": [s for s in args.sizes if s > held_rows],
            "splits": {}}
        for size in sizes:
            # Clean batches drawn from one small held-out part overlap and share one reference:
            # their verdicts would measure one split, so small data is split SPLITS times.
            n_splits = SPLITS if held_rows < 5 * size else 1
            info["splits"][size] = n_splits
            for k, n_clean, n_drifted in zip(range(n_splits), _shares(args.clean, n_splits),
                                             _shares(args.drifted, n_splits), strict=True):
                ref, held, ref_path = split(k)
                rng = np.random.default_rng([di, k, size])
                batches = make_batches(held, ref, numerical, categorical, size, n_clean,
                                       n_drifted, rng)
                if not batches:
                    continue
                stacked = pd.concat([b for _, b in batches], ignore_index=True)
                path = d / f"batches_{size}_s{k}.parquet"
                pq.write_table(pa.Table.from_pandas(stacked, schema=schema,
                                                    preserve_index=False),
                               path, row_group_size=max(size, 65536))
                manifest["combos"][f"{name}/{size}/s{k}"] = {
                    "dataset": name, "size": size, "split": k, "path": str(path),
                    "reference": str(ref_path), "batches": [m for m, _ in batches]}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return {"combos": len(manifest["combos"])}


# ============================================================================================
# Policy workers


def _manifest() -> dict:
    return json.loads((OUT / "manifest.json").read_text())


def worker_engine(args) -> dict:
    """azure and ours, in the project's .venv."""
    import pyarrow.parquet as pq

    sys.path.insert(0, str(ROOT))
    m = _manifest()
    verdicts: dict[str, dict[str, list[bool]]] = {}
    seconds = {"azure": 0.0, "ours": 0.0}
    policies: dict[str, Callable] = {"azure": azure, "ours": ours}
    refs: dict[str, object] = {}
    for key, combo in m["combos"].items():
        ref = refs.get(combo["reference"])
        if ref is None:
            ref = refs[combo["reference"]] = pq.read_table(combo["reference"])
        table = pq.read_table(combo["path"])
        size = combo["size"]
        for name, policy in policies.items():
            _CACHE.clear()  # each policy fits its own reference, inside its timing
            t = time.perf_counter()
            for i in range(len(combo["batches"])):
                v = policy(ref, table.slice(i * size, size))
                for label, flag in (v.items() if isinstance(v, dict) else [(name, v)]):
                    verdicts.setdefault(label, {}).setdefault(key, []).append(bool(flag))
            seconds[name] += time.perf_counter() - t
    return {"verdicts": verdicts, "seconds": seconds}


def worker_nannyml(args) -> dict:
    import logging
    import warnings

    import nannyml as nml
    import pandas as pd

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    m = _manifest()
    verdicts: dict[str, list[bool]] = {}
    seconds = 0.0
    for key, combo in m["combos"].items():
        info = m["datasets"][combo["dataset"]]
        ref = pd.read_parquet(combo["reference"])
        batches = pd.read_parquet(combo["path"])
        size, count = combo["size"], len(combo["batches"])
        t = time.perf_counter()
        calc = nml.UnivariateDriftCalculator(
            column_names=info["numerical"] + info["categorical"],
            treat_as_categorical=info["categorical"],
            chunk_size=size,
        ).fit(ref)
        df = calc.calculate(batches).filter(period="analysis").to_df()
        seconds += time.perf_counter() - t
        if len(df) != count:
            raise SystemExit(f"{key}: nannyml made {len(df)} chunks for {count} batches")
        alert_cols = [c for c in df.columns if c[-1] == "alert"]
        verdicts[key] = [bool(x) for x in df[alert_cols].fillna(False).astype(bool).any(axis=1)]
    return {"verdicts": {"nannyml": verdicts}, "seconds": {"nannyml": seconds},
            "version": nml.__version__}


def worker_evidently(args) -> dict:
    import importlib.metadata

    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    m = _manifest()
    out: dict[str, dict[str, dict[int, bool]]] = {"evid:ds": {}, "evid:any": {}}
    seconds = 0.0
    g = 0
    for key, combo in m["combos"].items():
        # --evidently-every K: a deterministic subset, every K-th batch (Evidently is ~95% of a
        # full run); the others get no verdict and are left out of Evidently's rates.
        every = max(1, args.evidently_every)
        mine = [i for i in range(len(combo["batches"]))
                if (g + i) % every == 0 and ((g + i) // every) % args.shards == args.shard]
        g += len(combo["batches"])
        if not mine:
            continue
        info = m["datasets"][combo["dataset"]]
        dd = DataDefinition(numerical_columns=info["numerical"],
                            categorical_columns=info["categorical"])
        reference = Dataset.from_pandas(pd.read_parquet(combo["reference"]), data_definition=dd)
        batches = pd.read_parquet(combo["path"])
        size = combo["size"]
        for i in mine:
            t = time.perf_counter()
            current = batches.iloc[i * size:(i + 1) * size].reset_index(drop=True)
            snapshot = Report([DataDriftPreset()]).run(
                Dataset.from_pandas(current, data_definition=dd), reference)
            counted = next(x["value"] for x in snapshot.dict()["metrics"]
                           if x["config"]["type"].endswith("DriftedColumnsCount"))
            seconds += time.perf_counter() - t
            out["evid:ds"].setdefault(key, {})[i] = bool(counted["share"] >= 0.5)
            out["evid:any"].setdefault(key, {})[i] = bool(counted["count"] > 0)
    return {"verdicts": out, "seconds": {"evidently": seconds},
            "version": importlib.metadata.version("evidently")}


WORKERS = {"prepare": worker_prepare, "engine": worker_engine, "nannyml": worker_nannyml,
           "evidently": worker_evidently}


# ============================================================================================
# Driver


def _command(python: str, worker: str, args, prefix: list[str], extra: list[str] = ()) -> list:
    return [*prefix, python, str(Path(__file__).resolve()), "--worker", worker,
            "--datasets", ",".join(args.datasets), "--sizes", ",".join(map(str, args.sizes)),
            "--clean", str(args.clean), "--drifted", str(args.drifted),
            "--evidently-every", str(args.evidently_every), "--ours-k", args.ours_k,
            "--ours-rate", args.ours_rate, *extra]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "NML_DISABLE_USAGE_LOGGING": "1",
            "DO_NOT_TRACK": "1", "ITERATIVE_DO_NOT_TRACK": "1"}


def _start(cmd: list, what: str) -> subprocess.Popen:
    """A worker with its stderr (peers' warnings) in ``benchmarks/out/alerts/WHAT.log``, so
    a chatty worker never blocks on a full pipe while another is being read."""
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{what}.log", "w") as log:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                                env=_env(), cwd=ROOT)


def _finish(p: subprocess.Popen, what: str) -> dict:
    stdout, _ = p.communicate()
    if p.returncode != 0:
        lines = (OUT / f"{what}.log").read_text().strip().splitlines()
        raise SystemExit(f"{what} failed:\n" + "\n".join(lines[-15:]))
    return json.loads(stdout.strip().splitlines()[-1])


def run(python: str, worker: str, args, prefix: list[str]) -> dict:
    return _finish(_start(_command(python, worker, args, prefix), worker), worker)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def report(manifest: dict, verdicts: dict, seconds: dict, versions: dict, wall: dict) -> dict:
    policies = ["azure", "azure:drift", "azure:quality", "evid:ds", "evid:any", "nannyml", "ours"]
    policies += sorted((p for p in verdicts if p.startswith("ours k=")),
                       key=lambda p: -float(p.split("=")[1]))
    policies += sorted((p for p in verdicts if p.startswith("ours rate=")),
                       key=lambda p: float(p.split("=")[1]))
    policies = [p for p in policies if p in verdicts]
    combos = manifest["combos"]
    sizes = sorted({c["size"] for c in combos.values()})

    def rate(policy: str, kind: str, mag, size: int | None, dataset: str | None = None):
        hits = total = 0
        for key, c in combos.items():
            if (size is not None and c["size"] != size) or (dataset and c["dataset"] != dataset):
                continue
            flags = verdicts[policy][key]
            for b, flag in zip(c["batches"], flags, strict=True):
                if flag is None:  # not run by this policy (--evidently-every)
                    continue
                if b["kind"] == kind and (mag is None or b["magnitude"] == mag):
                    hits += flag
                    total += 1
        return (hits / total if total else None), total

    width = max(14, max(len(p) for p in policies) + 2)
    head = f"{'':<34}" + "".join(f"{p + ('*' if p == 'ours' else ''):>{width}}"
                                 for p in policies)
    lines = [head, "-" * len(head)]

    def row(label: str, kind: str, mag, size: int | None) -> None:
        cells, counts = [], {}
        for p in policies:
            r, counts[p] = rate(p, kind, mag, size)
            cells.append(f"{pct(r):>{width}}")
        n = counts.get("ours", 0)
        peer = counts.get("evid:ds")
        sub = f", evid {peer}" if peer is not None and peer != n else ""
        lines.append(f"{label + f' ({n}{sub})':<34}" + "".join(cells))

    for size in sizes:
        row(f"false alarms, n={size}", "clean", None, size)
    row("false alarms, all sizes", "clean", None, None)
    for kind, mag in DRIFTS:
        lines.append("")
        label = {"shift": f"shift +{mag:g} sd", "mix": f"category share x{mag:g}",
                 "nulls": f"nulls {100 * mag:g}%", "unit": f"unit x{mag:g}",
                 "broken": "broken (constant)"}[kind]
        for size in sizes:
            row(f"{label}, n={size}", kind, mag, size)
    lines.append("")
    smallest: dict[str, dict[int, float | None]] = {}
    for size in sizes:
        cells = []
        for p in policies:
            found = None
            for kind, mag in DRIFTS:
                r, _ = rate(p, kind, mag, size)
                if kind == "shift" and r is not None and r >= DETECTED:
                    found = mag
                    break
            smallest.setdefault(p, {})[size] = found
            cells.append(f"{'none' if found is None else f'{found:g} sd':>{width}}")
        lines.append(f"{f'smallest shift >=50% det., n={size}':<34}" + "".join(cells))
    lines.append("")
    cells = []
    for p in policies:
        group = {"azure:drift": "azure", "azure:quality": "azure", "evid:ds": "evidently",
                 "evid:any": "evidently"}.get(p, "ours" if p.startswith("ours ") else p)
        n = sum(len(c["batches"]) for c in combos.values())
        cells.append(f"{1000 * seconds.get(group, float('nan')) / n:>{width - 2}.1f}ms")
    lines.append(f"{'time per batch, fits included':<34}" + "".join(cells))
    lines.append(f"* {OURS_LABEL}")
    print("\n".join(lines))

    # target: false alarms <= 1% while detecting at least what Azure's defaults detect
    print()
    print(f"target: false alarms <= {100 * TARGET_FA:g}% of clean batches while detecting at "
          "least what Azure's defaults detect")
    targets = {}
    for p in policies:
        fa, _ = rate(p, "clean", None, None)
        short = []
        cells = 0
        for kind, mag in DRIFTS:
            for size in sizes:
                mine, n = rate(p, kind, mag, size)
                base, _ = rate("azure", kind, mag, size)
                if mine is None or base is None:
                    continue
                cells += 1
                if mine < base:
                    short.append(f"{kind} {mag:g} n={size}: {pct(mine)} < {pct(base)}")
        ok = fa is not None and fa <= TARGET_FA and not short
        label = OURS_LABEL if p == "ours" else p
        print(f"  {label:<26} {'meets' if ok else 'MISSES'}: false alarms {pct(fa)}"
              f" ({'<=' if fa is not None and fa <= TARGET_FA else '>'} 1%), "
              f"below azure in {len(short)} of {cells} drift cells"
              + (f" (e.g. {short[0]})" if short else ""))
        targets[p] = {"meets": ok, "false_alarms": fa, "cells_below_azure": short}

    # operating points: false alarms against mean detection, per batch size. A policy that
    # detects more than another only by alarming more is not better: compare at equal alarms.
    print()
    print("operating points per batch size: false alarms / mean detection over the drift cells")
    print(f"  {'policy':<26}" + "".join(f"{f'n={size}':>22}" for size in sizes))
    points: dict[str, dict[int, tuple]] = {}
    for p in policies:
        cells = []
        for size in sizes:
            fa, _ = rate(p, "clean", None, size)
            found = [r for kind, mag in DRIFTS
                     if (r := rate(p, kind, mag, size)[0]) is not None]
            det = sum(found) / len(found) if found else None
            points.setdefault(p, {})[size] = (fa, det)
            cells.append(f"{pct(fa) + ' / ' + pct(det):>22}")
        print(f"  {(OURS_LABEL if p == 'ours' else p):<26}" + "".join(cells))

    # detail: false alarms per dataset
    print()
    print("detail: false alarms per dataset (all its batch sizes)")
    names = list(dict.fromkeys(c["dataset"] for c in combos.values()))
    print(f"  {'dataset':<22}{'sizes':>10}" + "".join(f"{p:>{width}}" for p in policies))
    for name in names:
        ds_sizes = manifest["datasets"][name]["sizes"]
        cells = "".join(f"{pct(rate(p, 'clean', None, None, name)[0]):>{width}}"
                        for p in policies)
        print(f"  {name:<22}{','.join(map(str, ds_sizes)):>10}" + cells)
    return {"smallest_shift": smallest, "targets": targets, "operating_points": points}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"{', '.join(QUICK_DATASETS)}; sizes 200, 1000; 20 clean, 2 drifted")
    ap.add_argument("--datasets", default=None, help="comma-separated dataset names")
    ap.add_argument("--sizes", default=None, help="comma-separated batch sizes")
    ap.add_argument("--clean", type=int, default=None, help="clean batches per dataset and size")
    ap.add_argument("--drifted", type=int, default=None, help="batches per drift kind/magnitude")
    ap.add_argument("--jobs", type=int, default=2, help="Evidently processes in parallel")
    ap.add_argument("--evidently-every", type=int, default=1,
                    help="run Evidently on every K-th batch only (deterministic subset)")
    ap.add_argument("--peers", default="nannyml,evidently",
                    help="peers to run: comma-separated nannyml, evidently, or none")
    ap.add_argument("--ours-k", default="",
                    help="comma-separated extra k values to judge ours at (e.g. 3,2,1)")
    ap.add_argument("--ours-rate", default="",
                    help="comma-separated batch false alarm rates to judge ours at (e.g. 0.01)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for ours and azure")
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--shard", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--shards", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.datasets = (args.datasets.split(",") if args.datasets
                     else list(QUICK_DATASETS if args.quick else DEFAULT_DATASETS))
    args.sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
                  else [200, 1000] if args.quick else list(BATCH_SIZES))
    args.clean = args.clean if args.clean is not None else (20 if args.quick else 200)
    args.drifted = args.drifted if args.drifted is not None else (2 if args.quick else 20)

    global EXTRA_K, EXTRA_RATES
    EXTRA_K = tuple(float(k) for k in args.ours_k.split(",") if k)
    EXTRA_RATES = tuple(float(r) for r in args.ours_rate.split(",") if r)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0

    if not Path(args.peer_python).exists():
        ap.error(f"{args.peer_python} not found: run benchmarks/run_alerts.sh")
    prefix = offline_prefix()
    load = os.getloadavg()
    print(f"alert-quality benchmark: datasets {', '.join(args.datasets)}; batch sizes "
          f"{', '.join(map(str, args.sizes))}; {args.clean} clean and {args.drifted} drifted "
          f"batches per kind and magnitude; {os.cpu_count()} cores, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; peers "
          + ("offline (unshare --net)" if prefix else "with telemetry off"), flush=True)
    wall = {}
    t = time.perf_counter()
    run(args.peer_python, "prepare", args, prefix)
    wall["prepare"] = time.perf_counter() - t
    manifest = _manifest()
    for name, info in manifest["datasets"].items():
        skipped = (f"; skipped sizes {info['skipped_sizes']} (held-out has "
                   f"{info['held_out_rows']} rows)" if info["skipped_sizes"] else "")
        many = [f"{size}: {n}" for size, n in info["splits"].items() if n > 1]
        splits = f"; splits per size {', '.join(many)}" if many else ""
        print(f"  {name}: {info['rows']} rows ({info['reference_rows']} reference), "
              f"{len(info['numerical'])} numerical + {len(info['categorical'])} categorical"
              f"{'; ' + info['note'] if info['note'] else ''}{splits}{skipped}")
    if not manifest["combos"]:
        print("no dataset has a held-out part as large as a batch size")
        return 1
    total = sum(len(c["batches"]) for c in manifest["combos"].values())
    print(f"  {total} batches in {len(manifest['combos'])} dataset/size combinations, "
          f"prepared in {wall['prepare']:.0f} s", flush=True)

    verdicts: dict[str, dict[str, list[bool]]] = {}
    seconds: dict[str, float] = {}
    versions: dict[str, str] = {}
    t = time.perf_counter()
    engine = run(args.python, "engine", args, [])
    wall["engine"] = time.perf_counter() - t
    verdicts.update(engine["verdicts"])
    seconds.update(engine["seconds"])
    print(f"  azure + ours: {wall['engine']:.0f} s", flush=True)

    peers = {p for p in args.peers.split(",") if p and p != "none"}
    if "nannyml" in peers:
        run_nannyml(args, prefix, verdicts, seconds, versions, wall)
    if "evidently" in peers:
        run_evidently(args, prefix, manifest, verdicts, seconds, versions, wall)
    skipped = sorted({"nannyml", "evidently"} - peers)
    if skipped:
        print(f"  peers not run this time: {', '.join(skipped)} (--peers)", flush=True)

    print()
    print(f"policies: azure = engine, DriftConfig() (Azure's defaults), alert on any signal; "
          f"azure:drift / azure:quality = its signals alone; evid:ds = Evidently dataset drift "
          f"(share >= 0.5), evid:any = any column drifted; nannyml = any alert flag "
          f"(jensen_shannon, mean + 3 std of batch-sized reference chunks); "
          f"ours = {OURS_LABEL}.")
    print("cells: share of batches alerted (number of batches in brackets"
          + (f"; Evidently ran on every {args.evidently_every}th batch: its count after "
             "'evid'" if args.evidently_every > 1 else "") + ")")
    print()
    summary = report(manifest, verdicts, seconds, versions, wall)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "args": {k: v for k, v in vars(args).items() if k not in ("worker",)},
        "load_average": load, "wall_s": wall, "policy_seconds": seconds, "versions": versions,
        "datasets": manifest["datasets"], "summary": summary,
        "verdicts": verdicts,
        "batches": {k: c["batches"] for k, c in manifest["combos"].items()}}, indent=1))
    print(f"\nresults: {RESULTS.relative_to(ROOT)}")
    return 0


def run_nannyml(args, prefix, verdicts, seconds, versions, wall) -> None:
    t = time.perf_counter()
    nml = run(args.peer_python, "nannyml", args, prefix)
    wall["nannyml"] = time.perf_counter() - t
    verdicts.update(nml["verdicts"])
    seconds.update(nml["seconds"])
    versions["nannyml"] = nml["version"]
    print(f"  nannyml {nml['version']}: {wall['nannyml']:.0f} s", flush=True)


def run_evidently(args, prefix, manifest, verdicts, seconds, versions, wall) -> None:
    t = time.perf_counter()
    jobs = max(1, args.jobs)
    procs = [_start(_command(args.peer_python, "evidently", args, prefix,
                             ["--shard", str(i), "--shards", str(jobs)]), f"evidently_{i}")
             for i in range(jobs)]
    shards = [_finish(p, f"evidently_{i}") for i, p in enumerate(procs)]
    wall["evidently"] = time.perf_counter() - t
    seconds["evidently"] = sum(s["seconds"]["evidently"] for s in shards)
    versions["evidently"] = shards[0]["version"]
    for label in ("evid:ds", "evid:any"):
        verdicts[label] = {}
        for key, combo in manifest["combos"].items():
            merged: dict[int, bool] = {}
            for s in shards:
                merged.update({int(i): v for i, v in s["verdicts"][label].get(key, {}).items()})
            verdicts[label][key] = [merged.get(i) for i in range(len(combo["batches"]))]
    print(f"  evidently {versions['evidently']}: {wall['evidently']:.0f} s on {jobs} "
          f"process(es)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
