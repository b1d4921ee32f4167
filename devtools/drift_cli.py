"""Command line: ``python -m devtools.drift_cli REFERENCE PRODUCTION [options]``.

Compares two CSV or Parquet files (CSV parsed with pyarrow, so floats are read exactly) and
prints a table of features; ``--json`` prints the typed result instead, ``--report FILE``
writes the HTML report. Exit status: 0 no breach, 1 a threshold was breached, 2 usage error.
A reference profile written by ``--save-profile`` can be given as REFERENCE (``.profile``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pyarrow as pa

from core.adapters.table_reader import UnreadableData, read_path
from core.drift import metrics as registry
from core.drift.engine import SIGNALS, DriftConfig, compare
from core.drift.profile import ReferenceProfile, build_profile
from core.drift.result import DriftResult


def read_table(path: str) -> pa.Table:
    """A data file or MLTable folder, read with the product's one reader (the same parsing
    rules as ingestion and the monitors)."""
    try:
        return read_path(Path(path))
    except UnreadableData as exc:
        raise SystemExit(f"error: {path}: {exc}") from None


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        for part in item.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise SystemExit(f"error: {what} must look like NAME=VALUE, got {part!r}")
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _thresholds(values: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """``[signal:]type.metric=value``, e.g. ``numerical.population_stability_index=0.2``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key, value in _pairs(values, "--threshold").items():
        signal, _, rest = key.rpartition(":")
        ftype, _, metric = rest.partition(".")
        if not metric:
            raise SystemExit(f"error: threshold {key!r} must be [signal:]type.metric")
        if not signal:
            signal = "data_quality" if registry.get(metric).kind == "quality" else "data_drift"
        per_signal = out.setdefault(signal, {})
        per_signal.setdefault(ftype, {})[metric] = float(value)
    # Signals given only partially keep Azure's defaults for the other feature type.
    for signal, per_type in out.items():
        for ftype, metric_map in registry.AZURE_DEFAULT_THRESHOLDS[signal].items():
            per_type.setdefault(ftype, dict(metric_map))
    return out


def _progress(stage: str, done: int, total: int) -> None:
    print(f"\r[drift] {stage}: {done}/{total} features", end="", file=sys.stderr, flush=True)
    if done == total:
        print(file=sys.stderr)


