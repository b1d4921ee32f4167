"""Use case: drift alerts become at most one retraining per model, and a retrained model is
kept only if it beats the current one.

From alert to request (`on_alert`, `request`):
1. The alert is recorded under its `alert_key` (state kind ``alerts-<model>``). Creating that
   record is the deduplication: the same alert delivered twice finds it and stops.
2. The model's gate (kind ``retrain-gate``) decides, under its ETag: suppressed while a
   retraining is open, within the cooldown after the last request, or until N breaches in a
   row; otherwise it opens a request. Instances racing on 20 alerts at once agree through the
   ETag: exactly one wins, the others re-read and find the request open.
3. The request is written (kind ``retrain-<model>``), then sent to the `retrain-requests` queue.
   A crash in between leaves the alert record "received" with the request id; the retried
   delivery resumes and sends it. Every suppressed alert keeps its reason.

Running a request (`handle_message`, the queue trigger): claim the request (ETag), run the
backend (local: train and judge in-process; Azure: submit a job and finish on its completion
event), record the decision with both scores, release the gate. A retried delivery of a
request whose previous attempt died takes it over; a finished request is never run again;
registration is looked up by request id first, so one request never registers two versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from core.concurrency import backoff, update
from core.domain.alerts import DriftAlert, split_signal_name
from core.ports import Conflict, MessageQueue, NotFound, StateStore

log = logging.getLogger(__name__)

# Lineage tags on a retrained model version.
TAG_REQUEST = "autopilot.request_id"
TAG_PARENT = "autopilot.parent_version"
TAG_METRICS = "autopilot.metrics"
TAG_REASON = "autopilot.trigger_reason"
TAG_TRAINED_ON = "autopilot.trained_on"

# Azure ML job statuses after which a job will not change again.
JOB_TERMINAL = frozenset({"Completed", "Failed", "Canceled", "Cancelled"})

GATE = "retrain-gate"
UNMAPPED = "_unmapped"
FINAL = ("registered", "rejected", "failed", "completed")
_ATTEMPTS = 40


def alerts_kind(model: str) -> str:
    return f"alerts-{model}"


def requests_kind(model: str) -> str:
    return f"retrain-{model}"


def version_for_request(workspace, model: str, request_id: str):
    """The model version a retraining request registered, if any: both backends look before
    registering, so a retried request never registers a second version."""
    return next((v for v in workspace.list_model_versions(model)
                 if v.tags.get(TAG_REQUEST) == request_id), None)


def _key(alert_key: str) -> str:
    # Table row keys may not hold '/', '\\', '#', '?': a digest of the alert key instead.
    return hashlib.sha256(alert_key.encode()).hexdigest()[:32]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RetrainConfig:
    cooldown_seconds: float = 24 * 3600
    breaches_in_a_row: int = 1
    lease_seconds: int = 1800
    max_attempts: int = 5  # host.json queues.maxDequeueCount
    retrain_on_early_drift: bool = True


@dataclass(frozen=True)
class AlertOutcome:
    decision: str  # requested | suppressed | duplicate | unmapped | ignored
    model: str | None
    reason: str
    request_id: str | None = None
    alert_key: str | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


class RetryLater(Exception):
    """The request is being worked on by a live delivery; let the queue redeliver later."""


def gate_decision(gate: dict, now: float, config: RetrainConfig, *, force: bool) -> tuple[str, str]:
    """("request" | "suppress", reason) for one breach, from the model's gate document."""
    if gate.get("open_request") and not force:
        return "suppress", (f"retraining {gate['open_request']} is already open (since "
                            f"{_iso(gate.get('open_since') or now)})")
    last = gate.get("last_request_at")
    if last is not None and now - last < config.cooldown_seconds and not force:
        return "suppress", (f"cooldown: the last retraining was requested at {_iso(last)}; "
                            f"the next is allowed after {_iso(last + config.cooldown_seconds)} "
                            "(RETRAIN_COOLDOWN_HOURS)")
    streak = gate.get("consecutive", 0) + 1
    if streak < config.breaches_in_a_row and not force:
        return "suppress", (f"breach {streak} of {config.breaches_in_a_row} in a row "
                            "(RETRAIN_BREACHES_IN_A_ROW)")
    return "request", "forced by the operator" if force else f"drift breach {streak} in a row"


