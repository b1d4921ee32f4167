"""Use case: ground truth that arrives later, joined to the collected inputs by correlation id
(core/domain/ground_truth.py), as Azure ML model performance monitoring joins them.

Two kinds of file take part, both through ingestion (`IngestService`):

- an accepted input file (data collector `model_inputs`, or a CSV batch carrying the id
  column) keeps its rows in the join store, keyed by id; an accepted `model_outputs` file
  keeps its logged outputs the same way. Labels that were waiting for these ids are joined
  now;
- a ground truth file (`<model>/ground_truth/...csv|jsonl`: the id column and the target)
  looks its ids up: a label whose input is stored is joined, one whose input has not arrived
  waits in the store (for GROUND_TRUTH_WAIT_DAYS; an input file that finds it joins it).

Joined rows become a new version of the labelled data asset (`<model>-labelled`, JSON lines:
the input's columns, the target, the id, and logged outputs as ``predicted_<column>``), whose
number is allocated through the ledger like every ingested version (a retry re-uses it). The
champion's performance on that version is measured right after (`ModelPerformance`).

Memory is bounded by one file: rows are spooled to a temporary file during validation (the
store is written only once the file is accepted) and read back in chunks; the store answers
lookups for a chunk of ids at a time. Duplicates, unknown and waiting ids are counted
(`JoinCounts`) and recorded on the file's ingestion.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from core.domain import tags as tag_names
from core.domain.assets import DataAssetVersion, MLTable
from core.domain.ground_truth import (
    MAX_ROW_CHARS,
    JoinCounts,
    Row,
    joined_row,
    row_json,
    same_label,
)
from core.domain.ingestion import IngestionRecord, Rejection
from core.domain.validation import ReferenceSchema
from core.ports import DataAssets, GroundTruthStore, IngestionLedger, PermanentError

log = logging.getLogger(__name__)

_CHUNK = 2000  # ids looked up and written per round trip group
_TAG_LIMIT = 256


class LabelsRefused(Exception):
    """A ground truth file cannot be used as it is (the model's target is unknown)."""

    def __init__(self, rejection: Rejection):
        super().__init__(rejection.message)
        self.rejection = rejection


@dataclass(frozen=True)
class GroundTruthConfig:
    labelled_asset: Callable[[str], str]
    id_column: str = "correlationid"
    wait_seconds: float = 30 * 86400.0


@dataclass
class JoinOutcome:
    """What a file did to the join, for its ingestion record."""

    counts: JoinCounts = field(default_factory=JoinCounts)
    labelled: DataAssetVersion | None = None
    performance: dict[str, Any] | None = None

    def labels_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"counts": self.counts.to_doc()}
        if self.labelled is not None:
            doc["labelled_data"] = f"{self.labelled.name}:{self.labelled.version}"
            doc["labelled_rows"] = self.counts.joined + self.counts.completed
        return doc


class _Spool:
    """Rows of one accepted file, written to a temporary file as JSON lines `[id, value]`
    while the file is validated, and read back in chunks once it is accepted."""

    def __init__(self, id_column: str, value_column: str | None):
        self._id = id_column
        self._value = value_column  # labels: the target; inputs and outputs: the whole row
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="spool-")
        self.rows = 0
        self.without_id = 0
        self.without_value = 0
        self.too_large = 0

    def add(self, batch) -> None:  # a pyarrow RecordBatch of the validated file
        names = batch.schema.names
        if self._id not in names:
            self.without_id += batch.num_rows
            return
        for row in batch.to_pylist():
            row_id = row.get(self._id)
            if row_id is None or str(row_id) == "":
                self.without_id += 1
                continue
            if self._value is not None:
                value = row.get(self._value)
                if value is None:
                    self.without_value += 1
                    continue
            else:
                value = {k: v for k, v in row.items() if k != self._id}
                if len(row_json(value)) > MAX_ROW_CHARS:
                    self.too_large += 1
                    continue
            self._file.write(json.dumps([str(row_id), value], default=str).encode() + b"\n")
            self.rows += 1

    def chunks(self, size: int = _CHUNK) -> Iterator[list[tuple[str, Any]]]:
        self._file.flush()
        self._file.seek(0)
        chunk: list[tuple[str, Any]] = []
        for line in self._file:
            row_id, value = json.loads(line)
            chunk.append((row_id, value))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def close(self) -> None:
        self._file.close()


