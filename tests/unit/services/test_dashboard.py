"""The dashboard (core/services/dashboard.py and dashboard_html.py): what each page gathers,
that every user-controlled string is escaped (hostile feature, file and reason texts), and that
the pages are self-contained (no script, no external URL, links only to this app's routes)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from core.domain.ingestion import BlobRef, IngestionRecord, Rejection
from core.domain.trends import MetricPoint, TrendPoint
from core.ports import InvalidName, NotFound
from core.services.dashboard import ModelPage, ModelRow
from core.services.dashboard_html import render_model, render_overview
from tests.unit.services.conftest import CLEAN_CSV, DRIFTED_CSV, INFERENCE, MODEL

HOSTILE = '<script>alert("x")</script>'
NOW = 1_800_000_000.0


def self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert "url(" not in page and "@import" not in page
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith("/api/") for h in hrefs), hrefs


def hostile_page() -> ModelPage:
    metrics = (MetricPoint("data_drift", HOSTILE, "jensen_shannon_distance", 0.3, 0.1, "breach"),
               MetricPoint("data_quality", HOSTILE, "null_value_rate", 0.2, 0.0, "breach"))
    points = [TrendPoint(model=MODEL, key=f"early_check:i{i}", kind="early_check",
                         at=NOW - 3600 * (3 - i), metrics=metrics, data=f"{HOSTILE}:1",
                         ingestion=f"i{i}&x=<y>", rows=10) for i in range(3)]
    rejected = IngestionRecord(
        model=MODEL, ingestion_id="q1", blob=BlobRef(INFERENCE, f"{MODEL}/{HOSTILE}.csv"),
        status="rejected", created_at=NOW, updated_at=NOW,
        rejection=Rejection("missing_columns", f"column {HOSTILE} is missing", column=HOSTILE))
    return ModelPage(
        model=MODEL, monitor={"monitor": f"{MODEL}-monitor", "status": HOSTILE,
                              "schedule": HOSTILE, "enabled": True},
        points=points,
        alerts=[{"alert_key": "a1", "received_at": NOW - 100, "status": "requested",
                 "reason": HOSTILE, "code": "drift_breach", "request_id": HOSTILE,
                 "evidence": {"breaches": [{"feature": HOSTILE, "metric": "jsd",
                                            "value": 0.3}]}}],
        retraining=[{"request_id": "r1", "status": "registered", "created_at": NOW - 50,
                     "reason": HOSTILE, "decision": HOSTILE, "code": "challenger_won",
                     "champion_scores": {HOSTILE: 0.5}, "challenger_scores": {"f1": 0.7},
                     "new_version": HOSTILE}],
        gate={"open_request": HOSTILE, "consecutive": 2},
        quarantine=[rejected], quarantined=1, notes=[HOSTILE])


def test_every_user_controlled_string_is_escaped_on_the_model_page():
    page = render_model(hostile_page(), now=NOW, key='k"<&>')
    self_contained(page)
    assert HOSTILE not in page
    assert page.count(HOSTILE.replace("<", "&lt;").replace(">", "&gt;")
                      .replace('"', "&quot;")) >= 10
    # The function key and the ingestion id are URL-quoted inside escaped links.
    assert 'ingestion=i2%26x%3D%3Cy%3E&amp;code=k%22%3C%26%3E"' in page


def test_the_overview_escapes_too_and_links_each_model():
    latest = hostile_page().points[-1]
    rows = [ModelRow(MODEL, {"status": HOSTILE, "schedule": HOSTILE}, latest, 2,
                     {"open_request": HOSTILE}),
            ModelRow("fraud", None, None, 0, {})]
    page = render_overview(rows, now=NOW, key="abc")
    self_contained(page)
    assert HOSTILE not in page
    assert 'href="/api/dashboard/churn?code=abc"' in page
    assert 'href="/api/dashboard/fraud?code=abc"' in page
    assert "no batch recorded yet" in page
    assert 'href="/api/models/churn/drift/report?ingestion=i2%26x%3D%3Cy%3E&amp;code=abc"' \
        in page


def test_the_model_page_has_every_section_in_order():
    page = render_model(hostile_page(), now=NOW)
    order = ["Drift of each feature over batches", "Data quality over batches",
             "Model performance on labelled data", "Alerts: each decision and its reason",
             "Retraining: champion against challenger",
             "Quarantine: files refused, why, and what to do", "<h2>Batches"]
    positions = [page.index(h if h.startswith("<") else f"<h2>{h}") for h in order]
    assert positions == sorted(positions)
    assert "add the columns the reference data has" in page  # what to do about it
    assert page.count("<svg") >= 3  # a drift chart, a quality sparkline, the alert timeline


# --------------------------------------------------------------------------- gathered


@pytest.fixture
def svc(world):
    world.model()
    world.reference()
    return world.services()


def test_the_model_page_gathers_batches_alerts_retraining_and_quarantine(world, svc):
    world.ingest("clean.csv", CLEAN_CSV, svc=svc, advance=60)
    drifted = world.ingest("drifted.csv", DRIFTED_CSV, svc=svc, advance=60).record
    world.ingest("bad.csv", "age;income\n1;2\n", svc=svc, advance=60)
    svc.retraining.request(MODEL, reason="by hand", force=True)

    page = svc.dashboard.model(MODEL)

    assert [p.ingestion for p in page.points][-1] == drifted.ingestion_id
    assert page.quarantined == 1 and page.quarantine[0].rejection.code == "wrong_delimiter"
    assert page.retraining and page.retraining[0]["reason"] == "by hand"
    assert page.monitor is not None and page.monitor["model"] == MODEL
    html = svc.dashboard.model_html(MODEL, key="k")
    self_contained(html)
    assert f"/api/models/{MODEL}/drift/report?ingestion={drifted.ingestion_id}&amp;code=k" \
        in html
    assert "age" in html and "wrong_delimiter" in html


def test_the_overview_lists_every_model_with_its_latest_batch(world, svc):
    world.ingest("drifted.csv", DRIFTED_CSV, svc=svc, advance=60)
    world.model("fraud")

    rows = {r.model: r for r in svc.dashboard.overview()}

    assert set(rows) == {MODEL, "fraud"}
    assert rows[MODEL].latest is not None and rows[MODEL].latest.status == "breach"
    assert rows["fraud"].latest is None
    self_contained(svc.dashboard.overview_html())


def test_an_unknown_model_is_not_found_and_a_bad_name_is_refused(world, svc):
    with pytest.raises(NotFound):
        svc.dashboard.model("nobody")
    assert [k for k in world.state.docs if k[1] == "nobody"] == []  # nothing written
    with pytest.raises(InvalidName):
        svc.dashboard.model("../etc")


def test_a_long_history_is_drawn_per_pixel_column_and_keeps_a_lone_breach():
    from core.domain.trends import Series
    from core.services.dashboard_html import line_chart

    n = 5000
    values = tuple(0.02 + 0.001 * (i % 7) for i in range(n))
    spike = 3217
    values = (*values[:spike], 0.9, *values[spike + 1:])
    codes = "o" * spike + "b" + "o" * (n - spike - 1)
    s = Series("data_drift", "amount", "jensen_shannon_distance",
               tuple(float(i) for i in range(n)), np.array(values), np.full(n, 0.1), codes,
               tuple(str(i) for i in range(n)))
    svg = line_chart(s)
    line = re.search(r'<polyline points="([^"]+)" fill="none" stroke="#4e79a7"', svg).group(1)
    assert len(line.split()) <= 2 * 360  # two points (low, high) per pixel column at most
    assert "0.9 (breach)</title>" in svg  # the spike is marked
    assert svg.count("<circle") == 1
