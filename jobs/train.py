"""The retraining job's script (jobs/retrain.yml): train a challenger for the champion and score
both on the same holdout, with the flow the local backend runs in-process
(`core.training.challenger.train_challenger`).

Contract (README, "Retraining"): inputs `training_data` (the champion's reference data, an
MLTable), `inference_data` (the newest inference batch, an MLTable) and `champion_model` (a
folder saved by `core.training.model.TrainedModel.save`); the challenger goes to `--model_output` in
the same format, and the scores become the run tags `autopilot.champion_scores` and
`autopilot.challenger_scores`, which the service reads to judge the challenger.

- Training rows: the reference data plus 70% of the inference batch's labelled rows (those with
  the champion's target); holdout: the other 30%, stratified (`core.training.model.split_holdout`).
- Exit 2, with the reason on stderr, when there is too little labelled data or the data does
  not fit the champion: the job fails and the service records the request as failed.

Run locally: python jobs/train.py --training_data DIR --inference_data DIR
    --champion_model DIR --model_output DIR
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

# Azure ML runs `python jobs/train.py` from the uploaded repo root, so Python puts jobs/ first on
# sys.path, not the root that holds core/.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from core.adapters.table_reader import UnreadableData, read_path  # noqa: E402
from core.domain import tables  # noqa: E402
from core.domain.assets import MLTable  # noqa: E402
from core.domain.tags import CHALLENGER_SCORES, CHAMPION_SCORES  # noqa: E402
from core.training.challenger import NotEnoughLabels, train_challenger  # noqa: E402
from core.training.model import META_FILE, TrainedModel, TrainingError  # noqa: E402

SCORES_FILE = "autopilot-scores.json"


class JobError(Exception):
    """The job cannot do its work with these inputs; the message says why."""


# ------------------------------------------------------------------ reading inputs


def read_table(path: Path) -> pa.Table:
    """An MLTable folder, a folder of data files, or a single data file, read with the
    service's own reader (the same parsing rules as ingestion and the monitors)."""
    try:
        return read_path(Path(path), resolve=_datastore_uri)
    except _DatastoreUri:
        return _read_with_mltable_package(Path(path))
    except UnreadableData as exc:
        raise JobError(str(exc)) from None


class _DatastoreUri(UnreadableData):
    """An MLTable path only the mltable package can resolve inside a job."""


def _datastore_uri(uri: str) -> Path:
    raise _DatastoreUri(uri)


def _read_with_mltable_package(folder: Path) -> pa.Table:
    """Inference batches registered on Azure point at their blob in place
    (azureml://datastores/...): only the mltable package can resolve those in a job."""
    import yaml

    spec = MLTable.from_dict(yaml.safe_load((folder / "MLTable").read_text("utf-8")) or {})
    try:
        import mltable
    except ImportError as exc:
        raise JobError(
            f"{folder / 'MLTable'} points at datastore URIs; reading them needs the mltable "
            "package (jobs/environment.yml installs it)"
        ) from exc
    paths = [{"file": p if "://" in p else str((folder / p).resolve())} for p in spec.paths]
    if spec.data_format == "json_lines":
        frame = mltable.from_json_lines_files(paths).to_pandas_dataframe()
        return pa.Table.from_pandas(frame, preserve_index=False)
    # As strings, then typed by pyarrow like every other read here and in the service: mltable's
    # own inference makes a 0/1 column boolean, which would not match the champion's labels.
    frame = mltable.from_delimited_files(
        paths, delimiter=spec.delimiter, infer_column_types=False,
        support_multi_line=spec.support_multi_line,
    ).to_pandas_dataframe()
    return tables.read_csv(io.BytesIO(frame.to_csv(index=False).encode("utf-8")))


def find_model_folder(path: Path) -> Path:
    """The folder holding the saved model: the input itself, or the one folder below it that
    holds the metadata file (a model registered from a folder may be mounted one level up)."""
    path = Path(path)
    if (path / META_FILE).is_file():
        return path
    found = sorted(p.parent for p in path.rglob(META_FILE))
    if len(found) != 1:
        raise JobError(f"champion_model {path}: expected one saved model ({META_FILE}), "
                       f"found {len(found)}")
    return found[0]


# ------------------------------------------------------------------ the job


def retrain(args: argparse.Namespace) -> dict:
    champion = TrainedModel.load(find_model_folder(args.champion_model))
    reference = read_table(args.training_data)
    inference = read_table(args.inference_data)
    try:
        run = train_challenger(champion, reference, inference,
                               holdout_fraction=args.holdout_fraction,
                               n_estimators=args.n_estimators)
    except NotEnoughLabels as exc:
        raise JobError(str(exc)) from None
    scores = {
        "champion": _rounded(run.champion_scores),
        "challenger": _rounded(run.challenger_scores),
        "holdout_rows": run.holdout_rows,
        "training_rows": run.training_rows,
    }
    out = Path(args.model_output)
    run.challenger.save(out)
    (out / SCORES_FILE).write_text(json.dumps(scores, indent=2, sort_keys=True) + "\n")
    _set_run_tags(scores)
    return scores


def _rounded(values: dict) -> dict:
    return {k: v if v is None else round(v, 6) for k, v in values.items()}


def _set_run_tags(scores: dict) -> None:
    """The scores as run tags: what the service reads when the job completes. Only inside a
    tracked run (Azure ML sets MLFLOW_RUN_ID): elsewhere MLflow would start an ./mlruns store."""
    if not (os.environ.get("MLFLOW_RUN_ID") or os.environ.get("MLFLOW_TRACKING_URI")):
        return
    try:
        import mlflow
    except ImportError:
        print("mlflow is not installed: scores only in " + SCORES_FILE, file=sys.stderr)
        return
    mlflow.set_tag(CHAMPION_SCORES, json.dumps(scores["champion"]))
    mlflow.set_tag(CHALLENGER_SCORES, json.dumps(scores["challenger"]))


def _summary(scores: dict) -> str:
    def fmt(values: dict) -> str:
        return " ".join(f"{k}={'n/a' if v is None else f'{v:.4f}'}" for k, v in values.items())

    return (f"retrained on {scores['training_rows']} rows, holdout {scores['holdout_rows']} rows: "
            f"champion {fmt(scores['champion'])} | challenger {fmt(scores['challenger'])}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training_data", type=Path, required=True,
                        help="the champion's reference data (MLTable folder, data folder or file)")
    parser.add_argument("--inference_data", type=Path, required=True,
                        help="the newest inference batch; its labelled rows are used")
    parser.add_argument("--champion_model", type=Path, required=True,
                        help="the current model's folder (TrainedModel.save)")
    parser.add_argument("--model_output", type=Path, required=True,
                        help="where the challenger is saved, with " + SCORES_FILE)
    parser.add_argument("--holdout_fraction", type=float, default=0.3)
    parser.add_argument("--n_estimators", type=int, default=None,
                        help="trees in the challenger's forest (default: the champion's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        scores = retrain(args)
    except (JobError, TrainingError) as exc:
        print(f"retraining failed: {exc}", file=sys.stderr)
        return 2
    print(_summary(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
