"""The early drift check on ingestion and the drift admin endpoints, through the registered
functions on Azurite and the local workspace."""

from __future__ import annotations

import json

import numpy as np
import pytest

MODEL = "loans"


def _csv(rows: int, seed: int, income_shift: float = 0.0, cities=("paris", "rome", "oslo")):
    rng = np.random.default_rng(seed)
    lines = ["age,income,city"]
    for _ in range(rows):
        lines.append(
            f"{int(rng.integers(20, 70))},{rng.normal(3000 + income_shift, 400):.4f},"
            f"{cities[int(rng.integers(0, len(cities)))]}"
        )
    return "\n".join(lines) + "\n"


REFERENCE = _csv(2000, seed=1)
_ROWS = [line.split(",") for line in REFERENCE.splitlines()[1:]]
# Production made of the reference rows themselves: no drift by construction (age is an
# integer column with few distinct values, so Azure's rules make it categorical).
CLEAN = "age,income,city\n" + "".join(",".join(r) + "\n" for r in _ROWS)
# The same ages; income shifted by 2500 and a city the reference never saw.
DRIFTED = "age,income,city\n" + "".join(
    f"{age},{float(income) + 2500:.4f},{'berlin' if i % 3 == 0 else city}\n"
    for i, (age, income, city) in enumerate(_ROWS)
)


@pytest.fixture
def model(reference):
    reference(MODEL, REFERENCE)
    return MODEL


def _record(services, name):
    return next(r for r in services.ledger.list(model=MODEL) if r.blob.name.endswith(name))


def test_clean_batch_gets_a_drift_result_without_breach(host, upload, model, services):
    assert host.blob(upload(f"{MODEL}/clean.csv", CLEAN.encode())).ok
    record = _record(services, "clean.csv")
    assert record.status == "registered"
    drift = record.drift
    assert drift["breached"] is False, drift["breaches"]
    assert drift["signals"] == {"data_drift": False, "data_quality": False}
    assert drift["rows_production"] == 2000
    assert drift["reference"] == f"azureml:{MODEL}-training:1"
    assert drift["production"] == f"{MODEL}-inference:{record.asset_version}"


def test_drifted_batch_breaches_on_the_drifted_features(host, upload, model, services):
    assert host.blob(upload(f"{MODEL}/drifted.csv", DRIFTED.encode())).ok
    drift = _record(services, "drifted.csv").drift
    assert drift["breached"] is True
    features = {b["feature"] for b in drift["breaches"] if b["signal"] == "data_drift"}
    assert "income" in features and "city" in features
    assert "age" not in features
    # 'berlin' is not in the reference: out of bounds for data quality.
    assert any(b["metric"] == "out_of_bounds_rate" and b["feature"] == "city"
               for b in drift["breaches"])


def test_latest_drift_report_and_on_demand_check_endpoints(host, upload, model, services):
    host.blob(upload(f"{MODEL}/clean.csv", CLEAN.encode()))
    host.blob(upload(f"{MODEL}/drifted.csv", DRIFTED.encode()))

    latest = host.http("GET", f"/api/models/{MODEL}/drift")
    assert latest.status_code == 200
    body = json.loads(latest.get_body())
    assert body["summary"]["breached"] is True
    assert body["summary"]["ingestion"] == _record(services, "drifted.csv").ingestion_id
    assert body["result"]["rows_production"] == 2000

    report = host.http("GET", f"/api/models/{MODEL}/drift/report")
    assert report.status_code == 200
    assert report.mimetype == "text/html"
    html = report.get_body().decode()
    assert "income" in html and "<svg" in html and "http://" not in html.replace(
        "http://www.w3.org", "")

    clean_id = _record(services, "clean.csv").ingestion_id
    clean_report = host.http("GET", f"/api/models/{MODEL}/drift/report?ingestion={clean_id}")
    assert clean_report.status_code == 200

    # Any two versions: inference v1 (clean) as the baseline for v2 (drifted).
    check = host.http("POST", f"/api/models/{MODEL}/drift/check", body={
        "baseline": {"name": f"{MODEL}-inference", "version": "1"},
        "production": {"version": "2"},
    })
    assert check.status_code == 200, check.get_body()
    summary = json.loads(check.get_body())["summary"]
    assert summary["reference"] == f"azureml:{MODEL}-inference:1"
    assert summary["production"] == f"azureml:{MODEL}-inference:2"
    assert summary["breached"] is True

    same = json.loads(host.http("POST", f"/api/models/{MODEL}/drift/check", body={
        "baseline": {"name": f"{MODEL}-inference", "version": "1"},
        "production": {"version": "1"},
    }).get_body())["summary"]
    assert same["breached"] is False

    as_html = host.http("POST", f"/api/models/{MODEL}/drift/check?format=html", body={})
    assert as_html.status_code == 200 and as_html.mimetype == "text/html"


def test_drift_endpoints_explain_what_is_missing(host, model):
    none_yet = host.http("GET", f"/api/models/{MODEL}/drift")
    assert none_yet.status_code == 404
    assert "no drift result yet" in json.loads(none_yet.get_body())["error"]["message"]
    no_version = host.http("POST", f"/api/models/{MODEL}/drift/check",
                           body={"production": {"version": "9"}})
    assert no_version.status_code == 404
    bad = host.http("POST", f"/api/models/{MODEL}/drift/check", body='["not", "an object"]')
    assert bad.status_code == 400


def test_early_check_can_be_turned_off(host, upload, model, monkeypatch):
    from core.bootstrap import reset_services, services

    monkeypatch.setenv("EARLY_DRIFT_CHECK", "false")
    reset_services()
    assert host.blob(upload(f"{MODEL}/drifted.csv", DRIFTED.encode())).ok
    [record] = services().ledger.list(model=MODEL)
    assert record.status == "registered" and record.drift is None


def test_above_the_row_limit_the_check_samples_deterministically_and_says_so(
    host, upload, model, monkeypatch
):
    from core.bootstrap import reset_services, services

    monkeypatch.setenv("EARLY_DRIFT_ROW_LIMIT", "500")
    reset_services()
    assert host.blob(upload(f"{MODEL}/drifted.csv", DRIFTED.encode())).ok
    [record] = services().ledger.list(model=MODEL)
    assert record.drift["rows_production"] <= 500
    assert any("deterministic sample" in n for n in record.drift["notes"])
    assert record.rows == 2000  # the registered data is whole; only the check is sampled
