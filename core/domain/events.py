"""Azure ML events as the product sees them, parsed from either Event Grid envelope.

Pure: stdlib only. `parse_event` accepts a delivered event as a dict in the Event Grid schema
(``id, topic, subject, eventType, eventTime, data, dataVersion``) or as a CloudEvents 1.0 event
(``id, source, subject, type, time, data, specversion``) and returns

- `ModelRegistered` for ``Microsoft.MachineLearningServices.ModelRegistered``,
- `RunStatusChanged` for ``Microsoft.MachineLearningServices.RunStatusChanged`` and
  ``RunCompleted`` (same data without ``runStatus``: it becomes ``Completed``),
- `DatasetDriftDetected` for the legacy v1 data drift event,
- `UnknownEvent` for any other type (the caller acknowledges and logs it).

Data keys are read case-insensitively: the docs print PascalCase (``ModelName``,
``ModelVersion: 20``) while captured events are camelCase with string versions
(azure-facts section 1). Versions become strings; the subject (``models/<name>:<version>``,
``experiments/<id>/runs/<runId>``) fills in what the data leaves out.

An event that cannot be understood raises `MalformedEvent` (a `ValueError`) naming its id; a
retry would not fix it, so entry points log and acknowledge it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
RUN_COMPLETED = "Microsoft.MachineLearningServices.RunCompleted"
DATASET_DRIFT_DETECTED = "Microsoft.MachineLearningServices.DatasetDriftDetected"

# The run tag Azure ML model monitoring sets when a signal breaches its thresholds.
THRESHOLD_BREACHED_TAG = "azureml_modelmonitor_threshold_breached"



def breach_message(signal_name: str, rows: list[dict[str, Any]]) -> str:
    """The run tag Azure's evaluation step writes on a breach: the signal's name and its
    breaching rows (``feature_name, metric_value, metric_name, threshold_value``), printed as
    a Python list of JSON strings, as Azure prints them."""
    return (
        f"The signal '{signal_name}' has failed due to one or more features violating "
        "metric thresholds.\nThe feature names and their corresponding computed metric "
        f"values violating the threshold are \n{[json.dumps(r) for r in rows]}\n"
    )


_MODEL_SUBJECT = re.compile(r"(?:^|/)models/([^/:]+):([^/:]+)/?$")
_DRIFT_SUBJECT = re.compile(r"(?:^|/)datadrift/([^/]+)/run/([^/]+)/?$")
_RUN_SUBJECT = re.compile(r"(?:^|/)experiments/([^/]+)/runs/([^/]+)/?$")
_UNKNOWN_ID = "<no id>"


class MalformedEvent(ValueError):
    """The event cannot be understood; the message names its id. Retrying will not help."""

    def __init__(self, event_id: str, reason: str):
        super().__init__(f"malformed event {event_id}: {reason}")
        self.event_id = event_id
        self.reason = reason


@dataclass(frozen=True)
class ModelRegistered:
    event_id: str
    model_name: str
    model_version: str
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    subject: str = ""
    event_time: str | None = None

    @property
    def model(self) -> str:
        return f"{self.model_name}:{self.model_version}"


@dataclass(frozen=True)
class RunStatusChanged:
    event_id: str
    experiment_name: str
    run_id: str
    run_type: str
    run_tags: dict[str, str]
    run_properties: dict[str, str]
    run_status: str
    experiment_id: str = ""
    subject: str = ""
    event_time: str | None = None
    event_type: str = RUN_STATUS_CHANGED

    @property
    def threshold_breach(self) -> str | None:
        """Azure ML monitoring's breach message, when this run breached its thresholds."""
        return self.run_tags.get(THRESHOLD_BREACHED_TAG) or None


@dataclass(frozen=True)
class DatasetDriftDetected:
    """Azure ML v1 data drift (legacy): one coefficient for the whole dataset."""

    event_id: str
    data_drift_id: str
    data_drift_name: str
    run_id: str
    base_dataset_id: str
    target_dataset_id: str
    drift_coefficient: float | None
    start_time: str | None = None
    end_time: str | None = None
    subject: str = ""
    event_time: str | None = None


