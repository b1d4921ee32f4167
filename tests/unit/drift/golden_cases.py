"""Deterministic comparison cases whose results, as computed before the kernels were made
parallel and merge-free, are stored in ``golden_results.json`` (regenerate only on purpose:
``python tests/unit/drift/golden_cases.py``). The engine must reproduce them to 1e-12."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden_results.json"


def _frame(rng: np.random.Generator, n: int, shift: float, nulls: float) -> pa.Table:
    cats = np.array(["a", "b", "c", "d", "New York, NY", "e"])
    cols: dict[str, pa.Array] = {}
    for i in range(6):
        kind = i % 3
        if kind == 0:
            x = rng.normal(shift * (i % 2), 1.0, n)
        elif kind == 1:
            x = rng.lognormal(shift, 0.8, n)
        else:
            x = np.round(rng.gamma(2.0 + shift, 2.0, n), 1)  # many ties
        mask = rng.random(n) < nulls
        cols[f"num_{i}"] = pa.array(x, mask=mask)
    cols["int_cat"] = pa.array(rng.integers(0, 4, n))
    p = np.linspace(2, 1, len(cats))
    p = np.roll(p / p.sum(), int(shift * 4))
    cols["cat"] = pa.array(rng.choice(cats, n, p=p))
    cols["flag"] = pa.array(rng.random(n) < 0.3 + shift / 4)
    return pa.table(cols)


CASES = {
    # name: (n_ref, n_prod, shift, null rate, parity)
    "equal_sizes": (20_000, 20_000, 0.2, 0.0, "azure"),
    "unequal_sizes": (30_000, 17_001, 0.1, 0.0, "azure"),
    "with_nulls": (25_000, 12_345, 0.3, 0.02, "azure"),
    "with_nulls_corrected": (25_000, 12_345, 0.3, 0.02, "corrected"),
    "no_drift": (40_000, 40_000, 0.0, 0.0, "azure"),
    "small": (500, 333, 0.5, 0.01, "azure"),
}


def run_case(name: str):
    from core.drift import DriftConfig, build_profile, compare

    n_ref, n_prod, shift, nulls, parity = CASES[name]
    seed = sorted(CASES).index(name)
    ref = _frame(np.random.default_rng(seed), n_ref, 0.0, nulls)
    prod = _frame(np.random.default_rng(seed + 100), n_prod, shift, nulls)
    return compare(build_profile(ref), prod, DriftConfig(parity=parity))


def main() -> int:
    sys.path.insert(0, str(HERE.parents[2]))
    out = {name: json.loads(run_case(name).to_json()) for name in CASES}
    GOLDEN.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
