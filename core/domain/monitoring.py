"""A model's drift monitor as the product decides it, independent of any SDK.

`MonitorSpec` is what the monitor use cases compute ("desired") and what the workspace adapters
read back ("actual"); the two are compared with `==`. The Azure ML adapter turns it into an
`azure.ai.ml.entities.MonitorSchedule`; the local workspace stores it as the YAML that
`az ml schedule create -f` accepts (`core.adapters.local.schedule_yaml`).

Thresholds use Azure's YAML shape (azure-facts section 2), for example
``{"numerical": {"normalized_wasserstein_distance": 0.1},
"categorical": {"jensen_shannon_distance": 0.1}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from core.domain import tags as _tags
from core.domain.ground_truth import DEFAULT_CORRELATION_COLUMN
from core.domain.performance import AZURE_SIGNAL_METRICS
from core.drift import metrics

SignalKind = Literal["data_drift", "data_quality", "prediction_drift", "model_performance"]
MLTask = Literal["classification", "regression"]

# One metric per feature type for drift signals: azure-ai-ml's NumericalDriftMetrics /
# CategoricalDriftMetrics send only the first metric that is set, silently dropping the rest.
NUMERICAL_DRIFT_METRICS = metrics.metrics_for("numerical", "drift")
CATEGORICAL_DRIFT_METRICS = metrics.metrics_for("categorical", "drift")
DATA_QUALITY_METRICS = metrics.QUALITY_METRICS

# Azure's defaults, from the drift engine's registry (the one place defaults are chosen).
DEFAULT_DRIFT_THRESHOLDS: dict[str, dict[str, float]] = metrics.AZURE_DEFAULT_THRESHOLDS[
    "data_drift"
]
DEFAULT_DATA_QUALITY_THRESHOLDS: dict[str, dict[str, float]] = metrics.AZURE_DEFAULT_THRESHOLDS[
    "data_quality"
]

# Tags the adapters put on the schedule (see core.domain.tags).
TAG_PREFIX = _tags.SCHEDULE_PREFIX
TAG_MODEL = _tags.SCHEDULE_MODEL
TAG_REFERENCE = _tags.SCHEDULE_REFERENCE
TAG_PRODUCTION = _tags.SCHEDULE_PRODUCTION
TAG_OUTPUTS = _tags.SCHEDULE_OUTPUTS
TAG_PREDICTION_REFERENCE = _tags.SCHEDULE_PREDICTION_REFERENCE
TAG_LABELLED = _tags.SCHEDULE_LABELLED
TAG_PERFORMANCE_THRESHOLDS = _tags.SCHEDULE_PERFORMANCE_THRESHOLDS

_DURATION = re.compile(r"^P(?:\d+D|T\d+H|\d+DT\d+H|\d+W)$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def check_cron(expression: str) -> str:
    """A 5-field cron expression croniter can compute fires of (the one validator for the
    MONITOR_SCHEDULE setting and the `autopilot.schedule` tag). Raises ValueError."""
    from croniter import croniter  # pure computation; only where a cron expression is checked

    if len(expression.split()) != 5:
        raise ValueError(f"cron expression must have 5 fields, got {expression!r}")
    if not croniter.is_valid(expression):
        raise ValueError(f"{expression!r} is not a valid cron expression (minute hour "
                         "day-of-month month day-of-week)")
    return expression


def check_time_zone(name: str) -> str:
    """A time zone Azure ML schedules take (its Windows names, "W. Europe Standard Time") or
    an IANA name zoneinfo knows ("UTC", "Europe/Paris"). Raises ValueError."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from core.domain.time_zones import AZURE_ML_TIME_ZONES

    if name in AZURE_ML_TIME_ZONES:
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{name!r} is not a known time zone (an IANA name such as "
                         "Europe/Paris, or an Azure ML one such as W. Europe Standard Time)"
                         ) from None
    return name
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def parse_emails(text: str) -> tuple[str, ...]:
    """Comma- or semicolon-separated addresses. Raises ValueError for a non-address."""
    addresses = tuple(e.strip() for e in re.split(r"[,;]", text or "") if e.strip())
    if any("@" not in a for a in addresses):
        raise ValueError(f"not email addresses: {text!r}")
    return addresses


