"""Retraining as the product reasons about it: the queue message, the stored request, the
model's gate, each alert's record, their statuses and reason codes, the debounce policy and the
champion/challenger judgement. Pure: stdlib only (no scikit-learn: judging needs scores, not
models).

Stored documents keep a flat JSON shape (what the admin API shows); each record converts with
``to_doc``/``from_doc`` so the use cases never touch raw dict keys.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Self, cast

from core.domain.assets import ModelVersion

MLTask = Literal["classification", "regression"]

# -- metrics ------------------------------------------------------------------------------

METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "precision", "recall", "f1", "auc"),
    "regression": ("mae", "rmse", "r2"),
}
ALL_METRICS = frozenset(m for names in METRICS.values() for m in names)
LOWER_IS_BETTER = frozenset({"mae", "rmse"})
DEFAULT_PRIMARY_METRIC: dict[str, str] = {"classification": "f1", "regression": "rmse"}

# Azure ML job statuses after which a job will not change again.
JOB_TERMINAL = frozenset({"Completed", "Failed", "Canceled", "Cancelled"})


class RequestStatus(StrEnum):
    PENDING = "pending"  # written, not yet on the queue
    QUEUED = "queued"
    RUNNING = "running"  # claimed by a worker, under a lease
    RETRYING = "retrying"  # an attempt failed; the queue redelivers
    SUBMITTED = "submitted"  # an Azure ML job runs it; its completion finishes the request
    REGISTERED = "registered"  # the challenger won and is registered
    REJECTED = "rejected"  # nothing registered, for a recorded reason
    FAILED = "failed"  # gave up (poison queue, failed job)
    COMPLETED = "completed"

    @property
    def final(self) -> bool:
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset(
    {RequestStatus.REGISTERED, RequestStatus.REJECTED, RequestStatus.FAILED,
     RequestStatus.COMPLETED}
)


class AlertStatus(StrEnum):
    RECEIVED = "received"  # recorded, decision in progress (or interrupted)
    REQUESTED = "requested"
    SUPPRESSED = "suppressed"
    IGNORED = "ignored"
    UNMAPPED = "unmapped"


class AlertDecision(StrEnum):
    """What `on_alert` answers (an alert's status, or that it was seen before)."""

    REQUESTED = "requested"
    SUPPRESSED = "suppressed"
    DUPLICATE = "duplicate"
    UNMAPPED = "unmapped"
    IGNORED = "ignored"


class Reason(StrEnum):
    """Reason codes beside every human-readable reason (for dashboards and tests)."""

    DRIFT_BREACH = "drift_breach"
    FORCED = "forced"
    OPEN_REQUEST = "open_request"
    COOLDOWN = "cooldown"
    STREAK = "breaches_in_a_row"
    DATA_QUALITY = "data_quality"  # not actionable by retraining
    UNMAPPED = "unmapped"
    DUPLICATE = "duplicate"
    DECIDING = "deciding"
    # outcomes of a run
    CHALLENGER_WON = "challenger_won"
    CHALLENGER_LOST = "challenger_lost"
    NO_CHAMPION = "no_champion"
    CHAMPION_UNREADABLE = "champion_unreadable"
    NO_DATA = "no_data"
    NOT_ENOUGH_LABELS = "not_enough_labels"
    ALREADY_REGISTERED = "already_registered"
    JOB_FAILED = "job_failed"
    JOB_INVALID = "job_invalid"  # the job definition cannot be run (RETRAIN_JOB_FILE)
    NO_SCORES = "no_scores"
    NO_OUTPUT = "no_output"  # the job completed without writing the challenger
    ERROR = "error"
    POISONED = "poisoned"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def new_request_id(now: float, suffix: str) -> str:
    return f"{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%S}-{suffix}"


# -- the queue message (a command) ------------------------------------------------------------


class UnreadableMessage(ValueError):
    """A queue message that is not a retraining request; retrying cannot fix it."""


@dataclass(frozen=True)
class RetrainMessage:
    """`RunRetraining`: the JSON body on the `retrain-requests` queue."""

    request_id: str
    model: str
    reason: str = ""
    trigger: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    correlation_id: str = ""
    requested_at: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, body: str) -> RetrainMessage:
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise UnreadableMessage(f"not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise UnreadableMessage("not a JSON object")
        for key in ("model", "request_id"):
            if not isinstance(doc.get(key), str) or not doc[key]:
                raise UnreadableMessage(f"{key!r} must be a non-empty string")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in doc.items() if k in known}
        if not isinstance(values.get("evidence", {}), dict):
            values["evidence"] = {"value": values["evidence"]}
        cleaned: dict[str, Any] = {k: ("" if v is None else v) for k, v in values.items()}
        return cls(**cleaned)


