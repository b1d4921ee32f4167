"""The product's main job, locally, end to end: `./dev demo`.

A team trains a fraud model with its own code (scikit-learn, saved with
`mlflow.sklearn.save_model` and a signature) and registers it with its training data; the
service describes the model (features and target from the signature) and its drift monitor
appears. Inference inputs and the deployment's predictions arrive as Azure ML's data collector
writes them (model_inputs and model_outputs JSON lines, no labels), each batch an MLTable data
asset version with an early drift check. The ground truth (chargebacks) arrives later, keyed by
the requests' correlation ids: joined to the inputs it becomes versions of the labelled data,
whichever arrives first, and each version gets the champion's realised metrics against its
threshold. Drifted batches and the performance breach raise alerts, exactly one retraining is
queued, and the retraining job (jobs/retrain.yml, run in a subprocess as Azure ML would run it)
refits the champion on the training data plus the newest labelled data and scores both on the
same holdout; the MLflow challenger is registered and the monitor re-aimed.

Everything goes through the registered Functions entry points (blob trigger, Event Grid
triggers, queue trigger, HTTP endpoints) via devtools/invoke.py, on a real Azurite that ./dev
starts for the run, and the local workspace folder under .demo/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
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


def users_training_script(training_csv: Path, model_dir: Path) -> None:
    """What a team's own training script does (none of the service's code): a scikit-learn
    pipeline fitted on a pandas DataFrame, saved as an MLflow model with its signature."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.read_csv(training_csv)
    X, y = frame.drop(columns=["is_fraud"]), frame["is_fraud"]
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"),
                                 ["merchant_category", "country"]), remainder="passthrough"),
        RandomForestClassifier(n_estimators=60, random_state=0),
    ).fit(X, y)
    mlflow.sklearn.save_model(model, str(model_dir), signature=infer_signature(X, y),
                              serialization_format="cloudpickle",
                              pip_requirements=["scikit-learn", "pandas"])


PER_RECORD = 25  # the collector batches requests: rows per record