class RetrainingService:
    def __init__(self, workspace, state: StateStore, queue: MessageQueue, poison: MessageQueue,
                 runner, config: RetrainConfig, *, monitor_name_template: str = "{model}-monitor",
                 clock=time.time, owner: str | None = None):
        self._ws = workspace
        self._state = state
        self._queue = queue
        self._poison = poison
        self._runner = runner  # LocalRetrainer or AzureRetrainer
        self.config = config
        self._template = monitor_name_template
        self._clock = clock
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    # ------------------------------------------------------------------ alerts

    def model_of(self, alert: DriftAlert) -> str | None:
        """The model an alert concerns: named directly, through the monitor definition in the
        workspace, or through the monitor naming convention."""
        if alert.model:
            return alert.model
        name = alert.monitor
        if not name:
            return None
        try:
            spec = self._ws.get_monitor(name)
        except Exception:  # a malformed or foreign schedule: fall back to the name
            spec = None
        if spec is not None:
            return spec.model_name
        prefix, _, suffix = self._template.partition("{model}")
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix + suffix):
            candidate = name[len(prefix): len(name) - len(suffix)]
            if self._ws.latest_model(candidate) is not None:
                return candidate
        if self._ws.latest_model(name) is not None:  # v1 data drift named after the model
            return name
        return None

    def on_alert(self, alert: DriftAlert) -> AlertOutcome:
        model = self.model_of(alert)
        if model is not None and alert.signal and \
                split_signal_name(alert.signal)[1] == "data_quality":
            # Nulls, type errors and out-of-range values are a data problem: a model retrained
            # on them is not better. Recorded for operators, not acted on.
            reason = ("data quality breach: retraining does not fix bad data (see the monitor "
                      "run and the quarantine)")
            if self._record_alert(model, alert, "ignored", reason) is None:
                return AlertOutcome("duplicate", model, "alert already handled", None,
                                    alert.alert_key)
            return AlertOutcome("ignored", model, reason, None, alert.alert_key)
        if model is None:
            self._record_alert(UNMAPPED, alert, "unmapped",
                               f"no model found for monitor {alert.monitor!r}")
            return AlertOutcome("unmapped", None, f"no model found for monitor "
                                f"{alert.monitor!r}; recorded", alert_key=alert.alert_key)
        return self._decide(model, alert, force=False)

    def request(self, model: str, *, reason: str, force: bool = False,
                requested_by: str = "operator") -> AlertOutcome:
        """A retraining asked for by hand: the same debounce unless `force`."""
        if self._ws.latest_model(model) is None:
            raise NotFound(f"model {model} has no registered version")
        alert = DriftAlert(
            alert_key=f"manual:{uuid.uuid4().hex}", source="manual", model=model,
            detail=reason, extra={"requested_by": requested_by},
        )
        return self._decide(model, alert, force=force)

    def on_clean_check(self, model: str) -> None:
        """A check without breach ends a run of breaches (for RETRAIN_BREACHES_IN_A_ROW)."""
        update(self._state, GATE, model, lambda doc: {**doc, "consecutive": 0}
               if doc and doc.get("consecutive") else None)

    def _record_alert(self, model: str, alert: DriftAlert, status: str, reason: str,
                      request_id: str | None = None):
        doc = {"alert_key": alert.alert_key, "received_at": self._clock(), "status": status,
               "reason": reason, "request_id": request_id, "evidence": alert.evidence()}
        try:
            return self._state.create(alerts_kind(model), _key(alert.alert_key), doc)
        except Conflict:
            return None

    def _decide(self, model: str, alert: DriftAlert, *, force: bool) -> AlertOutcome:
        kind, key = alerts_kind(model), _key(alert.alert_key)
        record = self._record_alert(model, alert, "received", "deciding")
        if record is None:
            existing = self._state.get(kind, key)
            assert existing is not None
            if existing.doc["status"] != "received":
                return AlertOutcome("duplicate", model, f"alert already handled: "
                                    f"{existing.doc['status']} ({existing.doc['reason']})",
                                    existing.doc.get("request_id"), alert.alert_key)
            record = existing  # an earlier delivery stopped half-way: finish its work
            if record.doc.get("request_id"):
                return self._send(model, alert, record, record.doc["request_id"])

        for attempt in range(_ATTEMPTS):
            now = self._clock()
            gate = self._state.get(GATE, model)
            doc = dict(gate.doc) if gate else {}
            verdict, reason = gate_decision(doc, now, self.config, force=force)
            if verdict == "suppress":
                if "in a row" in reason:
                    doc["consecutive"] = doc.get("consecutive", 0) + 1
                else:
                    doc.setdefault("consecutive", 0)
                doc["suppressed"] = doc.get("suppressed", 0) + 1
            else:
                request_id = f"{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%S}-" \
                             f"{uuid.uuid4().hex[:8]}"
                doc.update(open_request=request_id, open_since=now, last_request_at=now,
                           consecutive=0, alert_key=alert.alert_key)
            doc["last_alert_at"] = now
            try:
                if gate is None:
                    self._state.create(GATE, model, doc)
                else:
                    self._state.replace(GATE, model, doc, gate.etag)
            except Conflict:
                backoff(attempt)
                continue
            if verdict == "suppress":
                self._state.replace(kind, key, {**record.doc, "status": "suppressed",
                                                "reason": reason}, record.etag)
                log.info("alert %s for %s suppressed: %s", alert.alert_key, model, reason)
                return AlertOutcome("suppressed", model, reason, None, alert.alert_key)
            record = self._state.replace(kind, key, {**record.doc, "request_id": request_id},
                                         record.etag)
            return self._send(model, alert, record, request_id, reason=reason)
        raise Conflict(f"retraining gate of {model}: too much contention")

    def _send(self, model: str, alert: DriftAlert, record, request_id: str,
              reason: str = "drift breach") -> AlertOutcome:
        kind = requests_kind(model)
        now = self._clock()
        message = {
            "request_id": request_id,
            "model": model,
            "reason": alert.detail.splitlines()[0][:300] if alert.detail else reason,
            "trigger": alert.source,
            "evidence": alert.evidence(),
            "correlation_id": alert.event_id or alert.alert_key,
            "requested_at": _iso(now),
        }
        existing = self._state.get(kind, request_id)
        if existing is None:
            self._state.put(kind, request_id, {
                **message, "status": "pending", "created_at": now, "updated_at": now,
                "attempts": 0, "alert_key": alert.alert_key,
            })
            existing = self._state.get(kind, request_id)
        if existing.doc["status"] == "pending":
            message_id = self._queue.send(json.dumps(message))
            # Only if still pending: a fast worker may already have claimed it.
            with contextlib.suppress(Conflict):
                self._state.replace(kind, request_id, {
                    **existing.doc, "status": "queued", "message_id": message_id,
                    "updated_at": self._clock()}, existing.etag)
        self._state.replace(alerts_kind(model), record.key,
                            {**record.doc, "status": "requested", "reason": reason,
                             "request_id": request_id}, record.etag)
        log.warning("retraining %s requested for %s: %s", request_id, model, reason)
        return AlertOutcome("requested", model, reason, request_id, alert.alert_key)

    # ------------------------------------------------------------------ the queue trigger

    def handle_message(self, body: str, *, message_id: str, dequeue_count: int) -> dict:
        """Run one retraining request. Returns what happened; raises to have the queue retry
        (and, after max attempts, move the message to the poison queue)."""
        try:
            message = json.loads(body)
            model, request_id = message["model"], message["request_id"]
            if not isinstance(model, str) or not isinstance(request_id, str):
                raise TypeError("model and request_id must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            # Retrying cannot fix it: straight to the poison queue, where operators see it.
            self._poison.send(json.dumps({"error": f"unreadable retraining request: {exc}",
                                          "message_id": message_id, "body": body[:4000]}))
            log.error("retraining message %s is unreadable (%s); moved to the poison queue",
                      message_id, exc)
            return {"outcome": "poisoned", "reason": str(exc)}
        kind = requests_kind(model)
        claimed = self._claim(kind, request_id, message, message_id, dequeue_count)
        if claimed is None:
            current = self._state.get(kind, request_id)
            status = current.doc["status"] if current else "?"
            return {"outcome": "duplicate", "request_id": request_id, "status": status}
        try:
            result = self._runner.run(model, claimed.doc)
        except Exception as exc:
            last = dequeue_count >= self.config.max_attempts
            self._finish(kind, request_id, {
                "status": "failed" if last else "retrying",
                "error": f"{type(exc).__name__}: {exc}"[:2000],
            }, release=last)
            raise
        status = result.pop("status")
        self._finish(kind, request_id, {"status": status, **result},
                     release=status in FINAL)
        return {"outcome": status, "request_id": request_id, **result}

    def _claim(self, kind, request_id, message, message_id, dequeue_count):
        for attempt in range(_ATTEMPTS):
            now = self._clock()
            current = self._state.get(kind, request_id)
            if current is None:  # a request sent by another tool: adopt it
                try:
                    current = self._state.create(kind, request_id, {
                        **message, "status": "queued", "created_at": now, "updated_at": now,
                        "attempts": 0,
                    })
                except Conflict:
                    continue
            doc = current.doc
            if doc["status"] in FINAL or doc["status"] == "submitted":
                return None
            if doc["status"] == "running" and doc.get("lease_until", 0) > now:
                same_message = doc.get("message_id") == message_id
                if not (same_message and dequeue_count > doc.get("dequeue_count", 0)):
                    if same_message:
                        raise RetryLater(f"request {request_id} is running elsewhere")
                    return None  # another message for the same request is being handled
                # The same message came back: its previous delivery died. Take over.
            taken = {**doc, "status": "running", "owner": self._owner,
                     "lease_until": now + self.config.lease_seconds, "message_id": message_id,
                     "dequeue_count": dequeue_count, "attempts": doc.get("attempts", 0) + 1,
                     "started_at": now, "updated_at": now}
            try:
                return self._state.replace(kind, request_id, taken, current.etag)
            except Conflict:
                backoff(attempt)
        raise Conflict(f"request {request_id}: too much contention")

    def _finish(self, kind: str, request_id: str, fields: dict, *, release: bool) -> None:
        current = self._state.get(kind, request_id)
        doc = {**(current.doc if current else {}), **fields, "updated_at": self._clock(),
               "lease_until": 0}
        if fields.get("status") in FINAL:
            doc["finished_at"] = self._clock()
        self._state.put(kind, request_id, doc)
        if release:
            self._release(doc["model"], request_id)

    def _release(self, model: str, request_id: str) -> None:
        def release(doc):
            if not doc or doc.get("open_request") != request_id:
                return None
            return {**doc, "open_request": None, "open_since": None,
                    "last_finished": request_id}

        update(self._state, GATE, model, release)

    def complete_job(self, model: str, request_id: str, job_name: str) -> dict:
        """Azure backend: the retraining job finished (its completion event arrived)."""
        if not hasattr(self._runner, "complete"):
            return {"outcome": "ignored", "reason": "this backend does not submit jobs"}
        current = self._state.get(requests_kind(model), request_id)
        if current is not None and current.doc.get("status") in FINAL:
            return {"outcome": "duplicate", "request_id": request_id,
                    "status": current.doc["status"]}
        job = self._runner.job_status(job_name)
        result = self._runner.complete(model, request_id, job)
        status = result.pop("status")
        self._finish(requests_kind(model), request_id, {"status": status, **result},
                     release=status in FINAL)
        return {"outcome": status, "request_id": request_id, **result}

    # ------------------------------------------------------------------ repair (timer)

    def reconcile(self, *, stale_seconds: float = 120) -> list[dict]:
        """Repair open requests nothing else will move (run by the scheduler timer):
        - `pending` for a while: the alert's handler died before sending it; send it now;
        - `running` past its lease: the worker died and the message is gone; send it again;
        - `submitted` (Azure): failed or cancelled jobs emit no event; ask for the status;
        - finished or missing: release the gate."""
        actions = []
        now = self._clock()
        for gate in self._state.list(GATE):
            model, request_id = gate.key, gate.doc.get("open_request")
            if not request_id:
                continue
            kind = requests_kind(model)
            current = self._state.get(kind, request_id)
            status = current.doc.get("status") if current else None
            try:
                if current is None or status in FINAL:
                    self._release(model, request_id)
                    actions.append({"request_id": request_id, "action": "released gate"})
                elif status == "pending" and now - current.doc.get("created_at", now) > \
                        stale_seconds:
                    self._resend(kind, current, "queued")
                    actions.append({"request_id": request_id, "action": "sent"})
                elif status == "running" and current.doc.get("lease_until", now) < now:
                    self._resend(kind, current, "retrying")
                    actions.append({"request_id": request_id, "action": "re-sent (lease expired)"})
                elif status == "submitted" and hasattr(self._runner, "job_status"):
                    job = self._runner.job_status(current.doc["job"])
                    if job.get("status") in JOB_TERMINAL:
                        outcome = self.complete_job(model, request_id, current.doc["job"])
                        actions.append({"request_id": request_id, "action": outcome["outcome"]})
            except Exception:  # one broken request must not stop the others
                log.exception("reconciling retraining %s failed", request_id)
        return actions

    def _resend(self, kind: str, current, status: str) -> None:
        doc = current.doc
        message = {k: doc[k] for k in ("request_id", "model", "reason", "trigger", "evidence",
                                       "correlation_id", "requested_at") if k in doc}
        message_id = self._queue.send(json.dumps(message))
        self._state.put(kind, current.key, {**doc, "status": status, "message_id": message_id,
                                            "dequeue_count": 0, "updated_at": self._clock()})

    # ------------------------------------------------------------------ queries and poison

    def history(self, model: str) -> list[dict]:
        docs = [s.doc | {"request_id": s.key} for s in self._state.list(requests_kind(model))]
        return sorted(docs, key=lambda d: d.get("created_at", 0), reverse=True)

    def get(self, model: str, request_id: str) -> dict:
        stored = self._state.get(requests_kind(model), request_id)
        if stored is None:
            raise NotFound(f"no retraining {request_id} for model {model}")
        return stored.doc | {"request_id": request_id}

    def alerts(self, model: str) -> list[dict]:
        docs = [s.doc for s in self._state.list(alerts_kind(model))]
        return sorted(docs, key=lambda d: d.get("received_at", 0), reverse=True)

    def gate(self, model: str) -> dict:
        stored = self._state.get(GATE, model)
        return stored.doc if stored else {}

    def poison_messages(self) -> list[dict]:
        out = []
        for m in self._poison.peek(32):
            try:
                body = json.loads(m.body)
            except ValueError:
                body = m.body
            out.append({"message_id": m.id, "inserted_at": m.inserted_at,
                        "dequeue_count": m.dequeue_count, "body": body})
        return out

    def requeue_poison(self, message_id: str) -> dict:
        """Move one poison message back to the requests queue (after fixing the cause)."""
        target, held = None, []
        for _ in range(100):  # a page at a time, until found or the queue is exhausted
            received = self._poison.receive(32, visibility_seconds=60)
            if not received:
                break
            held += received
            target = next((m for m in received if m.id == message_id), None)
            if target is not None:
                break
        for m in held:
            if m is not target:
                self._poison.release(m)
        if target is None:
            raise NotFound(f"no poison message {message_id}")
        body = target.body
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict) and "request_id" in parsed and "model" in parsed:
                self._reopen(parsed["model"], parsed["request_id"])
        except ValueError:
            pass
        new_id = self._queue.send(body)
        self._poison.delete(target)
        return {"requeued": message_id, "new_message_id": new_id, "queue": self._queue.name}

    def _reopen(self, model: str, request_id: str) -> None:
        """A re-queued request holds the gate again (when it is free), so no alert opens a
        second retraining of the model while it runs."""
        current = self._state.get(requests_kind(model), request_id)
        if current is None or current.doc.get("status") not in ("failed", "retrying"):
            return
        self._state.put(requests_kind(model), request_id, {
            **current.doc, "status": "queued", "requeued_at": self._clock(),
            "updated_at": self._clock()})

        def hold(doc):
            if doc and doc.get("open_request") not in (None, request_id):
                log.warning("re-queued %s while %s is open", request_id, doc["open_request"])
                return None
            return {**(doc or {}), "open_request": request_id, "open_since": self._clock()}

        update(self._state, GATE, model, hold)
