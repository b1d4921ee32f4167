"""Every tag the product reads or writes, in one place. Values are strings, as Azure ML stores
tags.

Three families, kept apart by prefix so they can never be confused:

- ``autopilot.*`` on a **model version**: the operator's per-model overrides (read) and the
  lineage of a retrained version (written);
- ``autopilot.*`` on a **data asset version** and a **job**: where a batch or a job came from;
- ``monitor_autopilot.*`` on a **monitor schedule**: the pinned model and data versions the
  adapters write so "actual" can be compared with "desired" (Azure's schedule GET does not
  return the monitoring target's model id through azure-ai-ml 1.35.2).
"""

from __future__ import annotations

PREFIX = "autopilot."

# -- model tags an operator sets (per-model overrides of the settings) ----------------------
MONITOR = PREFIX + "monitor"  # "false" opts the model out
REFERENCE_DATA = PREFIX + "reference_data"  # "<asset>" or "<asset>:<version>"
FEATURES = PREFIX + "features"  # comma-separated feature names (the model's inputs)
TARGET = PREFIX + "target"  # the column the model predicts (the label in labelled data)
ML_TASK = PREFIX + "ml_task"  # classification | regression
SCHEDULE = PREFIX + "schedule"  # daily HH:MM or a 5-field cron expression
ALERT_EMAILS = PREFIX + "alert_emails"  # comma- or semicolon-separated
DRIFT_THRESHOLD = PREFIX + "drift_threshold"  # one threshold for both default drift metrics
# Model performance on labelled data: "metric=value,..." or one number (the primary metric).
PERFORMANCE_THRESHOLD = PREFIX + "performance_threshold"

OVERRIDES = (MONITOR, REFERENCE_DATA, FEATURES, TARGET, ML_TASK, SCHEDULE, ALERT_EMAILS,
             DRIFT_THRESHOLD, PERFORMANCE_THRESHOLD)

# -- lineage of a retrained model version (written by the retrainers) -----------------------
REQUEST_ID = PREFIX + "request_id"
PARENT_VERSION = PREFIX + "parent_version"
METRICS = PREFIX + "metrics"  # JSON object of the challenger's holdout scores
TRIGGER_REASON = PREFIX + "trigger_reason"
TRAINED_ON = PREFIX + "trained_on"  # the training data asset id
JOB = PREFIX + "job"  # the Azure ML job that trained it

LINEAGE = (REQUEST_ID, PARENT_VERSION, METRICS, TRIGGER_REASON, TRAINED_ON, JOB)

# -- retraining jobs (tags and properties of a submitted job) --------------------------------
JOB_MODEL = PREFIX + "model"  # on a job: the model it retrains
JOB_TASK = PREFIX + "task"  # on a job: the champion's task (how its scores are judged)
JOB_REFERENCE = PREFIX + "reference"  # on a job: "<asset>:<version>" it trains on
CHAMPION_SCORES = PREFIX + "champion_scores"  # set by the job (MLflow run tag)
CHALLENGER_SCORES = PREFIX + "challenger_scores"
JOB_REFUSED = PREFIX + "refused"  # set by a job that refuses its data: {"code", "reason"}
JOB_ROWS = PREFIX + "rows"  # set by the job: {"training": n, "holdout": n}

# -- data asset versions ---------------------------------------------------------------------
DATA_MODEL = PREFIX + "model"
DATA_INGESTION_ID = PREFIX + "ingestion_id"
DATA_DERIVED_FROM = PREFIX + "derived_from"  # training data of a retraining: its origin
DATA_COLUMNS = "columns"  # comma-separated columns of an ingested batch
DATA_EXTRA_COLUMNS = "extra_columns"
DATA_ROW_COUNT = "row_count"
DATA_CORRELATION_COLUMN = "correlation_column"  # the id column a batch's rows carry (joins)
DATA_LABELLED_ROWS = "labelled_rows"  # a labelled version: rows joined with their labels

# -- monitor schedules (adapter-written, compared by the monitor use case) -------------------
SCHEDULE_PREFIX = "monitor_autopilot."
SCHEDULE_MODEL = SCHEDULE_PREFIX + "model"  # "<name>:<version>"
SCHEDULE_REFERENCE = SCHEDULE_PREFIX + "reference_data"
SCHEDULE_PRODUCTION = SCHEDULE_PREFIX + "production_data"
SCHEDULE_OUTPUTS = SCHEDULE_PREFIX + "production_outputs"
SCHEDULE_PREDICTION_REFERENCE = SCHEDULE_PREFIX + "prediction_reference"
SCHEDULE_LABELLED = SCHEDULE_PREFIX + "labelled_data"  # the model performance signal's data
# The performance signal's thresholds as JSON: azure-ai-ml reads back only one of them.
SCHEDULE_PERFORMANCE_THRESHOLDS = SCHEDULE_PREFIX + "performance_thresholds"
# On a local monitor run's events (run properties), naming where the run came from.
RUN_MONITOR = SCHEDULE_PREFIX + "monitor"
RUN_MODEL = SCHEDULE_PREFIX + "model"

_FALSE = {"false", "0", "no", "off", "disabled"}


def is_false(value: str) -> bool:
    """A tag value meaning "no" (``false``, ``0``, ``no``, ``off``, ``disabled``)."""
    return value.strip().lower() in _FALSE


def inherited_overrides(tags: dict[str, str]) -> dict[str, str]:
    """The operator's ``autopilot.*`` tags of a champion, minus its lineage: what a retrained
    version carries over (schedule, emails, thresholds, ...)."""
    return {k: v for k, v in tags.items() if k.startswith(PREFIX) and k not in LINEAGE}
