"""Workspace entities as the product sees them, independent of any SDK.

The Azure ML adapter converts these to and from `azure.ai.ml.entities`; the local workspace
stores them as the YAML the Azure CLI accepts. Keeping them here means `core` never pays the
1.5 s import of `azure.ai.ml` on a cold start that only ingests a file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

MLTABLE_SCHEMA_URL = "https://azuremlschemas.azureedge.net/latest/MLTable.schema.json"

DataFormat = Literal["delimited", "json_lines"]
AssetType = Literal["mltable", "uri_file", "uri_folder"]


@dataclass(frozen=True)
class MLTable:
    """A *basic* MLTable: file paths plus one read transformation.

    Monitoring's Spark jobs are only guaranteed to read this form (azure-facts section 5).
    `paths` are relative to the MLTable file (``./batch.csv``) or absolute URIs
    (``azureml://datastores/<ds>/paths/<container>/<blob>``).
    """

    paths: tuple[str, ...]
    data_format: DataFormat = "delimited"
    delimiter: str = ","

    def to_dict(self) -> dict[str, Any]:
        if self.data_format == "delimited":
            transformation = {
                "read_delimited": {
                    "delimiter": self.delimiter,
                    "header": "all_files_same_headers",
                    "encoding": "utf8",
                }
            }
        else:
            transformation = {"read_json_lines": {"encoding": "utf8", "invalid_lines": "error"}}
        return {
            "$schema": MLTABLE_SCHEMA_URL,
            "type": "mltable",
            "paths": [{"file": p} for p in self.paths],
            "transformations": [transformation],
        }

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> MLTable:
        paths = tuple(entry["file"] for entry in doc.get("paths", []) if "file" in entry)
        transformation = (doc.get("transformations") or [{}])[0]
        if "read_json_lines" in transformation:
            return cls(paths=paths, data_format="json_lines")
        delimited = transformation.get("read_delimited", {})
        return cls(paths=paths, data_format="delimited", delimiter=delimited.get("delimiter", ","))


@dataclass(frozen=True)
class DataAssetVersion:
    """One version of a data asset (Azure ML `Data`)."""

    name: str
    version: str
    type: AssetType
    path: str
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    created_at: str | None = None

    @property
    def asset_id(self) -> str:
        return f"azureml:{self.name}:{self.version}"


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model (Azure ML `Model`)."""

    name: str
    version: str
    path: str
    type: str = "custom_model"
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    description: str = ""
    created_at: str | None = None

    @property
    def asset_id(self) -> str:
        return f"azureml:{self.name}:{self.version}"


class _Versioned(Protocol):
    @property
    def version(self) -> str: ...

    @property
    def created_at(self) -> str | None: ...


V = TypeVar("V", bound=_Versioned)


def version_key(version: str, created_at: str | None = None) -> tuple[int, int, str, str]:
    """The order of versions, the same for every backend and every caller: named versions
    (not an integer) first, by creation time; then integer versions, numerically. The last
    one is the latest (what a monitor aims at, what a retraining starts from)."""
    if version.isdigit():
        return (1, int(version), "", "")
    return (0, 0, created_at or "", version)


def sorted_versions(versions: Iterable[V]) -> list[V]:
    """Oldest first, by `version_key`."""
    return sorted(versions, key=lambda v: version_key(v.version, v.created_at))


def latest_version(versions: Iterable[V]) -> V | None:
    ordered = sorted_versions(versions)
    return ordered[-1] if ordered else None
