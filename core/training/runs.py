"""MLflow run records: the tags a job's run set (`mlflow.set_tag`), read with MLflow's own
client from a tracking store on disk (the local backend's jobs write theirs there). MLflow is
imported on first use only."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def _file_store_allowed() -> Iterator[None]:
    """MLflow's file store refuses to open without this switch of its own (it is in maintenance
    mode; a database store would need SQLAlchemy); set for the read only."""
    key = "MLFLOW_ALLOW_FILE_STORE"
    saved = dict(os.environ)
    os.environ.update({key: "true"})
    try:
        yield
    finally:
        if key in saved:
            os.environ.update({key: saved[key]})
        else:
            os.environ.pop(key, None)


def run_tags(store: Path) -> dict[str, str]:
    """Every tag the store's runs set (oldest run first; MLflow's own `mlflow.*` tags left out).
    Empty when the store does not exist (the job never called MLflow)."""
    if not Path(store).is_dir():
        return {}
    from mlflow.tracking import MlflowClient

    with _file_store_allowed():
        client = MlflowClient(tracking_uri=Path(store).resolve().as_uri())
        experiments = client.search_experiments()
        runs = client.search_runs([e.experiment_id for e in experiments]) if experiments else []
    tags: dict[str, str] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time or 0):
        tags.update({k: str(v) for k, v in run.data.tags.items() if not k.startswith("mlflow.")})
    return tags
