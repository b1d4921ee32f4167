"""Calibration: each drift metric of each feature over chunks of the reference.

A reference holds no drift by construction, so a drift metric computed between a chunk of the
reference and the rest of it shows how far that metric moves by chance alone, for this feature
and this batch size. :func:`calibrate` splits the reference into chunks of the expected batch
size, compares each chunk with the reference rows outside it (the engine's own ``compare``, the
same metrics and histogram bin count a batch of that size gets) and keeps every value, at full
precision, in a :class:`~core.drift.profile.Calibration` stored in the profile.
:mod:`core.drift.policy` reads thresholds from it.

Why leave the chunk out: a production batch is not part of the reference. A chunk compared with
a reference that contains it looks closer than an independent batch would (for the Wasserstein
distance exactly ``1 - chunk/reference`` times closer), which would set thresholds too low.

Few chunks: a mean and a standard deviation from 20 values are too noisy to put a threshold 4
std out (measured: 25 chunks of a skewed feature gave a std a third below the one 60 gave, and
7% false alarms). So with fewer than :data:`MIN_CHUNKS` disjoint chunks of the batch size, the
values come from :data:`MIN_CHUNKS` random, overlapping subsets, each compared with its
complement. Small references: a subset holds at most half the reference; when that is less
than the batch size the policy scales the values up to the batch size and widens the
threshold (``calibrated_widened``; the note says so).
Below :data:`MIN_REFERENCE_ROWS` rows nothing is calibrated (the policy falls back).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.drift import stats
from core.drift.config import DriftConfig, Parity
from core.drift.engine import compare
from core.drift.profile import Calibration, ReferenceProfile, build_profile

#: The distance metrics calibrated (p-values need no calibration: under no drift they are
#: uniform whatever the batch size, so their threshold is already a false-alarm rate).
CALIBRATED_METRICS = (
    "jensen_shannon_distance",
    "normalized_wasserstein_distance",
    "population_stability_index",
)
MIN_CHUNKS = 60
MAX_CHUNKS = 100
#: Each chunk is compared with at most this many other reference rows (sampled).
MAX_REST_ROWS = 200_000
MIN_REFERENCE_ROWS = 20


def calibrate(
    table: pa.Table,
    profile: ReferenceProfile,
    batch_rows: int,
    *,
    parity: Parity = "azure",
    seed: int = 0,
) -> Calibration | None:
    """The calibration of ``profile`` (built from ``table``) for batches of ``batch_rows``
    rows; None when the reference has fewer than :data:`MIN_REFERENCE_ROWS` rows."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    n = table.num_rows
    if n < MIN_REFERENCE_ROWS:
        return None
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    disjoint = n // batch_rows if n - batch_rows >= batch_rows else 0
    if disjoint >= MIN_CHUNKS:
        method, chunk_rows, count = "disjoint", batch_rows, min(disjoint, MAX_CHUNKS)
        perm = rng.permutation(n)
        chunks = [perm[i * chunk_rows:(i + 1) * chunk_rows] for i in range(count)]
    else:
        method, chunk_rows, count = "subsets", min(batch_rows, n // 2), MIN_CHUNKS
        chunks = [rng.choice(n, chunk_rows, replace=False) for _ in range(count)]
        if chunk_rows < batch_rows:
            notes.append(
                f"small reference: its {n} rows hold no two batches of {batch_rows} rows; "
                f"{count} random subsets of {chunk_rows} rows, each against the other "
                f"{n - chunk_rows} rows, scaled to {batch_rows}-row batches and widened")
        else:
            notes.append(
                f"few chunks: the reference's {n} rows hold {disjoint} disjoint chunks of "
                f"{batch_rows} rows; {count} random overlapping subsets used instead, each "
                f"against the other {n - chunk_rows} rows")
    bins = stats.sturges_bins(min(batch_rows, n))
    config = DriftConfig(
        signals=("data_drift",), metrics=CALIBRATED_METRICS, thresholds={},
        feature_overrides=dict(profile.overrides), parity=parity, bins=bins)
    keys: list[tuple[str, str]] = []
    index: dict[tuple[str, str], int] = {}
    columns: list[dict[int, float]] = []
    rest_sizes = []
    for rows in chunks:
        inside = np.zeros(n, dtype=bool)
        inside[rows] = True
        rest = np.flatnonzero(~inside)
        if rest.size > MAX_REST_ROWS:
            rest = np.sort(rng.choice(rest, MAX_REST_ROWS, replace=False))
        rest_sizes.append(rest.size)
        rest_profile = build_profile(table.take(pa.array(rest)),
                                     feature_overrides=dict(profile.overrides) or None)
        result = compare(rest_profile, table.take(pa.array(np.sort(rows))), config)
        values: dict[int, float] = {}
        for _, mv in result.metrics():
            if mv.metric not in CALIBRATED_METRICS or mv.value is None:
                continue
            key = (mv.feature, mv.metric)
            if key not in index:
                index[key] = len(keys)
                keys.append(key)
            values[index[key]] = float(mv.value)
        columns.append(values)
    matrix = np.full((len(keys), count), np.nan, dtype=np.float64)
    for j, values in enumerate(columns):
        for i, v in values.items():
            matrix[i, j] = v
    return Calibration(
        batch_rows=batch_rows, chunk_rows=chunk_rows, rest_rows=int(np.median(rest_sizes)),
        reference_rows=n, bins=bins, method=method, parity=parity, seed=seed, keys=keys,
        values=matrix, notes=notes)


def build_calibrated_profile(
    table: pa.Table,
    batch_rows: int,
    *,
    feature_overrides: dict[str, str] | None = None,
    parity: Parity = "azure",
    seed: int = 0,
) -> ReferenceProfile:
    """:func:`~core.drift.profile.build_profile` plus its calibration for ``batch_rows``."""
    profile = build_profile(table, feature_overrides=feature_overrides)
    profile.calibration = calibrate(table, profile, batch_rows, parity=parity, seed=seed)
    return profile
