"""Named feature sets over marts.track_features, and the frame -> (X, y) step.

Column names are the dbt contract's (dbt_project/models/marts/_marts__models.yml);
tests/test_features.py checks that every name here is in that contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ml.tasks import Task

AUDIO = [
    "bpm", "danceability_pct", "valence_pct", "energy_pct",
    "acousticness_pct", "instrumentalness_pct", "liveness_pct", "speechiness_pct",
]  # fmt: skip
RELEASE = ["released_year", "released_month", "days_since_release"]
PLATFORM = [
    "in_spotify_playlists", "in_spotify_charts", "in_apple_playlists", "in_apple_charts",
    "in_deezer_playlists", "in_deezer_charts", "in_shazam_charts",
]  # fmt: skip
ENGINEERED = ["danceability_x_energy", "valence_x_energy", "mean_danceability_energy_valence"]
CATEGORICAL = ["musical_key", "mode"]

FEATURE_SETS: dict[str, list[str]] = {
    "audio": AUDIO,
    "audio_artist": [*AUDIO, "artist_count"],
    "audio_meta": [*AUDIO, "artist_count", *CATEGORICAL, *RELEASE],
    "platform": PLATFORM,
    "full": [*AUDIO, "artist_count", *CATEGORICAL, *RELEASE, *PLATFORM, *ENGINEERED],
}

ID_COLUMN = "track_id"
# Never features: the key, and the targets with the raw count they are computed from.
NOT_FEATURES = {ID_COLUMN, "streams", "log_streams", "is_top_decile"}
ALL_FEATURES = sorted({name for names in FEATURE_SETS.values() for name in names})


def resolve_feature_set(feature_set: str) -> list[str]:
    try:
        return list(FEATURE_SETS[feature_set])
    except KeyError:
        known = ", ".join(FEATURE_SETS)
        raise ValueError(f"unknown feature set '{feature_set}' (known: {known})") from None


def split_numeric_categorical(features: list[str]) -> tuple[list[str], list[str]]:
    categorical = [name for name in features if name in CATEGORICAL]
    numeric = [name for name in features if name not in CATEGORICAL]
    return numeric, categorical


def feature_matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model input: numerics as float64 (missing -> NaN), categoricals as object."""
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise ValueError(f"feature columns missing from the input: {', '.join(missing)}")
    numeric, categorical = split_numeric_categorical(features)
    columns = {}
    for name in features:
        if name in numeric:
            columns[name] = pd.to_numeric(frame[name], errors="raise").to_numpy(
                dtype="float64", na_value=np.nan
            )
        else:
            values = frame[name].astype(object)
            columns[name] = values.where(values.notna(), np.nan).to_numpy(dtype=object)
    return pd.DataFrame(columns, index=frame.index)


def target_vector(frame: pd.DataFrame, task: Task) -> np.ndarray:
    column = task.target
    if column not in frame.columns:
        raise ValueError(f"target column missing from the input: {column}")
    values = frame[column]
    if values.isna().any():
        raise ValueError(f"target column {column} has {int(values.isna().sum())} missing values")
    return values.to_numpy(dtype=task.target_dtype)
