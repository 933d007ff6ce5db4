"""Score new songs given in the raw file's columns with the champion models.

Features come from the same dbt models as training: the SQL the last build compiled for them
(kept in the warehouse, ml.scoring_sql) runs on the new file in an in-memory DuckDB, so
nothing is re-implemented in pandas and dbt does not start. The champions are read from the
warehouse's ml.model_versions, without MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import FixedThresholdClassifier
from threadpoolctl import threadpool_limits

from ml import warehouse
from ml.errors import UserError
from ml.features import feature_matrix
from ml.intervals import Intervals
from ml.ranges import outside_ranges
from ml.raw_file import inspect_raw_csv
from ml.settings import Paths
from ml.tasks import TASKS

OUTPUT_COLUMNS = [
    "raw_row_number", "track_name", "artist_names", "predicted_log_streams",
    "predicted_log_streams_lower", "predicted_log_streams_upper", "predicted_streams",
    "predicted_streams_lower", "predicted_streams_upper", "top_decile_probability",
    "is_predicted_top_decile", "outside_training_range",
]  # fmt: skip


@dataclass(frozen=True)
class Scored:
    predictions: pd.DataFrame
    rejected: pd.DataFrame
    model_versions: dict[str, str]
    # The share of true values the champion's prediction intervals are calibrated to hold.
    interval_level: float
    # With explain: per scored row, task and feature, the champion's SHAP contribution.
    contributions: pd.DataFrame | None = None


@dataclass(frozen=True)
class Scorer:
    """What scoring reads from the warehouse, read once (the app keeps it): the build's
    scoring SQL and, per task, the champion (fitted pipeline, its ml.model_versions row) and
    what it saw in training (ml.training_ranges rows; none for runs from before they were
    kept), and the regression champion's prediction intervals (ml.prediction_intervals)."""

    scoring_sql: pd.DataFrame
    champions: dict[str, tuple]
    ranges: dict[str, pd.DataFrame]
    warehouse: Path
    intervals: Intervals


def load_scorer(paths: Paths) -> Scorer:
    """The scoring SQL and the champions as the warehouse records them, read without MLflow."""
    from ml.model_files import load_model

    scoring_sql = warehouse.read_scoring_sql(paths.warehouse)
    versions = warehouse.read_model_versions(paths.warehouse)
    if versions.empty:
        raise UserError("no champion models yet (run `python cli.py train` first)")
    champions = {}
    for task in TASKS:
        rows = versions[versions["is_champion"] & (versions["task"] == task)]
        if rows.empty:
            raise UserError(f"no champion model for {task} yet (run `python cli.py train` first)")
        row = rows.iloc[0]
        name = f"{row['model_name']} version {row['version']}"
        model = load_model(Path(row["model_path"]), name)
        if TASKS[task].is_classification and not isinstance(model, FixedThresholdClassifier):
            raise UserError(
                f"{name} carries no decision threshold (trained before thresholds travelled "
                "inside the model): retrain it, `python cli.py train`"
            )
        champions[task] = (model, row)
    ranges = warehouse.read_training_ranges(
        paths.warehouse, [row["run_id"] for _, row in champions.values()]
    )
    regression_run = champions["regression"][1]["run_id"]
    intervals = warehouse.read_prediction_intervals(paths.warehouse, regression_run)
    if intervals.empty:
        raise UserError(
            f"the regression champion (run {regression_run}) has no prediction intervals "
            "(trained before they were kept): retrain it, `python cli.py train`"
        )
    return Scorer(scoring_sql, champions, {
        task: ranges[ranges["run_id"] == row["run_id"]] for task, (_, row) in champions.items()
    }, paths.warehouse, Intervals.from_rows(intervals))  # fmt: skip


def scoring_features(
    input_csv: Path, scorer: Scorer, progress: Callable[[str], None]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(track features joined to names and row numbers, rejected rows) for the input file."""
    if not input_csv.is_file():
        raise UserError(f"input CSV not found: {input_csv}")
    raw_format = inspect_raw_csv(input_csv)
    progress(f"computing features for {input_csv.name} with the build's dbt SQL")
    tables = warehouse.run_scoring_sql(
        scorer.scoring_sql, input_csv, raw_format.encoding,
        ["tracks", "track_features", "rejected_rows"],
    )  # fmt: skip
    names = tables["tracks"][["track_id", "raw_row_number", "track_name", "artist_names"]]
    joined = names.merge(tables["track_features"], on="track_id", how="inner",
                         validate="one_to_one")  # fmt: skip
    return joined.sort_values("raw_row_number").reset_index(drop=True), tables["rejected_rows"]


def explain_rows(features: pd.DataFrame, scorer: Scorer) -> pd.DataFrame:
    """Why the champions score each row as they do (ml/explain.py): long rows of
    raw_row_number, task, feature, contribution, base_value, prediction."""
    from ml.explain import contributions

    # What a linear champion's contributions are measured against: the rows it learnt from.
    training_rows = warehouse.read_track_features(scorer.warehouse)
    frames = []
    for task, (model, _) in scorer.champions.items():
        names = list(model.feature_names_in_)
        rows = contributions(model, feature_matrix(features, names),
                             feature_matrix(training_rows, names))  # fmt: skip
        numbers = features["raw_row_number"].to_numpy()
        frames.append(rows.assign(task=task, raw_row_number=numbers[rows.pop("row").to_numpy()]))
    return pd.concat(frames, ignore_index=True)


def score_csv(
    input_csv: Path, scorer: Scorer, progress: Callable[[str], None], explain: bool = False
) -> Scored:
    features, rejected = scoring_features(input_csv, scorer, progress)
    regressor, _ = scorer.champions["regression"]
    classifier, _ = scorer.champions["classification"]
    predictions = features[["raw_row_number", "track_name", "artist_names"]].copy()
    if len(features):
        # One thread: on a few rows, starting a thread pool costs more than it saves.
        with threadpool_limits(1):
            log_streams = regressor.predict(
                feature_matrix(features, list(regressor.feature_names_in_))
            )
            probability = classifier.predict_proba(
                feature_matrix(features, list(classifier.feature_names_in_))
            )[:, 1]
    else:
        log_streams = probability = np.array([])
    lower, upper = scorer.intervals.bounds(log_streams)
    predictions["predicted_log_streams"] = log_streams
    predictions["predicted_log_streams_lower"] = lower
    predictions["predicted_log_streams_upper"] = upper
    predictions["predicted_streams"] = np.exp(log_streams)
    predictions["predicted_streams_lower"] = np.exp(lower)
    predictions["predicted_streams_upper"] = np.exp(upper)
    predictions["top_decile_probability"] = probability
    # What the classifier's predict() gives, without predicting twice.
    predictions["is_predicted_top_decile"] = probability >= classifier.threshold
    # The features outside what either champion saw in training.
    champions_ranges = pd.concat(scorer.ranges.values())
    predictions["outside_training_range"] = outside_ranges(features, champions_ranges)
    versions = {
        task: f"{row['config_name']} v{row['version']}"
        for task, (_, row) in scorer.champions.items()
    }
    explained = explain_rows(features, scorer) if explain and len(features) else None
    return Scored(predictions[OUTPUT_COLUMNS], rejected, versions, scorer.intervals.level,
                  explained)  # fmt: skip
