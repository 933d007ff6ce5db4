import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance

from ml.importance import heldout_importance, summarize_importance
from ml.pipeline import make_pipeline_for
from ml.tasks import TASKS


@pytest.mark.parametrize(
    ("task", "model_type"),
    [("regression", "hist_gradient_boosting"), ("classification", "logistic_regression"),
     ("classification", "random_forest")],
)  # fmt: skip
def test_batched_importance_equals_scikit_learns(task, model_type):
    """One predict call over every shuffled copy gives scikit-learn's shuffles and scores."""
    task = TASKS[task]
    rng = np.random.default_rng(0)
    X = pd.DataFrame({
        "in_spotify_playlists": rng.integers(0, 5000, 120).astype(float),
        "bpm": rng.normal(120, 20, 120),
        "mode": rng.choice(["Major", "Minor"], 120).astype(object),
    })  # fmt: skip
    signal = np.log1p(X["in_spotify_playlists"].to_numpy()) + rng.normal(0, 0.5, 120)
    y = signal if not task.is_classification else (signal > np.quantile(signal, 0.8)).astype(int)
    model = make_pipeline_for(task, model_type, {}, list(X.columns), seed=0).fit(X[:80], y[:80])
    expected = permutation_importance(
        model, X[80:], y[80:], scoring=task.scorer_name, n_repeats=4, random_state=11
    )
    drops = heldout_importance(model, X[80:], y[80:], task, n_repeats=4, seed=11)
    assert drops["feature"].tolist() == [name for name in X.columns for _ in range(4)]
    np.testing.assert_allclose(drops["drop"], expected.importances.ravel(), rtol=0, atol=1e-12)
    assert drops["drop"].iloc[0] > 0.05  # the informative column matters


def test_summary_is_mean_and_std_per_feature_sorted_by_importance():
    drops = pd.DataFrame({
        "feature": ["bpm", "bpm", "in_spotify_playlists", "in_spotify_playlists"],
        "drop": [0.0, 0.02, 0.5, 0.7],
    })  # fmt: skip
    summary = summarize_importance(drops)
    assert summary["feature"].tolist() == ["in_spotify_playlists", "bpm"]
    assert summary["importance_mean"].tolist() == [0.6, 0.01]
    assert round(summary["importance_std"].iloc[0], 6) == round(pd.Series([0.5, 0.7]).std(), 6)
