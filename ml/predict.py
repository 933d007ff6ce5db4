"""Score new songs given in the raw file's columns with the champion models.

Features come from the same dbt models as training (run with var scoring=true into a
throw-away DuckDB file), so nothing is re-implemented in pandas.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml import warehouse
from ml.dbt import run_dbt
from ml.errors import UserError
from ml.features import feature_matrix
from ml.raw_file import inspect_raw_csv
from ml.settings import Paths

OUTPUT_COLUMNS = [
    "raw_row_number", "track_name", "artist_names", "predicted_log_streams",
    "predicted_streams", "top_decile_probability", "is_predicted_top_decile",
]  # fmt: skip


@dataclass(frozen=True)
class Scored:
    predictions: pd.DataFrame
    rejected: pd.DataFrame
    model_versions: dict[str, str]


def build_scoring_features(
    input_csv: Path, progress: Callable[[str], None]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(track features joined to names and row numbers, rejected rows) for the input file."""
    if not input_csv.is_file():
        raise UserError(f"input CSV not found: {input_csv}")
    raw_format = inspect_raw_csv(input_csv)
    with tempfile.TemporaryDirectory(prefix="spotify-scoring-") as folder:
        scoring_db = Path(folder) / "scoring.duckdb"
        progress(f"computing features for {input_csv.name} with the dbt models")
        run_dbt(
            ["run", "--select", "+track_features", "rejected_rows"],
            warehouse=scoring_db,
            raw_csv=input_csv,
            variables={"scoring": True},
            encoding=raw_format.encoding,
            # New songs come a few at a time: the single-threaded reader costs nothing here
            # and, unlike the parallel one, pads a short line in a file with quoted line breaks.
            parallel_reader=False,
        )
        tracks = warehouse.read_table(scoring_db, "marts.tracks")
        features = warehouse.read_table(scoring_db, "marts.track_features")
        rejected = warehouse.read_table(scoring_db, "audit.rejected_rows")
    names = tracks[["track_id", "raw_row_number", "track_name", "artist_names"]]
    joined = names.merge(features, on="track_id", how="inner", validate="one_to_one")
    return joined.sort_values("raw_row_number").reset_index(drop=True), rejected


def score_csv(input_csv: Path, paths: Paths, progress: Callable[[str], None]) -> Scored:
    from ml import tracking

    features, rejected = build_scoring_features(input_csv, progress)
    tracking.configure(paths)
    regressor, regressor_tags = tracking.load_champion("regression")
    classifier, classifier_tags = tracking.load_champion("classification")
    predictions = features[["raw_row_number", "track_name", "artist_names"]].copy()
    if len(features):
        log_streams = regressor.predict(feature_matrix(features, list(regressor.feature_names_in_)))
        probability = classifier.predict_proba(
            feature_matrix(features, list(classifier.feature_names_in_))
        )[:, 1]
        threshold = float(classifier_tags.get("decision_threshold") or 0.5)
    else:
        log_streams = probability = np.array([])
        threshold = 0.5
    predictions["predicted_log_streams"] = log_streams
    predictions["predicted_streams"] = np.exp(log_streams)
    predictions["top_decile_probability"] = probability
    predictions["is_predicted_top_decile"] = probability >= threshold
    versions = {
        task: f"{tags.get('config_name', '?')} v{tags['model_version']}"
        for task, tags in (("regression", regressor_tags), ("classification", classifier_tags))
    }
    return Scored(predictions[OUTPUT_COLUMNS], rejected, versions)
