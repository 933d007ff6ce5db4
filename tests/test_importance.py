import pandas as pd

from ml.importance import summarize_importance


def test_summary_is_mean_and_std_per_feature_sorted_by_importance():
    drops = pd.DataFrame({
        "feature": ["bpm", "bpm", "in_spotify_playlists", "in_spotify_playlists"],
        "drop": [0.0, 0.02, 0.5, 0.7],
    })  # fmt: skip
    summary = summarize_importance(drops)
    assert summary["feature"].tolist() == ["in_spotify_playlists", "bpm"]
    assert summary["importance_mean"].tolist() == [0.6, 0.01]
    assert round(summary["importance_std"].iloc[0], 6) == round(pd.Series([0.5, 0.7]).std(), 6)
