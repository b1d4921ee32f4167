"""The product's main job, locally: inference files land in (Azurite) blob storage and go
through the registered blob trigger to become versioned MLTable data assets in the local
workspace; a bad file is quarantined with its reason. Run it with `./dev demo`.

Everything goes through the same entry points the Functions host would call (see
devtools/invoke.py); storage is a real Azurite started by ./dev for the run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "credit-default"
_T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.2f}s] {message}", flush=True)


def main() -> int:
    from devtools.invoke import LocalHost, load_local_settings
    from tests.samples import (
        COLLECTOR_PATH,
        GOOD_CSV,
        GOOD_JSONL,
        REFERENCE_CSV,
    )

    demo_dir = ROOT / ".demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo_dir.mkdir()
    os.environ.setdefault("LOCAL_WORKSPACE_DIR", str(demo_dir / "workspace"))
    os.environ.setdefault("AUTOPILOT_BACKEND", "local")
    os.environ.setdefault("INFERENCE_CONTAINER", "inference")
    os.environ.setdefault("LEDGER_TABLE_PREFIX", f"demo{int(time.time())}")
    load_local_settings()

    from core.bootstrap import services

    svc = services()
    host = LocalHost()
    container = svc.settings.inference_container
    say(f"local workspace at {svc.workspace.root}; storage is Azurite "
        f"({svc.settings.storage_connection.split('BlobEndpoint=')[-1].split(';')[0]})")

    reference_file = demo_dir / "reference.csv"
    reference_file.write_text(REFERENCE_CSV)
    ref = svc.workspace.register_file_version(
        f"{MODEL}-training", "1", reference_file, tags={"purpose": "training data"}
    )
    say(f"registered reference data {ref.asset_id} (200 rows: age, income, city, approved)")

    batches = [
        (f"{MODEL}/batches/2026-11-23.csv", GOOD_CSV.encode(), "a valid CSV batch"),
        (f"{MODEL}/{COLLECTOR_PATH}", GOOD_JSONL, "data collector output (JSON lines)"),
        (f"{MODEL}/batches/2026-11-24.csv",
         b"age,income,city,approved\n31,1200.0,rome,1\n35,lots,oslo,0\n",
         "a CSV with a text value in a numeric column"),
    ]
    for name, content, what in batches:
        svc.blob_store.upload(container, name, content)
        say(f"uploaded {what}: {container}/{name}")
        result = host.blob(f"{container}/{name}")
        say(f"  blob trigger: {result.describe()}")
        if not result.ok:
            raise result.error  # type: ignore[misc]
        record = next(r for r in svc.ledger.list(model=MODEL) if r.blob.name == name)
        if record.drift and "breached" in record.drift:
            d = record.drift
            found = ", ".join(sorted({f"{b['feature']} {b['metric']}={b['value']:.3g}"
                                      for b in d["breaches"]})) or "none"
            say(f"  early drift check vs {d['reference']}: "
                f"{'BREACHED' if d['breached'] else 'no breach'} (breaches: {found})")

    say("delivering the first file again (Event Grid delivers at least once)")
    host.blob(f"{container}/{batches[0][0]}")

    say("data asset versions:")
    for asset in svc.workspace.list_data_versions(f"{MODEL}-inference"):
        say(f"  {asset.asset_id}: {asset.tags['row_count']} rows from {asset.tags['layout']} "
            f"({asset.path})")

    response = host.http("GET", f"/api/models/{MODEL}/ingestions?status=rejected")
    rejected = json.loads(response.get_body())["ingestions"]
    for record in rejected:
        say(f"quarantined {record['blob']['name']}: {record['rejection']['message']}")
        say(f"  record: {record['quarantine_record']}; the file itself is untouched")

    fixed = batches[2][1].replace(b"lots", b"2450.0")
    svc.blob_store.upload(container, batches[2][0], fixed)
    say("the operator fixed the file in place; replaying the quarantined ingestion")
    response = host.http(
        "POST", f"/api/models/{MODEL}/ingestions/{rejected[0]['id']}/replay"
    )
    body = json.loads(response.get_body())
    say(f"  replay: HTTP {response.status_code}, {body['outcome']}: {body['message']}")

    report = host.http("GET", f"/api/models/{MODEL}/drift/report")
    (demo_dir / "drift-report.html").write_bytes(report.get_body())
    say(f"drift report of the latest batch: {demo_dir / 'drift-report.html'}")

    versions = svc.workspace.list_data_versions(f"{MODEL}-inference")
    say(f"done: {len(versions)} versions of {MODEL}-inference, "
        f"{len(rejected)} file quarantined then replayed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