def is_lookback(text: str) -> bool:
    """An ISO 8601 duration monitoring accepts as a lookback window (P7D, PT12H, ...)."""
    return bool(_DURATION.match(text))


@dataclass(frozen=True)
class AssetRef:
    """A fixed version of a workspace asset: monitors pin versions (azure-facts section 2)."""

    name: str
    version: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", str(self.version))
        if not _NAME.match(self.name) or not self.version:
            raise ValueError(f"invalid asset reference {self.name!r}:{self.version!r}")

    @property
    def asset_id(self) -> str:
        return f"azureml:{self.name}:{self.version}"

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"

    @classmethod
    def parse(cls, text: str) -> AssetRef:
        """Accepts ``name:version``, ``azureml:name:version`` and ARM ids
        (``azureml:/subscriptions/.../data/<name>/versions/<version>``)."""
        text = text.strip()
        arm = re.search(r"/(?:data|models)/([^/]+)/versions/([^/]+)/?$", text)
        if arm:
            return cls(arm.group(1), arm.group(2))
        if text.startswith("azureml:"):
            text = text[len("azureml:") :]
        name, sep, version = text.rpartition(":")
        if not sep:
            raise ValueError(f"not a versioned asset reference: {text!r}")
        return cls(name, version)


@dataclass(frozen=True)
class MonitorTrigger:
    """When the monitor runs: a cron expression, or daily at ``HH:MM``; both in `time_zone`."""

    cron: str | None = None
    daily_at: str | None = None
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.daily_at is None):
            raise ValueError("a monitor trigger needs exactly one of cron or daily_at")
        if self.daily_at is not None and not _HHMM.match(self.daily_at):
            raise ValueError(f"daily_at must be HH:MM, got {self.daily_at!r}")
        if self.cron is not None:
            check_cron(self.cron)
        check_time_zone(self.time_zone)

    @classmethod
    def daily(cls, at: str = "03:00", time_zone: str = "UTC") -> MonitorTrigger:
        return cls(daily_at=at, time_zone=time_zone)

    @classmethod
    def parse(cls, text: str, time_zone: str = "UTC") -> MonitorTrigger:
        """Daily ``HH:MM`` or a 5-field cron expression (settings and model tags). Raises
        ValueError."""
        text = text.strip()
        if re.match(r"^\d{2}:\d{2}$", text):
            return cls.daily(text, time_zone)
        return cls(cron=text, time_zone=time_zone)

    @property
    def hour_minute(self) -> tuple[int, int]:
        if self.daily_at is None:
            raise ValueError("not a daily trigger")
        hh, mm = self.daily_at.split(":")
        return int(hh), int(mm)


def _thresholds(
    value: Mapping[str, Mapping[str, float | None] | None] | None,
    kind: metrics.MetricKind,
    *,
    one_per_type: bool,
    what: str,
) -> dict[str, dict[str, float]]:
    """Validated copy, feature type -> {metric: float}, empty types dropped. Metric names must
    be the schedule YAML's own keys (no aliases: the spec is what gets written), and apply to
    the feature type and signal kind, as the drift engine's registry says."""
    out: dict[str, dict[str, float]] = {}
    for data_type, per_metric in (value or {}).items():
        if data_type not in ("numerical", "categorical"):
            raise ValueError(f"{what}: unknown feature type {data_type!r}")
        per_metric = dict(per_metric or {})
        unknown = sorted(
            m for m in per_metric
            if m not in metrics.REGISTRY or metrics.REGISTRY[m].kind != kind
            or not metrics.REGISTRY[m].applies_to(data_type)
        )
        if unknown:
            raise ValueError(f"{what}: unknown {data_type} metric(s) {unknown}")
        if one_per_type and len(per_metric) > 1:
            raise ValueError(
                f"{what}: one {data_type} metric only (azure-ai-ml sends just one), "
                f"got {sorted(per_metric)}"
            )
        cleaned = {k: float(v) for k, v in per_metric.items() if v is not None}
        if any(v < 0 for v in cleaned.values()):
            raise ValueError(f"{what}: thresholds must be >= 0")
        if cleaned:
            out[data_type] = cleaned
    return out


