"""A comparison fed record batch by record batch, in memory bounded by a budget.

Ingestion reads a file once, as Arrow record batches; :class:`StreamedComparison` takes each
batch as it goes by (``add``) and gives the comparison's result at the end (``result``):

- while the batches it holds fit ``budget_bytes`` (and ``row_limit`` rows), it keeps them and
  the result is exactly ``compare(profile, whole_file, config)``;
- beyond that it keeps a uniform sample without replacement (bottom-k: the rows with the
  smallest keys of a seeded random stream, the same rows for the same file however it is cut
  into batches), holding at most ``budget_bytes``; drift is computed on the sample and says so
  (``DriftResult.sampling``: method, rows, the KS error bound at 99% confidence, a note per
  numerical feature with its normalized Wasserstein bound), while the data quality counts
  (nulls, type errors, out of bounds) are exact: they add up across batches
  (:class:`core.drift.quality.QualityCounts`).

Memory: the batch being read plus ``budget_bytes`` (twice the sample at most between two
thinnings, which is what the sample size is chosen for), never the file.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from core.drift.batch import ProductionColumn
from core.drift.config import DriftConfig
from core.drift.engine import compare
from core.drift.profile import ReferenceProfile
from core.drift.quality import QualityCounts, quality_counts, quality_result
from core.drift.result import Departure, DriftResult, FeatureResult, Sampling, SignalResult

#: Batches are counted for data quality once this many bytes of them wait (or a quarter of
#: the budget, when smaller).
_COUNT_CHUNK_BYTES = 8 * 1024 * 1024
#: The confidence of the stated error bounds of a sampled comparison.
CONFIDENCE = 0.99


def dkw_bound(rows: int, confidence: float = CONFIDENCE, features: int = 1) -> float:
    """Dvoretzky-Kiefer-Wolfowitz: with probability ``confidence`` the empirical CDF of a
    uniform sample of ``rows`` rows is within this of the population's everywhere, for each of
    ``features`` columns at once (a union bound: ``P(sup |F_n - F| > e) <= 2 exp(-2 n e^2)``
    per column). Sampling without replacement concentrates at least as well (Hoeffding)."""
    return math.sqrt(math.log(2 * max(1, features) / (1 - confidence)) / (2 * rows))


class StreamedComparison:
    """``compare(profile, <all the batches>, config)`` from batches given one at a time."""

    def __init__(self, profile: ReferenceProfile, config: DriftConfig, *, budget_bytes: int,
                 row_limit: int | None = None):
        if budget_bytes < 1:
            raise ValueError("budget_bytes must be at least 1")
        self.profile = profile
        self.config = config
        self.budget_bytes = budget_bytes
        self.row_limit = row_limit
        self.rows_seen = 0
        self._held: list[pa.RecordBatch] = []
        self._held_bytes = 0
        self._keys: list[NDArray[np.float64]] = []  # the sample's keys, one array per batch
        self._rng = np.random.default_rng(config.sample_seed)
        self._sample_rows = 0  # the sample's size once sampling (0: exact so far)
        self._threshold = math.inf  # rows with a key at or above it are not in the sample
        self._pending: list[pa.RecordBatch] = []  # batches not counted yet
        self._pending_bytes = 0
        # Counting a few MB at a time costs less per row than counting every small batch.
        self._count_bytes = max(1, min(_COUNT_CHUNK_BYTES, budget_bytes // 4))
        self._counts: dict[str, QualityCounts] = {}
        self._types: dict[str, pa.DataType] = {}
        self._ranges: dict[str, tuple[float, float]] = {}  # numeric columns: min, max seen

    @property
    def sampled(self) -> bool:
        return self._sample_rows > 0

    @property
    def held_bytes(self) -> int:
        return self._held_bytes

    def add(self, batch: pa.RecordBatch) -> None:
        names = [c for c in batch.schema.names if c in self.profile.schema]
        batch = batch.select(names)
        n = batch.num_rows
        if n == 0:
            return
        # Drawn for every row, sampled or not, so the keys depend on the row's place in the
        # file only (the generator's stream does not depend on how it is cut).
        keys = self._rng.random(n)
        self.rows_seen += n
        if not self.sampled:
            self._held.append(batch)
            self._keys.append(keys)
            self._held_bytes += batch.nbytes
            over_rows = self.row_limit is not None and self.rows_seen > self.row_limit
            if self._held_bytes > self.budget_bytes or over_rows:
                self._start_sampling()
            return
        self._pending.append(batch)
        self._pending_bytes += batch.nbytes
        if self._pending_bytes >= self._count_bytes:
            self._count_pending()
        inside = keys < self._threshold
        if not inside.any():
            return
        self._held.append(batch.filter(pa.array(inside)))
        self._keys.append(keys[inside])
        self._held_bytes += self._held[-1].nbytes
        if sum(len(k) for k in self._keys) > 2 * self._sample_rows:
            self._thin()

    def _start_sampling(self) -> None:
        row_bytes = max(1.0, self._held_bytes / self.rows_seen)
        # Twice the sample and the batches not counted yet fit the budget: the sample grows to
        # twice its size before each thinning.
        rows = max(1, int((self.budget_bytes - self._count_bytes) / (2 * row_bytes)))
        if self.row_limit is not None:
            rows = min(rows, self.row_limit)
        self._sample_rows = rows
        self._pending, self._pending_bytes = list(self._held), self._held_bytes
        self._count_pending()
        self._thin()

    def _thin(self) -> None:
        """Keep the ``_sample_rows`` rows with the smallest keys (in file order)."""
        every = np.concatenate(self._keys)
        if every.size > self._sample_rows:
            self._threshold = float(np.partition(every, self._sample_rows)[self._sample_rows])
        held, keys = [], []
        # Each batch is let go of once filtered (the first thinning, over everything held
        # exactly so far, would otherwise hold the batches, their rows kept and the joined
        # copy at once).
        pending = deque(zip(self._held, self._keys, strict=True))
        self._held, self._keys = [], []
        while pending:
            batch, k = pending.popleft()
            keep = k < self._threshold
            if keep.all():
                held.append(batch)
                keys.append(k)
            elif keep.any():
                held.append(batch.filter(pa.array(keep)))
                keys.append(k[keep])
        if len(held) > 1:  # one batch: the next thinning filters one, not hundreds
            held = pa.Table.from_batches(held).combine_chunks().to_batches()
            keys = [np.concatenate(keys)]
        total = sum(b.nbytes for b in held)
        self._held, self._keys, self._held_bytes = held, keys, total

    def _count_pending(self) -> None:
        """The exact, additive data quality counts of the batches not counted yet."""
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending)
        self._pending, self._pending_bytes = [], 0
        profile, config = self.profile, self.config
        for name in table.column_names:
            if name in profile.unsupported:
                continue
            col = ProductionColumn.read(table, name, numeric_reference=name in profile.numeric)
            ftype = config.feature_overrides.get(name, profile.feature_types.get(
                name, "categorical"))
            counts = quality_counts(config, profile, name, ftype, col)
            self._counts[name] = self._counts[name] + counts if name in self._counts else counts
            self._types.setdefault(name, col.column.type)
            if col.values is not None:
                finite = col.values[~col.missing] if col.any_missing else col.values
                if finite.size:
                    lo, hi = float(finite.min()), float(finite.max())
                    if name in self._ranges:
                        was = self._ranges[name]
                        lo, hi = min(lo, was[0]), max(hi, was[1])
                    self._ranges[name] = (lo, hi)

    def _table(self) -> pa.Table:
        if not self._held:
            raise ValueError("no rows")
        return pa.Table.from_batches(self._held)

    @property
    def drift_rows(self) -> int:
        """The rows drift is computed on: the whole file, or the sample's size."""
        return min(self.rows_seen, self._sample_rows) if self.sampled else self.rows_seen

    def result(self, config: DriftConfig | None = None) -> DriftResult:
        """The comparison; ``config`` (the same signals, parity and overrides) replaces the
        one given at the start, for thresholds that depend on the rows seen."""
        if config is not None:
            self.config = config
        if self.sampled:
            self._count_pending()
            self._thin()
        result = compare(self.profile, self._table(), self.config)
        if not self.sampled:
            return result
        used = result.rows_production
        numerical = sum(f.feature_type == "numerical" and not f.skipped
                        for s in result.signals if s.name != "data_quality" for f in s.features)
        bound = dkw_bound(used, CONFIDENCE, numerical)
        sampling = Sampling(self.rows_seen, used, self.config.sample_seed, "bottom_k",
                            bound, CONFIDENCE)
        note = (f"production sampled for drift: {used} of {self.rows_seen} rows (uniform "
                f"bottom-k sample, seed {self.config.sample_seed}, held within "
                f"{self.budget_bytes} bytes); every KS statistic within {bound:.4f} of the whole "
                f"batch's, all {numerical} at once at {CONFIDENCE:.0%} confidence; data quality "
                "counts are exact")
        departure = Departure("production_sampled",
                              f"{used} of {self.rows_seen} rows, bottom-k, seed "
                              f"{self.config.sample_seed}, KS error <= {bound:.4f}")
        signals = tuple(self._exact_quality(s) if s.name == "data_quality"
                        else self._bounded_drift(s, bound) for s in result.signals)
        return replace(result, signals=signals, sampling=sampling,
                       notes=(*result.notes, note),
                       departures=(*result.departures, departure))

    def _exact_quality(self, signal: SignalResult) -> SignalResult:
        rows = self.rows_seen
        features = tuple(
            quality_result(self.config, self.profile, f.name, f.feature_type,
                           self._counts[f.name], rows, self._types[f.name])
            if f.name in self._counts else f
            for f in signal.features)
        notes = tuple(n for n in signal.notes if "no rows" not in n)
        return replace(signal, features=features, rows_production=rows, notes=notes)

    def _bounded_drift(self, signal: SignalResult, bound: float) -> SignalResult:
        """Each numerical feature's note on its sampled normalized Wasserstein distance:
        ``W1(sample, batch) <= bound * range``, over the reference's floored deviation."""
        features: list[FeatureResult] = []
        for f in signal.features:
            if f.feature_type != "numerical" or f.skipped or f.name not in self._ranges:
                features.append(f)
                continue
            lo, hi = self._ranges[f.name]
            std = self.profile.std(f.name, ())
            w_bound = bound * (hi - lo) / max(std if std is not None else 0.0, 0.001)
            note = (f"sampled: KS statistic within {bound:.4f}, normalized Wasserstein "
                    f"distance within {w_bound:.4g} of the whole batch's "
                    f"({CONFIDENCE:.0%} confidence, every numerical feature at once)")
            features.append(replace(f, notes=(*f.notes, note)))
        return replace(signal, features=tuple(features))