class _InputObserver:
    """A `BatchObserver` for an input or outputs file: spools its rows; once the file is
    registered, `finish` hands them to the join."""

    def __init__(self, service: GroundTruth, model: str, outputs: bool):
        self._service = service
        self._model = model
        self._outputs = outputs
        self.spool = _Spool(service.config.id_column, None)

    def add(self, batch) -> None:
        self.spool.add(batch)

    def finish(self, record: IngestionRecord) -> JoinOutcome | None:
        try:
            if self.spool.rows == 0:
                return None
            if self._outputs:
                return self._service.keep_outputs(self._model, record, self.spool)
            return self._service.keep_inputs(self._model, record, self.spool)
        finally:
            self.spool.close()


class GroundTruth:
    def __init__(self, config: GroundTruthConfig, workspace: DataAssets,
                 store: GroundTruthStore, ledger: IngestionLedger, *,
                 target_for: Callable[[str], tuple[str, str] | None],
                 evaluate: Callable[[str, DataAssetVersion], dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self._ws = workspace
        self._store = store
        self._ledger = ledger
        # (model) -> (target column, its reference type), or None when unknown
        self._target_for = target_for
        self._evaluate = evaluate
        self._clock = clock

    # ------------------------------------------------------------------ ground truth files

    def label_schema(self, model: str) -> tuple[str, ReferenceSchema]:
        """The target and the columns a ground truth file of `model` must carry, typed: the id
        as text, the target as in the reference data. Raises LabelsRefused."""
        found = self._target_for(model)
        if found is None:
            raise LabelsRefused(Rejection(
                "target_unknown",
                f"ground truth for model {model}: its target is unknown (no registered version "
                "names one, and its reference data cannot tell); register the model (or tag it "
                f"{tag_names.TARGET}), then replay this file"))
        target, arrow_type = found
        if target == self.config.id_column:
            raise LabelsRefused(Rejection(
                "target_unknown", f"the target {target!r} is the correlation id column"))
        return target, ReferenceSchema({self.config.id_column: "string", target: arrow_type})

    def label_spool(self, target: str) -> _Spool:
        return _Spool(self.config.id_column, target)

    def missing_columns(self, rejection: Rejection, target: str) -> Rejection:
        """A clearer message than validation's for a ground truth file's missing columns."""
        if rejection.code != "missing_columns":
            return rejection
        return Rejection("missing_columns", (
            f"a ground truth file holds the correlation id column {self.config.id_column!r} "
            f"and the target {target!r}; missing: {rejection.column}"), column=rejection.column)

    def join_labels(self, model: str, record: IngestionRecord, target: str,
                    spool: _Spool) -> JoinOutcome:
        """Join an accepted ground truth file's labels (see the module docstring)."""
        outcome = JoinOutcome()
        counts = outcome.counts
        counts.labels = spool.rows + spool.without_id + spool.without_value
        counts.empty = spool.without_id + spool.without_value
        source = record.ingestion_id
        seen: dict[str, Any] = {}  # this file's ids (one file's worth) and their labels
        with _JoinedRows() as out:
            for chunk in spool.chunks():
                fresh: list[tuple[str, Any]] = []
                for row_id, label in chunk:
                    if row_id in seen:
                        counts.duplicates += 1
                        counts.conflicting += not same_label(seen[row_id], label)
                        continue
                    seen[row_id] = label
                    fresh.append((row_id, label))
                ids = [i for i, _ in fresh]
                inputs = self._store.get_inputs(model, ids)
                outputs = self._store.get_outputs(model, [i for i in ids if i in inputs])
                joined: list[tuple[str, Any]] = []
                waiting: list[tuple[str, Any]] = []
                for row_id, label in fresh:
                    stored = inputs.get(row_id)
                    if stored is None:
                        waiting.append((row_id, label))
                    elif stored.label_source not in (None, source):
                        counts.duplicates += 1
                        counts.conflicting += not same_label(stored.label, label)
                    else:
                        out.write(joined_row(stored.row, outputs.get(row_id),
                                             id_column=self.config.id_column, target=target,
                                             label=label, row_id=row_id))
                        joined.append((row_id, label))
                self._store.mark_labelled(model, joined, source=source)
                counts.joined += len(joined)
                already = set(self._store.put_waiting(model, waiting, source=source,
                                                      at=self._clock()))
                counts.duplicates += len(already)
                counts.waiting += len(waiting) - len(already)
            if out.rows:
                outcome.labelled = self._register(model, record, out, target, counts)
        spool.close()
        self._measure(model, outcome)
        log.info("ground truth %s of %s: %s", record.ingestion_id, model, counts.to_doc())
        return outcome

    # ------------------------------------------------------------------ input files

    def observer_for(self, model: str, *, outputs: bool) -> _InputObserver:
        return _InputObserver(self, model, outputs)

    def keep_outputs(self, model: str, record: IngestionRecord, spool: _Spool) -> JoinOutcome:
        outcome = JoinOutcome()
        for chunk in spool.chunks():
            self._store.put_outputs(model, chunk, source=record.ingestion_id)
            outcome.counts.outputs += len(chunk)
        outcome.counts.too_large = spool.too_large
        return outcome

    def keep_inputs(self, model: str, record: IngestionRecord, spool: _Spool) -> JoinOutcome:
        """Keep an accepted input file's rows for later labels, and join the labels that were
        waiting for them (stored with them: one write per row)."""
        outcome = JoinOutcome()
        counts = outcome.counts
        counts.too_large = spool.too_large
        ids = {row_id for chunk in spool.chunks() for row_id, _ in chunk}
        matched, expired = self._waiting_for(model, ids)
        counts.expired = len(expired)
        if expired:
            self._store.remove_waiting(model, expired)
        target = self._target_for(model) if matched else None
        if target is None:  # nothing waits for these (or the model went away: they keep waiting)
            matched = {}
        kept_elsewhere: set[str] = set()  # ids whose kept row is another file's
        for chunk in spool.chunks():
            labelled = {i: matched[i] for i, _ in chunk if i in matched}
            duplicates = self._store.put_inputs(model, chunk, source=record.ingestion_id,
                                                labelled=labelled)
            counts.inputs += len(chunk) - len(duplicates)
            counts.duplicate_inputs += len(duplicates)
            kept_elsewhere.update(duplicates)
        if matched and target is not None:
            self._complete(model, record, spool, matched, target[0], outcome, kept_elsewhere)
        self._measure(model, outcome)
        return outcome

    def _waiting_for(self, model: str, ids: set[str]) -> tuple[dict[str, Any], list[str]]:
        """The waiting labels for these ids ({id: (label, source)}), and the waiting ids past
        GROUND_TRUTH_WAIT_DAYS (dropped: no input carried them in time)."""
        matched: dict[str, Any] = {}
        expired: list[str] = []
        oldest = self._clock() - self.config.wait_seconds
        for label in self._store.waiting(model):
            if label.row_id in ids:
                matched[label.row_id] = (label.label, label.source)
            elif label.at < oldest:
                expired.append(label.row_id)
        return matched, expired

    def _complete(self, model: str, record: IngestionRecord, spool: _Spool,
                  matched: dict[str, Any], target: str, outcome: JoinOutcome,
                  kept_elsewhere: set[str]) -> None:
        """Join the waiting labels matched by this file's rows. The rows this file stored
        carry their label already; a row another file stored first gets it now, unless it
        was labelled already (then the waiting label is a duplicate)."""
        done: list[str] = []
        with _JoinedRows() as out:
            for chunk in spool.chunks():
                rows = [(i, r) for i, r in chunk if i in matched]
                if not rows:
                    continue
                ids = [i for i, _ in rows]
                stored = self._store.get_inputs(model, [i for i in ids if i in kept_elsewhere])
                outputs = self._store.get_outputs(model, ids)
                late: dict[str, list[tuple[str, Any]]] = {}
                for row_id, row in rows:
                    label, source = matched.pop(row_id, (None, None))
                    if source is None:  # twice in this file: joined once
                        continue
                    done.append(row_id)
                    kept = stored.get(row_id)
                    if kept is not None and kept.label_source not in (None, source):
                        outcome.counts.duplicates += 1
                        continue
                    if kept is not None and kept.label_source is None:
                        late.setdefault(source, []).append((row_id, label))
                    out.write(joined_row(kept.row if kept else row, outputs.get(row_id),
                                         id_column=self.config.id_column, target=target,
                                         label=label, row_id=row_id))
                    outcome.counts.completed += 1
                for source, labels in late.items():
                    self._store.mark_labelled(model, labels, source=source)
            if out.rows:
                outcome.labelled = self._register(model, record, out, target, outcome.counts)
        # Only now: a retry after a crash before the registration finds them waiting still.
        self._store.remove_waiting(model, done)

    # ------------------------------------------------------------------ the labelled version

    def _register(self, model: str, record: IngestionRecord, rows: _JoinedRows, target: str,
                  counts: JoinCounts) -> DataAssetVersion:
        asset = self.config.labelled_asset(model)
        rows.flush()

        def seed() -> int:
            latest = self._ws.latest_data(asset)
            return int(latest.version) if latest and latest.version.isdigit() else 0

        version = self._ledger.allocate_version(asset, record.ingestion_id, seed=seed)
        tags = {k: (v if len(v) <= _TAG_LIMIT else v[:_TAG_LIMIT - 3] + "...") for k, v in {
            tag_names.DATA_MODEL: model,
            tag_names.DATA_INGESTION_ID: record.ingestion_id,
            "source_url": record.blob.url or record.blob.path,
            tag_names.DATA_ROW_COUNT: str(rows.rows),
            tag_names.DATA_COLUMNS: ",".join(rows.columns),
            tag_names.DATA_CORRELATION_COLUMN: self.config.id_column,
            tag_names.DATA_LABELLED_ROWS: str(rows.rows),
            tag_names.TARGET: target,
        }.items()}
        mltable = MLTable(paths=("./rows.jsonl",), data_format="json_lines")
        files = {"rows.jsonl": lambda: open(rows.path, "rb")}
        description = (f"Production rows joined with their ground truth by "
                       f"{self.config.id_column} ({rows.rows} rows), from {record.blob.path}")
        for _ in range(20):
            try:
                created = self._ws.create_mltable_version(
                    asset, version, mltable, files=files, tags=tags, description=description)
            except PermanentError:
                self._ledger.release_version(asset, record.ingestion_id, version)
                raise
            if created.tags.get(tag_names.DATA_INGESTION_ID) == record.ingestion_id:
                log.info("registered %s:%s (%d labelled rows)", asset, version, rows.rows)
                return created
            version = self._ledger.allocate_version(asset, record.ingestion_id, seed=seed,
                                                    above=int(version))
        raise PermanentError(f"no free version of {asset} found for {record.ingestion_id}")

    def _measure(self, model: str, outcome: JoinOutcome) -> None:
        if outcome.labelled is None or self._evaluate is None:
            return
        try:
            outcome.performance = self._evaluate(model, outcome.labelled)
        except Exception as exc:  # measuring never costs the version its registration
            log.exception("performance of %s on %s failed", model, outcome.labelled.asset_id)
            outcome.performance = {"error": f"{type(exc).__name__}: {exc}"[:500],
                                   "labelled_data": f"{outcome.labelled.name}:"
                                                    f"{outcome.labelled.version}"}


class _JoinedRows:
    """The joined rows of one file, as JSON lines in a temporary folder."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="labelled-")
        self.path = Path(self._dir.name) / "rows.jsonl"
        self._out: IO[str] = open(self.path, "w", encoding="utf-8")
        self.rows = 0
        self._columns: dict[str, None] = {}

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def write(self, row: Row) -> None:
        self._out.write(row_json(row) + "\n")
        self._columns.update(dict.fromkeys(row))
        self.rows += 1
        if self.rows % 1000 == 0:
            self._out.flush()

    def __enter__(self) -> _JoinedRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.close()
        self._dir.cleanup()

    def flush(self) -> None:
        self._out.flush()


__all__ = ["GroundTruth", "GroundTruthConfig", "JoinOutcome", "LabelsRefused"]