# -- what a retrainer reports ----------------------------------------------------------------


@dataclass(frozen=True)
class RetrainResult:
    """The outcome of one attempt (or one job completion)."""

    status: RequestStatus
    decision: str = ""
    code: Reason | None = None
    details: dict[str, Any] = field(default_factory=dict)  # versions, scores, row counts, job

    def to_fields(self) -> dict[str, Any]:
        return {**self.details, "status": str(self.status), "decision": self.decision,
                "code": str(self.code) if self.code else None}


# -- stored records --------------------------------------------------------------------------


class _Doc:
    """Flat JSON documents (for dataclass records): known fields typed, unknown ones kept in
    `extra`, so a document written by a newer version survives a round trip."""

    extra: dict[str, Any]

    def to_doc(self) -> dict[str, Any]:
        out = dict(self.extra)
        for f in fields(cast(Any, self)):
            if f.name != "extra":
                value = getattr(self, f.name)
                out[f.name] = str(value) if isinstance(value, StrEnum) else value
        return out

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Self:
        known = {f.name for f in fields(cast(Any, cls))} - {"extra"}
        values = {k: v for k, v in doc.items() if k in known}
        extra = {k: v for k, v in doc.items() if k not in known}
        record: Self = cast(Any, cls)(**values, extra=extra)  # a dataclass: fields as keywords
        return record


@dataclass
class RetrainGate(_Doc):
    """One per model: the debounce state every instance agrees on through its ETag."""

    open_request: str | None = None
    open_since: float | None = None
    last_request_at: float | None = None
    last_finished: str | None = None
    last_alert_at: float | None = None
    consecutive: int = 0  # the streak of the last alert's signal (see `streaks`)
    suppressed: int = 0
    # Breaches in a row per signal kind ("data_drift", "prediction_drift", ...) since the last
    # request or clean check: RETRAIN_BREACHES_IN_A_ROW counts one signal's breaches, so three
    # unrelated one-off breaches of three signals are no streak.
    streaks: dict[str, int] = field(default_factory=dict)
    alert_key: str | None = None  # the alert that opened the open request
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AlertRecord(_Doc):
    """One per alert key and model: the dedupe and the answer operators read."""

    alert_key: str
    received_at: float
    status: AlertStatus
    reason: str
    code: str | None = None
    request_id: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = AlertStatus(self.status)


@dataclass
class RetrainRequest(_Doc):
    """One per request: its lifecycle, who works on it, and the result."""

    request_id: str
    model: str
    status: RequestStatus
    created_at: float
    updated_at: float
    reason: str = ""
    trigger: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    correlation_id: str = ""
    requested_at: str = ""
    alert_key: str | None = None
    attempts: int = 0
    message_id: str | None = None
    dequeue_count: int = 0
    owner: str | None = None
    lease_until: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    job: str | None = None
    error: str | None = None
    decision: str | None = None
    code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # the result's details, kept flat

    def __post_init__(self) -> None:
        self.status = RequestStatus(self.status)

    def message(self) -> RetrainMessage:
        return RetrainMessage(self.request_id, self.model, self.reason, self.trigger,
                              dict(self.evidence), self.correlation_id, self.requested_at)

    @classmethod
    def from_message(cls, message: RetrainMessage, status: RequestStatus, now: float,
                     **values: Any) -> RetrainRequest:
        return cls(request_id=message.request_id, model=message.model, status=status,
                   created_at=now, updated_at=now, reason=message.reason,
                   trigger=message.trigger, evidence=dict(message.evidence),
                   correlation_id=message.correlation_id, requested_at=message.requested_at,
                   **values)

    def with_result(self, result: RetrainResult, now: float) -> RetrainRequest:
        done = replace(self, status=result.status, decision=result.decision or self.decision,
                       code=str(result.code) if result.code else self.code, updated_at=now,
                       lease_until=0.0, extra={**self.extra, **result.details})
        if "job" in result.details:
            done.job = str(result.details["job"])
            done.extra.pop("job", None)
        if result.status.final:
            done.finished_at = now
        return done


