"""The HTML report: self-contained, sorted by severity, and it renders in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from core.drift import DriftConfig, build_profile, compare, render_html
from tests.chromium import layout_problems, needs_chromium, png_pixels

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    n = 2000
    ref = pa.table({
        "age": rng.normal(40, 10, n), "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["Paris", "Lyon", "Nice"], n), "const": np.ones(n),
        "score": rng.uniform(0, 1, n),
    })
    prod = pa.table({
        "age": rng.normal(48, 10, n), "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["Paris", "Lyon", "Nice", "<Brest>"], n), "const": np.ones(n),
        "score": rng.uniform(0.2, 1, n),
    })
    return compare(build_profile(ref), prod, DriftConfig(prediction_columns=("score",)))


def test_html_is_self_contained_and_escaped(result):
    page = render_html(result, title="Model <m> & batch")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Model &lt;m&gt; &amp; batch</title>" in page
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)
    assert "url(" not in page
    assert "&lt;Brest&gt;" in page and "<Brest>" not in page


def test_summary_first_and_features_sorted_by_severity(result):
    page = render_html(result)
    assert page.index("Drift detected") < page.index("Features by severity")
    table = page[page.index("Features by severity"):page.index("<h2>Distributions")]
    order = re.findall(r'<a href="#[a-z_]+-([a-z]+)">', table)
    assert order[0] == "age"  # the largest breach first
    assert order.index("income") > order.index("city")
    assert order[-1] in ("income", "const")


def test_every_drift_feature_has_a_chart_with_metric_and_threshold(result):
    page = render_html(result)
    for card_id in ("data_drift-age", "data_drift-income", "data_drift-city",
                    "data_drift-const", "prediction_drift-score"):
        start = page.index(f'id="{card_id}"')
        end = page.find('<div class="card', start + 1)
        card = page[start:end if end > 0 else None]
        assert "<svg" in card and "<table class=\"metrics\">" in card
    assert page.count("breach if &gt; 0.1") >= 5
    assert "Data quality" in page


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at "
                    "/usr/bin/chromium (apt-get install chromium)")
def test_renders_in_headless_chromium(result, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(result, title="render check"), encoding="utf-8")
    shot = tmp_path / "report.png"
    profile_dir = tempfile.mkdtemp()
    try:
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile_dir}", f"--screenshot={shot}",
             "--window-size=1280,1600", page.as_uri()],
            check=True, capture_output=True, timeout=60,
        )
    finally:
        shutil.rmtree(profile_dir, ignore_errors=True)
    assert shot.exists() and shot.stat().st_size > 20_000
    pixels = png_pixels(shot)
    assert len(set(pixels[::7])) > 50  # not a blank page: many distinct colour values


def test_the_report_ends_with_the_model_performance_on_labelled_data(result):
    assert "Model performance" not in render_html(result)
    assert "Model performance" not in render_html(result, performance={"skipped": "no model"})
    record = {"labelled_data": "m-labelled:<2>", "model_version": "1", "rows": 400,
              "metrics": {"accuracy": 0.81, "f1": 0.3, "auc": None},
              "logged_metrics": {"accuracy": 0.7, "f1": 0.1, "auc": None},
              "thresholds": {"f1": 0.5}, "breached": True,
              "breaches": [{"metric": "f1", "value": 0.3, "threshold": 0.5}]}
    page = render_html(result, performance=record)
    section = page[page.index("Model performance on labelled data"):]
    assert page.index("Data quality") < page.index("Model performance on labelled data")
    assert "below threshold" in section and "m-labelled:&lt;2&gt;" in section
    f1_row = re.search(r"<tr><td>f1</td>(.*?)</tr>", section).group(1)
    assert "font-weight:600" in f1_row and "0.5" in f1_row and "0.1" in f1_row
    calm = render_html(result, performance={**record, "breached": False, "breaches": []})
    assert "within thresholds" in calm


def test_a_skewed_histogram_is_drawn_on_a_log_scale_and_a_plain_one_is_not():
    from core.drift.report import log_scale_for

    rng = np.random.default_rng(4)
    n = 5000
    ref = pa.table({"amount": rng.lognormal(3.7, 1.2, n), "age": rng.normal(40, 10, n)})
    prod = pa.table({"amount": rng.lognormal(4.5, 1.2, n), "age": rng.normal(40, 10, n)})
    res = compare(build_profile(ref), prod, DriftConfig(signals=("data_drift",)))
    page = render_html(res)

    def card(feature):
        start = page.index(f'id="data_drift-{feature}"')
        end = page.find('<div class="card', start + 1)
        return page[start:end if end > 0 else None]

    amount = res.signal("data_drift").feature("amount").distribution
    shares = [c / amount.reference_total for c in amount.reference]
    assert max(shares) > 0.5  # one of Azure's equal-width bins holds most rows
    assert "log scale" in card("amount") and ">0.1%<" in card("amount")
    assert "log scale" not in card("age")
    assert log_scale_for([0.9, 0.05, 0.05], [0.8, 0.1, 0.1])
    assert not log_scale_for([0.9, 0.1, 0.0], [0.95, 0.05, 0.0])  # two bins: nothing hides
    assert not log_scale_for([0.3, 0.4, 0.3], [0.2, 0.5, 0.3])


@needs_chromium
@pytest.mark.parametrize("width", [420, 1280])
def test_no_text_overlaps_in_the_header_tiles_and_card_titles(tmp_path, width):
    long = "customer_lifetime_value_in_local_currency_after_discounts_and_refunds"
    rng = np.random.default_rng(1)
    ref = pa.table({long: rng.lognormal(3, 1, 3000), "city": rng.choice(["a", "b"], 3000)})
    prod = pa.table({long: rng.lognormal(3.5, 1, 3000), "city": rng.choice(["a", "c"], 3000)})
    page = render_html(compare(build_profile(ref), prod),
                       title="Drift report: " + "a-long-model-name-" * 4 + ", latest batch")
    assert layout_problems(page, tmp_path, selector=".tile, .card h3", width=width) == []
