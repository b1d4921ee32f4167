"""``python -m devtools.drift_cli`` through a real subprocess."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "devtools.drift_cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    ref = pa.table({"x": rng.normal(0, 1, 3000), "n": rng.integers(0, 5, 3000),
                    "c": rng.choice(["a", "b"], 3000)})
    prod = pa.table({"x": rng.normal(0.5, 1, 2000), "n": rng.integers(0, 5, 2000),
                     "c": rng.choice(["a", "b"], 2000)})
    pacsv.write_csv(ref, d / "ref.csv")
    pq.write_table(prod, d / "prod.parquet")
    return d


def test_table_output_and_exit_code(files):
    p = run(str(files / "ref.csv"), str(files / "prod.parquet"))
    assert p.returncode == 1, p.stderr  # x drifted
    assert "drift check: BREACHED" in p.stdout
    assert "normalized_wasserstein_distance" in p.stdout
    assert "[drift] data_drift" in p.stderr  # progress on stderr


def test_json_report_thresholds_overrides(files):
    report = files / "r.html"
    p = run(str(files / "ref.csv"), str(files / "prod.parquet"), "--json", "--quiet",
            "--report", str(report), "--override", "n=numerical",
            "--metrics", "jensen_shannon_distance,population_stability_index",
            "--threshold", "numerical.population_stability_index=5",
            "--threshold", "categorical.jensen_shannon_distance=0.5",
            "--signals", "data_drift")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    feats = {f["name"]: f for f in doc["signals"][0]["features"]}
    assert feats["n"]["feature_type"] == "numerical"
    assert [m["metric"] for m in feats["x"]["metrics"]] == [
        "jensen_shannon_distance", "population_stability_index"]
    assert report.read_text().startswith("<!DOCTYPE html>")
    assert p.stderr == ""


def test_saved_profile_gives_the_same_result(files):
    prof = files / "ref.profile"
    a = run(str(files / "ref.csv"), str(files / "prod.parquet"), "--json", "--quiet",
            "--save-profile", str(prof))
    b = run(str(prof), str(files / "prod.parquet"), "--json", "--quiet")
    assert json.loads(a.stdout) == json.loads(b.stdout)


def test_usage_errors(files):
    p = run(str(files / "ref.csv"), str(files / "prod.parquet"), "--threshold",
            "numerical.nope=1")
    assert p.returncode == 2 and "unknown metric" in p.stderr


def test_every_reader_means_the_same_by_an_empty_field_and_by_na(tmp_path):
    """The CLI, ingestion's validation and the MLTable reader share one set of CSV rules:
    an empty field is a null (not a category ""), NA/null/NaN in a text column are text."""
    import io

    from core.adapters.table_reader import read_mltable
    from core.domain.validation import ReferenceSchema, validate_csv
    from devtools.drift_cli import read_table

    content = b'x,city\n1.5,paris\n2.5,\n,NA\n3.5,null\n4.5,NaN\nNaN,""\n'
    path = tmp_path / "batch.csv"
    path.write_bytes(content)
    cli = read_table(str(path))
    batches = []
    result = validate_csv(io.BytesIO(content), ReferenceSchema({"x": "double", "city": "string"}),
                          reopen=lambda: io.BytesIO(content), on_batch=batches.append)
    assert result.ok, result.rejection
    (tmp_path / "MLTable").write_text(result.mltable(("./batch.csv",)).to_yaml())
    validated = pa.Table.from_batches(batches)
    for table in (cli, validated, read_mltable(tmp_path)):
        assert table.column("city").to_pylist() == ["paris", None, "NA", "null", "NaN", None]
        x = table.column("x").to_pylist()
        assert x[:3] == [1.5, 2.5, None] and math.isnan(x[5])
