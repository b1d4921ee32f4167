"""The drift engine: Azure ML model monitoring's numbers, computed fast, explained in pictures.

Fit once on the reference (:func:`build_profile`), compare many production batches
(:func:`compare`), render a report (:func:`render_html`). See ``core/drift/README.md``.

What lives here:

- the engine, split by kind: ``config`` (what to compute, how to judge a value), ``engine``
  (the comparison driver), ``batch`` (the production columns, a signal's rows), ``numerical``,
  ``categorical`` and ``quality`` (the metrics of one feature of each kind), over the kernels
  in ``stats`` and Azure's feature typing in ``types``;
- ``profile``: the reference profile and its binary format;
- ``metrics``: the metric registry and Azure's default thresholds;
- ``result``: the typed results and their JSON; ``report``: the HTML report.

Pure code: numpy, scipy, pyarrow and the standard library; it may import ``core.domain``, and
nothing from ``core.services``, ``core.adapters``, ``core.bootstrap``, ``functions`` or
``devtools``. No Azure SDK, no I/O.

The names below load on first use (PEP 562): `core.drift.metrics` is read at start-up by the
settings and the monitor specs, and must not pull scipy into a cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.drift.config import DriftConfig, thresholds_from_azure
    from core.drift.engine import compare
    from core.drift.metrics import AZURE_DEFAULT_THRESHOLDS, REGISTRY, MetricSpec
    from core.drift.profile import (
        PROFILE_FORMAT_VERSION,
        ProfileFormatError,
        ReferenceProfile,
        build_profile,
    )
    from core.drift.report import render_html
    from core.drift.result import (
        Distribution,
        DriftResult,
        FeatureResult,
        MetricValue,
        Sampling,
        SignalResult,
    )

_EXPORTS = {
    "DriftConfig": "config",
    "compare": "engine",
    "thresholds_from_azure": "config",
    "AZURE_DEFAULT_THRESHOLDS": "metrics",
    "REGISTRY": "metrics",
    "MetricSpec": "metrics",
    "PROFILE_FORMAT_VERSION": "profile",
    "ProfileFormatError": "profile",
    "ReferenceProfile": "profile",
    "build_profile": "profile",
    "render_html": "report",
    "Distribution": "result",
    "DriftResult": "result",
    "FeatureResult": "result",
    "MetricValue": "result",
    "Sampling": "result",
    "SignalResult": "result",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core.drift' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"core.drift.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AZURE_DEFAULT_THRESHOLDS",
    "PROFILE_FORMAT_VERSION",
    "REGISTRY",
    "Distribution",
    "DriftConfig",
    "DriftResult",
    "FeatureResult",
    "MetricSpec",
    "MetricValue",
    "ProfileFormatError",
    "ReferenceProfile",
    "Sampling",
    "SignalResult",
    "build_profile",
    "compare",
    "render_html",
    "thresholds_from_azure",
]
