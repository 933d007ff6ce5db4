"""The evaluation protocol, used by every config: repeated K-fold on all clean tracks.

Preprocessing lives inside the Pipeline, so each fold fits it on its training rows only.
Each fold also scores a reference model (mean / prior) under the same split. Out-of-fold
predictions are averaged over repeats: every row's prediction comes from models that never
saw it. For classifiers the decision threshold is chosen inside the training rows (inner CV);
for regressors the prediction intervals are calibrated inside them (one inner split).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from ml.importance import heldout_importance, summarize_importance
from ml.intervals import CALIBRATION_SHARE, calibrate, interval_scores
from ml.scale import capped
from ml.search import INNER_SPLITS, chosen_params, chosen_pipeline
from ml.tasks import CLASSIFICATION, Task
from ml.workers import JobPool, fresh_model, stage


@dataclass(frozen=True)
class CVResult:
    """Per-fold scores of the model and of the reference model (in split order: repeat by
    repeat), out-of-fold predictions, and held-out permutation importance (from the first
    repeat's folds). `folds_sha256` identifies the test rows of every fold: two runs with the
    same value were scored on the same folds."""

    fold_scores: pd.DataFrame
    baseline_fold_scores: pd.DataFrame
    oof_prediction: np.ndarray
    n_splits: int
    folds_sha256: str
    # A regressor's out-of-fold prediction intervals (lower, upper), averaged over repeats
    # like the predictions; None for a classifier.
    oof_bounds: tuple[np.ndarray, np.ndarray] | None
    # Each row's prediction by the one model of the first repeat that never saw it.
    first_repeat_prediction: np.ndarray
    importance: pd.DataFrame | None = None
    # Per outer fold, the parameters a config's search chose ({} without a search).
    fold_choices: tuple[dict, ...] = ()
    # Per outer fold, its fitted model and test rows, when asked for (scoring elsewhere: Spark).
    fold_models: tuple = ()
    fold_test_rows: tuple[np.ndarray, ...] = ()


def best_f1_threshold(y_true: np.ndarray, probability: np.ndarray) -> float:
    """The probability cut that maximises F1 on the given rows."""
    precision, recall, thresholds = precision_recall_curve(y_true, probability)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return float(thresholds[int(np.argmax(f1[:-1]))])


def holdout_prediction(
    model: Pipeline, X: pd.DataFrame, y: np.ndarray, task: Task, seed: int, share: float
) -> tuple[np.ndarray, np.ndarray]:
    """One inner split of training rows: (true values, predictions) of a `share` of them by
    `model` fitted on the others."""
    fit_rows, held_out = next(task.holdout_splitter(share, seed).split(X, y))
    fitted = fresh_model(model).fit(X.iloc[fit_rows], y[fit_rows])
    return y[held_out], task.predict(fitted, X.iloc[held_out])


def tuned_threshold(
    model: Pipeline, X: pd.DataFrame, y: np.ndarray, seed: int, single_split: bool = False
) -> float:
    """Threshold from inner out-of-fold probabilities on training rows only. With
    `single_split` (large data), one inner split: fit on two thirds, tune on the rest. For a
    config with a search, `model` is the pipeline the search chose on these same rows."""
    if single_split:
        return best_f1_threshold(
            *holdout_prediction(model, X, y, CLASSIFICATION, seed, 1 / INNER_SPLITS)
        )
    inner = CLASSIFICATION.inner_splitter(INNER_SPLITS, seed)
    probability = cross_val_predict(clone(model), X, y, cv=inner, method="predict_proba")[:, 1]
    return best_f1_threshold(y, probability)


def _fit_and_score(model, X, y, train, test, task, seed, max_train_rows, interval_level):
    """(fitted model, test predictions, their intervals or None, the fold's scores)."""
    train = capped(train, max_train_rows, seed)
    fitted = fresh_model(model).fit(X.iloc[train], y[train])
    prediction = task.predict(fitted, X.iloc[test])
    threshold = bounds = None
    if task.is_classification:
        with stage("threshold"):
            threshold = tuned_threshold(
                chosen_pipeline(fitted), X.iloc[train], y[train], seed,
                single_split=max_train_rows is not None,
            )  # fmt: skip
    scores = task.scores(y[test], prediction, threshold)
    if not task.is_classification:
        with stage("intervals"):
            held_out = holdout_prediction(chosen_pipeline(fitted), X.iloc[train], y[train],
                                          task, seed, CALIBRATION_SHARE)  # fmt: skip
            bounds = calibrate(*held_out, interval_level).bounds(prediction)
        scores |= interval_scores(y[test], *bounds)
    return fitted, prediction, bounds, scores


@dataclass(frozen=True)
class FoldOutcome:
    """One outer fold: the model's test-fold predictions and scores, the reference model's
    scores, the importance drops (first-repeat folds) and what a search chose."""

    prediction: np.ndarray
    bounds: tuple[np.ndarray, np.ndarray] | None
    scores: dict[str, float]
    reference_scores: dict[str, float]
    importance_drops: pd.DataFrame | None
    choice: dict
    fitted: Pipeline | None = None


def evaluate_fold(
    model, X, y, task, train, test, seed, max_train_rows, importance_repeats, max_importance_rows,
    interval_level, keep_model=False,
) -> FoldOutcome:  # fmt: skip
    """A job: fit on `train`, score on `test`, score the reference model likewise and, with
    `importance_repeats`, measure held-out permutation importance; with `keep_model`, return
    the fitted model too."""
    fitted, prediction, bounds, scores = _fit_and_score(
        model, X, y, train, test, task, seed, max_train_rows, interval_level
    )
    *_, reference_scores = _fit_and_score(
        task.reference_model(), X, y, train, test, task, seed, max_train_rows, interval_level
    )
    drops = None
    if importance_repeats:
        with stage("importance"):
            scored = capped(test, max_importance_rows, seed)
            drops = heldout_importance(
                fitted, X.iloc[scored], y[scored], task, importance_repeats, seed
            )
    return FoldOutcome(prediction, bounds, scores, reference_scores, drops, chosen_params(fitted),
                       fitted if keep_model else None)  # fmt: skip


def _mean_fold_score(model, X, y, splits, task, max_rows=None) -> float:
    """A job: mean of the champion metric (R² / PR-AUC) over the given folds (each side of
    each fold sampled down to `max_rows`)."""
    scores = []
    for fold, (all_train, all_test) in enumerate(splits):
        train = capped(all_train, max_rows, fold)
        test = capped(all_test, max_rows, len(splits) + fold)
        fitted = fresh_model(model).fit(X.iloc[train], y[train])
        scores.append(task.champion_score(y[test], task.predict(fitted, X.iloc[test])))
    return float(np.mean(scores))


def permutation_test(
    model: Pipeline, X: pd.DataFrame, y: np.ndarray, task: Task,
    n_splits: int, seed: int, n_permutations: int, max_rows=None, max_folds=None,
    pool: JobPool | None = None, label: str = "",
) -> tuple[float, float]:  # fmt: skip
    """(observed score, p-value) of the CV score against the same folds on shuffled labels.

    p = (1 + #permutations scoring at least as well) / (1 + n_permutations), so the smallest
    reportable p is 1 / (1 + n_permutations). With `max_rows`, every fold trains and scores
    on at most that many rows (the same rows for the observed and the shuffled labels); with
    `max_folds`, only the first folds are used (a valid test, with less power).
    """
    pool = pool or JobPool()
    splits = list(task.splitter(n_splits, 1, seed).split(X, y))[:max_folds]
    rng = np.random.default_rng(seed)
    futures = [
        pool.submit(label, "permutation test", _mean_fold_score, model, X, labels, splits, task,
                    max_rows)
        for labels in [y, *(rng.permutation(y) for _ in range(n_permutations))]
    ]  # fmt: skip
    observed = futures[0].result()
    at_least_as_good = sum(future.result() >= observed for future in futures[1:])
    return observed, (1 + at_least_as_good) / (1 + n_permutations)


def cross_validate(
    model: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray,
    task: Task,
    n_splits: int = 5,
    n_repeats: int = 5,
    seed: int = 42,
    importance_repeats: int = 0,
    max_train_rows: int | None = None,
    max_importance_rows: int | None = None,
    importance_folds: int | None = None,
    interval_level: float = 0.9,
    pool: JobPool | None = None,
    label: str = "",
    keep_models: bool = False,
) -> CVResult:
    """Score `model` and the reference model on the same repeated K-fold splits.

    With importance_repeats > 0, each model of the first repeat also measures permutation
    importance on its held-out fold (shuffling each input column that many times). For large
    data, `max_train_rows` caps the rows each fit sees, `max_importance_rows` the held-out
    rows importance is measured on (seeded samples) and `importance_folds` the folds that
    measure it; every row is still predicted. A regressor's intervals hold `interval_level`
    of the true values (ml/intervals.py). `keep_models` keeps every fold's fitted model and
    test rows in the result.
    """
    if len(X) < n_splits * 2:
        raise ValueError(f"{len(X)} rows are too few for {n_splits}-fold cross-validation")
    pool = pool or JobPool()
    splits = list(task.splitter(n_splits, n_repeats, seed).split(X, y))
    futures = [
        pool.submit(
            label, "cross-validation", evaluate_fold, model, X, y, task, train, test, seed + fold,
            max_train_rows, importance_repeats if fold < (importance_folds or n_splits) else 0,
            max_importance_rows, interval_level, keep_models,
        )
        for fold, (train, test) in enumerate(splits)
    ]  # fmt: skip
    prediction_sum, lower_sum, upper_sum, prediction_count = np.zeros((4, len(X)))
    first_repeat_prediction = np.full(len(X), np.nan)
    outcomes = []
    for fold, (future, (_, test)) in enumerate(zip(futures, splits, strict=True)):
        outcome = future.result()
        prediction_sum[test] += outcome.prediction
        prediction_count[test] += 1
        if outcome.bounds is not None:
            lower_sum[test] += outcome.bounds[0]
            upper_sum[test] += outcome.bounds[1]
        if fold < n_splits:
            first_repeat_prediction[test] = outcome.prediction
        outcomes.append(outcome)
    importance_drops = [o.importance_drops for o in outcomes if o.importance_drops is not None]
    return CVResult(
        fold_scores=pd.DataFrame([outcome.scores for outcome in outcomes]),
        baseline_fold_scores=pd.DataFrame([outcome.reference_scores for outcome in outcomes]),
        oof_prediction=prediction_sum / prediction_count,
        n_splits=n_splits * n_repeats,
        folds_sha256=folds_sha256(splits),
        oof_bounds=None
        if task.is_classification
        else (lower_sum / prediction_count, upper_sum / prediction_count),
        first_repeat_prediction=first_repeat_prediction,
        importance=summarize_importance(pd.concat(importance_drops)) if importance_drops else None,
        fold_choices=tuple(outcome.choice for outcome in outcomes),
        fold_models=tuple(outcome.fitted for outcome in outcomes) if keep_models else (),
        fold_test_rows=tuple(test for _, test in splits) if keep_models else (),
    )


def folds_sha256(splits: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """sha256 of every fold's test row positions, in split order."""
    digest = hashlib.sha256()
    for _, test in splits:
        digest.update(np.sort(test).astype("<i8").tobytes() + b"|")
    return digest.hexdigest()


def fold_score_rows(result: CVResult, folds_per_repeat: int) -> pd.DataFrame:
    """ml.fold_scores rows: each fold's score of every metric (the reference model's as
    baseline_<metric>), numbered by repeat and fold from 0."""
    frames = []
    for prefix, scores in (("", result.fold_scores), ("baseline_", result.baseline_fold_scores)):
        long = scores.add_prefix(prefix).rename_axis("split").reset_index()
        frames.append(long.melt(id_vars="split", var_name="metric", value_name="value"))
    rows = pd.concat(frames, ignore_index=True)
    rows["repeat"], rows["fold"] = divmod(rows.pop("split"), folds_per_repeat)
    return rows[["repeat", "fold", "metric", "value"]]


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
