"""Azure ML model monitoring's drift computation, re-implemented the slow, obvious way.

This is what "Azure's number" means in the parity tests. It follows the monitoring components
(Azure/azureml-assets, ``assets/model_monitoring/components/src``) step by step, on plain
Python lists, with Spark replaced by the Python it runs:

- ``df_utils.get_common_columns`` / ``is_categorical``: common columns of compatible type;
  integers categorical when ``len(set(values)) / len(values) < 0.05`` (None counts);
- ``compute_data_drift``: ``dropna()`` over the selected columns (Spark drops null and NaN):
  every column the feature selector named, i.e. in both frames by name, also those
  ``get_common_columns`` then leaves out for their types;
- ``histogram_utils.get_dual_histogram_bin_edges``: Sturges bins from the smaller frame,
  ``lo + i*w`` edges, the constant-column bin;
- ``pyspark.RDD.histogram``: copied below (evenly spaced check, ``int((x - minv) / inc)``,
  values above the last edge skipped, the last two counters merged);
- the metric functions: scipy's ``jensenshannon``, ``wasserstein_distance``, ``ks_2samp``,
  ``chisquare``, and the PSI loop;
- ``compute_data_quality_metrics``: rates ``round(count / rows, 5)``; nulls counted with
  Spark's ``isNull`` (NaN is not null); out of bounds only for numerical features (min/max)
  and string categorical ones (the value set, as ``convert_set_string_to_array`` splits the
  stringified list), no rate for other features.

Not what the engine does (no sorted arrays, no vectorisation), so the tests compare two
independent computations.
"""

from __future__ import annotations

import bisect
import math
import statistics
import warnings
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa
from scipy.spatial import distance
from scipy.stats import chisquare, ks_2samp, wasserstein_distance

LONG = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DOUBLE = ("float", "double", "halffloat")


def spark_group(arrow_type: pa.DataType) -> str:
    name = str(arrow_type)
    if name in LONG:
        return "long"
    if name in DOUBLE:
        return "double"
    if name in ("string", "large_string"):
        return "string"
    if name == "bool":
        return "boolean"
    if name.startswith("timestamp"):
        return "timestamp"
    if name.startswith("date"):
        return "date"
    return name


def is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def common_columns(ref: pa.Table, prod: pa.Table) -> list[str]:
    out = []
    for c in ref.column_names:
        if c in prod.column_names and spark_group(ref.schema.field(c).type) == spark_group(
            prod.schema.field(c).type
        ):
            out.append(c)
    return out


def feature_type(values: list, arrow_type: pa.DataType, override: str | None = None) -> str:
    if override:
        return override
    group = spark_group(arrow_type)
    if group in ("string", "boolean", "timestamp", "date"):
        return "categorical"
    if group == "double":
        return "numerical"
    return "categorical" if len(set(values)) / len(values) < 0.05 else "numerical"


def dropna(table: pa.Table, columns: list[str]) -> dict[str, list]:
    data = {c: table.column(c).to_pylist() for c in columns}
    keep = [
        i for i in range(table.num_rows) if not any(is_missing(data[c][i]) for c in columns)
    ]
    return {c: [data[c][i] for i in keep] for c in columns}


def num_bins(n_small: int) -> int:
    return math.ceil(math.log2(n_small) + 1)


def bin_edges(ref: list, prod: list, k: int) -> list[float]:
    min_value = min(min(ref), min(prod))
    max_value = max(max(ref), max(prod))
    if min_value == max_value:
        d = 0.005 if min_value == 0 else abs(min_value) * 0.005
        return [min_value - d, min_value + d]
    bin_width = (max_value - min_value) / k
    edges = []
    for b in range(k):
        b = b + 1
        if b == 1:
            edges.append(min_value)
            edges.append(min_value + b * bin_width)
        else:
            edges.append(min_value + b * bin_width)
    return edges


def rdd_histogram(values: list, buckets: list) -> list[int]:
    """pyspark 3.4 ``RDD.histogram(buckets)`` for a list of buckets, on one partition."""
    if sorted(buckets) != list(buckets):
        raise ValueError("buckets should be sorted")
    if len(set(buckets)) != len(buckets):
        raise ValueError("buckets should not contain duplicated values")
    minv = buckets[0]
    maxv = buckets[-1]
    even = False
    inc = None
    steps = [buckets[i + 1] - buckets[i] for i in range(len(buckets) - 1)]
    if max(steps) - min(steps) < 1e-10:
        even = True
        inc = (maxv - minv) / (len(buckets) - 1)
    counters = [0] * len(buckets)
    for i in values:
        if i is None or (isinstance(i, float) and math.isnan(i)) or i > maxv or i < minv:
            continue
        t = int((i - minv) / inc) if even else bisect.bisect_right(buckets, i) - 1
        counters[t] += 1
    last = counters.pop()
    counters[-1] += last
    return counters


def jsd_numerical(ref, prod, edges):
    rc, pc_ = rdd_histogram(ref, edges), rdd_histogram(prod, edges)
    return float(
        distance.jensenshannon([c / len(ref) for c in rc], [c / len(prod) for c in pc_], base=2)
    )


def psi_from_counts(rc, pc_, n_ref, n_prod):
    k = len(rc)
    psi = 0.0
    for cb, cp in zip(rc, pc_, strict=True):
        b = (cb + 1) / (n_ref + k)
        p = (cp + 1) / (n_prod + k)
        psi += (p - b) * np.log(p / b)
    return float(psi)


def psi_numerical(ref, prod, edges):
    return psi_from_counts(rdd_histogram(ref, edges), rdd_histogram(prod, edges), len(ref),
                           len(prod))


