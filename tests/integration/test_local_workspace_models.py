"""The local workspace's models and monitor schedules, stored as the YAML the Azure CLI accepts.

The adapter never imports `azure.ai.ml`; these tests load what it wrote with the SDK's own
loaders (`load_model`, and `load_schedule`, which 1.35.2 does not export from `azure.ai.ml`).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from core.adapters.local.schedule_yaml import monitor_spec_to_yaml
from core.adapters.local.workspace import MODEL_SCHEMA_URL, LocalWorkspace
from core.domain.monitoring import AssetRef, MonitorSpec, MonitorTrigger
from core.ports import Conflict, Models, Monitors, NotFound


@pytest.fixture
def ws(tmp_path) -> LocalWorkspace:
    return LocalWorkspace(tmp_path / "ws")


@pytest.fixture
def model_folder(tmp_path) -> Path:
    folder = tmp_path / "model-src"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.pkl").write_bytes(b"\x80weights")
    (folder / "sub" / "conda.yml").write_text("name: env\n")
    return folder


def _spec(**overrides) -> MonitorSpec:
    spec = MonitorSpec(
        name="churn-monitor",
        model_name="churn",
        model_version="2",
        reference_data=AssetRef("churn-training", "1"),
        production_data=AssetRef("churn-inference", "7"),
    )
    return replace(spec, **overrides)


def test_implements_the_ports(ws):
    models: Models = ws
    monitors: Monitors = ws
    assert models.list_models() == [] and monitors.list_monitors() == []


# -- models ---------------------------------------------------------------------------------


def test_register_folder_round_trip(ws, model_folder):
    registered = ws.register_model(
        "churn",
        model_folder,
        tags={"reference_data": "churn-training:1", "n": 3},
        properties={"auc": 0.9},
        description="first",
    )
    assert registered.name == "churn" and registered.version == "1"
    assert registered.tags == {"reference_data": "churn-training:1", "n": "3"}
    assert registered.properties == {"auc": "0.9"}
    assert registered.description == "first"
    assert registered.type == "custom_model"
    assert registered.asset_id == "azureml:churn:1"
    folder = Path(registered.path)
    assert folder == ws.root / "models" / "churn" / "1"
    assert (folder / "model.pkl").read_bytes() == b"\x80weights"
    assert (folder / "sub" / "conda.yml").read_text() == "name: env\n"
    assert ws.get_model("churn", "1") == registered

    doc = yaml.safe_load((ws.root / "models" / "churn" / "1.yml").read_text())
    assert doc["$schema"] == MODEL_SCHEMA_URL
    assert doc["path"] == "./1" and doc["type"] == "custom_model" and doc["version"] == "1"


def test_register_single_file(ws, model_folder):
    registered = ws.register_model("m", model_folder / "model.pkl")
    assert sorted(p.name for p in Path(registered.path).iterdir()) == ["model.pkl"]


def test_versions_increment_and_latest_is_highest(ws, model_folder):
    assert ws.latest_model("churn") is None
    assert ws.list_model_versions("churn") == []
    for _ in range(3):
        ws.register_model("churn", model_folder)
    ws.register_model("churn", model_folder, version="10")
    ws.register_model("churn", model_folder, version="9")
    assert [m.version for m in ws.list_model_versions("churn")] == ["1", "2", "3", "9", "10"]
    assert ws.latest_model("churn").version == "10"
    assert ws.register_model("churn", model_folder).version == "11"
    ws.register_model("other", model_folder)
    assert ws.list_models() == ["churn", "other"]


def test_explicit_version_is_idempotent(ws, model_folder):
    first = ws.register_model("m", model_folder, tags={"a": "1"}, version="3")
    again = ws.register_model("m", model_folder, tags={"a": "1"}, version=3)
    assert again == first
    assert [m.version for m in ws.list_model_versions("m")] == ["3"]
    with pytest.raises(Conflict):
        ws.register_model("m", model_folder, tags={"a": "2"}, version="3")
    assert ws.get_model("m", "3").tags == {"a": "1"}


def test_concurrent_registrations_get_distinct_versions(ws, model_folder):
    results, errors = [], []

    def register():
        try:
            results.append(ws.register_model("m", model_folder).version)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results, key=int) == [str(i) for i in range(1, 9)]
    for version in results:
        assert (Path(ws.get_model("m", version).path) / "model.pkl").exists()


def test_missing_model_and_bad_names(ws, model_folder, tmp_path):
    with pytest.raises(NotFound):
        ws.get_model("nope", "1")
    with pytest.raises(NotFound):
        ws.register_model("m", tmp_path / "does-not-exist")
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            ws.register_model(bad, model_folder)


def test_model_yaml_loads_with_the_sdk(ws, model_folder):
    from azure.ai.ml import load_model

    registered = ws.register_model(
        "churn", model_folder, tags={"team": "growth"}, properties={"auc": "0.9"}, description="d"
    )
    model = load_model(ws.root / "models" / "churn" / f"{registered.version}.yml")
    assert model.name == "churn" and str(model.version) == registered.version
    assert model.type == "custom_model"
    assert model.tags == {"team": "growth"} and model.properties == {"auc": "0.9"}
    assert model.description == "d"
    assert Path(model.path).resolve() == Path(registered.path)


def test_adapter_does_not_import_azure_ai_ml():
    import subprocess

    code = (
        "import sys, core.adapters.local.workspace; "
        "sys.exit(1 if 'azure.ai.ml' in sys.modules else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


# -- monitor schedules ----------------------------------------------------------------------


def test_monitor_round_trip_and_list(ws):
    assert ws.get_monitor("churn-monitor") is None
    spec = _spec(
        production_outputs=AssetRef("churn-outputs", "7"),
        alert_emails=("a@example.com",),
        trigger=MonitorTrigger(cron="15 2 * * 1"),
        features=("age", "city"),
        tags={"owner": "team-a"},
    )
    assert ws.create_or_update_monitor(spec) == spec
    assert ws.get_monitor("churn-monitor") == spec
    other = _spec(name="a-monitor", model_name="a")
    ws.create_or_update_monitor(other)
    assert ws.list_monitors() == [other, spec]
    path = ws.root / "schedules" / "churn-monitor.yml"
    assert path.read_text() == monitor_spec_to_yaml(spec)


def test_monitor_update_replaces(ws):
    ws.create_or_update_monitor(_spec())
    newer = _spec(model_version="3", production_data=AssetRef("churn-inference", "8"))
    assert ws.create_or_update_monitor(newer) == newer
    assert ws.list_monitors() == [newer]


def test_enable_disable(ws):
    ws.create_or_update_monitor(_spec())
    assert ws.disable_monitor("churn-monitor").enabled is False
    assert ws.get_monitor("churn-monitor").enabled is False
    assert ws.disable_monitor("churn-monitor").enabled is False
    assert ws.enable_monitor("churn-monitor") == _spec()
    with pytest.raises(NotFound):
        ws.enable_monitor("missing")
    with pytest.raises(NotFound):
        ws.disable_monitor("missing")


def test_delete_monitor(ws):
    ws.create_or_update_monitor(_spec())
    ws.delete_monitor("churn-monitor")
    ws.delete_monitor("churn-monitor")
    assert ws.get_monitor("churn-monitor") is None


def test_unreadable_schedules_are_skipped_in_list(ws):
    ws.create_or_update_monitor(_spec())
    (ws.root / "schedules" / "junk.yml").write_text("name: junk\ntrigger: {}\n")
    assert [s.name for s in ws.list_monitors()] == ["churn-monitor"]


def test_schedule_yaml_loads_with_the_sdk(ws):
    from azure.ai.ml.entities import MonitorSchedule
    from azure.ai.ml.entities._load_functions import load_schedule

    spec = _spec(production_outputs=AssetRef("churn-outputs", "7"), alert_emails=("a@x.com",))
    ws.create_or_update_monitor(spec)
    schedule = load_schedule(ws.root / "schedules" / "churn-monitor.yml")
    assert isinstance(schedule, MonitorSchedule)
    assert schedule.name == "churn-monitor"
    assert set(schedule.create_monitor.monitoring_signals) == set(spec.signal_names())
    assert schedule.create_monitor.compute.instance_type == "standard_e4s_v3"
    assert schedule.create_monitor.alert_notification.emails == ["a@x.com"]
    # The REST body builds too (what `az ml schedule create -f` would send).
    assert schedule._to_rest_object() is not None


def test_a_finished_local_file_is_linked_and_an_opener_copied(ws, tmp_path, monkeypatch):
    """A LocalFile (ingestion's finished copy of a batch) is hard-linked into the version's
    folder, not copied; it outlives the source's removal. Any other opener is copied, and so
    is a LocalFile where the file system refuses the link (another disk)."""
    import io
    import os

    from core.domain.assets import MLTable
    from core.ports import LocalFile

    source = tmp_path / "batch.csv"
    source.write_bytes(b"a\n1\n")
    linked = ws.create_mltable_version(
        "m-inference", "1", MLTable(paths=("./batch.csv",)),
        files={"batch.csv": LocalFile(source)}, tags={})
    stored = Path(linked.path) / "batch.csv"
    assert stored.stat().st_ino == source.stat().st_ino
    source.unlink()
    assert stored.read_bytes() == b"a\n1\n"

    copied = ws.create_mltable_version(
        "m-inference", "2", MLTable(paths=("./batch.csv",)),
        files={"batch.csv": lambda: io.BytesIO(b"a\n2\n")}, tags={})
    assert (Path(copied.path) / "batch.csv").read_bytes() == b"a\n2\n"

    source.write_bytes(b"a\n3\n")

    def cross_device(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    fallback = ws.create_mltable_version(
        "m-inference", "3", MLTable(paths=("./batch.csv",)),
        files={"batch.csv": LocalFile(source)}, tags={})
    stored = Path(fallback.path) / "batch.csv"
    assert stored.read_bytes() == b"a\n3\n"
    assert stored.stat().st_ino != source.stat().st_ino
