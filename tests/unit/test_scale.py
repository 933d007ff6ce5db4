import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.pipeline import make_pipeline

from ml.config import CVSettings
from ml.evaluate import cross_validate, permutation_test
from ml.scale import capped, plan_training
from ml.tasks import REGRESSION


def test_small_data_keeps_the_full_protocol():
    plan = plan_training(CVSettings(n_repeats=5, large_data_rows=1000), n_rows=1000)
    assert (plan.n_repeats, plan.max_train_rows, plan.is_scaled_down) == (5, None, False)
    assert plan.describe(1000) == "full protocol on 1,000 rows"


def test_large_data_scales_down_and_says_how():
    cv = CVSettings(n_repeats=5, large_data_rows=1000, max_train_rows=300, max_importance_rows=50)
    plan = plan_training(cv, n_rows=1001)
    assert plan.is_scaled_down
    assert (plan.n_repeats, plan.max_train_rows, plan.max_importance_rows) == (1, 300, 50)
    assert plan.permutation_folds == 1
    description = plan.describe(1001)
    assert "1,001 rows" in description and "300" in description and "50" in description


def test_capped_is_a_seeded_ordered_subset():
    indices = np.arange(100, 200)
    sample = capped(indices, 10, seed=3)
    assert len(sample) == 10 and set(sample) <= set(indices)
    assert np.all(np.diff(sample) > 0)
    assert np.array_equal(sample, capped(indices, 10, seed=3))
    assert not np.array_equal(sample, capped(indices, 10, seed=4))
    assert capped(indices, None, seed=3) is indices
    assert capped(indices, 500, seed=3) is indices


class RecordsFitSizes(BaseEstimator, RegressorMixin):
    fit_sizes: list[int] = []

    def fit(self, X, y):
        RecordsFitSizes.fit_sizes.append(len(X))
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_capped_cross_validation_fits_on_few_rows_but_predicts_every_row():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=1000)})
    y = X["x"].to_numpy() + rng.normal(size=1000)
    RecordsFitSizes.fit_sizes = []
    result = cross_validate(
        make_pipeline(RecordsFitSizes()), X, y, REGRESSION, n_splits=4, n_repeats=1,
        max_train_rows=100,
    )  # fmt: skip
    # Per fold: the model on 100 rows, then the one calibrating its intervals on four fifths.
    assert RecordsFitSizes.fit_sizes == [100, 80] * 4
    assert not np.isnan(result.oof_prediction).any() and len(result.oof_prediction) == 1000


def test_permutation_test_on_one_fold_refits_once_per_permutation():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=400)})
    y = 2 * X["x"].to_numpy() + rng.normal(size=400)
    RecordsFitSizes.fit_sizes = []
    permutation_test(
        make_pipeline(RecordsFitSizes()), X, y, REGRESSION, n_splits=4, seed=0,
        n_permutations=3, max_rows=50, max_folds=1,
    )  # fmt: skip
    assert RecordsFitSizes.fit_sizes == [50] * 4  # observed + 3 permutations, one fold each


def test_forests_are_kept_small_only_on_large_data():
    cv = CVSettings(large_data_rows=1000)
    params = {"n_estimators": 300, "min_samples_leaf": 2, "n_jobs": -1}
    assert plan_training(cv, 1000).model_params("random_forest", params) == params
    large = plan_training(cv, 1001)
    assert large.model_params("random_forest", params) == {
        "n_estimators": 50, "min_samples_leaf": 20, "n_jobs": -1,
    }  # fmt: skip
    assert large.model_params("hist_gradient_boosting", {"max_iter": 200}) == {
        "max_iter": 200, "early_stopping": True,
    }  # fmt: skip
    assert large.model_params("ridge", {"alpha": 1.0}) == {"alpha": 1.0}


def test_large_data_tunes_the_threshold_on_one_inner_split():
    from sklearn.linear_model import LogisticRegression

    from ml.evaluate import tuned_threshold

    rng = np.random.default_rng(2)
    X = pd.DataFrame({"x": rng.normal(size=600)})
    y = (X["x"].to_numpy() + rng.normal(scale=0.5, size=600) > 1).astype(int)
    model = make_pipeline(LogisticRegression())
    single = tuned_threshold(model, X, y, seed=0, single_split=True)
    assert 0 < single < 1
    assert single == tuned_threshold(model, X, y, seed=0, single_split=True)


def test_fit_and_evaluate_caps_the_final_fit_on_large_data():
    from dataclasses import replace

    from ml.config import load_config
    from ml.train import fit_and_evaluate

    config = load_config("regression_platform_ridge")
    config = replace(config, cv=replace(config.cv, n_repeats=2, large_data_rows=100,
                                        max_train_rows=80, importance_repeats=0))  # fmt: skip
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((150, len(config.features))), columns=config.features)
    y = 2 * X["in_spotify_playlists"].to_numpy() + rng.normal(0, 0.1, 150)
    fitted = fit_and_evaluate(config, X, y)
    assert fitted.plan.is_scaled_down and fitted.plan.n_repeats == 1
    assert len(fitted.final_rows) == 80
    assert len(fitted.cv_result.oof_prediction) == 150  # every row still predicted out of fold
    assert fitted.metrics.set_index("metric").loc["r2", "value"] > 0.8
    assert fitted.threshold is None
    assert fitted.final_model.predict(X.head(3)).shape == (3,)


def _predict_here(X: pd.DataFrame, task):
    """A HeldOutPredictor that predicts the test rows from every row's features, as Spark does."""

    def predict(models, tests):
        return [tuple(task.predict(model, X.loc[test]) for model in pair)
                for pair, test in zip(models, tests, strict=True)]  # fmt: skip

    return predict


@pytest.mark.parametrize("name", ["experiment_1", "classifier"])
@pytest.mark.parametrize("large", [False, True])
def test_fits_read_only_rows_read_when_held_out_rows_are_predicted_elsewhere(name, large):
    """Spark's path: the fits see the features of `rows_read` alone, the test rows are
    predicted by the fold models elsewhere, and every result is the same as with every row."""
    from dataclasses import replace

    from ml.config import load_config
    from ml.train import fit_and_evaluate, rows_read

    config = load_config(name)
    scale = {"large_data_rows": 300, "max_train_rows": 100, "max_importance_rows": 40}
    config = replace(config, model_params={"n_estimators": 5, "random_state": 0},
                     cv=replace(config.cv, n_repeats=2, n_permutations=3, importance_repeats=2,
                                **(scale if large else {})))  # fmt: skip
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((600, len(config.features))), columns=config.features)
    signal = X[config.features[0]].to_numpy() + rng.normal(0, 0.1, 600)
    y = (signal > np.quantile(signal, 0.9)).astype(int) if config.task.is_classification else signal
    read = rows_read(config, y)
    assert (len(read) < 600) == large
    everywhere = fit_and_evaluate(config, X, y)
    elsewhere = fit_and_evaluate(config, X.loc[read], y,
                                 predict_held_out=_predict_here(X, config.task))  # fmt: skip
    assert np.array_equal(everywhere.cv_result.oof_prediction, elsewhere.cv_result.oof_prediction)
    pd.testing.assert_frame_equal(everywhere.metrics, elsewhere.metrics)
    tests_significance = "permutation_pvalue" in set(elsewhere.metrics["metric"])
    assert tests_significance == (config.feature_set == "audio")
    pd.testing.assert_frame_equal(everywhere.cv_result.importance, elsewhere.cv_result.importance)
    assert everywhere.threshold == elsewhere.threshold
