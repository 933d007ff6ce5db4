"""The evaluation protocol, used by every config: repeated K-fold on all clean tracks.

Preprocessing lives inside the Pipeline, so each fold fits it on its training rows only.
Each fold also scores a reference model (mean / prior) under the same split. Out-of-fold
predictions are averaged over repeats: every row's prediction comes from models that never
saw it. For classifiers the decision threshold is chosen inside the training rows (inner CV);
for regressors the prediction intervals are calibrated inside them (one inner split).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from ml.errors import UserError
from ml.importance import heldout_importance, summarize_importance
from ml.intervals import CALIBRATION_SHARE, Intervals, calibrate, interval_scores
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


# Predicts every fold's test rows elsewhere (Spark): given each fold's (model, reference model)
# and test rows, the (model's, reference's) predictions of those rows, in their order.
HeldOutPredictor = Callable[[list[tuple], list[np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]


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


@dataclass(frozen=True)
class Fold:
    """One outer fold's rows, by position: the rows its fits train on (a seeded sample of the
    others on large data), the rows it is scored on, and the held-out rows it measures
    permutation importance on (none where it does not). `seed` seeds what it samples."""

    train: np.ndarray
    test: np.ndarray
    importance: np.ndarray
    seed: int


def outer_folds(
    task: Task, y: np.ndarray, n_splits: int, n_repeats: int, seed: int,
    max_train_rows: int | None = None, importance_repeats: int = 0,
    importance_folds: int | None = None, max_importance_rows: int | None = None,
) -> list[Fold]:  # fmt: skip
    """The repeated K-fold splits of `y`'s rows, repeat by repeat. With `importance_repeats`,
    the first `importance_folds` (all of the first repeat's by default) measure importance."""
    measured = (importance_folds or n_splits) if importance_repeats else 0
    splits = task.splitter(n_splits, n_repeats, seed).split(np.zeros(len(y)), y)
    folds = []
    for number, (train, test) in enumerate(splits):
        fold_seed = seed + number
        importance = (capped(test, max_importance_rows, fold_seed) if number < measured
                      else test[:0])  # fmt: skip
        folds.append(Fold(capped(train, max_train_rows, fold_seed), test, importance, fold_seed))
    return folds


@dataclass(frozen=True)
class FoldModel:
    """A model fitted on a fold's training rows, with what those rows also decided: a
    classifier's decision threshold, or a regressor's prediction intervals."""

    fitted: Pipeline
    threshold: float | None
    intervals: Intervals | None

    def score(self, task: Task, y_test: np.ndarray, prediction: np.ndarray):
        """(the prediction's intervals or None, its scores on the fold's test rows)."""
        scores = task.scores(y_test, prediction, self.threshold)
        if self.intervals is None:
            return None, scores
        bounds = self.intervals.bounds(prediction)
        return bounds, scores | interval_scores(y_test, *bounds)


def fit_fold(model, X, y, task, train, seed, single_split, interval_level) -> FoldModel:
    fitted = fresh_model(model).fit(X.loc[train], y[train])
    if task.is_classification:
        with stage("threshold"):
            threshold = tuned_threshold(chosen_pipeline(fitted), X.loc[train], y[train], seed,
                                        single_split)  # fmt: skip
        return FoldModel(fitted, threshold, None)
    with stage("intervals"):
        held_out = holdout_prediction(chosen_pipeline(fitted), X.loc[train], y[train], task,
                                      seed, CALIBRATION_SHARE)  # fmt: skip
    return FoldModel(fitted, None, calibrate(*held_out, interval_level))


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


@dataclass(frozen=True)
class FoldFit:
    """One outer fold's fitted model and reference model, before they predict its test rows,
    and the model's importance drops (None where the fold does not measure them)."""

    model: FoldModel
    reference: FoldModel
    importance_drops: pd.DataFrame | None

    def outcome(self, task: Task, y_test: np.ndarray, prediction: np.ndarray,
                reference_prediction: np.ndarray) -> FoldOutcome:  # fmt: skip
        bounds, scores = self.model.score(task, y_test, prediction)
        _, reference_scores = self.reference.score(task, y_test, reference_prediction)
        return FoldOutcome(prediction, bounds, scores, reference_scores, self.importance_drops,
                           chosen_params(self.model.fitted))  # fmt: skip


def evaluate_fold(
    model, X, y, task, fold: Fold, importance_repeats, single_split, interval_level,
    predicts_here=True,
) -> FoldOutcome | FoldFit:  # fmt: skip
    """A job: fit the model and the reference model on the fold's training rows, measure the
    model's held-out permutation importance on the fold's importance rows, and score both on
    its test rows; without `predicts_here`, return the fits for the test rows to be predicted
    elsewhere (ml/spark_train.py)."""
    fit = functools.partial(fit_fold, X=X, y=y, task=task, train=fold.train, seed=fold.seed,
                            single_split=single_split, interval_level=interval_level)  # fmt: skip
    fitted = fit(model)
    drops = None
    if importance_repeats and len(fold.importance):
        with stage("importance"):
            rows = fold.importance
            drops = heldout_importance(fitted.fitted, X.loc[rows], y[rows], task,
                                       importance_repeats, fold.seed)  # fmt: skip
    fold_fit = FoldFit(fitted, fit(task.reference_model()), drops)
    if not predicts_here:
        return fold_fit
    X_test = X.loc[fold.test]
    return fold_fit.outcome(task, y[fold.test], task.predict(fitted.fitted, X_test),
                            task.predict(fold_fit.reference.fitted, X_test))  # fmt: skip


def _mean_fold_score(model, X, y, folds, task) -> float:
    """A job: mean of the champion metric (R² / PR-AUC) over the given (train, test) folds."""
    scores = []
    for train, test in folds:
        fitted = fresh_model(model).fit(X.loc[train], y[train])
        scores.append(task.champion_score(y[test], task.predict(fitted, X.loc[test])))
    return float(np.mean(scores))


def permutation_folds(
    task: Task, y: np.ndarray, n_splits: int, seed: int, max_rows=None, max_folds=None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The permutation test's (train, test) folds: the first `max_folds` of one K-fold
    repeat, each side sampled down to `max_rows`."""
    splits = list(task.splitter(n_splits, 1, seed).split(np.zeros(len(y)), y))[:max_folds]
    return [
        (capped(train, max_rows, number), capped(test, max_rows, len(splits) + number))
        for number, (train, test) in enumerate(splits)
    ]


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
    folds = permutation_folds(task, y, n_splits, seed, max_rows, max_folds)
    rng = np.random.default_rng(seed)
    futures = [
        pool.submit(label, "permutation test", _mean_fold_score, model, X, labels, folds, task)
        for labels in [y, *(rng.permutation(y) for _ in range(n_permutations))]
    ]  # fmt: skip
    observed = futures[0].result()
    at_least_as_good = sum(future.result() >= observed for future in futures[1:])
    return observed, (1 + at_least_as_good) / (1 + n_permutations)


def check_folds(task: Task, y: np.ndarray, n_splits: int) -> None:
    """Enough rows for `n_splits`-fold cross-validation: two per fold and, for a classifier's
    stratified folds, a row of the rarer class in each (else some folds test on none); for a
    regressor, a target that varies (else every score is undefined)."""
    if len(y) < n_splits * 2:
        raise UserError(f"{len(y)} rows are too few for {n_splits}-fold cross-validation")
    if task.is_classification:
        rarer = int(np.bincount(y.astype(int), minlength=2).min())
        if rarer < n_splits:
            raise UserError(f"{rarer} rows of the rarer class are too few for {n_splits}-fold "
                            "stratified cross-validation")  # fmt: skip
    elif np.ptp(y) == 0:
        raise UserError(f"every row has the same {task.target}: there is nothing to predict")


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
    predict_held_out: HeldOutPredictor | None = None,
) -> CVResult:
    """Score `model` and the reference model on the same repeated K-fold splits of `y`'s rows.

    With importance_repeats > 0, each model of the first repeat also measures permutation
    importance on its held-out fold (shuffling each input column that many times). For large
    data, `max_train_rows` caps the rows each fit sees, `max_importance_rows` the held-out
    rows importance is measured on (seeded samples) and `importance_folds` the folds that
    measure it; every row is still predicted. A regressor's intervals hold `interval_level`
    of the true values (ml/intervals.py).

    `X` holds the features of the rows the fits read, indexed by position in `y`: every row,
    unless `predict_held_out` predicts the test rows elsewhere (then `X` needs only the rows
    of ml/train.py's `rows_read`).
    """
    check_folds(task, y, n_splits)
    pool = pool or JobPool()
    folds = outer_folds(task, y, n_splits, n_repeats, seed, max_train_rows, importance_repeats,
                        importance_folds, max_importance_rows)  # fmt: skip
    futures = [
        pool.submit(label, "cross-validation", evaluate_fold, model, X, y, task, fold,
                    importance_repeats, max_train_rows is not None, interval_level,
                    predict_held_out is None)
        for fold in folds
    ]  # fmt: skip
    outcomes = [future.result() for future in futures]
    if predict_held_out is not None:
        models = [(fit.model.fitted, fit.reference.fitted) for fit in outcomes]
        predictions = predict_held_out(models, [fold.test for fold in folds])
        outcomes = [
            fit.outcome(task, y[fold.test], *predicted)
            for fit, fold, predicted in zip(outcomes, folds, predictions, strict=True)
        ]
    prediction_sum, lower_sum, upper_sum, prediction_count = np.zeros((4, len(y)))
    first_repeat_prediction = np.full(len(y), np.nan)
    for number, (outcome, fold) in enumerate(zip(outcomes, folds, strict=True)):
        prediction_sum[fold.test] += outcome.prediction
        prediction_count[fold.test] += 1
        if outcome.bounds is not None:
            lower_sum[fold.test] += outcome.bounds[0]
            upper_sum[fold.test] += outcome.bounds[1]
        if number < n_splits:
            first_repeat_prediction[fold.test] = outcome.prediction
    importance_drops = [o.importance_drops for o in outcomes if o.importance_drops is not None]
    return CVResult(
        fold_scores=pd.DataFrame([outcome.scores for outcome in outcomes]),
        baseline_fold_scores=pd.DataFrame([outcome.reference_scores for outcome in outcomes]),
        oof_prediction=prediction_sum / prediction_count,
        n_splits=n_splits * n_repeats,
        folds_sha256=folds_sha256([fold.test for fold in folds]),
        oof_bounds=None
        if task.is_classification
        else (lower_sum / prediction_count, upper_sum / prediction_count),
        first_repeat_prediction=first_repeat_prediction,
        importance=summarize_importance(pd.concat(importance_drops)) if importance_drops else None,
        fold_choices=tuple(outcome.choice for outcome in outcomes),
    )


def folds_sha256(tests: list[np.ndarray]) -> str:
    """sha256 of every fold's test row positions, in split order."""
    digest = hashlib.sha256()
    for test in tests:
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
