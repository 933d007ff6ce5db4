"""Named feature sets over marts.track_features, and the frame -> (X, y) step.

The feature groups are the dbt contract's (dbt_project/models/marts/_marts__models.yml): each
feature column names its group in `config.meta.feature_group`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ml.dbt import declared_columns

if TYPE_CHECKING:
    from ml.tasks import Task


def _feature_groups() -> dict[str, list[str]]:
    """Feature group -> columns, in contract order: the `feature_group` each column of the
    track_features contract names in its meta."""
    groups: dict[str, list[str]] = {}
    for column in declared_columns("marts/_marts__models.yml", "track_features"):
        group = column.get("config", {}).get("meta", {}).get("feature_group")
        if group:
            groups.setdefault(group, []).append(column["name"])
    return groups


FEATURE_GROUPS = _feature_groups()
AUDIO = FEATURE_GROUPS["audio"]
ARTIST = FEATURE_GROUPS["artist"]
CATEGORICAL = FEATURE_GROUPS["categorical"]
RELEASE = FEATURE_GROUPS["release"]
PLATFORM = FEATURE_GROUPS["platform"]
ENGINEERED = FEATURE_GROUPS["engineered"]

FEATURE_SETS: dict[str, list[str]] = {
    "audio": AUDIO,
    "audio_artist": [*AUDIO, *ARTIST],
    "audio_meta": [*AUDIO, *ARTIST, *CATEGORICAL, *RELEASE],
    "platform": PLATFORM,
    "full": [*AUDIO, *ARTIST, *CATEGORICAL, *RELEASE, *PLATFORM, *ENGINEERED],
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