# -- the debounce policy ---------------------------------------------------------------------


@dataclass(frozen=True)
class RetrainPolicy:
    cooldown_seconds: float = 24 * 3600
    breaches_in_a_row: int = 1
    lease_seconds: int = 1800
    max_attempts: int = 5  # host.json queues.maxDequeueCount
    retrain_on_early_drift: bool = True


@dataclass(frozen=True)
class GateVerdict:
    request: bool
    code: Reason
    reason: str


def _streaks(gate: RetrainGate, key: str) -> dict[str, int]:
    """The gate's streaks per signal; a gate stored before they were kept per signal has only
    ``consecutive``, which then counts for the signal at hand."""
    if not gate.streaks and gate.consecutive:
        return {key: gate.consecutive}
    return dict(gate.streaks)


def gate_decision(gate: RetrainGate, now: float, policy: RetrainPolicy, *,
                  force: bool, signal: str = "") -> GateVerdict:
    """Request or suppress, for one breach, from the model's gate; ``signal`` is the streak
    the breach counts for (`core.domain.alerts.streak_key`)."""
    if force:
        return GateVerdict(True, Reason.FORCED, "forced by the operator")
    if gate.open_request:
        return GateVerdict(False, Reason.OPEN_REQUEST,
                           f"retraining {gate.open_request} is already open (since "
                           f"{iso(gate.open_since or now)})")
    last = gate.last_request_at
    if last is not None and now - last < policy.cooldown_seconds:
        return GateVerdict(False, Reason.COOLDOWN,
                           f"cooldown: the last retraining was requested at {iso(last)}; the "
                           f"next is allowed after {iso(last + policy.cooldown_seconds)} "
                           "(RETRAIN_COOLDOWN_HOURS)")
    key = signal
    streak = _streaks(gate, key).get(key, 0) + 1
    what = f" of {key}" if key else ""
    if streak < policy.breaches_in_a_row:
        return GateVerdict(False, Reason.STREAK,
                           f"breach {streak} of {policy.breaches_in_a_row} in a row{what} "
                           "(RETRAIN_BREACHES_IN_A_ROW)")
    return GateVerdict(True, Reason.DRIFT_BREACH, f"drift breach {streak} in a row{what}")


def apply_verdict(gate: RetrainGate, verdict: GateVerdict, *, now: float, request_id: str,
                  alert_key: str, signal: str = "") -> RetrainGate:
    """The gate after a verdict: a request opens it and resets every streak; a suppression
    counts, and a streak suppression extends the streak of its signal."""
    if verdict.request:
        return replace(gate, open_request=request_id, open_since=now, last_request_at=now,
                       consecutive=0, streaks={}, alert_key=alert_key, last_alert_at=now)
    key = signal
    streaks = _streaks(gate, key)
    if verdict.code is Reason.STREAK:
        streaks[key] = streaks.get(key, 0) + 1
    return replace(gate, suppressed=gate.suppressed + 1, last_alert_at=now,
                   consecutive=streaks.get(key, 0), streaks=streaks)


def clean_check(gate: RetrainGate, signal: str = "data_drift") -> RetrainGate | None:
    """The gate after a check found ``signal`` clean: that signal's streak ends, and so does
    the streak of breaches whose signal was unknown (None: no change)."""
    if not gate.streaks.get(signal) and not gate.consecutive:
        return None
    streaks = {k: v for k, v in gate.streaks.items() if k not in (signal, "")}
    return replace(gate, streaks=streaks, consecutive=max(streaks.values(), default=0))


