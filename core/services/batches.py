"""Use case: a batch became a data asset version. Re-aim the model's monitor at it (monitors pin
data versions), then act on the early drift check's verdict (`early_check_alert`) and on the
champion's performance on the labelled rows the batch completed (`performance_alert`), once the
model is registered."""

from __future__ import annotations

import logging

from core.domain.alerts import early_check_alert, performance_alert
from core.domain.ingestion import IngestionRecord
from core.ports import NotFound
from core.services.monitors import MonitorService
from core.services.retraining import Retraining

log = logging.getLogger(__name__)


class OnBatchRegistered:
    def __init__(self, monitors: MonitorService, retraining: Retraining):
        self._monitors = monitors
        self._retraining = retraining

    def __call__(self, record: IngestionRecord) -> None:
        re_aim_failed: Exception | None = None
        try:
            self._monitors.ensure(record.model, reason=f"new inference data "
                                  f"{record.asset_name}:{record.asset_version}")
        except NotFound:
            # Data before the model: the monitor is created when the model is registered.
            # There is no champion to retrain either: a request now would only be rejected
            # and start the cooldown that then suppresses the model's first real alerts.
            log.info("batch %s of %s arrived before the model; its early check is kept, "
                     "not acted on", record.ingestion_id, record.model)
            return
        except Exception as exc:
            # The reconcile timer re-aims the monitor later; nothing would act on this
            # batch's verdict again, so act on it now, then report the failure.
            re_aim_failed = exc
        verdict = early_check_alert(record.model, record.ingestion_id, record.drift)
        outcome = self._retraining.on_early_check(verdict)
        if outcome is not None:
            log.info("early drift alert for %s: %s (%s)", record.model, outcome.decision,
                     outcome.reason)
        breach = performance_alert(record.model, record.performance)
        if breach is not None:
            outcome = self._retraining.on_alert(breach)
            log.info("model performance alert for %s: %s (%s)", record.model, outcome.decision,
                     outcome.reason)
        if re_aim_failed is not None:
            raise re_aim_failed
