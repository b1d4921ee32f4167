"""Use case glue for drift thresholds: which policy judges the early check and local monitor
runs (settings DRIFT_THRESHOLD_POLICY, DRIFT_THRESHOLD_K or DRIFT_FALSE_ALARM_RATE,
DRIFT_THRESHOLD_QUANTILE, DRIFT_THRESHOLDS), and the batch size a reference is calibrated for
(EXPECTED_BATCH_ROWS, else the median size of the model's recent batches, else 1,000). The
rules live in ``core.drift.policy``; this holds what they need from the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from core.ports import IngestionLedger

if TYPE_CHECKING:
    from core.drift import DriftConfig, DriftResult, ReferenceProfile
    from core.drift.policy import ThresholdPolicy

#: How many recent batches the median batch size is taken over.
RECENT_BATCHES = 20


class DriftThresholds:
    def __init__(self, policy: ThresholdPolicy, *, expected_batch_rows: int = 0,
                 ledger: IngestionLedger | None = None):
        self.policy = policy
        self.expected_batch_rows = expected_batch_rows
        self._ledger = ledger

    @classmethod
    def from_settings(cls, settings: Any, ledger: IngestionLedger | None) -> DriftThresholds:
        from core.drift.policy import ThresholdPolicy

        return cls(ThresholdPolicy(settings.drift_threshold_policy, k=settings.drift_threshold_k,
                                   quantile=settings.drift_threshold_quantile,
                                   thresholds=settings.drift_thresholds,
                                   false_alarm_rate=settings.drift_false_alarm_rate),
                   expected_batch_rows=settings.expected_batch_rows, ledger=ledger)

    def compare_over(self, profile: ReferenceProfile, production: pa.Table,
                     config: DriftConfig) -> DriftResult:
        """Compare under this policy with ``config``'s thresholds as its fixed values (a
        local monitor run: the monitor's spec names the metrics and the fallback values)."""
        return self.compare(profile, production, policy=self.with_base(config.thresholds),
                            signals=config.signals, features=config.features,
                            prediction_columns=config.prediction_columns)

    def with_base(self, thresholds: Mapping[str, Mapping[str, Mapping[str, float]]]
                  ) -> ThresholdPolicy:
        """This policy over other fixed thresholds (a monitor's, from its spec): for
        ``calibrated`` they choose the metrics judged and the fallback values."""
        from dataclasses import replace

        name = "fixed" if self.policy.name == "azure" else self.policy.name
        return replace(self.policy, name=name, thresholds=thresholds)

    def batch_rows(self, model: str | None) -> int:
        from core.drift.policy import expected_batch_rows

        recent: list[int] = []
        if model is not None and self._ledger is not None and not self.expected_batch_rows:
            records = self._ledger.list(model=model, status="registered")[:RECENT_BATCHES]
            recent = [r.rows for r in records if r.rows]
        return expected_batch_rows(recent, self.expected_batch_rows or None)

    def wants_calibration(self, profile: ReferenceProfile) -> bool:
        from core.drift.calibration import MIN_REFERENCE_ROWS

        return (self.policy.name == "calibrated" and profile.calibration is None
                and profile.n_rows >= MIN_REFERENCE_ROWS)

    def calibrate(self, profile: ReferenceProfile, table: pa.Table, model: str | None) -> None:
        """Give ``profile`` (built from ``table``) its calibration, for this model's batches."""
        from core.drift.calibration import calibrate

        profile.calibration = calibrate(table, profile, self.batch_rows(model))

    def prepare(self, profile: ReferenceProfile, production_rows: int, **config: Any
                ) -> tuple[DriftConfig, dict[str, Any]]:
        """The configuration of a batch of ``production_rows`` under this policy and how its
        thresholds were derived (a streamed comparison, whose rows are known at its end)."""
        return self.policy.prepare(profile, production_rows, **config)

    def compare(self, profile: ReferenceProfile, production: pa.Table, *,
                policy: ThresholdPolicy | None = None, **config: Any) -> DriftResult:
        from core.drift.policy import compare_with_policy

        return compare_with_policy(profile, production, policy or self.policy, **config)
