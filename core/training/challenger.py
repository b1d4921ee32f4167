"""The one challenger flow, shared by the local backend's retrainer and the Azure ML job
(jobs/train.py): train a challenger like the champion on the reference data plus part of the
recent labelled production rows, and score both on the rest of those rows (the same holdout).

What happens next differs by backend and lives with it: the local retrainer judges and
registers; the job writes the challenger and its scores for the service to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core.training.model import TrainingError, evaluate, split_holdout

# Fewer labelled rows than this prove nothing about a challenger.
MIN_LABELLED_ROWS = 20


class NotEnoughLabels(TrainingError):
    """Too few recent rows carry the target to train and judge a challenger."""


@dataclass(frozen=True)
class ChallengerRun:
    challenger: Any  # like the champion: a LoadedModel or a TrainedModel
    champion_scores: dict[str, float | None]
    challenger_scores: dict[str, float | None]
    training: pa.Table
    holdout_rows: int

    @property
    def training_rows(self) -> int:
        return self.training.num_rows


def labelled_rows(table: pa.Table, target: str) -> pa.Table:
    """The rows of a production table that carry the target (ground truth)."""
    if target not in table.column_names:
        return table.slice(0, 0)
    return table.filter(pc.is_valid(table.column(target)))


def concat(tables: list[pa.Table]) -> pa.Table:
    # Files of one asset may disagree on a column's inferred type (int in one, float in another).
    return pa.concat_tables(tables, promote_options="permissive")


def train_challenger(champion: Any, reference: pa.Table, labelled: pa.Table, *,
                     holdout_fraction: float = 0.3, n_estimators: int | None = None,
                     seed: int = 0) -> ChallengerRun:
    """Train and score. `champion` is a `core.training.loader.LoadedModel` (any format the
    model port reads) or a `TrainedModel`: the challenger is the champion refitted
    (`refit`). Raises NotEnoughLabels, or TrainingError when the data does not fit the
    champion (missing columns, wrong types)."""
    spec = champion.spec
    columns = [*spec.features, spec.target]
    labelled = labelled_rows(labelled, spec.target)
    if labelled.num_rows < MIN_LABELLED_ROWS:
        raise NotEnoughLabels(
            f"not enough labelled production data to learn from ({labelled.num_rows} rows "
            f"with a {spec.target!r} value; need {MIN_LABELLED_ROWS})")
    for name, table in (("reference data", reference), ("labelled production data", labelled)):
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise TrainingError(f"the {name} lacks the champion's column(s) "
                                f"{', '.join(missing)}")
    recent_train, holdout = split_holdout(labelled, spec.target, fraction=holdout_fraction,
                                          seed=seed)
    training = concat([reference.select(columns), recent_train.select(columns)])
    challenger = champion.refit(training, n_estimators=n_estimators)
    return ChallengerRun(
        challenger=challenger,
        champion_scores=evaluate(champion, holdout),
        challenger_scores=evaluate(challenger, holdout),
        training=training,
        holdout_rows=holdout.num_rows,
    )