# -- the champion/challenger judgement -------------------------------------------------------


@dataclass(frozen=True)
class GateDecision:
    accepted: bool
    metric: str
    champion: dict[str, float | None] | None
    challenger: dict[str, float | None]
    margin: float
    improvement: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: float) -> str:
    if value != 0 and abs(value) < 0.001:
        return f"{value:.2g}"
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _metric(values: dict[str, Any] | None, metric: str) -> float | None:
    value = (values or {}).get(metric)
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def judge(
    champion: dict[str, Any] | None, challenger: dict[str, Any], task: str, *,
    metric: str | None = None, margin: float = 0.01,
) -> GateDecision:
    """Whether the challenger should replace the champion: it must beat it on the primary
    metric by at least margin (in the metric's units, better being positive)."""
    if task not in METRICS:
        raise ValueError(f"task must be 'classification' or 'regression', not {task!r}")
    metric = metric or DEFAULT_PRIMARY_METRIC[task]
    if metric not in METRICS[task]:
        raise ValueError(
            f"{metric!r} is not a {task} metric; use one of {', '.join(METRICS[task])}"
        )
    if margin < 0:
        raise ValueError(f"margin must be >= 0, not {margin}")
    champion = dict(champion) if champion else None
    challenger = dict(challenger)
    chosen = metric

    def decide(accepted: bool, improvement: float | None, reason: str) -> GateDecision:
        return GateDecision(accepted, chosen, champion, challenger, margin, improvement, reason)

    new = _metric(challenger, metric)
    if champion is None:
        return decide(True, None, "no champion to beat")
    if new is None:
        return decide(False, None, f"challenger has no {metric}")
    old = _metric(champion, metric)
    if old is None:
        return decide(True, None, f"champion has no {metric}; challenger has {_fmt(new)}")
    improvement = (old - new) if metric in LOWER_IS_BETTER else (new - old)
    # A hair of tolerance, so 0.81 vs 0.80 counts as the 0.01 it is despite binary floats.
    if improvement > 0 and improvement >= margin - 1e-12:
        return decide(True, improvement,
                      f"challenger {metric} {_fmt(new)} beats champion {_fmt(old)} "
                      f"by {_fmt(improvement)} (margin {_fmt(margin)})")
    return decide(False, improvement,
                  f"challenger {metric} {_fmt(new)} does not beat champion {_fmt(old)} "
                  f"by the margin {_fmt(margin)} (improvement {_fmt(improvement)})")


def judged(decision: GateDecision, details: dict[str, Any]) -> RetrainResult:
    """A judged attempt as a result (registration adds the new version to `details`)."""
    fields_ = {**details, "champion_scores": decision.champion,
               "challenger_scores": decision.challenger, "metric": decision.metric,
               "improvement": decision.improvement, "margin": decision.margin}
    if decision.accepted:
        return RetrainResult(RequestStatus.REGISTERED, decision.reason, Reason.CHALLENGER_WON,
                             fields_)
    return RetrainResult(RequestStatus.REJECTED, decision.reason, Reason.CHALLENGER_LOST,
                         fields_)


# -- job completion (Azure ML) ---------------------------------------------------------------


@dataclass(frozen=True)
class JobStatus:
    """What a workspace says about a job."""

    name: str
    status: str | None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str | None] = field(default_factory=dict)
    error: str | None = None  # why it failed, when the workspace says

    @property
    def finished(self) -> bool:
        return self.status in JOB_TERMINAL


@dataclass(frozen=True)
class RetrainJobFinished:
    """A run event of one of our retraining jobs that reached a terminal status."""

    model: str
    request_id: str
    job: str
    status: str


def registered_by(versions: Iterable[ModelVersion], request_id: str) -> ModelVersion | None:
    """The model version a retraining request registered, if any (its lineage tag): both
    backends look before registering, so a retried request never registers a second one."""
    from core.domain import tags

    return next((v for v in versions if v.tags.get(tags.REQUEST_ID) == request_id), None)
