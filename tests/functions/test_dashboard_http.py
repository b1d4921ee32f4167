"""The dashboard through the registered routes (every answer checked against the OpenAPI
document by the host fixture), and the pages rendered in headless Chromium and looked at as
pixels: the overview, a model's page and a drift report of a skewed feature."""

from __future__ import annotations

import json

import pytest

from tests.chromium import layout_problems, needs_chromium, png_pixels, screenshot
from tests.samples import GOOD_CSV, REFERENCE_CSV

MODEL = "churn"

DRIFTED_CSV = "age,income,city,approved\n" + "".join(
    f"{80 + i % 15},{9000.0 + i * 40},{['tokyo', 'lima'][i % 2]},{i % 2}\n" for i in range(60))


@pytest.fixture
def batches(host, upload, reference):
    reference(MODEL, REFERENCE_CSV)
    host.blob(upload(f"{MODEL}/good.csv", GOOD_CSV.encode()))
    host.blob(upload(f"{MODEL}/drifted.csv", DRIFTED_CSV.encode()))
    host.blob(upload(f"{MODEL}/bad.csv", b"age;income\n1;2\n"))
    return host


def test_the_overview_and_the_model_page_are_html_behind_the_key(batches, services):
    overview = batches.http("GET", "/api/dashboard?code=the-key")
    assert overview.status_code == 200 and overview.mimetype == "text/html"
    text = overview.get_body().decode()
    assert f'href="/api/dashboard/{MODEL}?code=the-key"' in text

    page = batches.http("GET", f"/api/dashboard/{MODEL}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_body().decode()
    [drifted] = [r for r in services.ledger.list(model=MODEL, status="registered")
                 if r.blob.name.endswith("drifted.csv")]
    link = f"/api/models/{MODEL}/drift/report?ingestion={drifted.ingestion_id}"
    assert link in html and "wrong_delimiter" in html
    report = batches.http("GET", link)  # the link opens that batch's report
    assert report.status_code == 200 and b"Drift report" in report.get_body()


def test_an_unknown_model_is_404_and_a_bad_name_400(host):
    missing = host.http("GET", "/api/dashboard/nobody")
    assert missing.status_code == 404
    assert json.loads(missing.get_body())["error"]["code"] == "not_found"
    assert host.http("GET", "/api/dashboard/bad..name%3Cx%3E").status_code == 400


def test_backfill_records_batches_stored_before_trends(batches, services):
    from core.adapters.storage import BlobTrendStore, blob_service

    # A store that has seen none of the batches, as for a model from before trends were kept.
    empty = BlobTrendStore(blob_service(services.settings.storage_connection, None),
                           "before-" + services.settings.artifacts_container)
    services.trends.store = empty
    response = batches.http("POST", f"/api/models/{MODEL}/trends/backfill")
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body["batches"] == 2 and body["points"] == 2 and body["complete"] is True
    assert len(empty.read(MODEL)) == 2


# --------------------------------------------------------------------------- Chromium


@needs_chromium
def test_the_pages_render_in_headless_chromium(batches, tmp_path):
    overview = batches.http("GET", "/api/dashboard").get_body().decode()
    page = batches.http("GET", f"/api/dashboard/{MODEL}").get_body().decode()
    for name, html in (("overview", overview), ("model", page)):
        shot = screenshot(html, tmp_path, name)
        assert shot.stat().st_size > 20_000
        assert len(set(png_pixels(shot)[::7])) > 50  # not a blank page: many colour values
        for width in (420, 1280):
            assert layout_problems(html, tmp_path, selector=".tile, .card, .card header",
                                   width=width) == [], (name, width)
