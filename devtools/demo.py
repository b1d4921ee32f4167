"""The product's main job, locally, end to end: `./dev demo`.

A fraud model is trained and registered with its training data; its drift monitor appears;
inference batches land in (Azurite) blob storage and become MLTable data asset versions with an
early drift check; drifted batches raise alerts, exactly one retraining is queued, a challenger
is trained and judged against the champion, the winner is registered and the monitor re-aimed.

Everything goes through the registered Functions entry points (blob trigger, Event Grid
triggers, queue trigger, HTTP endpoints) via devtools/invoke.py, on a real Azurite that ./dev
starts for the run, and the local workspace folder under .demo/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "fraud-detector"
_T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.2f}s] {message}", flush=True)


def _json(response) -> dict:
    return json.loads(response.get_body())


def run(demo_dir: Path, say: Callable[[str], None] = say) -> dict:
    """The whole loop; returns a summary (the end-to-end test checks it and the workspace)."""
    from core.bootstrap import services
    from core.training.model import TrainingSpec, train
    from devtools.invoke import LocalHost
    from devtools.synthetic import FEATURES, TARGET, to_csv_bytes, transactions

    svc = services()
    host = LocalHost()
    container = svc.settings.inference_container
    ws = svc.local_workspace  # the demo runs on the local backend
    conn = svc.settings.storage_connection.connection_string or ""
    say(f"local workspace {ws.root}; storage: Azurite "
        f"({conn.split('BlobEndpoint=')[-1].split(';')[0]})")

    # 1. Training data and the baseline model.
    reference = transactions(4000, seed=1)
    ref_file = demo_dir / "training.csv"
    ref_file.write_bytes(to_csv_bytes(reference))
    ref = ws.register_file_version(f"{MODEL}-training", "1", ref_file,
                                   tags={"purpose": "training data"})
    say(f"registered training data {ref.asset_id}: {reference.num_rows} synthetic card "
        f"transactions ({', '.join(FEATURES)}; label {TARGET})")
    baseline = train(reference, TrainingSpec(target=TARGET, features=FEATURES, n_estimators=60))
    with tempfile.TemporaryDirectory() as tmp:
        baseline.save(Path(tmp))
        v1 = ws.register_model(MODEL, tmp, tags={"autopilot.schedule": "02:30"},
                               description="baseline random forest")
    say(f"registered model {v1.asset_id} (random forest) -> ModelRegistered delivered to "
        "on_model_registered")
    monitor = _json(host.http("GET", f"/api/models/{MODEL}/monitor"))
    say(f"  monitor {monitor['monitor']}: {monitor['status']} ({monitor['reason']})")

    # 2. Inference batches land in blob storage.
    def drop(name: str, content: bytes, what: str) -> dict:
        svc.blob_store.upload(container, f"{MODEL}/{name}", content)
        result = host.blob(f"{container}/{MODEL}/{name}")
        if result.error is not None:
            raise result.error
        record = next(r for r in svc.ledger.list(model=MODEL)
                      if r.blob.name == f"{MODEL}/{name}")
        line = f"{what}: {container}/{MODEL}/{name} -> {record.status}"
        if record.status == "registered":
            line += f" as {record.asset_name}:{record.asset_version} ({record.rows} rows)"
        say(line)
        drift = record.drift or {}
        if "breached" in drift:
            by_signal: dict[str, set] = {}
            for b in drift["breaches"]:
                by_signal.setdefault(b["signal"], set()).add(b["feature"])
            found = "; ".join(f"{s} on {', '.join(sorted(f))}" for s, f in by_signal.items())
            say(f"  early drift check vs {drift['reference']}: "
                + (f"BREACHED {found}" if drift["breached"] else "no breach"))
        return record.to_json()

    drop("2026-11-20.csv", to_csv_bytes(transactions(1500, seed=2, with_label=False)),
         "clean batch, no labels yet")
    monitor = _json(host.http("GET", f"/api/models/{MODEL}/monitor"))
    say(f"  monitor {monitor['monitor']} {monitor['status']}: model v{monitor['model_version']}"
        f", reference {monitor['reference_data']}, production {monitor['production_data']}, "
        f"signals {', '.join(monitor['signals'])}, {monitor['schedule']}")

    bad = drop("2026-11-21.csv", b"amount,hour\n12.5,3\n", "a file missing columns")
    say(f"  quarantined, file untouched: {bad['rejection']['message']}")

    drop("2026-11-22.csv", to_csv_bytes(transactions(2500, seed=5, drift="concept")),
         "drifted batch 1 with its labels (fraud moved to card-present electronics; "
         "amounts x2.3)")
    gate = svc.retraining.gate(MODEL)
    latest_alert = svc.retraining.alerts(MODEL)[0]
    say(f"  drift alert -> {latest_alert['status']}: retraining {gate.get('open_request')} "
        f"queued on {svc.settings.retrain_queue}")
    drop("2026-11-23.csv", to_csv_bytes(transactions(2500, seed=6, drift="concept")),
         "drifted batch 2 with its labels")
    latest_alert = svc.retraining.alerts(MODEL)[0]
    say(f"  drift alert -> {latest_alert['status']}: {latest_alert['reason']}")

    # 3. The scheduled monitor run, done now: Azure's breach event, through Event Grid.
    run_body = _json(host.http("POST", f"/api/models/{MODEL}/monitor/run"))["run"]
    breached = [name for name, hit in run_body["signals"].items() if hit]
    say(f"monitor run {run_body['run_id']} on {run_body['production']}: "
        f"{'breached ' + ', '.join(breached) if breached else 'no breach'}")
    if breached:
        say("  emitted RunStatusChanged with run tag azureml_modelmonitor_threshold_breached:")
        first = run_body["messages"][breached[0]].replace("\n", " ")
        say(f"    \"{first[:160]}...\"")
        for a in svc.retraining.alerts(MODEL)[:len(breached)]:
            say(f"  on_azureml_run_event, {a['evidence']['signal']}: {a['status']}: "
                f"{a['reason']}")

    # 4. The queue trigger retrains and judges.
    results = host.drain(svc.settings.retrain_queue)
    say(f"run_retraining: {len(results)} message(s) processed")
    history = svc.retraining.history(MODEL)
    request = history[0]
    if "champion_scores" in request:
        def scores(d):
            return ", ".join(f"{k} {v:.3f}" for k, v in d.items() if v is not None)
        say(f"  holdout of {request['holdout_rows']} recent labelled rows; trained on "
            f"{request['training_rows']} rows")
        say(f"  champion   v{request['champion_version']}: {scores(request['champion_scores'])}")
        say(f"  challenger   : {scores(request['challenger_scores'])}")
    say(f"  decision: {request['status'].upper()}: {request['decision']}")
    monitor = _json(host.http("GET", f"/api/models/{MODEL}/monitor"))
    if request["status"] == "registered":
        new = ws.get_model(MODEL, request["new_version"])
        say(f"  registered {new.asset_id}: parent v{new.tags['autopilot.parent_version']}, "
            f"request {new.tags['autopilot.request_id']}, training data "
            f"{new.tags['autopilot.reference_data']}")
    say(f"monitor re-aimed: model v{monitor['model_version']}, reference "
        f"{monitor['reference_data']}, production {monitor['production_data']}")

    # 5. What an operator sees.
    alerts = svc.retraining.alerts(MODEL)
    counts: dict[str, int] = {}
    for a in alerts:
        counts[a["status"]] = counts.get(a["status"], 0) + 1
    say(f"alerts: {len(alerts)} ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}); "
        f"retraining requests: {len(history)}")
    report = host.http("GET", f"/api/models/{MODEL}/drift/report")
    (demo_dir / "drift-report.html").write_bytes(report.get_body())
    say(f"drift report of the latest batch: {demo_dir / 'drift-report.html'}")
    versions = ws.list_data_versions(f"{MODEL}-inference")
    say(f"MLTable versions of {MODEL}-inference: "
        + ", ".join(f"{v.version} ({v.tags['row_count']} rows)" for v in versions))
    return {
        "requests": history,
        "alerts": alerts,
        "monitor": monitor,
        "model_versions": [v.version for v in ws.list_model_versions(MODEL)],
        "inference_versions": [v.version for v in versions],
        "monitor_run": run_body,
    }


def main() -> int:
    import logging

    from devtools.invoke import load_local_settings

    logging.basicConfig(level=logging.ERROR)  # the timeline below says what happened

    demo_dir = ROOT / ".demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo_dir.mkdir()
    os.environ.setdefault("LOCAL_WORKSPACE_DIR", str(demo_dir / "workspace"))
    os.environ.setdefault("AUTOPILOT_BACKEND", "local")
    os.environ.setdefault("INFERENCE_CONTAINER", "inference")
    os.environ.setdefault("LEDGER_TABLE_PREFIX", f"demo{int(time.time())}")
    os.environ.setdefault("LABEL_COLUMNS", "is_fraud")  # ground truth arrives later
    os.environ.setdefault("RETRAIN_QUEUE", "retrain-requests")
    load_local_settings()
    summary = run(demo_dir)
    request = summary["requests"][0]
    say(f"done in {time.perf_counter() - _T0:.1f}s: {len(summary['requests'])} retraining for "
        f"{len(summary['alerts'])} alerts; model versions {summary['model_versions']}; "
        f"decision {request['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