@dataclass(frozen=True)
class MonitorSpec:
    """One model's monitor. Equality compares every field (the "desired vs actual" check).

    - `production_data`: the model-inputs asset version (data drift and data quality).
    - `production_outputs`: the model-outputs asset version; when set, a prediction drift signal
      is added, compared with `prediction_reference` (default: `reference_data`).
    - `performance_data`: a labelled data version (production rows joined with their ground
      truth, `<model>-labelled`) that carries the model's logged predictions; when set, a model
      performance signal (Azure: preview) compares `prediction_column` with `target_column`
      on it, rows joined by `correlation_column`, against `performance_thresholds` (the
      schedule YAML's metric names for `ml_task`: accuracy, precision, recall; mae, rmse).
    - `features`: None means all features.
    - `lookback_window`: ISO 8601 duration of production data each run looks at.
    - `tags`: the caller's own tags; `schedule_tags()` adds the model and data versions.
    """

    name: str
    model_name: str
    model_version: str
    reference_data: AssetRef
    production_data: AssetRef
    production_outputs: AssetRef | None = None
    prediction_reference: AssetRef | None = None
    ml_task: MLTask = "classification"
    features: tuple[str, ...] | None = None
    data_drift_thresholds: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_DRIFT_THRESHOLDS.items()}
    )
    data_quality_thresholds: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_DATA_QUALITY_THRESHOLDS.items()}
    )
    prediction_drift_thresholds: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_DRIFT_THRESHOLDS.items()}
    )
    trigger: MonitorTrigger = field(default_factory=MonitorTrigger.daily)
    alert_emails: tuple[str, ...] = ()
    lookback_window: str = "P7D"
    instance_type: str = "standard_e4s_v3"
    runtime_version: str = "3.4"
    enabled: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    performance_data: AssetRef | None = None
    performance_thresholds: dict[str, float] = field(default_factory=dict)
    prediction_column: str | None = None
    target_column: str | None = None
    correlation_column: str = DEFAULT_CORRELATION_COLUMN

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not _NAME.match(self.name) or not _NAME.match(self.model_name):
            raise ValueError(f"invalid monitor or model name: {self.name!r}, {self.model_name!r}")
        set_(self, "model_version", str(self.model_version))
        if self.ml_task not in ("classification", "regression"):
            raise ValueError(f"ml_task must be classification or regression, not {self.ml_task!r}")
        if self.features is not None:
            features = tuple(str(f) for f in self.features)
            if not features or len(set(features)) != len(features):
                raise ValueError("features must be None (all) or distinct names")
            set_(self, "features", features)
        set_(
            self,
            "data_drift_thresholds",
            _thresholds(
                self.data_drift_thresholds, "drift", one_per_type=True, what="data drift"
            ),
        )
        set_(
            self,
            "prediction_drift_thresholds",
            _thresholds(
                self.prediction_drift_thresholds,
                "drift",
                one_per_type=True,
                what="prediction drift",
            ),
        )
        set_(
            self,
            "data_quality_thresholds",
            _thresholds(
                self.data_quality_thresholds,
                "quality",
                one_per_type=False,
                what="data quality",
            ),
        )
        for what in ("data_drift_thresholds", "data_quality_thresholds"):
            if not getattr(self, what):
                raise ValueError(f"{what} must not be empty")
        if self.production_outputs is not None and not self.prediction_drift_thresholds:
            raise ValueError("prediction_drift_thresholds must not be empty (SDK requires them)")
        if self.prediction_reference == self.reference_data:
            set_(self, "prediction_reference", None)  # one spelling of "same as reference"
        if self.prediction_reference is not None and self.production_outputs is None:
            raise ValueError("prediction_reference given without production_outputs")
        self._check_performance()
        set_(self, "alert_emails", tuple(self.alert_emails))
        if not is_lookback(self.lookback_window):
            raise ValueError(
                f"lookback_window must be an ISO duration like P7D: {self.lookback_window!r}"
            )
        # azure-ai-ml 1.26.0 to 1.35.1 accept only "3.4" (checked at create time, not here).
        if self.runtime_version not in ("3.4", "3.5"):
            raise ValueError(
                f"runtime_version must be '3.4' (or '3.5'), not {self.runtime_version!r}"
            )
        tags = {str(k): str(v) for k, v in self.tags.items()}
        reserved = [k for k in tags if k.startswith(TAG_PREFIX)]
        if reserved:
            raise ValueError(f"tags starting with {TAG_PREFIX!r} are reserved: {reserved}")
        set_(self, "tags", tags)

    def _check_performance(self) -> None:
        thresholds = {str(k): float(v) for k, v in (self.performance_thresholds or {}).items()}
        object.__setattr__(self, "performance_thresholds", thresholds)
        if self.performance_data is None:
            if thresholds or self.prediction_column or self.target_column:
                raise ValueError("model performance settings given without performance_data")
            return
        if not self.prediction_column or not self.target_column:
            raise ValueError("a model performance signal needs prediction_column and "
                             "target_column")
        if not self.correlation_column:
            raise ValueError("a model performance signal needs correlation_column")
        if not thresholds:
            raise ValueError("a model performance signal needs at least one threshold")
        allowed = AZURE_SIGNAL_METRICS[self.ml_task]
        unknown = sorted(m for m in thresholds if m not in allowed)
        if unknown:
            raise ValueError(f"model performance: {unknown} are not {self.ml_task} metrics "
                             f"Azure's signal evaluates ({', '.join(allowed)})")
        if any(v < 0 or v != v for v in thresholds.values()):
            raise ValueError("model performance thresholds must be >= 0")

    # -- derived -------------------------------------------------------------------------

    @property
    def model(self) -> AssetRef:
        return AssetRef(self.model_name, self.model_version)

    @property
    def model_id(self) -> str:
        return f"azureml:{self.model_name}:{self.model_version}"

    def signal_kinds(self) -> tuple[SignalKind, ...]:
        kinds: tuple[SignalKind, ...] = ("data_drift", "data_quality")
        if self.production_outputs is not None:
            kinds += ("prediction_drift",)
        if self.performance_data is not None:
            kinds += ("model_performance",)
        return kinds

    def signal_name(self, kind: SignalKind) -> str:
        """`<monitor>_<signal>`, the form the Event Grid filtering docs ask for."""
        return f"{self.name}_{kind}"

    def signal_names(self) -> tuple[str, ...]:
        return tuple(self.signal_name(k) for k in self.signal_kinds())

    def effective_prediction_reference(self) -> AssetRef | None:
        if self.production_outputs is None:
            return None
        return self.prediction_reference or self.reference_data

    def schedule_tags(self) -> dict[str, str]:
        """The caller's tags plus the pinned model and data versions."""
        out = dict(self.tags)
        out[TAG_MODEL] = str(self.model)
        out[TAG_REFERENCE] = str(self.reference_data)
        out[TAG_PRODUCTION] = str(self.production_data)
        if self.production_outputs is not None:
            out[TAG_OUTPUTS] = str(self.production_outputs)
        if self.prediction_reference is not None:
            out[TAG_PREDICTION_REFERENCE] = str(self.prediction_reference)
        if self.performance_data is not None:
            out[TAG_LABELLED] = str(self.performance_data)
            out[TAG_PERFORMANCE_THRESHOLDS] = json.dumps(self.performance_thresholds,
                                                         sort_keys=True)
        return out

    @staticmethod
    def user_tags(schedule_tags: dict[str, str] | None) -> dict[str, str]:
        return {k: v for k, v in (schedule_tags or {}).items() if not k.startswith(TAG_PREFIX)}

    def differences(self, other: MonitorSpec) -> list[str]:
        """Names of the fields that differ (for logs and the admin API)."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True)
class MonitorRunResult:
    """One run of a monitor. Local runs complete at once (`completed`), with what breached and
    the events emitted; on Azure ML the run is a job (`job`) whose breach arrives later as a
    `RunStatusChanged` event."""

    run_id: str
    monitor: str
    model: str
    trigger: str
    started_at: float
    finished_at: float
    completed: bool
    job: str | None = None
    breached: bool = False
    signals: dict[str, bool] = field(default_factory=dict)  # signal name -> breached
    breaches: list[dict[str, Any]] = field(default_factory=list)  # {signal, feature, metric, ...}
    reference: str = ""
    production: str = ""
    result: str | None = None  # artifact key of the full drift result
    events: list[str] = field(default_factory=list)  # ids of the events emitted
    messages: dict[str, str] = field(default_factory=dict)  # signal -> breach run tag

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
