"""Trends: a model's whole history read back, against reading its stored results, in one run.

    ./dev bench trends [--batches 5000] [--features 20] [--peer-results 300]

Builds one real early-check result (our engine, --features columns: three in four numerical)
and from it --batches trend points whose values wander, appends them to the trends store on
Azurite one append per batch (as batches land), then times:
  * trends read: a new store instance reads the model's whole history (download and parse);
  * series: the history turned into one series per (signal, feature, metric);
  * dashboard page: the model's page rendered over the whole history;
  * peer, stored results: what a history costs without trends, by reading and parsing each
    batch's full stored drift result (a blob per batch, as the Azure backend keeps them):
    --peer-results of them timed, the cost per result multiplied out to --batches (said so).
Prints medians of 5 reads (and how much of a read is decoding, in memory), the load average
beside them, and the ratio. Target (issue 13,
point 4): thousands of batches read in well under a second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODEL = "bench-trends"


def sample_result(features: int):
    import numpy as np
    import pyarrow as pa

    from core.drift import DriftConfig, build_profile, compare

    rng = np.random.default_rng(3)
    n = 5000
    columns = {}
    for i in range(features):
        if i % 4 == 3:
            columns[f"c{i}"] = pa.array(rng.choice(["a", "b", "c", "d", "e"], n))
        else:
            columns[f"x{i}"] = rng.lognormal(i % 5, 1.0, n)
    reference = pa.table(columns)
    production = pa.table({k: (v if isinstance(v, pa.Array) else v * 1.1)
                           for k, v in columns.items()})
    return compare(build_profile(reference), production,
                   DriftConfig(signals=("data_drift", "data_quality")))


def points_from(result, batches: int):
    import numpy as np

    from core.domain.trends import MetricPoint, TrendPoint
    from core.services.trends import point_from_result

    template = point_from_result(MODEL, "t", "early_check", result, at=0.0)
    rng = np.random.default_rng(5)
    start = time.time() - batches * 3600
    out = []
    for b in range(batches):
        metrics = []
        for m in template.metrics:
            value = None if m.value is None else float(m.value * rng.uniform(0.5, 1.5))
            status = m.status
            if m.threshold is not None and value is not None:
                status = "breach" if value > m.threshold else "ok"
            metrics.append(MetricPoint(m.signal, m.feature, m.metric, value, m.threshold,
                                       status))
        out.append(TrendPoint(model=MODEL, key=f"early_check:ing-{b}", kind="early_check",
                              at=start + b * 3600, metrics=tuple(metrics),
                              data=f"{MODEL}-inference:{b + 1}", ingestion=f"ing-{b}",
                              rows=template.rows))
    return out


def median_seconds(fn, repeat: int = 5) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=5000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--peer-results", type=int, default=300)
    args = parser.parse_args()

    from core.adapters.storage import BlobArtifacts, BlobTrendStore, blob_service
    from core.domain.trends import decode_records, series
    from core.drift import DriftResult
    from core.services.dashboard import ModelPage
    from core.services.dashboard_html import render_model
    from core.settings import load_settings

    settings = load_settings(dict(os.environ))
    service = blob_service(settings.storage_connection, None)
    container = f"bench-trends-{uuid.uuid4().hex[:8]}"

    result = sample_result(args.features)
    points = points_from(result, args.batches)
    metrics = len(points[0].metrics)
    print(f"history: {args.batches:,} batches x {metrics} metrics "
          f"({args.features} features, data drift and data quality) = "
          f"{args.batches * metrics:,} values")

    writer = BlobTrendStore(service, container)
    appends = []
    started = time.perf_counter()
    for p in points:
        t0 = time.perf_counter()
        writer.append(MODEL, [p])
        appends.append(time.perf_counter() - t0)
    written = time.perf_counter() - started
    size = sum(b.size for b in service.get_container_client(container).list_blobs(
        name_starts_with=f"trends/{MODEL}/") if not b.name.endswith("latest.bin"))
    print(f"appended one batch at a time: {written:.1f} s in all, median "
          f"{statistics.median(appends) * 1000:.1f} ms per batch; stored {size / 1e6:.1f} MB "
          f"({size / args.batches / 1024:.1f} KiB per batch)")

    read_s, history = median_seconds(lambda: BlobTrendStore(service, container).read(MODEL))
    assert isinstance(history, list) and len(history) == args.batches
    parts = sorted(b.name for b in service.get_container_client(container).list_blobs(
        name_starts_with=f"trends/{MODEL}/") if not b.name.endswith("latest.bin"))
    bodies = [service.get_blob_client(container, n).download_blob().readall() for n in parts]
    decode_s, _ = median_seconds(lambda: decode_records(MODEL, bodies))
    series_s, _ = median_seconds(lambda: series(history))
    page = ModelPage(MODEL, None, history, [], [], {}, [], 0)
    render_s, html = median_seconds(lambda: render_model(page, now=time.time()), repeat=3)

    artifacts = BlobArtifacts(service, container)
    body = result.to_json().encode()
    n_peer = min(args.peer_results, args.batches)
    for i in range(n_peer):
        artifacts.put_artifact(f"drift-results/{MODEL}/ing-{i}.json", body)

    def read_results() -> int:
        for i in range(n_peer):
            raw = artifacts.get_artifact(f"drift-results/{MODEL}/ing-{i}.json")
            assert raw is not None
            DriftResult.from_json(raw.decode())
        return n_peer

    peer_s, _ = median_seconds(read_results, repeat=3)
    peer_total = peer_s / n_peer * args.batches
    load = os.getloadavg()[0]
    print(f"load average (1 min) {load:.2f} on {os.cpu_count()} cores; medians:")
    print(f"  trends read, whole history        : {read_s * 1000:8.1f} ms ({len(parts)} blobs)")
    print(f"    of which decoding, in memory    : {decode_s * 1000:8.1f} ms")
    print(f"  series per feature and metric     : {series_s * 1000:8.1f} ms")
    print(f"  dashboard page over the history   : {render_s * 1000:8.1f} ms "
          f"({len(str(html)) / 1e6:.1f} MB of HTML)")
    print(f"  peer, stored results one by one   : {peer_s / n_peer * 1000:8.2f} ms per "
          f"result ({len(body) / 1024:.0f} KiB each); x {args.batches:,} = "
          f"{peer_total:.1f} s (multiplied out from {n_peer})")
    print(f"ratio stored results / trends read: {peer_total / read_s:.0f}x; trends read "
          f"{'under' if read_s < 1 else 'OVER'} one second (target: well under)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
