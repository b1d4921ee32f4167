"""The local workspace: Azure ML entities stored in a folder, no cloud account needed.

Each data asset version is the YAML `az ml data create -f` accepts, beside a folder holding
its MLTable and data files:

    <root>/data/<name>/<version>.yml      name, version, type, path: ./<version>, tags
    <root>/data/<name>/<version>/MLTable
    <root>/data/<name>/<version>/<data files>
    <root>/artifacts/<key>

Models and monitor schedules are stored the same way, as the YAML `az ml model create -f` and
`az ml schedule create -f` accept:

    <root>/models/<name>/<version>.yml    $schema, name, version, type, path: ./<version>, ...
    <root>/models/<name>/<version>/<model files>
    <root>/schedules/<name>.yml           `core.adapters.local.schedule_yaml.monitor_spec_to_yaml`

Writes go to a temporary folder renamed into place, so two processes registering the same
version end with one complete copy and readers never see a half-written asset. Staging lives in
`<asset or model folder>/.staging/<version>~<pid>~...`; a writer that was killed leaves its
staging folder there, and the next write to the same asset removes those whose process is gone,
and any older than an hour (a listing of `.staging` only: its cost does not grow with versions).

Every name and version is checked with Azure ML's rules (`core.domain.names`) and every path
must resolve inside the workspace root; anything else raises `InvalidName` (a permanent error)
whose message names no host path, whether or not the file exists.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import yaml

from core.adapters.local.schedule_yaml import (
    MonitorYamlError,
    monitor_spec_from_yaml,
    monitor_spec_to_yaml,
)
from core.adapters.monitor_toggle import ToggleByRewrite
from core.adapters.table_reader import read_mltable, read_path
from core.domain.assets import (
    DataAssetVersion,
    DataFormat,
    MLTable,
    ModelVersion,
    sorted_versions,
    version_key,
)
from core.domain.events import MODEL_REGISTERED, event_grid_event
from core.domain.monitoring import MonitorSpec
from core.domain.names import check_blob_path, check_name, check_version, shown
from core.ports import Conflict, EventSink, InvalidName, LocalFile, NotFound, StreamOpener

log = logging.getLogger(__name__)

DATA_SCHEMA_URL = "https://azuremlschemas.azureedge.net/latest/data.schema.json"
MODEL_SCHEMA_URL = "https://azuremlschemas.azureedge.net/latest/model.schema.json"
_COPY_CHUNK = 8 * 1024 * 1024
_STAGING = re.compile(r"^[^~]+~(?P<pid>\d+)~")
_STALE_SECONDS = 3600  # a staging entry older than this is abandoned, whatever its process


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _names_checked(what: str):
    """A file name the file system refuses is a permanent error, said without the path."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ):
            raise InvalidName(f"{what}: the local workspace cannot store this name "
                              f"({os.strerror(exc.errno)})") from None
        raise


