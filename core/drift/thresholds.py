"""Threshold policy names and the ``DRIFT_THRESHOLDS`` syntax: light (the registry only), so
the settings read them at start-up without loading the engine (``core.drift.policy``)."""

from __future__ import annotations

from typing import Literal

from core.drift import metrics as registry

PolicyName = Literal["azure", "calibrated", "fixed"]
POLICIES: tuple[PolicyName, ...] = ("azure", "calibrated", "fixed")
_SIGNALS: dict[str, registry.MetricKind] = {
    "data_drift": "drift", "prediction_drift": "drift", "data_quality": "quality"}


def parse_thresholds(text: str) -> dict[str, dict[str, dict[str, float]]]:
    """``"[signal:]type.metric=value,..."`` (signal ``data_drift`` when left out), e.g.
    ``"numerical.normalized_wasserstein_distance=0.2,data_quality:numerical.null_value_rate=0.05"``,
    as signal -> feature type -> metric -> value, validated against the registry."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, raw = item.partition("=")
        signal, _, rest = key.strip().rpartition(":")
        ftype, dot, metric = rest.partition(".")
        if not sep or not dot:
            raise ValueError(f"{item!r} is not [signal:]type.metric=value")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{item!r}: {raw.strip()!r} is not a number") from None
        out.setdefault(signal or "data_drift", {}).setdefault(ftype, {})[metric] = value
    for signal, per_type in out.items():
        if signal not in _SIGNALS:
            raise ValueError(f"unknown signal {signal!r}")
        out[signal] = registry.normalize_thresholds(per_type, _SIGNALS[signal])
    return out
