"""The drift engine: Azure ML model monitoring's numbers, computed fast, explained in pictures.

Pure code (numpy, scipy, pyarrow). Fit once on the reference (:func:`build_profile`), compare
many production batches (:func:`compare`), render a report (:func:`render_html`).
See ``core/drift/README.md``.
"""

from core.drift.engine import DriftConfig, compare, thresholds_from_azure
from core.drift.metrics import AZURE_DEFAULT_THRESHOLDS, REGISTRY, MetricSpec
from core.drift.profile import (
    PROFILE_FORMAT_VERSION,
    ProfileFormatError,
    ReferenceProfile,
    build_profile,
)
from core.drift.result import (
    Distribution,
    DriftResult,
    FeatureResult,
    MetricValue,
    Sampling,
    SignalResult,
)


def render_html(result: DriftResult, *, title: str = "Drift report") -> str:
    """See :func:`core.drift.report.render_html` (imported lazily)."""
    from core.drift.report import render_html as _render

    return _render(result, title=title)


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
