"""Use case: every registered model has one drift monitor aimed at its highest version and its
latest data, whatever order events arrive in and however many instances handle them.

`ensure(model)` is the whole algorithm; `ModelRegistered`, a new inference data version, the
reconcile timer and the admin API all call it. It never trusts the event's version alone: it
reads the model's versions from the workspace and aims at the highest, so duplicate, late and
reordered events (version 3 before version 2) all converge on the same monitor.

Concurrency: the monitor state document (state store kind "monitor", one per model) is
updated with its ETag before the schedule is written, and re-read afterwards. A writer that
finds someone else updated the state in between goes round again: it recomputes from the
workspace and rewrites if the schedule is not what it should be now. Whoever writes last has
therefore checked against the latest state, so a slow instance with stale reads cannot leave the
monitor aimed at an older version. A monitor name is derived from the model name, so there is
never a second monitor for one model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.concurrency import retry_on_conflict, update, write
from core.domain import tags as tag_names
from core.domain.assets import DataAssetVersion, ModelVersion, latest_version
from core.domain.models import ModelDescription
from core.domain.monitor_decision import (
    InvalidOverride,
    MissingProductionData,
    MissingReference,
    MonitorConfig,
    OptedOut,
    desired_monitor,
    labelled_wanted,
    outputs_wanted,
    production_wanted,
    reference_wanted,
    with_performance,
)
from core.domain.monitoring import MonitorSpec
from core.domain.names import check_name, check_version
from core.ports import Conflict, NotFound, StateStore, Stored, Workspace, WorkspaceError
from core.services.models import ModelCatalog
from core.services.reporting import SILENT, Reporter

log = logging.getLogger(__name__)

KIND = "monitor"
REFUSED_KIND = "refused-event"  # events acknowledged without action, and why
_REFUSED_SHOWN = 20

# Status of a model's monitor as the admin API shows it.
STATUS_BY_DECISION = {
    MissingReference: "waiting_for_reference",
    MissingProductionData: "waiting_for_data",
    OptedOut: "opted_out",
    InvalidOverride: "invalid_configuration",
}


@dataclass(frozen=True)
class EnsureOutcome:
    model: str
    action: str  # created | updated | unchanged | waiting | opted_out | invalid | disabled | ...
    status: str  # active | waiting_for_reference | waiting_for_data | opted_out | ...
    monitor: str
    model_version: str | None
    reason: str
    changes: tuple[str, ...] = ()
    reference_data: str | None = None
    production_data: str | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"changes": list(self.changes)}


class MonitorService:
    def __init__(self, workspace: Workspace, state: StateStore, config: MonitorConfig, *,
                 clock: Callable[[], float] = time.time,
                 catalog: ModelCatalog | None = None,
                 reporter: Reporter = SILENT):
        self._ws = workspace
        self._reporter = reporter
        self._state = state
        self.config = config
        self._clock = clock
        # What the model is (features, task, whether it can be retrained): the monitor
        # watches its features, and the state says why retraining is unavailable.
        self._catalog = catalog

    # ------------------------------------------------------------------ queries

    def monitor_name(self, model: str) -> str:
        return self.config.monitor_name(model)

    def state(self, model: str) -> dict | None:
        stored = self._state.get(KIND, model)
        return stored.doc if stored else None

    def describe(self, model: str) -> dict:
        """One model's monitor as operators see it: the schedule, its targets and state."""
        spec = self._ws.get_monitor(self.monitor_name(model))
        state = self.state(model)
        if spec is None and state is None:
            raise NotFound(f"model {model} has no monitor and no monitor state")
        return _describe(model, self.monitor_name(model), spec, state or {})

    def list_all(self) -> list[dict]:
        """Every model with a monitor or a monitor state (waiting, opted out, ...)."""
        states = {s.key: s.doc for s in self._state.list(KIND)}
        specs = {s.model_name: s for s in self._ws.list_monitors()}
        models = sorted(set(states) | set(specs))
        return [
            _describe(m, self.monitor_name(m), specs.get(m), states.get(m, {})) for m in models
        ]

    # ------------------------------------------------------------------ commands

    def ensure(self, model: str, *, reason: str, hint_version: str | None = None) -> EnsureOutcome:
        """Create, update or leave the model's monitor so it matches what it should be now.

        Raises InvalidName for a name or version Azure ML would refuse (before any call),
        NotFound when the workspace has no version of the model (recorded only when the model
        had a monitor state already: a typo leaves nothing behind), WorkspaceError when the
        workspace cannot be reached (the caller retries)."""
        with self._reporter.span("ensure_monitor", model=model, reason=reason[:300]):
            return self._ensure(model, reason=reason, hint_version=hint_version)

    def _ensure(self, model: str, *, reason: str, hint_version: str | None) -> EnsureOutcome:
        check_name(model, "model name")
        if hint_version is not None:
            check_version(hint_version, "model version")
        self._reporter.annotate(monitor=self.monitor_name(model))

        def attempt() -> EnsureOutcome:
            current = self._state.get(KIND, model)
            outcome, spec_to_write, doc = self._decide(model, hint_version, reason, current)
            if outcome.action == "model_not_found" and current is None:
                return outcome  # no state for a model that never existed
            written = write(self._state, KIND, model, current, doc)
            if spec_to_write is not None:
                self._ws.create_or_update_monitor(spec_to_write)
                after = self._state.get(KIND, model)
                if after is None or after.etag != written.etag:
                    # Someone decided after us: go round, so the last write is right.
                    raise Conflict(f"monitor state of {model} changed while writing")
            return outcome

        outcome = retry_on_conflict(attempt, what=f"monitor of {model}")
        log.info("monitor of %s: %s (%s)", model, outcome.action, outcome.reason)
        self._reporter.monitor_ensured(outcome)
        if outcome.action == "model_not_found":
            raise NotFound(outcome.reason)
        return outcome

    def ensure_all(self, *, reason: str) -> list[EnsureOutcome]:
        """Every registered model, plus any with a monitor state (the reconcile timer)."""
        names = set(self._ws.list_models()) | {s.key for s in self._state.list(KIND)}
        out = []
        for model in sorted(names):
            try:
                out.append(self.ensure(model, reason=reason))
            except NotFound as exc:
                log.info("reconcile: %s", exc)
            except Exception:  # one model must not stop the others; the next tick retries
                log.exception("reconcile of %s failed", model)
        return out

    def record_refused(self, event_id: str, *, model: str, reason: str) -> None:
        """An event acknowledged without action because it can never succeed (a name the
        workspace refuses): kept, with why, for `GET /api/monitors`."""
        key = hashlib.sha256(event_id.encode()).hexdigest()[:32]
        self._state.put(REFUSED_KIND, key, {
            "event_id": event_id[:200], "model": model[:300], "reason": reason[:1000],
            "at": self._clock(),
        })

    def refused_events(self) -> list[dict]:
        """The newest refused events first (at most 20)."""
        docs = sorted((s.doc for s in self._state.list(REFUSED_KIND)),
                      key=lambda d: d.get("at", 0), reverse=True)
        return docs[:_REFUSED_SHOWN]

    def set_enabled(self, model: str, enabled: bool) -> dict:
        name = self.monitor_name(model)
        spec = (self._ws.enable_monitor if enabled else self._ws.disable_monitor)(name)
        self.record(model, operator_disabled=not enabled)
        return _describe(model, name, spec, self.state(model) or {})

    def record(self, model: str, **fields) -> None:
        """Merge `fields` into the model's monitor state (last run, operator flags)."""
        update(self._state, KIND, model, lambda doc: {**(doc or {}), **fields})

    # ------------------------------------------------------------------ the decision

    def _target(self, model: str, hint_version: str | None) -> ModelVersion | None:
        versions = self._ws.list_model_versions(model)
        if hint_version and all(v.version != hint_version for v in versions):
            # Listing can lag a registration: the event's version may be newer.
            with contextlib.suppress(NotFound):
                versions.append(self._ws.get_model(model, hint_version))
        if not versions:
            return None
        return latest_version(versions)

    def _reference(self, target: ModelVersion) -> DataAssetVersion | None:
        try:
            name, version = reference_wanted(target, self.config)
        except ValueError:
            return None  # desired_monitor reports the malformed tag
        if version is None:
            return self._ws.latest_data(name)
        try:
            return self._ws.get_data(name, version)
        except NotFound:
            return None

    def _decide(self, model: str, hint_version: str | None, reason: str,
                current: Stored | None) -> tuple[EnsureOutcome, MonitorSpec | None, dict]:
        now = self._clock()
        previous = current.doc if current else {}
        name = self.monitor_name(model)
        base = {
            **{k: v for k, v in previous.items() if k in _KEPT},
            "model": model,
            "monitor": name,
            "checked_at": now,
            "last_trigger": reason,
        }
        target = self._target(model, hint_version)
        if target is None:
            why = f"model {model} has no registered version" + (
                f" (event named version {hint_version})" if hint_version else "")
            outcome = EnsureOutcome(model, "model_not_found", "model_not_found", name, None, why)
            return outcome, None, {**base, "status": outcome.status, "reason": why}

        reference = self._reference(target)
        production = self._ws.latest_data(production_wanted(target, self.config))
        outputs = self._ws.latest_data(outputs_wanted(target, self.config))
        decision = desired_monitor(target, reference, production, self.config, outputs)
        actual = self._ws.get_monitor(name)
        base["model_version"] = target.version

        description = self._description(target, reference)
        if description is not None:
            base["model_description"] = _model_summary(description)
            base["retraining"] = {"available": description.retrainable,
                                  "problem": str(description.problem)
                                  if description.problem else None,
                                  "reason": description.reason}
        if isinstance(decision, MonitorSpec):
            if decision.features is None and self._catalog is not None \
                    and reference is not None:
                features = self._catalog.monitored_features(description, reference)
                if features:
                    decision = dataclasses.replace(decision, features=features)
            if description is not None and tag_names.ML_TASK not in target.tags \
                    and "task" in description.sources \
                    and not description.sources["task"].startswith("setting"):
                decision = dataclasses.replace(decision, ml_task=description.task)
            if description is not None:  # the model performance signal, on labelled data
                decision = self._with_performance(decision, target, description, actual)
            # An operator's disable sticks (an opt-out's does not); the rest follows the model.
            decision = dataclasses.replace(
                decision, enabled=not previous.get("operator_disabled", False)
            )
            changes: tuple[str, ...] = ()
            to_write: MonitorSpec | None = None
            if actual == decision:
                action = "unchanged"
            else:
                action = "created" if actual is None else "updated"
                changes = tuple(actual.differences(decision)) if actual else ()
                to_write = decision
            why = {"created": "monitor created", "updated": "monitor re-aimed: "
                   + ", ".join(changes), "unchanged": "monitor already up to date"}[action]
            doc = {
                **base, "status": "active", "reason": why,
                "reference_data": str(decision.reference_data),
                "production_data": str(decision.production_data),
                "signals": list(decision.signal_names()),
            }
            if to_write is not None:
                doc["changed_at"] = now
                doc.setdefault("created_at", now)
                doc["history"] = [*previous.get("history", []), {
                    "at": now, "action": action, "model_version": target.version,
                    "production_data": str(decision.production_data), "trigger": reason,
                }][-20:]
            return (EnsureOutcome(model, action, "active", name, target.version, why, changes,
                                  doc["reference_data"], doc["production_data"]), to_write, doc)

        status = STATUS_BY_DECISION[type(decision)]
        why = decision.reason
        if isinstance(decision, InvalidOverride) and decision.tag:
            why = f"tag {decision.tag}: {why}; the monitor is left as it was"
        to_write = None
        action = {"waiting_for_reference": "waiting", "waiting_for_data": "waiting",
                  "opted_out": "opted_out", "invalid_configuration": "invalid"}[status]
        if isinstance(decision, OptedOut) and actual is not None and actual.enabled:
            # Opting out stops the monitor; it is kept (disabled) for its history.
            to_write = dataclasses.replace(actual, enabled=False)
            action = "disabled"
        doc = {**base, "status": status, "reason": why}
        return EnsureOutcome(model, action, status, name, target.version, why), to_write, doc


    def _with_performance(self, decision: MonitorSpec, target: ModelVersion,
                          description: ModelDescription,
                          actual: MonitorSpec | None) -> MonitorSpec:
        """The model performance signal on the latest labelled version; when that version
        lacks the logged predictions (its outputs arrived after the join), on the version the
        monitor already watches."""
        def on(labelled: DataAssetVersion | None) -> MonitorSpec:
            return with_performance(decision, target, labelled, target=description.target,
                                    prediction_columns=description.prediction_columns,
                                    config=self.config)

        spec = on(self._ws.latest_data(labelled_wanted(target, self.config)))
        if spec.performance_data is None and actual is not None \
                and actual.performance_data is not None:
            with contextlib.suppress(NotFound):
                spec = on(self._ws.get_data(actual.performance_data.name,
                                            actual.performance_data.version))
        return spec

    def _description(self, target: ModelVersion,
                     reference: DataAssetVersion | None) -> ModelDescription | None:
        """What the model is; worked out (and cached) here, on registration, so ingestion
        finds it ready. A model that cannot be described still gets its monitor."""
        if self._catalog is None:
            return None
        try:
            return self._catalog.describe(target, reference)
        except WorkspaceError:
            raise  # the files could not be fetched right now: the event is retried
        except Exception:
            log.exception("describing %s failed", target.asset_id)
            return None


