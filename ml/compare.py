"""Is one config really better than another? Two runs scored on the same folds are compared
fold by fold with the corrected resampled t-test (Nadeau & Bengio, 2003): repeated K-fold
folds share most of their training rows, so their scores are correlated and the naive paired
t-test over them is overconfident; the correction widens the variance by the test/train ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ml.tasks import Task

CONFIDENCE = 0.95


@dataclass(frozen=True)
class TTest:
    """The mean of paired fold differences, its confidence interval and two-sided p-value."""

    mean: float
    low: float
    high: float
    p_value: float


def corrected_t_test(differences: np.ndarray, test_to_train: float) -> TTest:
    """Nadeau & Bengio's corrected resampled t-test on per-fold differences of two models
    scored on the same folds: variance (1/J + n_test/n_train) * s² over J folds, J - 1 degrees
    of freedom. With test_to_train = 0 it is the naive paired t-test."""
    folds = len(differences)
    if folds < 2:
        raise ValueError("a t-test needs at least two folds")
    mean = float(np.mean(differences))
    error = float(np.sqrt((1 / folds + test_to_train) * np.var(differences, ddof=1)))
    if error == 0:
        return TTest(mean, mean, mean, 1.0 if mean == 0 else 0.0)
    half_width = stats.t.ppf(0.5 + CONFIDENCE / 2, folds - 1) * error
    p_value = float(2 * stats.t.sf(abs(mean / error), folds - 1))
    return TTest(mean, mean - half_width, mean + half_width, p_value)


def paired_differences(fold_scores: pd.DataFrame, run_a: str, run_b: str, metric: str):
    """(per-fold scores of run_a minus run_b on `metric`, folds per repeat) from ml.fold_scores
    rows, paired by (repeat, fold)."""
    keys = ["repeat", "fold"]
    pairs = [
        fold_scores[(fold_scores["run_id"] == run) & (fold_scores["metric"] == metric)]
        .set_index(keys)["value"]
        for run in (run_a, run_b)
    ]  # fmt: skip
    joined = pd.concat(pairs, axis=1, keys=["a", "b"], join="inner").sort_index()
    folds_per_repeat = int(joined.index.get_level_values("fold").max()) + 1
    return (joined["a"] - joined["b"]).to_numpy(), folds_per_repeat


def compare_runs(
    fold_scores: pd.DataFrame, run_a: str, run_b: str, metric: str, corrected: bool = True
) -> TTest:
    """The corrected test of run_a against run_b on `metric` (K-fold's test/train ratio is
    1/(K - 1)), or with `corrected=False` the naive paired t-test."""
    differences, folds_per_repeat = paired_differences(fold_scores, run_a, run_b, metric)
    return corrected_t_test(differences, 1 / (folds_per_repeat - 1) if corrected else 0.0)


def versus_best(runs: pd.DataFrame, metrics: pd.DataFrame, fold_scores: pd.DataFrame,
                task: Task) -> dict[str, str]:  # fmt: skip
    """Per run of `task`: "best", or the corrected p-value of its champion metric against the
    best run scored on the same folds (empty for runs without fold scores)."""
    metric = task.champion_metric
    scored = runs[(runs["task"] == task.name) & runs["folds_sha256"].notna()].merge(
        metrics[metrics["metric"] == metric][["run_id", "value"]], on="run_id"
    )
    result = {}
    for _, group in scored.groupby("folds_sha256"):
        best = group.loc[group["value"].idxmax(), "run_id"]
        for run_id in group["run_id"]:
            if run_id == best:
                result[run_id] = "best"
            else:
                test = compare_runs(fold_scores, run_id, best, metric)
                result[run_id] = f"{test.p_value:.2g}"
    return result