def normalized_wasserstein(ref, prod):
    std = statistics.stdev(ref) if len(ref) > 1 else 0.0
    return float(wasserstein_distance(ref, prod) / max(std, 0.001))


def ks_pvalue(ref, prod):
    return float(ks_2samp(ref, prod).pvalue)


def category_counts(ref, prod):
    rc, pc_ = Counter(str(v) for v in ref), Counter(str(v) for v in prod)
    keys = set(rc) | set(pc_)
    return keys, rc, pc_


def jsd_categorical(ref, prod):
    keys, rc, pc_ = category_counts(ref, prod)
    return float(distance.jensenshannon(
        [rc.get(k, 0) / len(ref) for k in keys], [pc_.get(k, 0) / len(prod) for k in keys],
        base=2,
    ))


def psi_categorical(ref, prod):
    keys, rc, pc_ = category_counts(ref, prod)
    keys = list(keys)
    return psi_from_counts([rc.get(k, 0) for k in keys], [pc_.get(k, 0) for k in keys],
                           len(ref), len(prod))


def chi_squared_pvalue(ref, prod):
    keys, rc, pc_ = category_counts(ref, prod)
    keys = list(keys)
    observed = [pc_.get(k, 0) for k in keys]
    expected = [rc.get(k, 0) / len(ref) * len(prod) for k in keys]
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        return float(chisquare(observed, expected).pvalue)


def round5(x: float) -> float:
    return float(Decimal(repr(x)).quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP))


def data_drift(
    ref: pa.Table,
    prod: pa.Table,
    *,
    overrides: dict[str, str] | None = None,
    columns: list[str] | None = None,
) -> dict[tuple[str, str], float]:
    """Every drift metric Azure can compute, keyed by (feature, metric).

    KS is computed at any size here (Azure refuses at 10,000 rows; the engine computes it).
    """
    overrides = overrides or {}
    named = [c for c in ref.column_names if c in prod.column_names]  # the feature selector
    if columns is not None:
        named = [c for c in named if c in columns]
    common = [c for c in common_columns(ref, prod) if c in named]
    types = {
        c: feature_type(ref.column(c).to_pylist(), ref.schema.field(c).type, overrides.get(c))
        for c in common
    }
    r, p = dropna(ref, named), dropna(prod, named)
    n_ref, n_prod = len(r[named[0]]), len(p[named[0]])
    out = {}
    k = num_bins(n_ref if n_ref < n_prod else n_prod)
    for c in common:
        if types[c] == "numerical":
            rv = [float(v) for v in r[c]]
            pv = [float(v) for v in p[c]]
            edges = bin_edges(rv, pv, k)
            out[(c, "jensen_shannon_distance")] = jsd_numerical(rv, pv, edges)
            out[(c, "population_stability_index")] = psi_numerical(rv, pv, edges)
            out[(c, "normalized_wasserstein_distance")] = normalized_wasserstein(rv, pv)
            out[(c, "two_sample_kolmogorov_smirnov_test")] = ks_pvalue(rv, pv)
        else:
            out[(c, "jensen_shannon_distance")] = jsd_categorical(r[c], p[c])
            out[(c, "population_stability_index")] = psi_categorical(r[c], p[c])
            out[(c, "pearsons_chi_squared_test")] = chi_squared_pvalue(r[c], p[c])
    return out


def histogram_counts(ref: list, prod: list) -> tuple[list[float], list[int], list[int]]:
    """Azure's edges and both histograms for one numerical column (no nulls)."""
    k = num_bins(min(len(ref), len(prod)))
    edges = bin_edges(ref, prod, k)
    return edges, rdd_histogram(ref, edges), rdd_histogram(prod, edges)


def spark_set(values: list) -> set[str]:
    """The reference's distinct values after Azure's round trip through a string column:
    Java's ``List.toString`` (``[a, b, null]``), ``regexp_replace`` of the leading ``[`` and
    trailing ``]``, ``trim`` and ``split(..., "( +)?, ?")``."""
    import re

    text = "[" + ", ".join("null" if v is None else str(v) for v in values) + "]"
    text = re.sub(r"\]+$", "", re.sub(r"^\[+", "", text)).strip(" ")
    parts, pos = [], 0
    for m in re.finditer(r"( +)?, ?", text):
        parts.append(text[pos:m.start()])
        pos = m.end()
    parts.append(text[pos:])
    return set(parts)


def data_quality(ref: pa.Table, prod: pa.Table) -> dict[tuple[str, str], float]:
    """Null value and out-of-bounds rates (same types in both frames, no imputation effects).

    Out of bounds only where Azure computes it: numerical features (min/max of the reference)
    and string categorical features (the split value set); no key for the others.
    """
    out = {}
    rows = prod.num_rows
    for c in ref.column_names:
        if c not in prod.column_names:
            continue
        pv = prod.column(c).to_pylist()
        out[(c, "null_value_rate")] = round5(sum(v is None for v in pv) / rows)
        arrow_type = ref.schema.field(c).type
        group = spark_group(arrow_type)
        all_ref = ref.column(c).to_pylist()
        rv = [v for v in all_ref if not is_missing(v)]
        ftype = feature_type(all_ref, arrow_type)
        if ftype == "numerical":
            lo, hi = min(rv), max(rv)
            n_out = sum(1 for v in pv if not is_missing(v) and (v < lo or v > hi))
        elif group == "string":
            allowed = spark_set(list(dict.fromkeys(all_ref)))
            n_out = sum(1 for v in pv if v is not None and v not in allowed)
        else:
            continue
        out[(c, "out_of_bounds_rate")] = round5(n_out / rows)
    return out
