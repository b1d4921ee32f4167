"""The local backend's retraining: train a challenger in-process with scikit-learn and judge it
against the champion on the same holdout.

- Champion: the model's highest registered version; its folder holds the `TrainedModel` this
  service saved (`core.training.model`), which names the target, the features and the task.
- Data: the reference (training) data the champion was trained on, plus the newest labelled
  inference batches (those carrying the target column), up to `max_recent_rows` rows.
- Holdout: a stratified share of the recent labelled rows (what production looks like now); the
  challenger trains on the reference plus the rest of them.
- Gate: `core.training.model.judge` on the task's primary metric with the configured margin.
- Accepted: the challenger's training data is registered as the next version of the reference
  asset and the challenger as the next model version, tagged with its lineage (parent version,
  metrics, trigger reason, request id) and pointing at that reference, so the monitor re-aims at
  the new model and the data it was trained on. Both are looked up by request id first: a
  retried request re-uses what a crashed attempt registered instead of registering twice.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from core.domain.monitor_decision import TAG_REFERENCE
from core.services.retraining.service import (
    TAG_METRICS,
    TAG_PARENT,
    TAG_REASON,
    TAG_REQUEST,
    TAG_TRAINED_ON,
    version_for_request,
)

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class LocalRetrainConfig:
    reference_asset_template: str = "{model}-training"
    inference_asset_template: str = "{model}-inference"
    primary_metric: str | None = None
    margin: float = 0.01
    holdout_fraction: float = 0.3
    max_recent_rows: int = 200_000
    n_estimators: int = 100


class NoChampion(Exception):
    pass


class LocalRetrainer:
    def __init__(self, workspace, config: LocalRetrainConfig, *, crash_before_register=None):
        self._ws = workspace
        self.config = config
        # Tests inject a failure between training and registration (the crash case).
        self._crash_before_register = crash_before_register

    def run(self, model: str, request: dict) -> dict:
        from core.training.model import (
            TrainedModel,
            TrainingError,
            evaluate,
            judge,
            split_holdout,
            train,
        )

        request_id = request["request_id"]
        done = version_for_request(self._ws, model, request_id)
        if done is not None:  # an earlier attempt registered it, then died
            return {"status": "registered", "new_version": done.version,
                    "note": "registered by an earlier attempt of this request"}
        champion_version = self._ws.latest_model(model)
        if champion_version is None:
            return {"status": "rejected", "decision": f"model {model} has no version"}
        try:
            champion = TrainedModel.load(Path(champion_version.path))
        except TrainingError as exc:
            return {"status": "rejected", "champion_version": champion_version.version,
                    "decision": f"the champion cannot be retrained here: {exc}"}
        spec = champion.spec
        reference = self._reference_for(champion_version)
        reference_table = self._ws.read_table(reference)
        recent, used = self._recent_labelled(model, spec.target)
        base = {"champion_version": champion_version.version,
                "reference_data": reference.asset_id, "recent_batches": used,
                "task": spec.task}
        if recent is None or recent.num_rows < 20:
            rows = 0 if recent is None else recent.num_rows
            return {**base, "status": "rejected",
                    "decision": f"not enough labelled production data to learn from "
                                f"({rows} rows with a {spec.target!r} value; need 20)"}
        recent_train, holdout = split_holdout(
            recent, spec.target, fraction=self.config.holdout_fraction, seed=0
        )
        columns = [*spec.features, spec.target]
        training = pa.concat_tables(
            [_select(reference_table, columns), _select(recent_train, columns)],
            promote_options="permissive",
        )
        from dataclasses import replace

        challenger = train(training, replace(spec, n_estimators=self.config.n_estimators))
        champion_scores = evaluate(champion, holdout)
        challenger_scores = evaluate(challenger, holdout)
        decision = judge(champion_scores, challenger_scores, spec.task,
                         metric=self.config.primary_metric, margin=self.config.margin)
        result = {**base, "holdout_rows": holdout.num_rows, "training_rows": training.num_rows,
                  "champion_scores": champion_scores, "challenger_scores": challenger_scores,
                  "decision": decision.reason, "metric": decision.metric,
                  "improvement": decision.improvement, "margin": decision.margin}
        if not decision.accepted:
            return {**result, "status": "rejected"}
        if self._crash_before_register is not None:
            self._crash_before_register()
        new_reference = self._register_training_data(model, request_id, training, reference)
        version = self._register(model, request, champion_version, challenger,
                                 challenger_scores, new_reference)
        return {**result, "status": "registered", "new_version": version.version,
                "new_reference_data": new_reference.asset_id}

    # ------------------------------------------------------------------ steps

    def _reference_for(self, champion):
        tagged = champion.tags.get(TAG_REFERENCE, "").strip()
        if ":" in tagged:
            name, _, version = tagged.rpartition(":")
            return self._ws.get_data(name, version)
        name = tagged or self.config.reference_asset_template.format(model=champion.name)
        asset = self._ws.latest_data(name)
        if asset is None:
            raise FileNotFoundError(f"reference data asset {name} not found")
        return asset

    def _recent_labelled(self, model: str, target: str) -> tuple[pa.Table | None, list[str]]:
        """The newest inference batches that carry labels, newest first, up to the row cap."""
        asset = self.config.inference_asset_template.format(model=model)
        tables, used, rows = [], [], 0
        for version in reversed(self._ws.list_data_versions(asset)):
            columns = (version.tags.get("columns", "") + ","
                       + version.tags.get("extra_columns", "")).split(",")
            if target not in columns:  # unlabelled batch (see LABEL_COLUMNS)
                continue
            table = self._ws.read_table(version)
            if target not in table.column_names:
                continue
            tables.append(table)
            used.append(version.asset_id)
            rows += table.num_rows
            if rows >= self.config.max_recent_rows:
                break
        if not tables:
            return None, used
        return pa.concat_tables(tables, promote_options="permissive"), used

    def _register_training_data(self, model, request_id, training: pa.Table, reference):
        import pyarrow.csv as pacsv

        name = reference.name
        versions = self._ws.list_data_versions(name)
        for existing in versions:
            if existing.tags.get(TAG_REQUEST) == request_id:
                return existing
        numeric = [int(v.version) for v in versions if v.version.isdigit()]
        version = str(max(numeric, default=0) + 1)
        with tempfile.TemporaryDirectory(prefix="retrain-data-") as tmp:
            path = Path(tmp) / "training.csv"
            pacsv.write_csv(training, path)
            return self._ws.register_file_version(
                name, version, path,
                tags={TAG_REQUEST: request_id, "autopilot.derived_from": reference.asset_id,
                      "row_count": str(training.num_rows)},
                description=f"Training data of {model}'s retraining {request_id}",
            )

    def _register(self, model, request, champion, challenger, scores, reference):
        lineage = (TAG_REQUEST, TAG_PARENT, TAG_METRICS, TAG_REASON, TAG_TRAINED_ON)
        # The champion's monitoring overrides (schedule, emails, thresholds) carry over.
        inherited = {k: v for k, v in champion.tags.items()
                     if k.startswith("autopilot.") and k not in lineage}
        tags = {
            **inherited,
            TAG_REQUEST: request["request_id"],
            TAG_PARENT: champion.version,
            TAG_METRICS: json.dumps({k: v if v is None else round(v, 4)
                                     for k, v in scores.items()}),
            TAG_REASON: str(request.get("reason", ""))[:250],
            TAG_REFERENCE: f"{reference.name}:{reference.version}",
            TAG_TRAINED_ON: reference.asset_id,
        }
        with tempfile.TemporaryDirectory(prefix="challenger-") as tmp:
            challenger.save(Path(tmp))
            return self._ws.register_model(
                model, tmp, tags=tags,
                description=f"Retrained by Monitor Autopilot (request {request['request_id']})",
            )


def _select(table: pa.Table, columns: list[str]) -> pa.Table:
    return table.select(columns)
