"""Admin HTTP endpoints through the registered routes, with real HttpRequest objects."""

from __future__ import annotations

import json

from tests.samples import GOOD_CSV, REFERENCE_CSV

MODEL = "churn"


def _json(response):
    return json.loads(response.get_body())


def test_health_reports_storage_and_backend_without_secrets(host):
    response = host.http("GET", "/api/health")
    assert response.status_code == 200
    body = _json(response)
    assert body["status"] == "up"
    assert set(body["dependencies"].values()) == {"up"}
    assert "AccountKey" not in host.http("GET", "/api/health/details").get_body().decode()


def test_list_and_show_ingestions_with_status_and_reason(host, upload, reference):
    reference(MODEL, REFERENCE_CSV)
    host.blob(upload(f"{MODEL}/good.csv", GOOD_CSV.encode()))
    host.blob(upload(f"{MODEL}/bad.csv", b"age;income\n1;2\n"))

    listing = _json(host.http("GET", f"/api/models/{MODEL}/ingestions"))
    assert listing["count"] == 2
    by_status = {i["status"]: i for i in listing["ingestions"]}
    assert by_status["registered"]["data_asset"] == {"name": f"{MODEL}-inference", "version": "1"}
    assert by_status["rejected"]["rejection"]["code"] == "wrong_delimiter"

    rejected = _json(host.http("GET", f"/api/models/{MODEL}/ingestions?status=rejected"))
    assert [i["blob"]["name"] for i in rejected["ingestions"]] == [f"{MODEL}/bad.csv"]
    quarantined = _json(host.http("GET", "/api/ingestions?status=rejected"))
    assert quarantined["count"] == 1

    one = host.http("GET", f"/api/models/{MODEL}/ingestions/{by_status['rejected']['id']}")
    assert one.status_code == 200
    assert _json(one)["quarantine_record"].endswith(".json")


def test_errors_are_json_with_the_right_status(host):
    missing = host.http("GET", f"/api/models/{MODEL}/ingestions/nope")
    assert missing.status_code == 404
    assert _json(missing)["error"]["code"] == "not_found"
    assert "nope" in _json(missing)["error"]["message"]

    bad_status = host.http("GET", f"/api/models/{MODEL}/ingestions?status=weird")
    assert bad_status.status_code == 400
    assert "unknown status" in _json(bad_status)["error"]["message"]

    replay_missing = host.http("POST", f"/api/models/{MODEL}/ingestions/nope/replay")
    assert replay_missing.status_code == 404

    no_route = host.http("GET", "/api/nothing-here")
    assert no_route.status_code == 404

    wrong_method = host.http("DELETE", f"/api/models/{MODEL}/ingestions")
    assert wrong_method.status_code == 404


def test_replay_of_a_registered_ingestion_changes_nothing(host, upload, reference, services):
    reference(MODEL, REFERENCE_CSV)
    host.blob(upload(f"{MODEL}/good.csv", GOOD_CSV.encode()))
    [record] = services.ledger.list(model=MODEL)
    response = host.http("POST", f"/api/models/{MODEL}/ingestions/{record.ingestion_id}/replay")
    assert response.status_code == 200
    assert _json(response)["outcome"] == "duplicate"
    assert len(services.workspace.list_data_versions(f"{MODEL}-inference")) == 1
