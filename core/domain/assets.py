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

    What a delimited file needs to be read as it was validated is declared in `read_delimited`
    (options of the MLTable schema, read by the official `mltable` package and so by Azure ML):
    `support_multi_line` when a quoted value holds a line break (without it the reader splits
    the row there), and `column_types`, the types ingestion checked every value against
    (`infer_column_types.column_type_overrides`: without them the reader types a column from its
    first 200 rows and turns a later value that does not fit into a null, or truncates it).
    """

    paths: tuple[str, ...]
    data_format: DataFormat = "delimited"
    delimiter: str = ","
    support_multi_line: bool = False
    column_types: tuple[tuple[str, str], ...] = ()  # (column, "float"|"int"|"boolean"|"string")

    def to_dict(self) -> dict[str, Any]:
        if self.data_format == "delimited":
            options: dict[str, Any] = {
                "delimiter": self.delimiter,
                "header": "all_files_same_headers",
                "encoding": "utf8",
                "support_multi_line": self.support_multi_line,
                "empty_as_string": False,
            }
            if self.column_types:
                options["infer_column_types"] = {"column_type_overrides": [
                    {"columns": name, "column_type": kind} for name, kind in self.column_types
                ]}
            transformation = {"read_delimited": options}
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
        delimited = transformation.get("read_delimited") or {}
        inference = delimited.get("infer_column_types")
        declared: list[tuple[str, str]] = []
        if isinstance(inference, dict):
            for entry in inference.get("column_type_overrides") or []:
                kind = entry.get("column_type")
                columns = entry.get("columns")
                if not isinstance(kind, str):
                    continue  # a typed object (datetime formats...): left to inference here
                for name in [columns] if isinstance(columns, str) else (columns or []):
                    declared.append((str(name), kind))
        return cls(
            paths=paths, data_format="delimited", delimiter=delimited.get("delimiter", ","),
            support_multi_line=bool(delimited.get("support_multi_line", False)),
            column_types=tuple(declared),
        )


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
