"""Score new songs given in the raw file's columns with the champion models.

Features come from the same dbt models as training: the SQL the last build compiled for them
(kept in the warehouse, ml.scoring_sql) runs on the new file in an in-memory DuckDB, so
nothing is re-implemented in pandas and dbt does not start. The champions score there too, as
the SQL macros training compiled them into (ml/sql_model.py; equal to scikit-learn's
predictions to 1e-9), so a prediction needs neither scikit-learn nor MLflow; only an
explanation loads the fitted models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml import warehouse
from ml.errors import UserError
from ml.intervals import Intervals
from ml.ranges import outside_ranges
from ml.raw_file import inspect_raw_csv
from ml.settings import Paths
from ml.tasks import TASKS

# Up to this many rows, a champion scores through its version's macro, which binds in a few ms
# and walks its trees row by row; above, through the champion's macro, a nested CASE that takes
# ~0.5 s to bind and then scores several times faster (docs/scoring-in-sql.md, "Limits").
VERSION_MACRO_ROWS = 10_000

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
    scoring SQL; per task, the champion's ml.model_versions row and what it saw in training
    (ml.training_ranges rows; none for runs from before they were kept); the champions' scoring
    macros in both forms, with their trees; and the regression champion's prediction intervals
    (ml.prediction_intervals)."""

    scoring_sql: pd.DataFrame
    champions: dict[str, pd.Series]
    macros: warehouse.ScoringMacros
    ranges: dict[str, pd.DataFrame]
    warehouse: Path
    intervals: Intervals

    def macro(self, task: str, rows: int) -> str:
        """The macro that scores `rows` rows with the champion of `task` (VERSION_MACRO_ROWS)."""
        if rows > VERSION_MACRO_ROWS:
            return TASKS[task].scoring_macro
        return TASKS[task].version_macro(self.champions[task]["version"])


def load_scorer(paths: Paths) -> Scorer:
    """The scoring SQL and the champions as the warehouse records them, read without MLflow,
    from one state of the warehouse, opened once."""
    with warehouse.snapshot(paths.warehouse):
        return _read_scorer(paths)


def _read_scorer(paths: Paths) -> Scorer:
    scoring_sql = warehouse.read_scoring_sql(paths.warehouse)
    versions = warehouse.read_model_versions(paths.warehouse)
    if versions.empty:
        raise UserError("no champion models yet (run `python cli.py train` first)")
    champions = {}
    for task in TASKS:
        rows = versions[versions["is_champion"] & (versions["task"] == task)]
        if rows.empty:
            raise UserError(f"no champion model for {task} yet (run `python cli.py train` first)")
        row = champions[task] = rows.iloc[0]
        if TASKS[task].is_classification and pd.isna(row["decision_threshold"]):
            raise UserError(
                f"{row['model_name']} version {row['version']} carries no decision threshold "
                "(trained before thresholds travelled inside the model): retrain it, "
                "`python cli.py train`"
            )
    macros = warehouse.read_scoring_macros(
        paths.warehouse,
        [name for task, row in champions.items()
         for name in (TASKS[task].scoring_macro, TASKS[task].version_macro(row["version"]))],
        [(row["model_name"], int(row["version"])) for row in champions.values()],
    )  # fmt: skip
    ranges = warehouse.read_training_ranges(
        paths.warehouse, [row["run_id"] for row in champions.values()]
    )
    regression_run = champions["regression"]["run_id"]
    intervals = warehouse.read_prediction_intervals(paths.warehouse, regression_run)
    if intervals.empty:
        raise UserError(
            f"the regression champion (run {regression_run}) has no prediction intervals "
            "(trained before they were kept): retrain it, `python cli.py train`"
        )
    return Scorer(scoring_sql, champions, macros, {
        task: ranges[ranges["run_id"] == row["run_id"]] for task, row in champions.items()
    }, paths.warehouse, Intervals.from_rows(intervals))  # fmt: skip


def scoring_features(
    input_csv: Path, scorer: Scorer, progress: Callable[[str], None]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(track features joined to names and row numbers, with the champions' scores as
    predicted_log_streams and top_decile_probability; rejected rows) for the input file."""
    if not input_csv.is_file():
        raise UserError(f"input CSV not found: {input_csv}")
    raw_format = inspect_raw_csv(input_csv)
    progress(f"computing features for {input_csv.name} with the build's dbt SQL")
    run = warehouse.scoring_run(scorer.scoring_sql, input_csv, raw_format.encoding)
    with run as (connection, relations):
        features = relations["track_features"]
        (rows,) = connection.execute(f"select count(*) from {features}").fetchone()
        macros = {task: scorer.macro(task, rows) for task in TASKS}
        warehouse.install_scoring_macros(connection, scorer.macros, list(macros.values()))
        # The macros get each row as one struct column, not as the table's alias: DuckDB
        # binds an alias's whole row again at each of the macro's references to it (a version
        # macro binds in ~20 ms that way, ~4 ms this way).
        scored = connection.execute(f"""
            select names.raw_row_number, names.track_name, names.artist_names,
                features.* exclude (song),
                ml.{macros["regression"]}(features.song) as predicted_log_streams,
                ml.{macros["classification"]}(features.song) as top_decile_probability
            from (select *, row as song from {features} as row) as features
            join {relations["tracks"]} as names using (track_id)
            order by names.raw_row_number
        """).df()  # fmt: skip
        rejected = connection.execute(f"select * from {relations['rejected_rows']}").df()
    return scored, rejected


def explain_rows(features: pd.DataFrame, scorer: Scorer) -> pd.DataFrame:
    """Why the champions score each row as they do (ml/explain.py): long rows of
    raw_row_number, task, feature, contribution, base_value, prediction."""
    from ml.explain import contributions
    from ml.features import feature_matrix
    from ml.model_files import load_model

    # What a linear champion's contributions are measured against: the rows it learnt from.
    training_rows = warehouse.read_track_features(scorer.warehouse)
    frames = []
    for task, row in scorer.champions.items():
        model = load_model(Path(row["model_path"]), f"{row['model_name']} version {row['version']}")
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
    log_streams = features["predicted_log_streams"].to_numpy(dtype=float)
    probability = features["top_decile_probability"].to_numpy(dtype=float)
    predictions = features[["raw_row_number", "track_name", "artist_names"]].copy()
    lower, upper = scorer.intervals.bounds(log_streams)
    predictions["predicted_log_streams"] = log_streams
    predictions["predicted_log_streams_lower"] = lower
    predictions["predicted_log_streams_upper"] = upper
    predictions["predicted_streams"] = np.exp(log_streams)
    predictions["predicted_streams_lower"] = np.exp(lower)
    predictions["predicted_streams_upper"] = np.exp(upper)
    predictions["top_decile_probability"] = probability
    # The label the classifier's decision threshold gives (FixedThresholdClassifier.predict).
    threshold = scorer.champions["classification"]["decision_threshold"]
    predictions["is_predicted_top_decile"] = probability >= threshold
    # The features outside what either champion saw in training.
    champions_ranges = pd.concat(scorer.ranges.values())
    predictions["outside_training_range"] = outside_ranges(features, champions_ranges)
    versions = {
        task: f"{row['config_name']} v{row['version']}" for task, row in scorer.champions.items()
    }
    explained = explain_rows(features, scorer) if explain and len(features) else None
    return Scored(predictions[OUTPUT_COLUMNS], rejected, versions, scorer.intervals.level,
                  explained)  # fmt: skip
