"""The retraining job's script (jobs/retrain.yml): refit the champion on the reference data plus
the newest labelled production data, and score champion and challenger on the same holdout
(`core.training.challenger.train_challenger`). The same job runs on both backends: an Azure ML
command job on Azure, a subprocess of the service locally.

Contract (README, "Retraining"):

- inputs `training_data` (the champion's reference data: an MLTable folder, a data folder or a
  file), `inference_data` (the newest labelled production data; only its rows carrying the
  target are used) and `champion_model` (the model version's folder, in any format the model
  port reads: MLflow, a joblib or pickle file, the service's own); `target`, `features`
  (comma-separated) and `task`, which the service sets from the model's description (tags
  included), so the job sees the model as the service does (`auto`: read from the model);
- outputs `--model_output`: the challenger in the champion's format (an MLflow model stays an
  MLflow model, a joblib file a joblib file of the same name), with autopilot-scores.json;
  `--training_output` (optional): the rows the challenger was trained on, as an MLTable;
- run tags `autopilot.champion_scores` and `autopilot.challenger_scores` (the service judges
  them), set through MLflow when the job runs tracked (MLFLOW_RUN_ID or MLFLOW_TRACKING_URI).

Training rows: the reference data plus 70% of the labelled rows; holdout: the other 30%,
stratified (`core.training.model.split_holdout`). When the data cannot train a challenger (too
few labelled rows, columns missing), the job sets the run tag `autopilot.refused`
({"code", "reason"}) and exits 2 with the reason on stderr: the request is rejected. A champion
that cannot be loaded exits 3.

Run by hand: python jobs/train.py --training_data DIR --inference_data DIR
    --champion_model DIR --model_output DIR [--training_output DIR]
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
from core.domain import tags as tag_names  # noqa: E402
from core.domain.assets import MLTable, ModelVersion  # noqa: E402
from core.domain.models import ModelProblem, describe  # noqa: E402
from core.domain.retraining import Reason  # noqa: E402
from core.training.challenger import NotEnoughLabels, train_challenger  # noqa: E402
from core.training.loader import ModelLoadError, SklearnModelLoader  # noqa: E402
from core.training.model import TrainingError  # noqa: E402

SCORES_FILE = "autopilot-scores.json"
TRAINING_FILE = "training.csv"
EXIT_REFUSED = 2  # the data cannot train a challenger (the request is rejected)
EXIT_CHAMPION = 3  # the champion cannot be loaded
AUTO = "auto"  # an input the service left to the job: read it from the model


class JobError(Exception):
    """The job cannot do its work with these inputs; the message says why."""


class Refused(Exception):
    """The data cannot train a challenger; `code` says why (a retraining reason code)."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code


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


def load_champion(args: argparse.Namespace, reference: pa.Table):
    """The champion through the model port, described as the service describes it: the
    service's view (target, features, task from the model's tags) arrives as inputs."""
    loader = SklearnModelLoader()
    inspection = loader.inspect(Path(args.champion_model))
    given = {tag_names.TARGET: args.target, tag_names.FEATURES: args.features,
             tag_names.ML_TASK: args.task}
    version = ModelVersion("champion", "job", str(args.champion_model),
                           tags={k: v for k, v in given.items() if v and v != AUTO})
    description = describe(version, inspection, reference.column_names)
    if not description.retrainable:
        raise ModelLoadError(description.problem or ModelProblem.UNLOADABLE,
                             description.reason or "the champion cannot be retrained")
    return loader.load(Path(args.champion_model), description)


def retrain(args: argparse.Namespace) -> dict:
    reference = read_table(args.training_data)
    champion = load_champion(args, reference)
    inference = read_table(args.inference_data)
    try:
        run = train_challenger(champion, reference, inference,
                               holdout_fraction=args.holdout_fraction,
                               n_estimators=args.n_estimators)
    except NotEnoughLabels as exc:
        raise Refused(str(Reason.NOT_ENOUGH_LABELS), str(exc)) from None
    except TrainingError as exc:
        raise Refused("data_does_not_fit", str(exc)) from None
    scores = {
        "champion": _rounded(run.champion_scores),
        "challenger": _rounded(run.challenger_scores),
        "holdout_rows": run.holdout_rows,
        "training_rows": run.training_rows,
        "format": champion.format,
    }
    out = Path(args.model_output)
    out.mkdir(parents=True, exist_ok=True)
    run.challenger.save(out)
    (out / SCORES_FILE).write_text(json.dumps(scores, indent=2, sort_keys=True) + "\n")
    if args.training_output is not None:
        _write_training_data(Path(args.training_output), run.training)
    _set_run_tags({tag_names.CHAMPION_SCORES: json.dumps(scores["champion"]),
                   tag_names.CHALLENGER_SCORES: json.dumps(scores["challenger"]),
                   tag_names.JOB_ROWS: json.dumps({"training": run.training_rows,
                                                   "holdout": run.holdout_rows})})
    return scores


def _write_training_data(folder: Path, table: pa.Table) -> None:
    """The challenger's training rows as a basic MLTable (the reference's next version)."""
    import pyarrow.csv as pacsv

    folder.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, folder / TRAINING_FILE)
    (folder / "MLTable").write_text(MLTable(paths=(f"./{TRAINING_FILE}",)).to_yaml())


def _rounded(values: dict) -> dict:
    return {k: v if v is None else round(v, 6) for k, v in values.items()}


def _set_run_tags(values: dict[str, str]) -> None:
    """Run tags: what the service reads when the job ends. Only inside a tracked run (Azure ML
    sets MLFLOW_RUN_ID; the local backend MLFLOW_TRACKING_URI): elsewhere MLflow would start an
    ./mlruns store."""
    if not (os.environ.get("MLFLOW_RUN_ID") or os.environ.get("MLFLOW_TRACKING_URI")):
        return
    try:
        import mlflow
    except ImportError:
        print("mlflow is not installed: scores only in " + SCORES_FILE, file=sys.stderr)
        return
    for key, value in values.items():
        mlflow.set_tag(key, value)


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
                        help="the current model's folder (MLflow, joblib/pickle or our own)")
    parser.add_argument("--model_output", type=Path, required=True,
                        help="where the challenger is saved, with " + SCORES_FILE)
    parser.add_argument("--training_output", type=Path, default=None,
                        help="where the challenger's training rows go, as an MLTable")
    parser.add_argument("--target", default=AUTO,
                        help="the column the model predicts (auto: from the model)")
    parser.add_argument("--features", default=AUTO,
                        help="comma-separated input features (auto: from the model)")
    parser.add_argument("--task", default=AUTO,
                        choices=(AUTO, "classification", "regression"))
    parser.add_argument("--holdout_fraction", type=float, default=0.3)
    parser.add_argument("--n_estimators", type=int, default=None,
                        help="trees in the challenger's forest (default: the champion's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        scores = retrain(args)
    except ModelLoadError as exc:
        print(f"retraining failed: the champion cannot be used ({exc.problem}): {exc}",
              file=sys.stderr)
        return EXIT_CHAMPION
    except (Refused, JobError) as exc:
        code = exc.code if isinstance(exc, Refused) else "unreadable_data"
        print(f"retraining failed: {exc}", file=sys.stderr)
        _set_run_tags({tag_names.JOB_REFUSED: json.dumps({"code": code,
                                                          "reason": str(exc)[:1000]})})
        return EXIT_REFUSED
    print(_summary(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
