import numpy as np
import pandas as pd
import pytest

from ml.pipeline import make_estimator, make_pipeline_for
from ml.tasks import CLASSIFICATION, REGRESSION


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "bpm": [120.0, 90.0, np.nan, 100.0, 130.0, 80.0],
        "in_spotify_playlists": [10.0, 2000.0, 300.0, np.nan, 50.0, 7000.0],
        "musical_key": ["C", np.nan, "A#", "C", "D", "A#"],
    })  # fmt: skip


def test_estimator_is_seeded_when_the_config_gives_no_seed():
    assert make_estimator(REGRESSION, "random_forest", {}, seed=7).random_state == 7
    given = make_estimator(REGRESSION, "random_forest", {"random_state": 1}, seed=7)
    assert given.random_state == 1


def test_unknown_estimator_parameter_is_named():
    with pytest.raises(ValueError, match="unknown parameter\\(s\\) for ridge: depth"):
        make_estimator(REGRESSION, "ridge", {"depth": 3}, seed=0)


@pytest.mark.parametrize("model_type", ["random_forest", "hist_gradient_boosting", "ridge"])
def test_pipeline_fits_with_missing_values_and_scores_unseen_categories(model_type):
    X = frame()
    y = np.array([18.0, 19.0, 18.5, 20.0, 17.5, 21.0])
    features = list(X.columns)
    pipeline = make_pipeline_for(REGRESSION, model_type, {}, features, seed=0).fit(X, y)
    unseen = pd.DataFrame({"bpm": [np.nan], "in_spotify_playlists": [5.0], "musical_key": ["G"]})
    prediction = pipeline.predict(unseen)
    assert prediction.shape == (1,) and np.isfinite(prediction).all()


def test_linear_pipeline_log_scales_playlist_counts():
    pipeline = make_pipeline_for(
        CLASSIFICATION, "logistic_regression", {}, ["bpm", "in_spotify_playlists"], seed=0
    )
    names = [name for name, _, _ in pipeline.named_steps["preprocess"].transformers]
    assert names == ["counts", "numeric"]
