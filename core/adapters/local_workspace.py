"""The local workspace: Azure ML entities stored in a folder, no cloud account needed.

Each data asset version is the YAML `az ml data create -f` accepts, beside a folder holding
its MLTable and data files:

    <root>/data/<name>/<version>.yml      name, version, type, path: ./<version>, tags
    <root>/data/<name>/<version>/MLTable
    <root>/data/<name>/<version>/<data files>
    <root>/artifacts/<key>

Writes go to a temporary folder renamed into place, so two processes registering the same
version end with one complete copy and readers never see a half-written asset.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import yaml

from core.domain.assets import DataAssetVersion, MLTable
from core.ports import NotFound, StreamOpener

DATA_SCHEMA_URL = "https://azuremlschemas.azureedge.net/latest/data.schema.json"
_COPY_CHUNK = 8 * 1024 * 1024


class LocalWorkspace:
    backend = "local"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        (self.root / "artifacts").mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ data assets

    def blob_uri(self, container: str, blob_name: str) -> str | None:
        return None  # local monitors cannot read Azurite through a datastore: copy the data in

    def _asset_dir(self, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise ValueError(f"invalid asset name {name!r}")
        return self.root / "data" / name

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
        asset_dir = self._asset_dir(name)
        asset_dir.mkdir(parents=True, exist_ok=True)
        spec = asset_dir / f"{version}.yml"
        if spec.exists():
            return self.get_data(name, version)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=asset_dir))
        try:
            for filename, opener in files.items():
                if "/" in filename or filename.startswith("."):
                    raise ValueError(f"invalid data file name {filename!r}")
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
            tmp_spec = asset_dir / f".{version}.{uuid.uuid4().hex}.yml"
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
        created = datetime.fromtimestamp(spec.stat().st_mtime, UTC).isoformat()
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
        spec = self._asset_dir(name) / f"{version}.yml"
        if not spec.exists():
            raise NotFound(f"data asset {name}:{version} does not exist")
        return self._load(spec)

    def list_data_versions(self, name: str) -> list[DataAssetVersion]:
        asset_dir = self._asset_dir(name)
        if not asset_dir.exists():
            return []
        specs = [p for p in asset_dir.glob("*.yml") if not p.name.startswith(".")]
        versions = [self._load(p) for p in specs]
        return sorted(versions, key=_version_order)

    def latest_data(self, name: str) -> DataAssetVersion | None:
        versions = self.list_data_versions(name)
        return versions[-1] if versions else None

    def register_file_version(
        self, name: str, version: str, source: str | os.PathLike, *, tags: Mapping[str, str],
        description: str = "",
    ) -> DataAssetVersion:
        """Register a local CSV/Parquet/JSON-lines file as an MLTable data asset (reference
        data for the demo and tests)."""
        source = Path(source)
        fmt = "json_lines" if source.suffix == ".jsonl" else "delimited"
        if source.suffix == ".parquet":
            raise ValueError("register Parquet reference data as CSV or JSON lines locally")
        return self.create_mltable_version(
            name, version, MLTable(paths=(f"./{source.name}",), data_format=fmt),
            files={source.name: lambda: open(source, "rb")}, tags=tags, description=description,
        )

    def read_table(self, asset: DataAssetVersion, columns: list[str] | None = None) -> pa.Table:
        folder = Path(asset.path)
        if asset.type != "mltable":
            return _read_file(folder, columns)
        doc = yaml.safe_load((folder / "MLTable").read_text())
        mltable = MLTable.from_dict(doc)
        tables = []
        for rel in mltable.paths:
            path = (folder / rel).resolve()
            tables.append(_read_file(path, columns, mltable.data_format, mltable.delimiter))
        if not tables:
            raise NotFound(f"data asset {asset.name}:{asset.version} lists no files")
        return pa.concat_tables(tables, promote_options="permissive")

    # ------------------------------------------------------------------ artifacts

    def _artifact_path(self, key: str) -> Path:
        path = (self.root / "artifacts" / key).resolve()
        if not str(path).startswith(str(self.root / "artifacts")):
            raise ValueError(f"invalid artifact key {key!r}")
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


def _version_order(asset: DataAssetVersion):
    numeric = asset.version.isdigit()
    return (asset.created_at or "", int(asset.version) if numeric else 0, asset.version)


def _read_file(
    path: Path, columns: list[str] | None, data_format: str | None = None, delimiter: str = ","
) -> pa.Table:
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    if not path.exists():
        raise NotFound(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pq.read_table(path, columns=columns)
    if data_format == "json_lines" or suffix in (".jsonl", ".json"):
        table = pajson.read_json(path)
        return table.select(columns) if columns else table
    return pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(include_columns=columns or []),
    )
