"""The model's reference (training) data: which asset it is and what its columns are."""

from __future__ import annotations

import json
import logging

from core.domain.assets import DataAssetVersion
from core.domain.validation import ReferenceSchema
from core.ports import Artifacts, DataAssets

log = logging.getLogger(__name__)


class ReferenceData:
    """Finds a model's reference data asset and its schema, reading the data only once per
    asset version (the schema is kept as a workspace artifact)."""

    def __init__(self, workspace: DataAssets, artifacts: Artifacts, asset_name_for,
                 label_columns: tuple[str, ...] = ()):
        self._workspace = workspace
        self._artifacts = artifacts
        self._asset_name_for = asset_name_for
        # Ground truth usually arrives after inference: files may leave these out (and when
        # they carry them, they are kept as extra columns).
        self._labels = frozenset(label_columns)

    def asset_name(self, model: str) -> str:
        return str(self._asset_name_for(model))

    def asset(self, model: str) -> DataAssetVersion | None:
        return self._workspace.latest_data(self._asset_name_for(model))

    def schema(self, asset: DataAssetVersion) -> ReferenceSchema:
        """The columns an inference file must carry, with their types (labels left out)."""
        key = f"reference-schema/{asset.name}/{asset.version}.json"
        cached = self._artifacts.get_artifact(key)
        if cached is not None:
            schema = ReferenceSchema(json.loads(cached))
        else:
            table = self._workspace.read_table(asset)
            schema = ReferenceSchema.from_arrow(table.schema)
            self._artifacts.put_artifact(key, json.dumps(schema).encode())
        return ReferenceSchema({k: v for k, v in schema.items() if k not in self._labels})
