"""The metric registry: one small declarative record per metric.

Names are Azure's YAML threshold keys. ``default_threshold`` is Azure's default where Azure has
one (``azure_default=True``: normalized Wasserstein 0.1 for numerical drift, Jensen-Shannon 0.1
for categorical drift, 0.0 for the data quality rates) and a conventional value otherwise (PSI
0.2, p-values 0.05), used only when a caller asks for it.

Breach direction: distances and rates breach when the value is *above* the threshold, p-values
when it is *below* (Azure's ``evaluate_metrics_threshold``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Direction = Literal["above", "below"]
MetricKind = Literal["drift", "quality"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: MetricKind
    feature_types: tuple[str, ...]
    default_threshold: float
    direction: Direction
    azure_name: str  # the metric name Azure writes in its signal output and breach message
    label: str
    azure_default: bool = False
    effect_size: str | None = None  # what we report beside a p-value

    def breached(self, value: float | None, threshold: float | None) -> bool:
        if value is None or threshold is None or value != value:  # NaN never breaches
            return False
        return value < threshold if self.direction == "below" else value > threshold

    def applies_to(self, feature_type: str) -> bool:
        return feature_type in self.feature_types


_BOTH = ("numerical", "categorical")

REGISTRY: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "jensen_shannon_distance", "drift", _BOTH, 0.1, "above",
            "JensenShannonDistance", "Jensen-Shannon distance", azure_default=True,
        ),
        MetricSpec(
            "normalized_wasserstein_distance", "drift", ("numerical",), 0.1, "above",
            "NormalizedWassersteinDistance", "Normalized Wasserstein distance",
            azure_default=True,
        ),
        MetricSpec(
            "population_stability_index", "drift", _BOTH, 0.2, "above",
            "PopulationStabilityIndex", "Population stability index",
        ),
        MetricSpec(
            "two_sample_kolmogorov_smirnov_test", "drift", ("numerical",), 0.05, "below",
            "TwoSampleKolmogorovSmirnovTest", "Two-sample KS p-value",
            effect_size="ks_statistic",
        ),
        MetricSpec(
            "pearsons_chi_squared_test", "drift", ("categorical",), 0.05, "below",
            "PearsonsChiSquaredTest", "Pearson chi-squared p-value",
            effect_size="total_variation_distance",
        ),
        MetricSpec(
            "null_value_rate", "quality", _BOTH, 0.0, "above",
            "NullValueRate", "Null value rate", azure_default=True,
        ),
        MetricSpec(
            "data_type_error_rate", "quality", _BOTH, 0.0, "above",
            "DataTypeErrorRate", "Data type error rate", azure_default=True,
        ),
        MetricSpec(
            "out_of_bounds_rate", "quality", _BOTH, 0.0, "above",
            "OutOfBoundsRate", "Out of bounds rate", azure_default=True,
        ),
    )
}

DRIFT_METRICS = tuple(n for n, s in REGISTRY.items() if s.kind == "drift")
QUALITY_METRICS = tuple(n for n, s in REGISTRY.items() if s.kind == "quality")

#: Common misspellings and Azure's PascalCase names, mapped to registry names.
ALIASES = {
    "chi_squared_test": "pearsons_chi_squared_test",
    "pearson_chi_squared_test": "pearsons_chi_squared_test",
    "ks_test": "two_sample_kolmogorov_smirnov_test",
    "psi": "population_stability_index",
    "jsd": "jensen_shannon_distance",
    **{s.azure_name: s.name for s in REGISTRY.values()},
}


def get(name: str) -> MetricSpec:
    """The spec for a metric name (Azure YAML key, Azure PascalCase name or a known alias)."""
    key = ALIASES.get(name, name)
    try:
        return REGISTRY[key]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(REGISTRY)}") from None


def metrics_for(feature_type: str, kind: MetricKind) -> tuple[str, ...]:
    return tuple(
        n for n, s in REGISTRY.items() if s.kind == kind and s.applies_to(feature_type)
    )


# Signal -> feature type -> metric -> threshold. The one place defaults are chosen.
AZURE_DEFAULT_THRESHOLDS: dict[str, dict[str, dict[str, float]]] = {
    "data_drift": {
        "numerical": {"normalized_wasserstein_distance": 0.1},
        "categorical": {"jensen_shannon_distance": 0.1},
    },
    "prediction_drift": {
        "numerical": {"normalized_wasserstein_distance": 0.1},
        "categorical": {"jensen_shannon_distance": 0.1},
    },
    "data_quality": {
        "numerical": {m: 0.0 for m in QUALITY_METRICS},
        "categorical": {m: 0.0 for m in QUALITY_METRICS},
    },
}


def normalize_thresholds(
    thresholds: Mapping[str, Mapping[str, float]] | None, kind: MetricKind
) -> dict[str, dict[str, float]]:
    """Validate an Azure-style ``{"numerical": {metric: t}, "categorical": {...}}`` dict.

    Only the feature types given appear in the output (a caller fills the others with defaults).

    Metric names are normalised to the registry's; a metric that does not apply to the feature
    type or to this kind of signal raises ValueError with the reason.
    """
    out: dict[str, dict[str, float]] = {}
    for ftype, per_metric in (thresholds or {}).items():
        if ftype not in ("numerical", "categorical"):
            raise ValueError(f"threshold feature type must be numerical or categorical: {ftype!r}")
        out[ftype] = {}
        for name, value in (per_metric or {}).items():
            spec = get(name)
            if spec.kind != kind:
                raise ValueError(f"{spec.name} is a {spec.kind} metric, not a {kind} metric")
            if not spec.applies_to(ftype):
                raise ValueError(f"{spec.name} does not apply to {ftype} features")
            if value is None:
                continue
            out[ftype][spec.name] = float(value)
    return out
