"""Permutation importance measured on held-out rows: how much the CV score drops when one
input column is shuffled in the fold the model never saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ml.tasks import Task


def _response(fitted, X: pd.DataFrame, task: Task) -> np.ndarray:
    """What scikit-learn's scorer of `task.scorer_name` scores: predictions, or a classifier's
    decision function where it has one, else the positive class's probability."""
    if task.is_classification and hasattr(fitted, "decision_function"):
        return fitted.decision_function(X)
    return task.predict(fitted, X)


def heldout_importance(
    fitted, X_test: pd.DataFrame, y_test: np.ndarray, task: Task, n_repeats: int, seed: int
) -> pd.DataFrame:
    """Long frame (feature, drop): one row per feature and shuffle.

    The same shuffles and scores as `sklearn.inspection.permutation_importance(fitted, X_test,
    y_test, scoring=task.scorer_name, n_repeats=n_repeats, random_state=seed)` (a test holds them
    equal), but every shuffled copy is predicted in one call instead of one call per copy:
    ~15x faster on a few hundred rows, where each call's fixed cost dominates.
    """
    # permutation_importance draws one seed from `seed`, and each column restarts from it.
    column_seed = check_random_state(seed).randint(np.iinfo(np.int32).max + 1)
    copies = []
    for column in X_test.columns:
        rng = check_random_state(column_seed)
        order = np.arange(len(X_test))
        values = X_test[column].to_numpy()
        for _ in range(n_repeats):
            rng.shuffle(order)
            values = values[order]  # shuffles the already shuffled column, as scikit-learn does
            copies.append(X_test.assign(**{column: values}))
    response = _response(fitted, pd.concat(copies, ignore_index=True), task)
    baseline = task.champion_score(y_test, _response(fitted, X_test, task))
    drops = [baseline - task.champion_score(y_test, block)
             for block in np.split(response, len(copies))]  # fmt: skip
    return pd.DataFrame({
        "feature": np.repeat(X_test.columns.to_numpy(), n_repeats),
        "drop": drops,
    })  # fmt: skip


def summarize_importance(drops: pd.DataFrame) -> pd.DataFrame:
    """ml.feature_importance rows: mean and std of the score drop over folds and shuffles."""
    summary = drops.groupby("feature", sort=False)["drop"].agg(["mean", "std"]).reset_index()
    summary.columns = ["feature", "importance_mean", "importance_std"]
    return summary.sort_values("importance_mean", ascending=False, ignore_index=True)