class LocalWorkspace(ToggleByRewrite):
    backend = "local"

    def __init__(self, root: str | os.PathLike, events: EventSink | None = None):
        self.root = Path(root).resolve()
        # Where `ModelRegistered` goes, as Azure ML sends it through Event Grid.
        self.events = events
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        (self.root / "artifacts").mkdir(parents=True, exist_ok=True)

    def _inside(self, path: Path, what: str) -> Path:
        """`path`, resolved, when it lies inside the workspace root; else InvalidName."""
        resolved = path.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise InvalidName(f"{what} is outside the workspace")
        return resolved

    @staticmethod
    def _staging(folder: Path, version: str) -> tuple[Path, str]:
        """Where a writer stages `version` of the entity in `folder`, and its name prefix."""
        area = folder / ".staging"
        area.mkdir(exist_ok=True)
        return area, f"{version}~{os.getpid()}~"

    def sweep_staging(self, folder: Path) -> list[str]:
        """Remove staging folders and temporary specs left in `folder/.staging` by writers that
        died (their process is gone, or they are older than an hour). Returns the names
        removed."""
        now = time.time()
        removed = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(folder / ".staging"):
                match = _STAGING.match(entry.name)
                try:
                    age = now - entry.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    continue
                dead = match is not None and not _process_alive(int(match["pid"]))
                if not dead and age < _STALE_SECONDS:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                removed.append(entry.name)
        if removed:
            log.warning("removed %d abandoned staging entries of %s", len(removed), folder.name)
        return removed

    # ------------------------------------------------------------------ data assets

    def blob_uri(self, container: str, blob_name: str) -> str | None:
        return None  # local monitors cannot read Azurite through a datastore: copy the data in

    def _asset_dir(self, name: str) -> Path:
        check_name(name, "data asset name")
        return self._inside(self.root / "data" / name, f"data asset {shown(name)}")

    def _data_spec(self, name: str, version: str) -> Path:
        check_version(version, f"version of data asset {name}")
        return self._inside(self._asset_dir(name) / f"{version}.yml", f"data {name}:{version}")

    def create_mltable_version(
        self,
        name: str,
        version: str,
        mltable: MLTable,
        *,
        files: Mapping[str, StreamOpener],
        tags: Mapping[str, str],
        description: str = "",
    ) -> DataAssetVersion:
        with _names_checked(f"data {name}:{version}"):
            return self._create_mltable_version(
                name, str(version), mltable, files=files, tags=tags, description=description)

    def _create_mltable_version(
        self, name: str, version: str, mltable: MLTable, *,
        files: Mapping[str, StreamOpener], tags: Mapping[str, str], description: str,
    ) -> DataAssetVersion:
        spec = self._data_spec(name, version)
        asset_dir = spec.parent
        for filename in files:
            if "/" in filename:
                raise InvalidName(f"data file name {shown(filename)} contains '/'")
            check_blob_path(filename)
        asset_dir.mkdir(parents=True, exist_ok=True)
        self.sweep_staging(asset_dir)
        if spec.exists():
            return self.get_data(name, version)
        area, prefix = self._staging(asset_dir, version)
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=area))
        try:
            for filename, opener in files.items():
                if isinstance(opener, LocalFile) and _linked(opener.path, staging / filename):
                    continue
                with opener() as source, open(staging / filename, "wb") as target:
                    shutil.copyfileobj(source, target, _COPY_CHUNK)
            (staging / "MLTable").write_text(mltable.to_yaml())
            target_dir = asset_dir / version
            try:
                os.rename(staging, target_dir)
            except OSError:
                # Another writer won the race with the same content; keep theirs.
                shutil.rmtree(staging, ignore_errors=True)
            doc = {
                "$schema": DATA_SCHEMA_URL,
                "name": name,
                "version": str(version),
                "type": "mltable",
                "path": f"./{version}",
                "description": description,
                "tags": {k: str(v) for k, v in tags.items()},
            }
            tmp_spec = area / f"{prefix}{uuid.uuid4().hex}.yml"
            tmp_spec.write_text(yaml.safe_dump(doc, sort_keys=False))
            if spec.exists():
                tmp_spec.unlink()
            else:
                os.replace(tmp_spec, spec)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return self.get_data(name, version)

    def _load(self, spec: Path) -> DataAssetVersion:
        doc = yaml.safe_load(spec.read_text())
        created = _iso_mtime(spec)
        return DataAssetVersion(
            name=doc["name"],
            version=str(doc["version"]),
            type=doc.get("type", "mltable"),
            path=str((spec.parent / doc["path"]).resolve()),
            tags={k: str(v) for k, v in (doc.get("tags") or {}).items()},
            description=doc.get("description") or "",
            created_at=created,
        )

    def get_data(self, name: str, version: str) -> DataAssetVersion:
        spec = self._data_spec(name, str(version))
        if not spec.exists():
            raise NotFound(f"data asset {name}:{version} does not exist")
        return self._load(spec)

    def _spec_names(self, folder: Path) -> list[str]:
        """The versions stored in `folder`, from the file names alone (no YAML parsed)."""
        try:
            entries = os.scandir(folder)
        except FileNotFoundError:
            return []
        with entries:
            return [e.name[:-4] for e in entries
                    if e.name.endswith(".yml") and not e.name.startswith(".")]

    def _latest_spec(self, folder: Path) -> Path | None:
        """The latest version's spec by the one version order, reading one YAML only: integer
        versions by number; named ones need their creation time (a stat each)."""
        def key(version: str) -> tuple[int, int, str, str]:
            created = None
            if not version.isdigit():
                with contextlib.suppress(FileNotFoundError):
                    created = _iso_mtime(folder / f"{version}.yml")
            return version_key(version, created)

        names = self._spec_names(folder)
        return folder / f"{max(names, key=key)}.yml" if names else None

    def list_data_versions(self, name: str) -> list[DataAssetVersion]:
        asset_dir = self._asset_dir(name)
        if not asset_dir.exists():
            return []
        specs = [p for p in asset_dir.glob("*.yml") if not p.name.startswith(".")]
        versions = [self._load(p) for p in specs]
        return sorted_versions(versions)

    def latest_data(self, name: str) -> DataAssetVersion | None:
        spec = self._latest_spec(self._asset_dir(name))
        return self._load(spec) if spec is not None else None

    def register_file_version(
        self, name: str, version: str, source: str | os.PathLike, *, tags: Mapping[str, str],
        description: str = "",
    ) -> DataAssetVersion:
        """Register a local CSV/Parquet/JSON-lines file as an MLTable data asset (reference
        data for the demo and tests)."""
        source = Path(source)
        fmt: DataFormat = "json_lines" if source.suffix == ".jsonl" else "delimited"
        if source.suffix == ".parquet":
            raise ValueError("register Parquet reference data as CSV or JSON lines locally")
        return self.create_mltable_version(
            name, version, MLTable(paths=(f"./{source.name}",), data_format=fmt),
            files={source.name: lambda: open(source, "rb")}, tags=tags, description=description,
        )

    def register_mltable_folder(
        self, name: str, version: str, path: str, *, tags: Mapping[str, str],
        description: str = "",
    ) -> DataAssetVersion:
        """Register a local folder holding an MLTable file and its data files (a job's
        output) as a version of `name`."""
        folder = Path(path)
        if not (folder / "MLTable").is_file():
            raise NotFound(f"{folder} holds no MLTable file")
        mltable = MLTable.from_dict(yaml.safe_load((folder / "MLTable").read_text()) or {})
        files = {p.name: (lambda p=p: open(p, "rb")) for p in sorted(folder.iterdir())
                 if p.is_file() and p.name != "MLTable" and not p.name.startswith(".")}
        return self.create_mltable_version(name, version, mltable, files=files, tags=tags,
                                           description=description)

    def read_table(self, asset: DataAssetVersion, columns: list[str] | None = None) -> pa.Table:
        folder = self._inside(Path(asset.path), f"data of {asset.asset_id}")
        if not folder.exists():
            raise NotFound(f"data of {asset.asset_id} is missing from the workspace")
        if asset.type != "mltable":
            return read_path(folder, columns=columns)
        return read_mltable(folder, columns=columns)

    # ------------------------------------------------------------------ artifacts

    def _artifact_path(self, key: str) -> Path:
        path = (self.root / "artifacts" / key).resolve()
        if (self.root / "artifacts") not in path.parents:
            raise InvalidName(f"invalid artifact key {shown(key)}")
        return path

    def put_artifact(self, key: str, content: bytes) -> None:
        path = self._artifact_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(content)
        os.replace(tmp, path)

    def get_artifact(self, key: str) -> bytes | None:
        path = self._artifact_path(key)
        with contextlib.suppress(FileNotFoundError):
            return path.read_bytes()
        return None

    # ------------------------------------------------------------------ models

    def _model_dir(self, name: str) -> Path:
        check_name(name, "model name")
        return self._inside(self.root / "models" / name, f"model {shown(name)}")

    def _model_spec(self, name: str, version: str) -> Path:
        check_version(version, f"version of model {name}")
        return self._inside(self._model_dir(name) / f"{version}.yml", f"model {name}:{version}")

    def register_model(
        self,
        name: str,
        local_path: str | Path,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, str] | None = None,
        description: str = "",
        *,
        model_type: str = "custom_model",
        version: str | None = None,
    ) -> ModelVersion:
        """Copy `local_path` (a file or a folder) into the workspace as a new version of `name`.

        Without `version`, the next integer version (as Azure ML does). With `version`,
        idempotent: registering an existing version with the same tags, properties and
        description returns it unchanged; with different ones raises Conflict.
        """
        with _names_checked(f"model {name}"):
            return self._register_model(name, local_path, tags, properties, description,
                                        version=version, model_type=model_type)

    def _register_model(self, name, local_path, tags, properties, description, *, version,
                        model_type):
        source = Path(local_path)
        if not source.exists():
            raise NotFound(f"the files of model {name} to register do not exist")
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        self.sweep_staging(model_dir)
        tags = {str(k): str(v) for k, v in (tags or {}).items()}
        properties = {str(k): str(v) for k, v in (properties or {}).items()}
        existed = version is not None and (model_dir / f"{version}.yml").exists()
        if version is None:
            version, folder = self._claim_next_model_version(model_dir)
            _copy_model_files(source, folder)
        else:
            version = check_version(str(version), f"version of model {name}")
            if not (model_dir / f"{version}.yml").exists():
                area, prefix = self._staging(model_dir, version)
                staging = Path(tempfile.mkdtemp(prefix=prefix, dir=area))
                try:
                    _copy_model_files(source, staging)
                    with contextlib.suppress(OSError):  # another writer won the race
                        os.rename(staging, model_dir / version)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
        doc = {
            "$schema": MODEL_SCHEMA_URL,
            "name": name,
            "version": version,
            "type": model_type,
            "path": f"./{version}",
            "description": description,
            "tags": tags,
            "properties": properties,
        }
        spec = model_dir / f"{version}.yml"
        area, prefix = self._staging(model_dir, version)
        tmp_spec = area / f"{prefix}{uuid.uuid4().hex}.yml"
        tmp_spec.write_text(yaml.safe_dump(doc, sort_keys=False))
        try:
            os.link(tmp_spec, spec)  # never replaces: the first complete registration wins
        except FileExistsError:
            pass
        finally:
            tmp_spec.unlink()
        stored = self.get_model(name, version)
        if (stored.tags, stored.properties, stored.description, stored.type) != (
                tags, properties, description, model_type):
            raise Conflict(
                f"model {name}:{version} is already registered with other tags, properties "
                "or description"
            )
        if not existed and self.events is not None:
            self.events.publish([model_registered_event(stored, self.root.name)])
        return stored

    def download_model(self, model: ModelVersion, destination: Path) -> Path:
        """The model's own folder in the workspace (nothing to download locally)."""
        folder = Path(model.path)
        if not folder.exists():
            raise NotFound(f"files of model {model.asset_id} are not stored at {folder}")
        return folder

    def _claim_next_model_version(self, model_dir: Path) -> tuple[str, Path]:
        """Atomically claim the next integer version by creating its folder (`mkdir` fails for
        a concurrent writer, who then takes the next number)."""
        while True:
            taken = [
                int(p.name.removesuffix(".yml"))
                for p in model_dir.iterdir()
                if p.name.removesuffix(".yml").isdigit()
            ]
            version = str(max(taken, default=0) + 1)
            folder = model_dir / version
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return version, folder

    def _load_model(self, spec: Path) -> ModelVersion:
        doc = yaml.safe_load(spec.read_text())
        created = _iso_mtime(spec)
        return ModelVersion(
            name=doc["name"],
            version=str(doc["version"]),
            path=str((spec.parent / doc["path"]).resolve()),
            type=doc.get("type") or "custom_model",
            tags={str(k): str(v) for k, v in (doc.get("tags") or {}).items()},
            properties={str(k): str(v) for k, v in (doc.get("properties") or {}).items()},
            description=doc.get("description") or "",
            created_at=created,
        )

    def get_model(self, name: str, version: str) -> ModelVersion:
        spec = self._model_spec(name, str(version))
        if not spec.exists():
            raise NotFound(f"model {name}:{version} does not exist")
        return self._load_model(spec)

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Oldest first, in the one version order (`core.domain.assets.version_key`)."""
        model_dir = self._model_dir(name)
        if not model_dir.exists():
            return []
        specs = [p for p in model_dir.glob("*.yml") if not p.name.startswith(".")]
        return sorted_versions(self._load_model(p) for p in specs)

    def latest_model(self, name: str) -> ModelVersion | None:
        spec = self._latest_spec(self._model_dir(name))
        return self._load_model(spec) if spec is not None else None

    def list_models(self) -> list[str]:
        models = self.root / "models"
        if not models.exists():
            return []
        return sorted(
            d.name
            for d in models.iterdir()
            if d.is_dir() and any(not p.name.startswith(".") for p in d.glob("*.yml"))
        )

    # ------------------------------------------------------------------ monitor schedules

    def _schedule_path(self, name: str) -> Path:
        check_name(name, "monitor name")
        return self._inside(self.root / "schedules" / f"{name}.yml", f"monitor {shown(name)}")

    def get_monitor(self, name: str) -> MonitorSpec | None:
        path = self._schedule_path(name)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return monitor_spec_from_yaml(text)

    def create_or_update_monitor(self, spec: MonitorSpec) -> MonitorSpec:
        """Writes the schedule YAML (atomically replacing any previous one); returns it as
        read back."""
        path = self._schedule_path(spec.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(monitor_spec_to_yaml(spec))
        os.replace(tmp, path)
        stored = self.get_monitor(spec.name)
        assert stored is not None
        return stored

    def list_monitors(self) -> list[MonitorSpec]:
        """Every monitor schedule, enabled or not, by name; unreadable ones are skipped."""
        folder = self.root / "schedules"
        if not folder.exists():
            return []
        out = []
        for path in sorted(folder.glob("*.yml")):
            if path.name.startswith("."):
                continue
            try:
                out.append(monitor_spec_from_yaml(path.read_text()))
            except (MonitorYamlError, OSError) as exc:
                log.info("skipping schedule %s: %s", path.name, exc)
        return sorted(out, key=lambda s: s.name)

    def delete_monitor(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._schedule_path(name).unlink()


def model_registered_event(model: ModelVersion, workspace: str) -> dict:
    """The Event Grid event Azure ML sends for a registration (camelCase data, string version,
    as captured events look; azure-facts section 1)."""
    return event_grid_event(
        MODEL_REGISTERED, f"models/{model.name}:{model.version}",
        {"modelName": model.name, "modelVersion": model.version,
         "modelTags": dict(model.tags), "modelProperties": dict(model.properties)},
        topic=f"/local/workspaces/{workspace}",
    )


def _iso_mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()


def _linked(source: Path, target: Path) -> bool:
    """Hard-link a finished file into the workspace instead of copying it (a 100 MB batch
    costs a fifth of a second to copy); False where the file system will not (another disk)."""
    try:
        os.link(source, target)
    except OSError:
        return False
    return True


def _copy_model_files(source: Path, folder: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, folder, dirs_exist_ok=True)
    else:
        shutil.copy2(source, folder / source.name)
