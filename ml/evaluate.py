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

INNER_SPLITS = 3
# The score that decides which model version is champion, per task.
CHAMPION_METRIC = {"regression": "r2", "classification": "pr_auc"}


@dataclass(frozen=True)
class CVResult:
    """Per-fold scores of the model and of the reference model, and out-of-fold predictions."""

    fold_scores: pd.DataFrame
    baseline_fold_scores: pd.DataFrame
    oof_prediction: np.ndarray
    n_splits: int


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
        return prediction, regression_scores(y[test], prediction)
    probability = fitted.predict_proba(X.iloc[test])[:, 1]
    threshold = tuned_threshold(model, X.iloc[train], y[train], seed)
    return probability, classification_scores(y[test], probability, threshold)


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
    on_fold=None,
) -> CVResult:
    """Score `model` and the reference model on the same repeated K-fold splits."""
    if len(X) < n_splits * 2:
        raise ValueError(f"{len(X)} rows are too few for {n_splits}-fold cross-validation")
    splitter = make_splitter(task, n_splits, n_repeats, seed)
    baseline = reference_model(task)
    prediction_sum = np.zeros(len(X))
    prediction_count = np.zeros(len(X))
    fold_scores, baseline_scores = [], []
    for fold, (train, test) in enumerate(splitter.split(X, y)):
        prediction, scores = _fit_and_score(model, X, y, train, test, task, seed + fold)
        _, reference_scores = _fit_and_score(baseline, X, y, train, test, task, seed + fold)
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
