"""The evaluation protocol, used by every config: repeated K-fold on all clean tracks.

Preprocessing lives inside the Pipeline, so each fold fits it on its training rows only.
Each fold also scores a reference model (mean / prior) under the same split. Out-of-fold
predictions are averaged over repeats: every row's prediction comes from models that never
saw it. For classifiers the decision threshold is chosen inside the training rows (inner CV).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    mean_absolute_error,
    precision_recall_curve,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import (
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    cross_val_predict,
)
from sklearn.pipeline import Pipeline

from ml.importance import heldout_importance, summarize_importance

INNER_SPLITS = 3
# The score that decides which model version is champion, per task.
CHAMPION_METRIC = {"regression": "r2", "classification": "pr_auc"}


@dataclass(frozen=True)
class CVResult:
    """Per-fold scores of the model and of the reference model, out-of-fold predictions, and
    held-out permutation importance (from the first repeat's folds)."""

    fold_scores: pd.DataFrame
    baseline_fold_scores: pd.DataFrame
    oof_prediction: np.ndarray
    n_splits: int
    importance: pd.DataFrame | None = None


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "r2": r2_score(y_true, y_pred),
        "rmse": root_mean_squared_error(y_true, y_pred),
        "mae": mean_absolute_error(y_true, y_pred),
    }


def classification_scores(
    y_true: np.ndarray, probability: np.ndarray, threshold: float
) -> dict[str, float]:
    label = (probability >= threshold).astype(int)
    return {
        "roc_auc": roc_auc_score(y_true, probability),
        "pr_auc": average_precision_score(y_true, probability),
        "f1": f1_score(y_true, label, zero_division=0),
        "precision": precision_score(y_true, label, zero_division=0),
        "recall": recall_score(y_true, label, zero_division=0),
        "brier": brier_score_loss(y_true, probability),
    }


def best_f1_threshold(y_true: np.ndarray, probability: np.ndarray) -> float:
    """The probability cut that maximises F1 on the given rows."""
    precision, recall, thresholds = precision_recall_curve(y_true, probability)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return float(thresholds[int(np.argmax(f1[:-1]))])


def tuned_threshold(model: Pipeline, X: pd.DataFrame, y: np.ndarray, seed: int) -> float:
    """Threshold from inner out-of-fold probabilities on training rows only."""
    inner = StratifiedKFold(n_splits=INNER_SPLITS, shuffle=True, random_state=seed)
    probability = cross_val_predict(clone(model), X, y, cv=inner, method="predict_proba")[:, 1]
    return best_f1_threshold(y, probability)


def _fit_and_score(model, X, y, train, test, task, seed):
    fitted = clone(model).fit(X.iloc[train], y[train])
    if task == "regression":
        prediction = fitted.predict(X.iloc[test])
        return fitted, prediction, regression_scores(y[test], prediction)
    probability = fitted.predict_proba(X.iloc[test])[:, 1]
    threshold = tuned_threshold(model, X.iloc[train], y[train], seed)
    return fitted, probability, classification_scores(y[test], probability, threshold)


def _mean_fold_score(model, X, y, splits, task) -> float:
    """Mean of the champion metric (R² / PR-AUC) over the given folds."""
    scores = []
    for train, test in splits:
        fitted = clone(model).fit(X.iloc[train], y[train])
        if task == "regression":
            scores.append(r2_score(y[test], fitted.predict(X.iloc[test])))
        else:
            probability = fitted.predict_proba(X.iloc[test])[:, 1]
            scores.append(average_precision_score(y[test], probability))
    return float(np.mean(scores))


def permutation_test(
    model: Pipeline, X: pd.DataFrame, y: np.ndarray, task: str,
    n_splits: int, seed: int, n_permutations: int, on_permutation=None,
) -> tuple[float, float]:  # fmt: skip
    """(observed score, p-value) of the CV score against the same folds on shuffled labels.

    p = (1 + #permutations scoring at least as well) / (1 + n_permutations), so the smallest
    reportable p is 1 / (1 + n_permutations).
    """
    splits = list(make_splitter(task, n_splits, 1, seed).split(X, y))
    observed = _mean_fold_score(model, X, y, splits, task)
    rng = np.random.default_rng(seed)
    at_least_as_good = 0
    for number in range(1, n_permutations + 1):
        shuffled = _mean_fold_score(model, X, rng.permutation(y), splits, task)
        at_least_as_good += shuffled >= observed
        if on_permutation is not None:
            on_permutation(number, n_permutations)
    return observed, (1 + at_least_as_good) / (1 + n_permutations)


def make_splitter(task: str, n_splits: int, n_repeats: int, seed: int):
    if task == "classification":
        return RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    return RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)


def reference_model(task: str):
    if task == "classification":
        return DummyClassifier(strategy="prior")
    return DummyRegressor(strategy="mean")


def cross_validate(
    model: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray,
    task: str,
    n_splits: int = 5,
    n_repeats: int = 5,
    seed: int = 42,
    importance_repeats: int = 0,
    on_fold=None,
) -> CVResult:
    """Score `model` and the reference model on the same repeated K-fold splits.

    With importance_repeats > 0, each model of the first repeat also measures permutation
    importance on its held-out fold (shuffling each input column that many times).
    """
    if len(X) < n_splits * 2:
        raise ValueError(f"{len(X)} rows are too few for {n_splits}-fold cross-validation")
    splitter = make_splitter(task, n_splits, n_repeats, seed)
    baseline = reference_model(task)
    prediction_sum = np.zeros(len(X))
    prediction_count = np.zeros(len(X))
    fold_scores, baseline_scores, importance_drops = [], [], []
    for fold, (train, test) in enumerate(splitter.split(X, y)):
        fitted, prediction, scores = _fit_and_score(model, X, y, train, test, task, seed + fold)
        _, _, reference_scores = _fit_and_score(baseline, X, y, train, test, task, seed + fold)
        if importance_repeats and fold < n_splits:
            importance_drops.append(heldout_importance(
                fitted, X.iloc[test], y[test], task, importance_repeats, seed + fold
            ))  # fmt: skip
        prediction_sum[test] += prediction
        prediction_count[test] += 1
        fold_scores.append(scores)
        baseline_scores.append(reference_scores)
        if on_fold is not None:
            on_fold(fold + 1, n_splits * n_repeats)
    return CVResult(
        fold_scores=pd.DataFrame(fold_scores),
        baseline_fold_scores=pd.DataFrame(baseline_scores),
        oof_prediction=prediction_sum / prediction_count,
        n_splits=n_splits * n_repeats,
        importance=summarize_importance(pd.concat(importance_drops)) if importance_drops else None,
    )


def summarize(result: CVResult) -> pd.DataFrame:
    """One row per metric: mean and std over folds; reference-model rows as baseline_<metric>."""
    rows = []
    for prefix, scores in (("", result.fold_scores), ("baseline_", result.baseline_fold_scores)):
        for metric in scores.columns:
            rows.append({
                "metric": f"{prefix}{metric}",
                "value": float(scores[metric].mean()),
                "std": float(scores[metric].std(ddof=1)) if len(scores) > 1 else 0.0,
                "n_splits": result.n_splits,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=["metric", "value", "std", "n_splits"])
