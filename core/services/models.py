"""Use case: what each registered model is (its format, features, target, task), for
validation, monitors and retraining alike.

A model version's files never change, so what they say (`ModelInspection`) is worked out once
per version, by the model port over the files the workspace hands over (downloaded on Azure),
and kept as an artifact (`model-inspection/<model>/<version>.json`). The model's registration
(`MonitorService.ensure`, on `ModelRegistered`) does it, so ingestion finds it cached and never
pays for MLflow, scikit-learn or a download. Tags and reference data can change, so the
description (`core.domain.models.describe`) is worked out anew from them each time: it is cheap.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from core.domain import tags as tag_names
from core.domain.assets import DataAssetVersion, ModelVersion
from core.domain.models import (
    INSPECTION_FORMAT,
    MLTask,
    ModelDescription,
    ModelInspection,
    ModelProblem,
    describe,
)
from core.ports import Artifacts, ModelLoader, NotFound, Workspace

log = logging.getLogger(__name__)


class ModelCatalog:
    def __init__(
        self,
        workspace: Workspace,
        artifacts: Artifacts,
        loader: Callable[[], ModelLoader],
        reference_columns: Callable[[DataAssetVersion], Sequence[str]],
        reference_asset_for: Callable[[str], str],
        *,
        label_columns: Sequence[str] = (),
        default_task: MLTask = "classification",
        reference_types: Callable[[DataAssetVersion], Mapping[str, str]] | None = None,
    ):
        self._ws = workspace
        self._artifacts = artifacts
        self._loader = loader  # a factory: the loader imports scikit-learn
        self._reference_columns = reference_columns
        self._reference_asset_for = reference_asset_for
        self.label_columns = tuple(label_columns)
        self.default_task = default_task
        self._reference_types = reference_types

    # ------------------------------------------------------------------ queries

    def inspection(self, model: ModelVersion) -> ModelInspection:
        """What the version's files say: cached, or read once (a download on Azure). Raises
        WorkspaceError when the files cannot be fetched right now (never cached)."""
        key = f"model-inspection/{model.name}/{model.version}.json"
        cached = self._artifacts.get_artifact(key)
        if cached is not None:
            try:
                found = ModelInspection.from_doc(json.loads(cached))
                if found.format_version == INSPECTION_FORMAT:
                    return found
            except (ValueError, TypeError) as exc:
                log.warning("re-inspecting %s: %s", model.asset_id, exc)
        with tempfile.TemporaryDirectory(prefix="model-") as tmp:
            try:
                folder = self._ws.download_model(model, Path(tmp))
            except NotFound as exc:
                found = ModelInspection.unreadable(ModelProblem.NO_MODEL_FILES, str(exc))
            else:
                found = self._loader().inspect(folder)
        self._artifacts.put_artifact(key, json.dumps(found.to_doc(), sort_keys=True).encode())
        log.info("model %s: %s%s", model.asset_id, found.format or "unreadable",
                 f" ({found.message})" if found.message else "")
        return found

    def reference_for(self, model: ModelVersion) -> DataAssetVersion | None:
        """The model's reference data: its `autopilot.reference_data` tag (optionally pinned),
        else the latest version of the reference asset."""
        tagged = model.tags.get(tag_names.REFERENCE_DATA, "").strip()
        if ":" in tagged:
            name, _, version = tagged.rpartition(":")
            try:
                return self._ws.get_data(name, version)
            except NotFound:
                return None
        return self._ws.latest_data(tagged or self._reference_asset_for(model.name))

    def describe(self, model: ModelVersion,
                 reference: DataAssetVersion | None = None) -> ModelDescription:
        """The model as validation, monitors and retraining use it (see
        core/domain/models.py for the rules)."""
        if reference is None:
            reference = self.reference_for(model)
        columns = list(self._reference_columns(reference)) if reference is not None else None
        return describe(model, self.inspection(model), columns,
                        label_columns=self.label_columns, default_task=self.default_task)

    def reference_columns(self, reference: DataAssetVersion) -> list[str]:
        return list(self._reference_columns(reference))

    def monitored_features(self, description: ModelDescription | None,
                           reference: DataAssetVersion) -> tuple[str, ...] | None:
        """The columns a monitor watches: the model's features the reference data has; when
        the model names none, the reference less LABEL_COLUMNS (None: every column)."""
        columns = self.reference_columns(reference)
        if description is not None and description.features:
            watched = tuple(c for c in description.features if c in columns)
            if watched:
                return watched
        if self.label_columns:
            return tuple(c for c in columns if c not in self.label_columns) or None
        return None

    def latest(self, name: str) -> ModelDescription | None:
        """The description of the model's latest version, None when it has none."""
        model = self._ws.latest_model(name)
        return self.describe(model) if model is not None else None

    def target_of(self, name: str) -> tuple[str, str] | None:
        """The column the latest version predicts and its type in the reference data (arrow
        type text; "string" when the reference does not hold it): what ground truth files
        must carry. None when no version names a target."""
        model = self._ws.latest_model(name)
        if model is None:
            return None
        reference = self.reference_for(model)
        description = self.describe(model, reference)
        if not description.target:
            return None
        types = self._reference_types(reference) if (reference is not None and
                                                    self._reference_types) else {}
        return description.target, types.get(description.target, "string")

    def input_features(self, name: str,
                       reference: DataAssetVersion | None) -> tuple[str, ...] | None:
        """The columns production files of `name` must carry: the latest version's features,
        or None when no model or no features are known (validation then uses the reference
        less LABEL_COLUMNS)."""
        model = self._ws.latest_model(name)
        if model is None:
            return None
        try:
            return self.describe(model, reference).features
        except NotFound:
            return None