def _model_summary(description: ModelDescription) -> dict:
    return {k: v for k, v in description.to_doc().items()
            if k in ("version", "format", "flavor", "file", "estimator", "features", "target",
                     "task", "prediction_columns", "fitted_on", "sources")}


# State fields that survive a re-decision (the rest is recomputed every time).
_KEPT = ("history", "changed_at", "created_at", "last_run", "last_scheduled_fire",
         "operator_disabled")


def _describe(model: str, name: str, spec: MonitorSpec | None, state: dict) -> dict:
    out = {
        "model": model,
        "monitor": name,
        "status": state.get("status", "active" if spec else "unknown"),
        "reason": state.get("reason"),
        "checked_at": state.get("checked_at"),
        "changed_at": state.get("changed_at"),
        "last_trigger": state.get("last_trigger"),
        "last_run": state.get("last_run"),
        "history": state.get("history", []),
        "exists": spec is not None,
        "model_description": state.get("model_description"),
        "retraining": state.get("retraining"),
    }
    if spec is not None:
        out.update({
            "enabled": spec.enabled,
            "model_version": spec.model_version,
            "reference_data": str(spec.reference_data),
            "production_data": str(spec.production_data),
            "production_outputs": str(spec.production_outputs) if spec.production_outputs
            else None,
            "signals": list(spec.signal_names()),
            "ml_task": spec.ml_task,
            "features": list(spec.features) if spec.features else None,
            "schedule": _schedule_text(spec),
            "alert_emails": list(spec.alert_emails),
            "data_drift_thresholds": spec.data_drift_thresholds,
            "performance_data": str(spec.performance_data) if spec.performance_data
            else None,
            "performance_thresholds": spec.performance_thresholds or None,
        })
    else:
        out["model_version"] = state.get("model_version")
    return out


def _schedule_text(spec: MonitorSpec) -> str:
    t = spec.trigger
    return f"daily at {t.daily_at} {t.time_zone}" if t.daily_at else f"cron {t.cron} {t.time_zone}"
