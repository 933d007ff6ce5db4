"""Permutation importance measured on held-out rows: how much the CV score drops when one
input column is shuffled in the fold the model never saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

SCORING = {"regression": "r2", "classification": "average_precision"}


def heldout_importance(
    fitted, X_test: pd.DataFrame, y_test: np.ndarray, task: str, n_repeats: int, seed: int
) -> pd.DataFrame:
    """Long frame (feature, drop): one row per feature and shuffle."""
    result = permutation_importance(
        fitted, X_test, y_test, scoring=SCORING[task], n_repeats=n_repeats, random_state=seed
    )
    return pd.DataFrame({
        "feature": np.repeat(X_test.columns.to_numpy(), n_repeats),
        "drop": result.importances.ravel(),
    })  # fmt: skip


def summarize_importance(drops: pd.DataFrame) -> pd.DataFrame:
    """ml.feature_importance rows: mean and std of the score drop over folds and shuffles."""
    summary = drops.groupby("feature", sort=False)["drop"].agg(["mean", "std"]).reset_index()
    summary.columns = ["feature", "importance_mean", "importance_std"]
    return summary.sort_values("importance_mean", ascending=False, ignore_index=True)
