import numpy as np
import pandas as pd
import pytest

from ml.errors import UserError
from ml.evaluate import (
    best_f1_threshold,
    check_folds,
    cross_validate,
    permutation_test,
    summarize,
)
from ml.pipeline import make_pipeline_for
from ml.tasks import CLASSIFICATION, REGRESSION


def test_regression_scores_on_known_values():
    scores = REGRESSION.scores(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert scores["mae"] == pytest.approx(2 / 3)
    assert scores["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert scores["r2"] == pytest.approx(1 - 4 / 2)


def test_classification_scores_apply_the_threshold():
    y = np.array([0, 0, 1, 1])
    probability = np.array([0.1, 0.6, 0.4, 0.9])
    at_half = CLASSIFICATION.scores(y, probability, threshold=0.5)
    assert at_half["precision"] == 0.5 and at_half["recall"] == 0.5
    at_third = CLASSIFICATION.scores(y, probability, threshold=0.3)
    assert at_third["recall"] == 1.0
    assert at_half["roc_auc"] == at_third["roc_auc"] == 0.75


def test_best_f1_threshold_separates_perfectly_ranked_classes():
    y = np.array([0, 0, 0, 1, 1])
    probability = np.array([0.1, 0.2, 0.3, 0.7, 0.8])
    assert best_f1_threshold(y, probability) == pytest.approx(0.7)


def synthetic(rows: int = 80, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"in_spotify_playlists": rng.lognormal(7, 1, rows), "bpm": rng.normal(120, 20, rows)}
    )
    y = 14 + 0.7 * np.log(X["in_spotify_playlists"].to_numpy()) + rng.normal(0, 0.3, rows)
    return X, y


def test_cross_validate_predicts_every_row_out_of_fold_and_beats_the_mean():
    X, y = synthetic()
    model = make_pipeline_for(REGRESSION, "ridge", {}, list(X.columns), seed=0)
    result = cross_validate(model, X, y, REGRESSION, n_splits=4, n_repeats=2, seed=1)
    assert result.n_splits == 8 and len(result.fold_scores) == 8
    assert result.oof_prediction.shape == (len(X),) and np.isfinite(result.oof_prediction).all()
    metrics = summarize(result).set_index("metric")
    scores = {"r2", "rmse", "mae", "interval_coverage", "interval_mean_width"}
    assert set(metrics.index) == scores | {f"baseline_{name}" for name in scores}
    assert metrics.loc["r2", "value"] > 0.5 > metrics.loc["baseline_r2", "value"]
    # The model's intervals are narrower than the mean's, both at about their level.
    width = metrics["value"].filter(like="interval_mean_width")
    assert width["interval_mean_width"] < width["baseline_interval_mean_width"]
    lower, upper = result.oof_bounds
    assert (lower < result.oof_prediction).all() and (result.oof_prediction < upper).all()
    assert (metrics["n_splits"] == 8).all()


def test_same_seed_gives_identical_metrics_and_another_seed_does_not():
    X, y = synthetic()
    labels = (y > np.quantile(y, 0.8)).astype(int)
    model = make_pipeline_for(
        CLASSIFICATION, "random_forest", {"n_estimators": 10}, list(X.columns), seed=0
    )
    first = summarize(cross_validate(model, X, labels, CLASSIFICATION, 4, 1, seed=3))
    second = summarize(cross_validate(model, X, labels, CLASSIFICATION, 4, 1, seed=3))
    other = summarize(cross_validate(model, X, labels, CLASSIFICATION, 4, 1, seed=4))
    pd.testing.assert_frame_equal(first, second)
    assert not first["value"].equals(other["value"])


def test_too_few_rows_for_the_folds_is_an_error():
    X, y = synthetic(rows=6)
    model = make_pipeline_for(REGRESSION, "ridge", {}, list(X.columns), seed=0)
    with pytest.raises(UserError, match="6 rows are too few for 5-fold"):
        cross_validate(model, X, y, REGRESSION, n_splits=5, n_repeats=1)


def test_stratified_folds_need_a_row_of_the_rarer_class_each():
    """scikit-learn only warns, then tests some folds on no positive row at all."""
    labels = np.array([1] * 4 + [0] * 36)
    check_folds(CLASSIFICATION, labels, 4)
    with pytest.raises(UserError, match="4 rows of the rarer class are too few for 5-fold"):
        check_folds(CLASSIFICATION, labels, 5)
    with pytest.raises(UserError, match="0 rows of the rarer class"):
        check_folds(CLASSIFICATION, np.zeros(40, dtype=int), 2)


def test_a_regression_target_that_never_varies_is_an_error():
    """Streams equal for every track trained to a CV r2 of 1.000 (scikit-learn's r2 of a
    constant prediction of a constant) and a divide-by-zero warning from the plots."""
    check_folds(REGRESSION, np.array([13.8] * 39 + [13.9]), 5)
    with pytest.raises(UserError, match="every row has the same log_streams"):
        check_folds(REGRESSION, np.full(40, 13.8), 5)


def test_permutation_test_separates_signal_from_noise():
    X, y = synthetic(rows=60)
    model = make_pipeline_for(REGRESSION, "ridge", {}, list(X.columns), seed=0)
    observed, p_signal = permutation_test(model, X, y, REGRESSION, 3, seed=0, n_permutations=9)
    assert observed > 0.5
    assert p_signal == pytest.approx(1 / 10)  # no shuffled label scores as well
    noise = np.random.default_rng(1).normal(size=len(y))
    _, p_noise = permutation_test(model, X, noise, REGRESSION, 3, seed=0, n_permutations=9)
    assert p_noise > 0.1


def test_heldout_importance_ranks_the_informative_column_first():
    X, y = synthetic(rows=80)
    model = make_pipeline_for(REGRESSION, "ridge", {}, list(X.columns), seed=0)
    result = cross_validate(model, X, y, REGRESSION, 4, 2, seed=0, importance_repeats=3)
    importance = result.importance
    assert list(importance.columns) == ["feature", "importance_mean", "importance_std"]
    assert importance["feature"].tolist() == ["in_spotify_playlists", "bpm"]
    assert importance["importance_mean"].iloc[0] > 0.5 > abs(importance["importance_mean"].iloc[1])
    assert cross_validate(model, X, y, REGRESSION, 4, 1, seed=0).importance is None


def test_intervals_of_a_model_that_memorises_its_rows_still_cover():
    """A full-depth forest predicts its own training rows almost exactly: intervals calibrated
    on residuals it trained on would be far too narrow. Calibrated on held-out training rows,
    they hold about their level of the test rows."""
    X, y = synthetic(rows=400)
    model = make_pipeline_for(REGRESSION, "random_forest", {"n_estimators": 20},
                              list(X.columns), seed=0)  # fmt: skip
    result = cross_validate(model, X, y, REGRESSION, n_splits=5, n_repeats=2, seed=1,
                            interval_level=0.8)  # fmt: skip
    coverage = result.fold_scores["interval_coverage"]
    assert abs(coverage.mean() - 0.8) < 0.05
    assert result.first_repeat_prediction.shape == (400,)
    assert np.isfinite(result.first_repeat_prediction).all()
