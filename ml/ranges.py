"""What a model saw in training, feature by feature, and which new rows lie outside it: a
number below the 1st or above the 99th training percentile, or a category never seen. Kept with
each run (ml.training_ranges, MLflow's training_ranges.json); `cli.py predict` and the app flag
the rows outside the champions' ranges, naming the features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.features import split_numeric_categorical

LOW_PERCENTILE, HIGH_PERCENTILE = 1, 99
RANGE_COLUMNS = ["feature", "low", "high", "categories"]


def training_ranges(X: pd.DataFrame) -> pd.DataFrame:
    """Per feature of the model input `X` (feature_matrix): the 1st and 99th percentiles of a
    number (missing values left out), or the sorted categories seen."""
    numeric, _ = split_numeric_categorical(list(X.columns))
    rows = []
    for feature in X.columns:
        values = X[feature].dropna()
        if feature not in numeric:
            rows.append({"feature": feature, "categories": sorted(map(str, values.unique()))})
        elif len(values):
            low, high = np.percentile(values, [LOW_PERCENTILE, HIGH_PERCENTILE])
            rows.append({"feature": feature, "low": float(low), "high": float(high)})
    return pd.DataFrame(rows, columns=RANGE_COLUMNS)


def outside_ranges(features: pd.DataFrame, ranges: pd.DataFrame) -> pd.Series:
    """Per row of `features`: the features outside `ranges`, as "name (below the 1st
    percentile)", "name (above the 99th percentile)" or "name (unseen category)", joined by
    "; " ("" when the row lies inside), each once however many models' ranges `ranges` holds.
    A missing value is not flagged: the model imputes it."""
    numeric, _ = split_numeric_categorical(list(ranges["feature"]))
    flags: list[list[str]] = [[] for _ in range(len(features))]
    for spec in ranges.itertuples():
        values = features[spec.feature]
        if spec.feature in numeric:
            # NaN compares false: a missing number is neither below nor above.
            numbers = pd.to_numeric(values).to_numpy(dtype="float64", na_value=np.nan)
            marks = [
                (numbers < spec.low, f"below the {_ordinal(LOW_PERCENTILE)} percentile"),
                (numbers > spec.high, f"above the {_ordinal(HIGH_PERCENTILE)} percentile"),
            ]
        else:
            seen = values.astype(str).isin(list(spec.categories)).to_numpy()
            marks = [(values.notna().to_numpy() & ~seen, "unseen category")]
        for mask, reason in marks:
            for position in np.flatnonzero(mask):
                flags[position].append(f"{spec.feature} ({reason})")
    return pd.Series(["; ".join(dict.fromkeys(found)) for found in flags], index=features.index,
                     dtype=object)  # fmt: skip


def _ordinal(number: int) -> str:
    return f"{number}{'st' if number % 10 == 1 and number != 11 else 'th'}"