def collector_file(table, hour: str, collection: str = "model_inputs") -> tuple[str, bytes]:
    """model_inputs (or model_outputs) as Azure ML's data collector writes them: JSON lines,
    each a record whose `data` holds a batch of requests' rows, keyed by a correlation id; no
    labels."""
    # Rounded as the CSV files are (to_csv_bytes), so both layouts carry the same values.
    rows = [{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
            for row in table.to_pylist()]
    lines = []
    for i in range(0, len(rows), PER_RECORD):
        lines.append(json.dumps({
            "specversion": "1.0", "id": f"req-{hour}-{i}",
            "type": f"azureml.inference.{collection}",
            "source": "/subscriptions/s/resourceGroups/rg/providers/"
                      "Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/fraud-ep/"
                      "deployments/blue",
            "datacontenttype": "application/json", "time": f"2026-11-20T{hour}:00:00Z",
            "data": rows[i:i + PER_RECORD], "correlationid": f"corr-{hour}-{i}",
            "collectdatatype": "pandas.core.frame.DataFrame",
        }))
    return (f"fraud-ep/blue/{collection}/2026/11/20/{hour}/instance-0.jsonl",
            ("\n".join(lines) + "\n").encode())


def row_ids(n: int, hour: str) -> list[str]:
    """The ids Azure's model performance monitoring gives the collected rows:
    `<record correlationid>_<row index>`. The team's chargeback feed logs them."""
    return [f"corr-{hour}-{i - i % PER_RECORD}_{i % PER_RECORD}" for i in range(n)]


def deployment_predictions(model_dir: Path, inputs) -> list[int]:
    """What the deployed model answered (its scoring script logs it as model_outputs)."""
    import mlflow.sklearn

    model = mlflow.sklearn.load_model(str(model_dir))
    frame = inputs.to_pandas()
    for c in frame.columns:  # as the collector rounded them
        if frame[c].dtype.kind == "f":
            frame[c] = frame[c].round(4)
    return [int(p) for p in model.predict(frame)]


def chargebacks_csv(ids: list[str], labels: list[int]) -> bytes:
    lines = ["correlationid,is_fraud,reported_by"]
    lines += [f"{i},{v},chargeback-feed" for i, v in zip(ids, labels, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def _autopilot_events() -> list[dict]:
    """The CloudEvents the autopilot publishes, as the local destination logs them."""
    import logging

    from core.adapters.local import autopilot_events

    published: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.args and isinstance(record.args, tuple) and len(record.args) == 2:
                published.append(json.loads(str(record.args[1])))

    logger = logging.getLogger(autopilot_events.__name__)
    logger.handlers = [h for h in logger.handlers if type(h).__name__ != "Collect"]
    logger.addHandler(Collect())
    logger.setLevel(logging.INFO)
    return published


def explain_check(result, say: Callable[[str], None]) -> None:
    """How the early check judged: the policy, and the evidence of each breach (or the
    closest call when there is none)."""
    policy = result.policy or {"name": "azure"}
    how = policy["name"]
    if how == "calibrated" and "chunks" in policy:
        how += (f" on {policy['chunks']} chunks of {policy['chunk_rows']} reference rows "
                f"(k = {policy['k']:g}), scaled to {policy['production_rows']} rows")
    say(f"    thresholds: {how}")
    judged = [(s, m) for s, m in result.metrics() if m.threshold is not None]
    breaches = [(s, m) for s, m in judged if m.breached]
    shown = sorted(breaches, key=lambda sm: -sm[1].severity)[:5] if breaches else \
        sorted(judged, key=lambda sm: -sm[1].severity)[:1]
    for signal, m in shown:
        sign = "<" if m.direction == "below" else ">"
        verdict = (f"{m.status.upper()}: {m.value:.4g} {sign} {m.threshold:.4g}" if m.breached
                   else f"closest call, {m.status}: {m.value:.4g} against {m.threshold:.4g}")
        ratio = f", {m.severity:.1f}x the threshold" if m.breached and m.threshold else ""
        say(f"    {signal} {m.feature} {m.metric}: {verdict} ({m.threshold_source}{ratio})")


def azure_view(profile, table, say: Callable[[str], None]) -> None:
    """The same batch judged by Azure's default thresholds, for contrast."""
    from core.drift import DriftConfig, compare

    result = compare(profile, table, DriftConfig(signals=("data_drift", "data_quality")))
    found = sorted({f"{s} on {m.feature} ({m.metric} {m.value:.4g} > {m.threshold:g})"
                    for s, m in result.breaches()})
    say("    Azure's default thresholds on the same batch: "
        + (f"would breach {len(found)} time(s): {'; '.join(found[:3])}" if found
           else "no breach"))


def run(demo_dir: Path, say: Callable[[str], None] = say) -> dict:
    """The whole loop; returns a summary (the end-to-end test checks it and the workspace)."""
    from core.bootstrap import services
    from devtools.invoke import LocalHost
    from devtools.synthetic import FEATURES, TARGET, to_csv_bytes, transactions

    svc = services()
    host = LocalHost()
    published = _autopilot_events()
    container = svc.settings.inference_container
    ws = svc.local_workspace  # the demo runs on the local backend
    conn = svc.settings.storage_connection.connection_string or ""
    say(f"local workspace {ws.root}; storage: Azurite "
        f"({conn.split('BlobEndpoint=')[-1].split(';')[0]})")

    # 1. Training data and the team's own model.
    reference = transactions(4000, seed=1)
    ref_file = demo_dir / "training.csv"
    ref_file.write_bytes(to_csv_bytes(reference))
    ref = ws.register_file_version(f"{MODEL}-training", "1", ref_file,
                                   tags={"purpose": "training data"})
    say(f"registered training data {ref.asset_id}: {reference.num_rows} synthetic card "
        f"transactions ({', '.join(FEATURES)}; label {TARGET})")
    model_dir = demo_dir / "team-model"
    users_training_script(ref_file, model_dir)
    say(f"the team's training script saved an MLflow model with a signature: {model_dir}")
    v1 = ws.register_model(MODEL, model_dir, tags={"autopilot.schedule": "02:30",
                                                   "autopilot.performance_threshold":
                                                   "f1=0.5,accuracy=0.95"},
                           model_type="mlflow_model", description="the team's random forest")
    say(f"registered model {v1.asset_id} (mlflow_model) -> ModelRegistered delivered to "
        "on_model_registered")
    monitor = _json(host.http("GET", f"/api/models/{MODEL}/monitor"))
    described = monitor["model_description"]
    say(f"  described: MLflow {described['flavor']} {described['estimator']}; features "
        f"{', '.join(described['features'])} ({described['sources']['features']}); target "
        f"{described['target']} ({described['sources']['target']}); {described['task']}")
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
        if record.status == "registered" and record.asset_version:
            line += f" as {record.asset_name}:{record.asset_version} ({record.rows} rows)"
        say(line)
        drift = record.drift or {}
        labels = record.labels or {}
        counts = labels.get("counts") or {}
        if counts:
            say("  join: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                + (f" -> {labels['labelled_data']}" if "labelled_data" in labels else ""))
        performance = record.performance or {}
        if "metrics" in performance:
            say(f"  champion v{performance['model_version']} on {performance['labelled_data']}"
                f" ({performance['rows']} labelled rows): " + ", ".join(
                    f"{k} {v:.3f}" for k, v in performance["metrics"].items() if v is not None)
                + ("; BELOW threshold " + ", ".join(
                    f"{b['metric']} < {b['threshold']}" for b in performance["breaches"])
                   if performance["breached"] else ""))
        if "breached" in drift:
            by_signal: dict[str, set] = {}
            for b in drift["breaches"]:
                by_signal.setdefault(b["signal"], set()).add(b["feature"])
            found = "; ".join(f"{s} on {', '.join(sorted(f))}" for s, f in by_signal.items())
            say(f"  early drift check vs {drift['reference']}: "
                + (f"BREACHED {found}" if drift["breached"] else "no breach"))
            explain_check(svc.drift.load_result(drift["result"]), say)
        return record.to_json()

    def collect(table, hour: str, what: str, *, outputs: bool = False) -> None:
        """A deployment's hour: its model_inputs, and its model_outputs (predictions) when
        the deployment collects them."""
        inputs = table.drop_columns([TARGET]) if TARGET in table.column_names else table
        name, content = collector_file(inputs, hour)
        drop(name, content, f"data collector model_inputs, {what}")
        if outputs:
            import pyarrow as pa

            predicted = pa.table({TARGET: deployment_predictions(model_dir, inputs)})
            name, content = collector_file(predicted, hour, "model_outputs")
            drop(name, content, "  and its model_outputs (the deployment's predictions)")

    clean = transactions(1500, seed=2, with_label=False)
    collect(clean, "10", "no labels, drawn like the training data")
    azure_view(svc.drift.profile(ref), clean, say)
    monitor = _json(host.http("GET", f"/api/models/{MODEL}/monitor"))
    say(f"  monitor {monitor['monitor']} {monitor['status']}: model v{monitor['model_version']}"
        f", reference {monitor['reference_data']}, production {monitor['production_data']}, "
        f"signals {', '.join(monitor['signals'])}, {monitor['schedule']}")

    bad = drop("2026-11-21.csv", b"amount,hour\n12.5,3\n", "a file missing columns")
    say(f"  quarantined, file untouched: {bad['rejection']['message']}")

    drifted_1 = transactions(1500, seed=5, drift="concept")
    collect(drifted_1, "11", "drifted (fraud moved to card-present electronics; amounts x2.3)",
            outputs=True)
    gate = svc.retraining.gate(MODEL)
    latest_alert = svc.retraining.alerts(MODEL)[0]
    say(f"  drift alert -> {latest_alert['status']}: retraining {gate.get('open_request')} "
        f"queued on {svc.settings.retrain_queue}")

    # 3. The ground truth arrives later, keyed by the requests' correlation ids.
    ids = row_ids(drifted_1.num_rows, "11")
    truth = drifted_1.column(TARGET).to_pylist()
    # A real feed: a chargeback for a request never collected, one reported twice.
    feed_ids, feed = [*ids, "corr-09-0_0", ids[3]], [*truth, 1, truth[3]]
    drop("ground_truth/2026-11-27/chargebacks.csv", chargebacks_csv(feed_ids, feed),
         "ground truth of hour 11, a week later")
    latest_alert = svc.retraining.alerts(MODEL)[0]
    say(f"  performance alert -> {latest_alert['status']}: {latest_alert['reason']}")

    drifted_2 = transactions(2500, seed=6, drift="concept")
    ids = row_ids(drifted_2.num_rows, "12")
    labels = "".join(json.dumps({"correlationid": i, TARGET: v}) + "\n" for i, v in
                     zip(ids, drifted_2.column(TARGET).to_pylist(), strict=True)).encode()
    drop("ground_truth/2026-11-27/early-reports.jsonl", labels,
         "ground truth of hour 12, before its inputs (they wait)")
    collect(drifted_2, "12", "drifted, whose labels were waiting")
    latest_alert = svc.retraining.alerts(MODEL)[0]
    say(f"  alert -> {latest_alert['status']}: {latest_alert['reason']}")

    # 4. The scheduled monitor run, done now: Azure's breach event, through Event Grid.
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

    # 5. The queue trigger runs the retraining job and judges.
    started = time.perf_counter()
    results = host.drain(svc.settings.retrain_queue)
    history = svc.retraining.history(MODEL)
    request = history[0]
    say(f"run_retraining: {len(results)} message(s) processed in "
        f"{time.perf_counter() - started:.1f}s; job {request.get('job')} ran "
        f"{Path(svc.settings.retrain_job_file).name} in a subprocess on "
        f"{request.get('reference_data')} + {request.get('labelled_data')}")
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
        files = ", ".join(sorted(p.name for p in Path(new.path).iterdir())[:4])
        say(f"  registered {new.asset_id} ({new.type}: {files}, ...): parent "
            f"v{new.tags['autopilot.parent_version']}, request "
            f"{new.tags['autopilot.request_id']}, training data "
            f"{new.tags['autopilot.reference_data']}")
    say(f"monitor re-aimed: model v{monitor['model_version']}, reference "
        f"{monitor['reference_data']}, production {monitor['production_data']}")

    # 6. What an operator sees.
    alerts = svc.retraining.alerts(MODEL)
    counts: dict[str, int] = {}
    for a in alerts:
        counts[a["status"]] = counts.get(a["status"], 0) + 1
    say(f"alerts: {len(alerts)} ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}); "
        f"retraining requests: {len(history)}")
    performance = _json(host.http("GET", f"/api/models/{MODEL}/performance"))
    say(f"model performance: {performance['count']} labelled versions measured; "
        f"{performance['ground_truth']['waiting']} labels still waiting for their inputs")
    report = host.http("GET", f"/api/models/{MODEL}/drift/report")
    (demo_dir / "drift-report.html").write_bytes(report.get_body())
    say(f"drift report of the latest batch: {demo_dir / 'drift-report.html'}")
    (demo_dir / "dashboard.html").write_bytes(
        host.http("GET", f"/api/dashboard/{MODEL}").get_body())
    say(f"dashboard (GET /api/dashboard/{MODEL}): {demo_dir / 'dashboard.html'}")
    versions = ws.list_data_versions(f"{MODEL}-inference")
    say(f"MLTable versions of {MODEL}-inference: "
        + ", ".join(f"{v.version} ({v.tags['row_count']} rows)" for v in versions))
    kinds: dict[str, int] = {}
    for event in published:
        kinds[event["type"]] = kinds.get(event["type"], 0) + 1
    where = ("published to " + svc.autopilot_events.destination if svc.settings.events.endpoint
             else "written to the log; AUTOPILOT_EVENTS_ENDPOINT publishes them to Event Grid")
    say(f"autopilot events ({where}): "
        + ", ".join(f"{k.removeprefix('Autopilot.')} x{v}" for k, v in kinds.items()))
    return {
        "autopilot_events": published,
        "requests": history,
        "alerts": alerts,
        "monitor": monitor,
        "model_versions": [v.version for v in ws.list_model_versions(MODEL)],
        "inference_versions": [v.version for v in versions],
        "labelled_versions": [v.version for v in ws.list_data_versions(f"{MODEL}-labelled")],
        "performance": performance,
        "monitor_run": run_body,
    }


def main() -> int:
    import logging
    import warnings

    from devtools.invoke import load_local_settings

    logging.basicConfig(level=logging.ERROR)  # the timeline below says what happened
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # its advice on pickles and integers
    warnings.filterwarnings("ignore", module="mlflow")

    demo_dir = ROOT / ".demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo_dir.mkdir()
    os.environ.setdefault("LOCAL_WORKSPACE_DIR", str(demo_dir / "workspace"))
    os.environ.setdefault("AUTOPILOT_BACKEND", "local")
    os.environ.setdefault("INFERENCE_CONTAINER", "inference")
    os.environ.setdefault("LEDGER_TABLE_PREFIX", f"demo{int(time.time())}")
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
