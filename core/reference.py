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

    def __init__(self, workspace: DataAssets, artifacts: Artifacts, asset_name_for):
        self._workspace = workspace
        self._artifacts = artifacts
        self._asset_name_for = asset_name_for

    def asset(self, model: str) -> DataAssetVersion | None:
        return self._workspace.latest_data(self._asset_name_for(model))

    def schema(self, asset: DataAssetVersion) -> ReferenceSchema:
        key = f"reference-schema/{asset.name}/{asset.version}.json"
        cached = self._artifacts.get_artifact(key)
        if cached is not None:
            return ReferenceSchema(json.loads(cached))
        table = self._workspace.read_table(asset)
        schema = ReferenceSchema.from_arrow(table.schema)
        self._artifacts.put_artifact(key, json.dumps(schema).encode())
        return schema
