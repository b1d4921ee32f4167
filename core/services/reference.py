"""The model's reference (training) data: which asset it is, what its columns are, and which of
them a production file must carry."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

from core.domain.assets import DataAssetVersion
from core.domain.validation import ReferenceSchema
from core.ports import Artifacts, DataAssets, WorkspaceError

log = logging.getLogger(__name__)

# (model, reference asset) -> the model's input features, or None when unknown.
FeaturesFor = Callable[[str, DataAssetVersion], Sequence[str] | None]


class ReferenceData:
    """Finds a model's reference data asset and its schema, reading the data only once per
    asset version (the schema is kept as a workspace artifact)."""

    def __init__(self, workspace: DataAssets, artifacts: Artifacts, asset_name_for,
                 label_columns: tuple[str, ...] = (), *,
                 features_for: FeaturesFor | None = None):
        self._workspace = workspace
        self._artifacts = artifacts
        self._asset_name_for = asset_name_for
        # An override: reference columns files may leave out (when the model does not say
        # which columns it takes).
        self._labels = frozenset(label_columns)
        self._features_for = features_for

    def asset_name(self, model: str) -> str:
        return str(self._asset_name_for(model))

    def asset(self, model: str) -> DataAssetVersion | None:
        return self._workspace.latest_data(self._asset_name_for(model))

    def full_schema(self, asset: DataAssetVersion) -> ReferenceSchema:
        """Every column of the reference data, with its type."""
        key = f"reference-schema/{asset.name}/{asset.version}.json"
        cached = self._artifacts.get_artifact(key)
        if cached is not None:
            return ReferenceSchema(json.loads(cached))
        table = self._workspace.read_table(asset)
        schema = ReferenceSchema.from_arrow(table.schema)
        self._artifacts.put_artifact(key, json.dumps(schema).encode())
        return schema

    def schema(self, asset: DataAssetVersion, model: str | None = None) -> ReferenceSchema:
        """The columns a production file of `model` must carry, with their types: the model's
        input features (the target and other reference-only columns may be absent); when the
        model names none, the reference columns less LABEL_COLUMNS. A feature the reference
        lacks is required untyped (checked as text)."""
        full = self.full_schema(asset)
        features = None
        if model is not None and self._features_for is not None:
            try:
                features = self._features_for(model, asset)
            except WorkspaceError:
                raise  # the model's files could not be fetched now: the host retries
            except Exception:  # validation must not fail on the model: fall back, say why
                log.exception("the features of %s are unknown; validating against the "
                              "reference", model)
        if features:
            return ReferenceSchema({c: full.get(c, "string") for c in features})
        return ReferenceSchema({k: v for k, v in full.items() if k not in self._labels})
