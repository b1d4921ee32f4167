"""Reading data files and MLTable folders from disk, with the product's one set of parsing
rules (`core.domain.tables`). Used by both workspace adapters, the retraining job
(jobs/train.py) and the drift CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pyarrow as pa
import yaml

from core.domain import tables
from core.domain.assets import MLTable


class UnreadableData(ValueError):
    """Data this service cannot read (unsupported path, file type or format)."""


def read_file(path: Path, *, columns: list[str] | None = None,
              mltable: MLTable | None = None) -> pa.Table:
    """One data file. An MLTable says how to read every file it lists (delimiter, declared
    column types); otherwise the file's name does."""
    column_types: dict[str, str] = {}
    if mltable is not None:
        fmt: tables.TableFormat = (
            "parquet" if path.suffix.lower() in (".parquet", ".pq")
            else "json_lines" if mltable.data_format == "json_lines" else "delimited"
        )
        delimiter = mltable.delimiter
        column_types = {c: t for c, t in mltable.column_types if t in tables.MLTABLE_COLUMN_TYPES}
    else:
        found = tables.format_of(path.name)
        if found is None:
            raise UnreadableData(f"unsupported file type {path.name!r}")
        fmt, delimiter = found
    with open(path, "rb") as source:
        return tables.read(source, fmt, delimiter=delimiter, columns=columns,
                           column_types=column_types)


def data_files(folder: Path) -> list[Path]:
    """The tabular files below a folder, in name order."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and tables.format_of(p.name) is not None)


def safe_relative(name: str) -> PurePosixPath:
    rel = PurePosixPath(name.removeprefix("./"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise UnreadableData(f"path must be relative and inside the folder: {name!r}")
    return rel


def read_mltable(folder: Path, *, columns: list[str] | None = None,
                 resolve: Callable[[str], Path] | None = None) -> pa.Table:
    """An MLTable folder: its `MLTable` file's paths, read as it says. Paths relative to the
    folder are read from it; others (datastore URIs) go through `resolve`, or are refused."""
    spec_file = folder / "MLTable"
    if not spec_file.is_file():
        raise UnreadableData(f"no MLTable file in {folder}")
    mltable = MLTable.from_dict(yaml.safe_load(spec_file.read_text("utf-8")) or {})
    if not mltable.paths:
        raise UnreadableData(f"{spec_file} lists no file paths")
    files: list[Path] = []
    for p in mltable.paths:
        if "://" in p or p.startswith(("/", "\\")) or "*" in p:
            if resolve is None:
                raise UnreadableData(
                    f"cannot read MLTable path {p!r}: only paths relative to the MLTable file "
                    "are read here")
            target = resolve(p)
        else:
            target = folder / safe_relative(p)
        if target.is_dir():
            files.extend(data_files(target))
        elif target.is_file():
            files.append(target)
        else:
            raise UnreadableData(f"{spec_file} lists {p!r}, which is not stored")
    if not files:
        raise UnreadableData(f"{spec_file} lists no readable files")
    return _select(tables.concat([read_file(f, mltable=mltable) for f in files]), columns)


def read_path(path: Path, *, columns: list[str] | None = None,
              resolve: Callable[[str], Path] | None = None) -> pa.Table:
    """A data file, an MLTable folder, or a folder of data files."""
    path = Path(path)
    if path.is_file():
        return read_file(path, columns=columns)
    if not path.is_dir():
        raise UnreadableData(f"{path} does not exist")
    if (path / "MLTable").is_file():
        return read_mltable(path, columns=columns, resolve=resolve)
    files = data_files(path)
    if not files:
        raise UnreadableData(f"no MLTable file and no data files in {path}")
    return _select(tables.concat([read_file(f) for f in files]), columns)


def _select(table: pa.Table, columns: list[str] | None) -> pa.Table:
    if columns is None:
        return table
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise UnreadableData(f"missing columns {missing}")
    return table.select(columns)
