"""Nested hyper-parameter search: the inner search sees only outer training rows."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from test_evaluate import synthetic

from ml.config import parse_config
from ml.evaluate import cross_validate
from ml.pipeline import make_pipeline_for
from ml.search import chosen_params, chosen_pipeline, with_search
from ml.tasks import REGRESSION
from ml.train import fit_and_evaluate, search_record


class RowLogger(BaseEstimator, TransformerMixin):
    """Passes X through; each fit appends the row labels it was fitted on to `log_path` (a
    file, so fits in the search's worker processes are seen too)."""

    def __init__(self, log_path: str = ""):
        self.log_path = log_path

    def fit(self, X, y=None):
        with open(self.log_path, "a") as log:
            log.write(" ".join(str(label) for label in X.index) + "\n")
        return self

    def transform(self, X):
        return X


def ridge_search(X: pd.DataFrame, log_path: Path):
    ridge = make_pipeline_for(REGRESSION, "ridge", {}, list(X.columns), seed=0)
    logged = Pipeline([("log", RowLogger(str(log_path))), *ridge.steps])
    return with_search(logged, REGRESSION, {"alpha": [0.01, 100.0]}, seed=0)


def test_the_inner_search_never_fits_on_the_outer_test_fold(tmp_path: Path):
    X, y = synthetic()
    log_path = tmp_path / "fits.log"
    model = ridge_search(X, log_path)
    cross_validate(model, X, y, REGRESSION, n_splits=3, n_repeats=1, seed=1)
    fitted_rows = [set(map(int, line.split())) for line in log_path.read_text().splitlines()]
    outer_folds = list(REGRESSION.splitter(3, 1, seed=1).split(X, y))
    # Per outer fold: 2 candidates x 3 inner folds, one refit of the winner, the winner on four
    # fifths of the training fold (calibrating the intervals), one reference model (not
    # logged), in that order.
    per_fold = 2 * 3 + 1 + 1
    assert len(fitted_rows) == per_fold * len(outer_folds)
    for fold, (train, test) in enumerate(outer_folds):
        fits = fitted_rows[fold * per_fold : (fold + 1) * per_fold]
        assert all(rows <= set(train) and not rows & set(test) for rows in fits)
        assert fits[-2] == set(train)  # the winner is refitted on the whole outer training fold


def test_search_picks_the_better_candidate_in_every_fold(tmp_path: Path):
    X, y = synthetic(rows=90)
    model = ridge_search(X, tmp_path / "fits.log")
    result = cross_validate(model, X, y, REGRESSION, n_splits=3, n_repeats=2, seed=1)
    assert result.fold_choices == ({"alpha": 0.01},) * 6  # alpha 100 shrinks away the signal
    fitted = model.fit(X, y)
    assert chosen_params(fitted) == {"alpha": 0.01}
    assert isinstance(chosen_pipeline(fitted), Pipeline)
    assert chosen_pipeline(fitted).named_steps["model"].alpha == 0.01


def test_without_a_search_the_pipeline_is_used_as_it_is():
    pipeline = make_pipeline_for(REGRESSION, "ridge", {}, ["bpm"], seed=0)
    assert with_search(pipeline, REGRESSION, {}, seed=0) is pipeline
    assert chosen_params(pipeline) == {}


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_a_config_with_a_search_trains_logs_its_choice_and_keeps_a_plain_pipeline(task):
    config = parse_config(
        {
            "name": "searched", "task": task, "features": ["in_spotify_playlists", "bpm"],
            "model": {
                "type": "ridge" if task == "regression" else "logistic_regression",
                "search": {"alpha": [0.1, 10.0]} if task == "regression" else {"C": [0.1, 10.0]},
            },
            "cv": {"n_splits": 3, "n_repeats": 1, "importance_repeats": 0},
        },
        source="test",
    )  # fmt: skip
    X, y = synthetic(rows=90)
    if task == "classification":
        y = (y >= np.quantile(y, 0.7)).astype("int64")
    fitted = fit_and_evaluate(config, X, y)
    grid = next(iter(config.search.values()))
    assert len(fitted.cv_result.fold_choices) == 3
    assert next(iter(fitted.chosen_params.values())) in grid
    served = fitted.final_model
    if task == "classification":  # the threshold travels inside the served model
        assert served.threshold == fitted.threshold
        served = served.estimator_.estimator
    assert isinstance(served, Pipeline)
    assert np.isfinite(fitted.metrics["value"]).all()
    record = search_record(config, fitted)
    assert record["grid"] == config.search and record["final_choice"] == fitted.chosen_params
    assert sum(record["outer_fold_choices"].values()) == 3
