"""The seed project's way, kept only as the benchmark's yardstick: clean the raw CSV and derive
the features in pandas, all in memory. Same rules as the dbt models (numeric streams, the
implausible-streams rule, duplicates keep the most streams); no rejects table, no tests."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ml.settings import DBT_PROJECT_DIR


@functools.cache
def dbt_rule_vars() -> dict:
    """The cleaning rules' parameters, read from dbt_project.yml so both ways use the same."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return project["vars"]


def clean_and_featurize(path: Path, encoding: str = "latin-1") -> pd.DataFrame:
    rules = dbt_rule_vars()
    snapshot_date = pd.Timestamp(rules["data_snapshot_date"])
    min_streams_per_playlist = rules["min_streams_per_playlist"]
    frame = pd.read_csv(path, encoding=encoding, thousands=",")
    frame["streams"] = pd.to_numeric(frame["streams"], errors="coerce")
    frame = frame.dropna(subset=["streams"])
    frame = frame[frame["streams"] >= min_streams_per_playlist * frame["in_spotify_playlists"]]
    frame = frame.sort_values("streams", ascending=False, kind="stable")
    frame = frame.drop_duplicates(["track_name", "artist(s)_name"]).sort_index()
    frame.columns = [name.replace("_%", "_pct") for name in frame.columns]

    released = pd.to_datetime(
        pd.DataFrame({
            "year": frame["released_year"],
            "month": frame["released_month"],
            "day": frame["released_day"],
        }),
        errors="coerce",
    )  # fmt: skip
    frame["days_since_release"] = (snapshot_date - released).dt.days
    frame["log_streams"] = np.log(frame["streams"])
    frame["is_top_decile"] = frame["streams"] >= frame["streams"].quantile(0.9)
    frame["danceability_x_energy"] = frame["danceability_pct"] * frame["energy_pct"] / 100
    frame["valence_x_energy"] = frame["valence_pct"] * frame["energy_pct"] / 100
    frame["mean_danceability_energy_valence"] = (
        frame["danceability_pct"] + frame["energy_pct"] + frame["valence_pct"]
    ) / 3
    return frame
