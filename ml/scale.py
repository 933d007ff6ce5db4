"""How training adapts to data size. Up to `large_data_rows` (20,000) rows every config runs
the full protocol; above it, CV repeats drop and every fit sees at most `max_train_rows`
training rows (a seeded sample), so `cli.py run` on a million rows stays within minutes.
Predictions are still made for every row, out of fold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.config import CVSettings

FOREST_MAX_TREES = 50
FOREST_MIN_LEAF = 20


@dataclass(frozen=True)
class TrainingPlan:
    n_repeats: int
    max_train_rows: int | None
    max_importance_rows: int | None
    is_scaled_down: bool
    # Folds the label-permutation test refits per permutation (None: all of them).
    permutation_folds: int | None = None
    # Folds that measure permutation importance (None: every fold of the first repeat).
    importance_folds: int | None = None

    def model_params(self, model_type: str, params: dict[str, Any]) -> dict[str, Any]:
        """The config's parameters, with tree ensembles kept small on large data: predicting a
        million rows through a hundred fully grown trees (or 200 boosting rounds) takes
        minutes, not seconds. Forests get fewer, shallower trees; boosting stops early."""
        if not self.is_scaled_down:
            return dict(params)
        if model_type == "random_forest":
            return {
                **params,
                "n_estimators": min(params.get("n_estimators", 100), FOREST_MAX_TREES),
                "min_samples_leaf": max(params.get("min_samples_leaf", 1), FOREST_MIN_LEAF),
            }
        if model_type == "hist_gradient_boosting":
            return {**params, "early_stopping": True}
        return dict(params)

    def describe(self, n_rows: int) -> str:
        from ml.explain import MAX_EXPLAINED_ROWS

        explained = (f"; a champion's SHAP contributions for the first {MAX_EXPLAINED_ROWS:,} "
                     "tracks" if n_rows > MAX_EXPLAINED_ROWS else "")  # fmt: skip
        if not self.is_scaled_down:
            return f"full protocol on {n_rows:,} rows{explained}"
        return (
            f"large data ({n_rows:,} rows): {self.n_repeats} CV repeat(s); each fit on at most "
            f"{self.max_train_rows:,} sampled training rows; permutation importance on at most "
            f"{self.max_importance_rows:,} held-out rows of {self.importance_folds} fold(s); "
            f"permutation test on {self.permutation_folds} fold(s); decision threshold tuned "
            "on one inner split; random forests at most "
            f"{FOREST_MAX_TREES} trees with leaves of at least {FOREST_MIN_LEAF} rows; "
            "gradient boosting with early stopping; out-of-fold predictions for every row"
            f"{explained}"
        )


def plan_training(cv: CVSettings, n_rows: int) -> TrainingPlan:
    if n_rows <= cv.large_data_rows:
        return TrainingPlan(cv.n_repeats, None, None, is_scaled_down=False)
    return TrainingPlan(
        n_repeats=min(cv.n_repeats, cv.large_data_repeats),
        max_train_rows=cv.max_train_rows,
        max_importance_rows=cv.max_importance_rows,
        is_scaled_down=True,
        permutation_folds=1,
        importance_folds=1,
    )


def capped(indices: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray:
    """At most `max_rows` of `indices`, a seeded sample kept in its original order."""
    if max_rows is None or len(indices) <= max_rows:
        return indices
    chosen = np.random.default_rng(seed).choice(len(indices), size=max_rows, replace=False)
    return indices[np.sort(chosen)]