@dataclass(frozen=True)
class UnknownEvent:
    event_id: str
    event_type: str
    subject: str = ""
    data: Any = None


Event = ModelRegistered | RunStatusChanged | DatasetDriftDetected | UnknownEvent


def event_grid_event(
    event_type: str, subject: str, data: dict[str, Any], *, topic: str
) -> dict[str, Any]:
    """An event in the Event Grid schema, as the local backend emits what Azure would."""
    import uuid
    from datetime import UTC, datetime

    return {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "subject": subject,
        "eventType": event_type,
        "eventTime": datetime.now(UTC).isoformat(),
        "dataVersion": "2",
        "metadataVersion": "1",
        "data": data,
    }


def _ci(mapping: Mapping[str, Any], *names: str) -> Any:
    """The value of the first of `names` present in `mapping`, keys compared case-insensitively
    (and ignoring underscores, so ``model_name`` matches too). None when absent."""
    wanted = [n.replace("_", "").casefold() for n in names]
    folded: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(key, str):
            folded.setdefault(key.replace("_", "").casefold(), value)
    for name in wanted:
        if name in folded:
            return folded[name]
    return None


def _text(value: Any, event_id: str, what: str) -> str:
    """A scalar as text: ints (``ModelVersion: 20``) and integral floats become ``"20"``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise MalformedEvent(event_id, f"{what} must be text or a number, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise MalformedEvent(event_id, f"{what} must be text or a number, got {type(value).__name__}")


def _string_map(value: Any, event_id: str, what: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):  # some producers send tags as a JSON string
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise MalformedEvent(event_id, f"{what} is not an object") from exc
    if not isinstance(value, Mapping):
        raise MalformedEvent(event_id, f"{what} must be an object, got {type(value).__name__}")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _data(event: Mapping[str, Any], event_id: str) -> Mapping[str, Any]:
    data = _ci(event, "data")
    if data is None:
        encoded = _ci(event, "data_base64")
        if encoded is not None:
            try:
                data = json.loads(base64.b64decode(encoded, validate=True))
            except (binascii.Error, ValueError, TypeError) as exc:
                raise MalformedEvent(event_id, "data_base64 is not base64 JSON") from exc
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data) if data else {}
        except ValueError as exc:
            raise MalformedEvent(event_id, "data is not a JSON object") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise MalformedEvent(event_id, f"data must be an object, got {type(data).__name__}")
    return data


def parse_event(event: Mapping[str, Any]) -> Event:
    """Parse one delivered event (either envelope). Raises `MalformedEvent`."""
    if not isinstance(event, Mapping):
        raise MalformedEvent(_UNKNOWN_ID, f"an event must be an object, got {type(event).__name__}")
    raw_id = _ci(event, "id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise MalformedEvent(_UNKNOWN_ID, "no id")
    event_id = raw_id.strip()
    # `eventType` (Event Grid schema) or `type` (CloudEvents 1.0).
    event_type = _ci(event, "eventType", "type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise MalformedEvent(event_id, "no eventType or type")
    event_type = event_type.strip()
    subject = _ci(event, "subject")
    subject = subject.strip() if isinstance(subject, str) else ""
    event_time = _ci(event, "eventTime", "time")
    event_time = str(event_time) if event_time is not None else None

    kind = event_type.casefold()
    if kind == MODEL_REGISTERED.casefold():
        return _model_registered(event_id, subject, event_time, _data(event, event_id))
    if kind in (RUN_STATUS_CHANGED.casefold(), RUN_COMPLETED.casefold()):
        parsed = _run_status_changed(event_id, subject, event_time, _data(event, event_id))
        if kind == RUN_COMPLETED.casefold():
            from dataclasses import replace

            parsed = replace(parsed, event_type=RUN_COMPLETED,
                             run_status=parsed.run_status or "Completed")
        return parsed
    if kind == DATASET_DRIFT_DETECTED.casefold():
        return _dataset_drift(event_id, subject, event_time, _data(event, event_id))
    return UnknownEvent(event_id, event_type, subject, _ci(event, "data"))


def _model_registered(
    event_id: str, subject: str, event_time: str | None, data: Mapping[str, Any]
) -> ModelRegistered:
    name = _text(_ci(data, "modelName"), event_id, "modelName")
    version = _text(_ci(data, "modelVersion"), event_id, "modelVersion")
    if not name or not version:
        match = _MODEL_SUBJECT.search(subject)
        if match:
            name = name or match.group(1)
            version = version or match.group(2)
    if not name:
        raise MalformedEvent(event_id, "no model name in data or subject")
    if not version:
        raise MalformedEvent(event_id, f"no version for model {name!r} in data or subject")
    return ModelRegistered(
        event_id=event_id,
        model_name=name,
        model_version=version,
        tags=_string_map(_ci(data, "modelTags"), event_id, "modelTags"),
        properties=_string_map(_ci(data, "modelProperties"), event_id, "modelProperties"),
        subject=subject,
        event_time=event_time,
    )


def _run_status_changed(
    event_id: str, subject: str, event_time: str | None, data: Mapping[str, Any]
) -> RunStatusChanged:
    run_id = _text(_ci(data, "runId"), event_id, "runId")
    experiment_id = _text(_ci(data, "experimentId"), event_id, "experimentId")
    match = _RUN_SUBJECT.search(subject)
    if match:
        experiment_id = experiment_id or match.group(1)
        run_id = run_id or match.group(2)
    if not run_id:
        raise MalformedEvent(event_id, "no run id in data or subject")
    return RunStatusChanged(
        event_id=event_id,
        experiment_name=_text(_ci(data, "experimentName"), event_id, "experimentName"),
        run_id=run_id,
        run_type=_text(_ci(data, "runType"), event_id, "runType"),
        run_tags=_string_map(_ci(data, "runTags"), event_id, "runTags"),
        run_properties=_string_map(_ci(data, "runProperties"), event_id, "runProperties"),
        run_status=_text(_ci(data, "runStatus"), event_id, "runStatus"),
        experiment_id=experiment_id,
        subject=subject,
        event_time=event_time,
    )


def _dataset_drift(
    event_id: str, subject: str, event_time: str | None, data: Mapping[str, Any]
) -> DatasetDriftDetected:
    drift_id = _text(_ci(data, "dataDriftId"), event_id, "dataDriftId")
    run_id = _text(_ci(data, "runId"), event_id, "runId")
    match = _DRIFT_SUBJECT.search(subject)
    if match:
        drift_id = drift_id or match.group(1)
        run_id = run_id or match.group(2)
    name = _text(_ci(data, "dataDriftName"), event_id, "dataDriftName")
    if not name and not drift_id:
        raise MalformedEvent(event_id, "no dataDriftName or dataDriftId")
    raw = _ci(data, "driftCoefficient")
    coefficient: float | None = None
    if raw is not None and raw != "":
        try:
            coefficient = float(raw)
        except (TypeError, ValueError):
            raise MalformedEvent(event_id, f"driftCoefficient is not a number: {raw!r}") from None
    return DatasetDriftDetected(
        event_id=event_id,
        data_drift_id=drift_id,
        data_drift_name=name,
        run_id=run_id,
        base_dataset_id=_text(_ci(data, "baseDatasetId"), event_id, "baseDatasetId"),
        target_dataset_id=_text(_ci(data, "targetDatasetId"), event_id, "targetDatasetId"),
        drift_coefficient=coefficient,
        start_time=_text(_ci(data, "startTime"), event_id, "startTime") or None,
        end_time=_text(_ci(data, "endTime"), event_id, "endTime") or None,
        subject=subject,
        event_time=event_time,
    )
