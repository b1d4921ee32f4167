"""Deterministic synthetic card transactions for the demo and the tests, in the spirit of the
Azure ML model-monitoring samples: a fraud model's inputs, with the two kinds of drift a
monitor is there to catch.

- "none": the training-time world. Fraud is card-not-present use that is also large, at night
  or far from the card holder's home.
- "covariate": the inputs move (amounts about 2.3x, many more night transactions, another
  country and merchant mix) but fraud is labelled by the same rule.
- "concept": the same input shift, and the rule changes: after a 3-D Secure roll-out most
  card-not-present fraud stops, and skimmed cards are now used in person at electronics
  shops. A model trained on "none" flags the wrong transactions and misses the new ones.

Same (n, seed, drift) gives the same table; with_label=False gives the same features without
the label column.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Literal

import numpy as np
import pyarrow as pa

FEATURES = ("amount", "hour", "merchant_category", "country", "card_present", "distance_km")
TARGET = "is_fraud"

Drift = Literal["none", "covariate", "concept"]

MERCHANTS = ("grocery", "restaurant", "fuel", "online_retail", "travel", "electronics")
COUNTRIES = ("US", "GB", "DE", "FR", "IN")

# Relative weight of each hour of the day: busy in the day, quiet at night (0-5).
_DAY_HOURS = np.array(
    [1.2, 1.0, 0.8, 0.7, 0.7, 0.9, 1.5, 3, 4, 5, 5, 5, 6, 6, 5, 5, 5, 6, 6, 6, 5, 4, 3, 2]
)
_NIGHT = np.arange(24) < 6

_MIX = {
    # drift: (log-amount shift, night weight factor, merchant mix, country mix, P(card present))
    "none": (0.0, 1.0, (0.30, 0.20, 0.12, 0.18, 0.10, 0.10), (0.50, 0.20, 0.12, 0.12, 0.06), 0.6),
    "shifted": (
        math.log(2.3), 4.0, (0.22, 0.15, 0.08, 0.20, 0.13, 0.22), (0.25, 0.10, 0.15, 0.20, 0.30),
        0.6,
    ),
}

HIGH_AMOUNT = 120.0
FAR_KM = 40.0
LABEL_NOISE = 0.02  # share of labels flipped at random, so no model is perfect


def transactions(
    n: int, *, seed: int = 0, drift: Drift = "none", with_label: bool = True
) -> pa.Table:
    """n card transactions with columns FEATURES (+ TARGET when with_label)."""
    if drift not in ("none", "covariate", "concept"):
        raise ValueError(f"drift must be 'none', 'covariate' or 'concept', not {drift!r}")
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = np.random.default_rng(seed)
    log_shift, night_factor, merchant_mix, country_mix, p_present = _MIX[
        "none" if drift == "none" else "shifted"
    ]

    amount = np.round(rng.lognormal(mean=3.7 + log_shift, sigma=1.0, size=n), 2)
    hour_weights = np.where(_NIGHT, _DAY_HOURS * night_factor, _DAY_HOURS)
    hour = rng.choice(24, size=n, p=hour_weights / hour_weights.sum())
    merchant = rng.choice(len(MERCHANTS), size=n, p=merchant_mix)
    country = rng.choice(len(COUNTRIES), size=n, p=country_mix)
    card_present = (rng.random(n) < p_present).astype(np.int64)
    distance_km = np.round(rng.exponential(scale=15.0, size=n), 1)

    high = amount > HIGH_AMOUNT
    night = _NIGHT[hour]
    far = distance_km > FAR_KM
    not_present = card_present == 0
    old_rule = not_present & (high | night | far)
    if drift == "concept":
        # 3-D Secure stops most card-not-present fraud; skimmed cards appear at the till.
        still_cnp = old_rule & (rng.random(n) < 0.15)
        skimmed = (
            (card_present == 1)
            & (merchant == MERCHANTS.index("electronics"))
            & (high | night)
        )
        fraud = still_cnp | skimmed
    else:
        fraud = old_rule
    fraud ^= rng.random(n) < LABEL_NOISE

    columns = {
        "amount": pa.array(amount, pa.float64()),
        "hour": pa.array(hour.astype(np.int64)),
        "merchant_category": pa.array(np.array(MERCHANTS)[merchant].tolist(), pa.string()),
        "country": pa.array(np.array(COUNTRIES)[country].tolist(), pa.string()),
        "card_present": pa.array(card_present),
        "distance_km": pa.array(distance_km, pa.float64()),
    }
    if with_label:
        columns[TARGET] = pa.array(fraud.astype(np.int64))
    return pa.table(columns)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        # Up to 4 decimals, but keep one so a reader still sees a float column.
        text = f"{value:.4f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return str(value)


def to_csv_bytes(table: pa.Table) -> bytes:
    """The table as UTF-8 CSV: a header, then one line per row; no index column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    columns = [column.to_pylist() for column in table.columns]
    for row in zip(*columns, strict=True):
        writer.writerow([_cell(v) for v in row])
    return out.getvalue().encode("utf-8")
