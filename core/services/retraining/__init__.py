"""Retraining use cases: drift alerts become at most one request per model (`alerts`), a
worker runs each request and judges the challenger (`worker`), a timer repairs what nothing
else would move (`repair`), operators handle the poison queue (`poison`). `records` keeps their
typed state; `Retraining` is the one object entry points and the admin use case talk to."""

from __future__ import annotations

from core.domain.alerts import CleanCheck, DriftAlert
from core.domain.events import Event
from core.domain.retraining import AlertRecord, RetrainGate, RetrainJobFinished, RetrainRequest
from core.ports import NotFound
from core.services.reporting import SILENT, Reporter
from core.services.retraining.alerts import AlertOutcome, RetrainAlerts
from core.services.retraining.poison import RetrainPoison
from core.services.retraining.records import RetrainRecords
from core.services.retraining.repair import RetrainRepair
from core.services.retraining.worker import RetrainWorker, RetryLater


class Retraining:
    def __init__(self, records: RetrainRecords, alerts: RetrainAlerts, worker: RetrainWorker,
                 repair: RetrainRepair, poison: RetrainPoison, reporter: Reporter = SILENT):
        self._reporter = reporter
        self.records = records
        self.alerts_service = alerts
        self.worker = worker
        self.repair = repair
        self.poison = poison

    # -- events and commands -------------------------------------------------------------

    def on_run_event(self, event: Event) -> dict:
        """An Azure ML run event: our retraining job finished, or a monitor breached (see
        `core.domain.alerts.classify_run_event`)."""
        from core.domain.alerts import classify_run_event

        kind = classify_run_event(event)
        if isinstance(kind, RetrainJobFinished):
            with self._reporter.span("complete_retraining", model=kind.model,
                                     request_id=kind.request_id):
                return self.worker.on_job_finished(kind)
        if isinstance(kind, DriftAlert):
            return self.on_alert(kind).to_json()
        return {"decision": "not_an_alert"}

    def on_alert(self, alert: DriftAlert) -> AlertOutcome:
        with self._reporter.span("drift_alert", model=alert.model, alert_key=alert.alert_key,
                                 event_id=alert.event_id):
            outcome = self.alerts_service.on_alert(alert)
            self._reporter.alert_decided(outcome, alert)
            return outcome

    def on_early_check(self, verdict: DriftAlert | CleanCheck | None) -> AlertOutcome | None:
        outcome = self.alerts_service.on_early_check(verdict)
        if outcome is not None:
            self._reporter.alert_decided(outcome, verdict if isinstance(verdict, DriftAlert)
                                         else None)
        return outcome

    def on_clean_check(self, model: str) -> None:
        self.alerts_service.on_clean_check(model)

    def request(self, model: str, *, reason: str, force: bool = False) -> AlertOutcome:
        with self._reporter.span("request_retraining", model=model):
            outcome = self.alerts_service.request(model, reason=reason, force=force)
            self._reporter.alert_decided(outcome)
            return outcome

    def handle_message(self, body: str, *, message_id: str, dequeue_count: int) -> dict:
        with self._reporter.span("retrain", message_id=message_id, dequeue_count=dequeue_count):
            return self.worker.handle_message(body, message_id=message_id,
                                              dequeue_count=dequeue_count)

    def complete_job(self, model: str, request_id: str, job: str) -> dict:
        return self.worker.complete_job(model, request_id, job)

    def reconcile(self) -> list[dict]:
        return self.repair.reconcile()

    def requeue_poison(self, message_id: str) -> dict:
        return self.poison.requeue(message_id)

    # -- queries -------------------------------------------------------------------------

    def gate(self, model: str) -> dict:
        held = self.records.gate(model)
        return held.record.to_doc() if held else {}

    def gate_record(self, model: str) -> RetrainGate | None:
        held = self.records.gate(model)
        return held.record if held else None

    def alerts(self, model: str) -> list[dict]:
        return [a.to_doc() for a in self.records.alerts(model)]

    def alert_records(self, model: str) -> list[AlertRecord]:
        return self.records.alerts(model)

    def history(self, model: str) -> list[dict]:
        return [r.to_doc() for r in self.records.requests(model)]

    def requests(self, model: str) -> list[RetrainRequest]:
        return self.records.requests(model)

    def get(self, model: str, request_id: str) -> dict:
        held = self.records.request(model, request_id)
        if held is None:
            raise NotFound(f"no retraining {request_id} for model {model}")
        return held.record.to_doc()

    def poison_messages(self) -> list[dict]:
        return self.poison.messages()


__all__ = ["AlertOutcome", "Retraining", "RetryLater"]
