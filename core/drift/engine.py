"""Compare a production batch with a reference profile: Azure ML's numbers, computed fast.

``compare(profile, production, config)`` runs up to three signals:

- ``data_drift``: every common feature except the configured model output columns;
- ``prediction_drift``: the same drift metrics on the model output columns
  (``DriftConfig.prediction_columns``);
- ``data_quality``: null value, data type error and out-of-bounds rates of production.

This module is the driver: it samples the batch above ``config.max_rows``, keeps the common
columns with compatible types and types them from the reference (Azure's steps, azure-facts
section 3), plans each signal's columns, applies each drift signal's row-wise null drop to both
frames (in ``parity="azure"`` over every feature named in both frames, as Azure's ``dropna``
does, also those left out for a type mismatch; in ``"corrected"`` over the compared features
only; all-null columns never), and hands every feature to its kind:
:mod:`core.drift.numerical`, :mod:`core.drift.categorical`, :mod:`core.drift.quality`. Where
Azure crashes or misleads, the behaviour is defined instead (see ``core/drift/README.md``), and
each such case leaves a note and a structured departure (``result.Departure``) in the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from core.drift import types as ftypes
from core.drift.batch import ProductionColumn, SignalRows
from core.drift.categorical import categorical_feature
from core.drift.config import SIGNALS, DriftConfig, signal_columns, signal_kind
from core.drift.numerical import numerical_feature
from core.drift.profile import ReferenceProfile
from core.drift.quality import quality_feature
from core.drift.result import Departure, DriftResult, FeatureResult, Sampling, SignalResult

# `SIGNALS` and `DriftConfig` are re-exported: the CLI imports them from here.
__all__ = ["SIGNALS", "DriftConfig", "compare"]

_T = TypeVar("_T")
_R = TypeVar("_R")


def _workers() -> int:
    """Threads for a comparison's columns: Arrow's CPU thread count (the machine's cores, or
    what ``pyarrow.set_cpu_count`` made it)."""
    count: int = pa.cpu_count()
    return max(1, count)


def _map(pool: ThreadPoolExecutor | None, fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """``fn`` over ``items``, in order; on the pool's threads when there is one. The kernels
    spend their time in numpy and Arrow, which release the GIL, so columns run in parallel."""
    if pool is None:
        return [fn(x) for x in items]
    return list(pool.map(fn, items))


class _Comparison:
    def __init__(self, profile: ReferenceProfile, production: pa.Table, config: DriftConfig):
        self.profile = profile
        self.config = config
        self.notes: list[str] = []
        self.departures: list[Departure] = []
        self.sampling: Sampling | None = None
        if config.max_rows is not None and production.num_rows > config.max_rows:
            rng = np.random.default_rng(config.sample_seed)
            rows = np.sort(rng.choice(production.num_rows, size=config.max_rows, replace=False))
            self.sampling = Sampling(production.num_rows, config.max_rows, config.sample_seed)
            self.notes.append(
                f"production sampled: {config.max_rows} of {production.num_rows} rows "
                f"(deterministic, seed {config.sample_seed})"
            )
            self.departures.append(Departure(
                "production_sampled",
                f"{config.max_rows} of {production.num_rows} rows, seed {config.sample_seed}"))
            production = production.take(pa.array(rows))
        self.production = production
        self.n_prod: int = production.num_rows
        self._prod: dict[str, ProductionColumn] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._done = 0
        self._total = 0

        ref_cols = list(profile.columns)
        prod_cols = production.column_names
        self.missing_columns = tuple(c for c in ref_cols if c not in prod_cols)
        self.extra_columns = tuple(c for c in prod_cols if c not in ref_cols)
        self.excluded: dict[str, str] = {}
        self.mismatched: list[str] = []  # in both frames, left out for their types
        self.common: list[str] = []  # common, compatible, supported columns
        self.feature_types: dict[str, str] = {}
        for c in ref_cols:
            if c in profile.unsupported:
                self.excluded[c] = profile.unsupported[c]
                continue
            if c not in prod_cols:
                self.excluded[c] = "missing in production"
                continue
            ok, why = ftypes.compatible(
                ftypes.parse_arrow_type(profile.schema[c]), production.schema.field(c).type
            )
            if not ok:
                self.excluded[c] = why
                self.mismatched.append(c)
                continue
            ftype = config.feature_overrides.get(c, profile.feature_types[c])
            if ftype == "numerical" and c not in profile.numeric:
                raise ValueError(
                    f"column {c!r} ({profile.schema[c]}) cannot be treated as numerical"
                )
            self.common.append(c)
            self.feature_types[c] = ftype
        for c, why in self.excluded.items():
            self.departures.append(Departure("column_excluded", why, feature=c))
        if config.features is not None:
            unknown = [c for c in config.features if c not in ref_cols]
            if unknown:
                raise ValueError(f"features not in the reference: {unknown}")

    # ---------------------------------------------------------------- helpers
    def _read(self, name: str) -> ProductionColumn:
        col = ProductionColumn.read(
            self.production, name, numeric_reference=name in self.profile.numeric
        )
        col.any_missing  # noqa: B018 (found here, on a worker thread)
        return col

    def prod(self, name: str) -> ProductionColumn:
        if name not in self._prod:
            self._prod[name] = self._read(name)
        return self._prod[name]

    def tick(self, stage: str) -> None:
        self._done += 1
        if self.config.progress is not None:
            self.config.progress(stage, self._done, self._total)

    # ---------------------------------------------------------------- run
    def run(self) -> DriftResult:
        cfg = self.config
        wanted = set(cfg.features) if cfg.features is not None else None
        outputs = set(cfg.prediction_columns)
        unknown_outputs = [c for c in cfg.prediction_columns if c not in self.profile.columns]
        if unknown_outputs:
            raise ValueError(f"prediction columns not in the reference: {unknown_outputs}")
        plans: list[tuple[str, list[str]]] = []
        self.drop_extra: dict[str, list[str]] = {}  # azure parity: the left-out features
        in_production = set(self.production.column_names)
        for signal in cfg.signals:
            if signal == "prediction_drift" and not outputs:
                continue
            if signal_kind(signal) == "quality":
                candidates = [c for c in self.profile.columns
                              if c in in_production and c not in self.profile.unsupported]
            else:
                candidates = self.common
            plans.append((signal, signal_columns(signal, candidates, outputs, wanted)))
            if signal != "data_quality":
                # Azure's dropna covers every feature its selector named (in both frames).
                self.drop_extra[signal] = signal_columns(signal, self.mismatched + [
                    c for c in self.profile.unsupported if c in in_production], outputs, wanted)
        self._total = sum(len(cols) for _, cols in plans)
        wanted_cols = {c for _, cols in plans for c in cols}
        wanted_cols.update(c for extra in self.drop_extra.values() for c in extra
                           if c not in self.profile.unsupported)
        workers = min(_workers(), len(wanted_cols))
        self._pool = ThreadPoolExecutor(workers) if workers > 1 else None
        try:
            # Every production column read (and typed, and its missing rows found) once, in
            # parallel; the signals then share them.
            names = [c for c in self.production.column_names if c in wanted_cols]
            for name, col in zip(names, _map(self._pool, self._read, names), strict=True):
                self._prod[name] = col
            signals = []
            for signal, cols in plans:
                if signal == "data_quality":
                    signals.append(self.quality(cols))
                else:
                    signals.append(self.drift(signal, cols))
        finally:
            if self._pool is not None:
                self._pool.shutdown()
            self._pool = None
        return DriftResult(
            signals=tuple(signals),
            rows_reference=self.profile.n_rows,
            rows_production=self.n_prod,
            parity=cfg.parity,
            sampling=self.sampling,
            missing_columns=self.missing_columns,
            extra_columns=self.extra_columns,
            excluded=self.excluded,
            notes=tuple(self.notes),
            departures=tuple(self.departures),
        )

    # ---------------------------------------------------------------- drift signals
    def _all_missing(self, c: str) -> str | None:
        """Where column ``c`` has every value missing ("reference"/"production"), or None."""
        if self.profile.kept_rows((c,)) == 0:
            return "reference"
        col = self.prod(c)
        if self.n_prod == 0 or (col.any_missing and col.missing.all()):
            return "production"
        return None

    def drift(self, signal: str, columns: list[str]) -> SignalResult:
        profile = self.profile
        notes: list[str] = []
        departures: list[Departure] = []
        features: list[FeatureResult] = []
        selected: list[str] = []
        # All-null columns would drop every row (Azure then fails): leave them out, say why.
        for c in columns:
            ftype = self.feature_types[c]
            where = self._all_missing(c)
            if where is not None:
                detail = (f"all values missing in {where}: left out of the row-wise null "
                          "drop (Azure would drop every row); see data quality")
                features.append(FeatureResult(
                    c, ftype, skipped=True, notes=(detail,),
                    departures=(Departure("all_null_column_skipped", detail),),
                ))
                self.tick(signal)
            else:
                selected.append(c)
        selection = tuple(selected)
        # Azure's dropna also covers the features it left out for their types.
        left_out = self.drop_extra.get(signal, [])
        extra: list[str] = []
        for c in left_out:
            if c in profile.unsupported:
                departures.append(Departure(
                    "row_drop_column_unavailable",
                    f"{c!r} ({profile.unsupported[c]}): rows missing it are not dropped",
                    feature=c))
            elif self._all_missing(c) is None:
                extra.append(c)
        if left_out and self.config.parity == "corrected":
            departures.append(Departure(
                "row_drop_compared_features_only",
                "rows not dropped for missing values in the features left out: "
                + ", ".join(left_out)))
            extra = []
        drop_on = selection + tuple(extra) if selection else ()
        drop: NDArray[np.bool_] | None = None
        for c in drop_on:
            col = self.prod(c)
            if col.any_missing:
                m = col.missing
                drop = m.copy() if drop is None else (drop | m)
        keep = None if drop is None else ~drop
        n_ref = profile.kept_rows(drop_on)
        n_prod = self.n_prod if keep is None else int(keep.sum())
        if drop_on and (n_ref != profile.n_rows or n_prod != self.n_prod):
            also = f" (also {', '.join(extra)}, left out of drift, as Azure does)" if extra else ""
            notes.append(
                f"rows with a missing value in any of the {len(drop_on)} features dropped"
                f"{also}: reference {profile.n_rows - n_ref}, production {self.n_prod - n_prod}"
            )
        if selection and (n_ref == 0 or n_prod == 0):
            detail = "no rows left after dropping rows with missing values"
            for c in selection:
                features.append(FeatureResult(
                    c, self.feature_types[c], skipped=True, notes=(detail,),
                    departures=(Departure("no_rows_after_null_drop", detail),),
                ))
                self.tick(signal)
            selection = drop_on = ()
        rows = SignalRows(drop_on, keep, n_ref, n_prod)
        for c in selection:  # the reference side's shared caches, filled before the threads
            if self.feature_types[c] == "numerical":
                profile.sorted_values(c, drop_on)
                profile.std(c, drop_on)
            else:
                profile.category_counts(c, drop_on)

        def feature(c: str) -> FeatureResult:
            if self.feature_types[c] == "numerical":
                return numerical_feature(self.config, profile, signal, c, self.prod(c), rows)
            return categorical_feature(self.config, profile, signal, c, self.prod(c), rows)

        for result in _map(self._pool, feature, selection):
            features.append(result)
            self.tick(signal)
        order = {c: i for i, c in enumerate(columns)}
        features.sort(key=lambda f: order[f.name])
        return SignalResult(signal, tuple(features), n_ref, n_prod, tuple(notes),
                            tuple(departures))

    # ---------------------------------------------------------------- data quality
    def quality(self, columns: list[str]) -> SignalResult:
        profile = self.profile
        rows = self.n_prod
        features = []
        notes: list[str] = []
        if rows == 0:
            notes.append("production has no rows: rates are undefined")
        def feature(c: str) -> FeatureResult:
            ftype = self.feature_types.get(c, self.config.feature_overrides.get(
                c, profile.feature_types.get(c, "categorical")))
            return quality_feature(self.config, profile, c, ftype, self.prod(c), rows)

        for result in _map(self._pool, feature, columns):
            features.append(result)
            self.tick("data_quality")
        return SignalResult("data_quality", tuple(features), profile.n_rows, rows, tuple(notes))


def compare(
    profile: ReferenceProfile,
    production: pa.Table,
    config: DriftConfig | None = None,
) -> DriftResult:
    """Compare one production batch with a reference profile.

    Cost: one pass over the batch (one sort per numerical feature, one hash count per
    categorical feature); the reference side comes sorted and counted from the profile.
    """
    return _Comparison(profile, production, config or DriftConfig()).run()