def format_table(result: DriftResult) -> str:
    lines = []
    verdict = "BREACHED" if result.breached else "ok"
    lines.append(
        f"drift check: {verdict}  (reference {result.rows_reference} rows, production "
        f"{result.rows_production} rows, parity {result.parity})"
    )
    if result.sampling:
        lines.append(f"sampled {result.sampling.rows_used} of {result.sampling.rows_total} rows")
    for c, why in result.excluded.items():
        lines.append(f"left out: {c}: {why}")
    header = f"{'signal':<17}{'feature':<24}{'type':<12}{'metric':<36}{'value':>12}" \
             f"{'threshold':>11}  status"
    lines.append("")
    lines.append(header)
    lines.append("-" * len(header))
    for s in result.signals:
        feats = sorted(s.features, key=lambda f: (not f.breached, -f.severity, f.name))
        for f in feats:
            if f.skipped:
                lines.append(f"{s.name:<17}{f.name[:23]:<24}{f.feature_type:<12}"
                             f"{'(skipped)':<36}{'':>12}{'':>11}  {f.notes[0] if f.notes else ''}")
            for m in f.metrics:
                v = "n/a" if m.value is None else f"{m.value:.6g}"
                t = "" if m.threshold is None else f"{m.threshold:g}"
                status = "BREACHED" if m.breached else ("ok" if m.threshold is not None else "info")
                lines.append(f"{s.name:<17}{f.name[:23]:<24}{f.feature_type:<12}{m.metric:<36}"
                             f"{v:>12}{t:>11}  {status}")
    departures = result.all_departures()
    if departures:
        lines.append("")
        lines.append("departures from Azure's numbers:")
        for d in departures:
            where = "/".join(x for x in (d.signal, d.feature, d.metric) if x)
            lines.append(f"  {d.code} [{where}]: {d.detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.drift_cli",
        description="Compare a production file with a reference file as Azure ML model "
        "monitoring would, quirks included (see core/drift/README.md).",
    )
    parser.add_argument("reference", help="reference data (.csv, .parquet) or a .profile file")
    parser.add_argument("production", help="production data (.csv or .parquet)")
    parser.add_argument("--json", action="store_true", help="print the typed result as JSON")
    parser.add_argument("--report", metavar="FILE", help="write the HTML report to FILE")
    parser.add_argument("--title", default=None, help="report title")
    parser.add_argument("--save-profile", metavar="FILE", help="write the reference profile")
    parser.add_argument("--override", action="append", default=[], metavar="COL=TYPE",
                        help="feature type override (numerical|categorical); repeatable")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated metrics to compute (default: all)")
    parser.add_argument("--threshold", action="append", default=[],
                        metavar="[SIGNAL:]TYPE.METRIC=VALUE",
                        help="threshold, e.g. numerical.population_stability_index=0.2; "
                        "repeatable; unset signals keep Azure's defaults")
    parser.add_argument("--signals", default=",".join(SIGNALS),
                        help=f"comma-separated signals (default: {','.join(SIGNALS)})")
    parser.add_argument("--prediction-columns", default="",
                        help="comma-separated model output columns (prediction drift)")
    parser.add_argument("--parity", choices=("azure", "corrected"), default=None,
                        help="azure (default): Azure's components, quirks included; corrected: "
                        "the quirks that are defects corrected (README, Parity with Azure)")
    parser.add_argument("--binning", choices=("azure", "corrected"), default=None,
                        help="former name of --parity")
    parser.add_argument("--bins", type=int, default=None, help="override Sturges' bin count")
    parser.add_argument("--max-rows", type=int, default=None,
                        help="sample production deterministically above this many rows")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--azure-float32", action="store_true",
                        help="round values to float32 as Azure stores them")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)

    try:
        # Usage errors before any work: nothing is read when an option is wrong.
        overrides = _pairs(args.override, "--override")
        thresholds = _thresholds(args.threshold)
        started = time.perf_counter()
        if args.reference.endswith(".profile"):
            profile = ReferenceProfile.from_bytes(Path(args.reference).read_bytes())
        else:
            reference = read_table(args.reference)
            if not args.quiet:
                print(f"[drift] profiling {reference.num_rows} reference rows", file=sys.stderr)
            profile = build_profile(reference, feature_overrides=overrides)
        if args.save_profile:
            Path(args.save_profile).write_bytes(profile.to_bytes())
        production = read_table(args.production)
        config = DriftConfig(
            signals=tuple(s for s in args.signals.split(",") if s),
            thresholds=thresholds,
            metrics=tuple(m for m in args.metrics.split(",") if m) if args.metrics else None,
            feature_overrides=overrides,
            prediction_columns=tuple(c for c in args.prediction_columns.split(",") if c),
            parity=args.parity or args.binning or "azure",
            bins=args.bins,
            max_rows=args.max_rows,
            sample_seed=args.seed,
            progress=None if args.quiet else _progress,
        )
        result = compare(profile, production, config)
    except (ValueError, OSError, pa.ArrowException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.azure_float32:
        result = result.azure_float32()
    if not args.quiet:
        print(f"[drift] done in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    if args.report:
        from core.drift.report import render_html

        title = args.title or f"Drift: {Path(args.production).name} vs {Path(args.reference).name}"
        Path(args.report).write_text(render_html(result, title=title), encoding="utf-8")
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(format_table(result))
    return 1 if result.breached else 0


if __name__ == "__main__":
    code = main()
    # Arrow's reader threads can still be joinable when the interpreter finalizes, and then the
    # process aborts with SIGABRT after its work is done (apache/arrow#34314, intermittent). The
    # output is complete and flushed here, so the CLI leaves without finalization.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
