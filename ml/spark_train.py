"""Training on the Spark engine (`train --engine spark`, `run --engine spark`): the configs and
protocol of ml/train.py (same folds, same seeds), reading marts.track_features from Spark and
writing ml.runs, ml.run_metrics, ml.predictions and ml.feature_importance as Spark tables.

The fits read only the rows they need, joined out of Spark by track id: every row up to
`large_data_rows`, a seeded sample per fit above it (ml/scale.py). Every row's out-of-fold
prediction is made in Spark: each row travels with the folds that held it out, and the fold
models (fitted in the driver's worker processes) predict it in Spark's Python workers
(mapInPandas), averaged over repeats as on DuckDB. MLflow logs each run and
registers its model as on DuckDB, but never makes it champion: the champion is what scoring
serves, and scoring (`predict`, the SQL macros) reads the DuckDB warehouse."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ml import spark
from ml.config import TrainConfig
from ml.errors import UserError
from ml.evaluate import HeldOutPredictor
from ml.features import ID_COLUMN, feature_matrix, target_vector
from ml.settings import Paths
from ml.train import (
    FittedConfig,
    TrainingInputs,
    TrainResult,
    check_every_config_fits,
    fit_and_evaluate,
    log_to_mlflow,
    rows_read,
    run_frames,
    run_tags,
)
from ml.warehouse import (
    IMPORTANCE_COLUMNS,
    METRIC_COLUMNS,
    ML_SCHEMA_DDL,
    PREDICTION_COLUMNS,
    RUN_COLUMNS,
)
from ml.workers import JobPool, default_workers

# The ml tables Spark training writes, with their columns (ml/warehouse.py's lists).
SPARK_ML_TABLES = {
    "ml.runs": RUN_COLUMNS,
    "ml.run_metrics": METRIC_COLUMNS,
    "ml.predictions": PREDICTION_COLUMNS,
    "ml.feature_importance": IMPORTANCE_COLUMNS,
}


def spark_schema(table: str) -> str:
    """The Spark DDL schema of an ml table, from the one definition of its columns and types
    (ml/warehouse.py's DuckDB DDL), in SPARK_ML_TABLES' column order."""
    with duckdb.connect() as connection:
        connection.execute(ML_SCHEMA_DDL)
        schema, name = table.split(".")
        types = dict(connection.execute(
            "select column_name, data_type from duckdb_columns() "
            "where schema_name = ? and table_name = ?", [schema, name],
        ).fetchall())  # fmt: skip
    return ", ".join(
        f"{column} {spark.SPARK_TYPES[types[column]]}" for column in SPARK_ML_TABLES[table]
    )


def read_training_inputs(spark_dir: Path) -> TrainingInputs:
    """The training inputs, read from Spark, where `features` holds only each row's track id
    and targets, in track id order: the feature columns are read by `read_rows`, for the rows
    the fits read."""
    # Without the folder there is no build: said at once, before Spark takes seconds to start.
    is_built = spark_dir.is_dir() and spark.session(spark_dir).catalog.tableExists(
        "marts.track_features"
    )
    if not is_built:
        raise UserError(f"no Spark build in {spark_dir} (run `python cli.py build --engine spark`)")
    labels = spark.read_sql(spark_dir, f"""
        select {ID_COLUMN}, streams, is_top_decile from marts.track_features order by {ID_COLUMN}
    """)  # fmt: skip
    if labels.empty:
        raise UserError("marts.track_features on Spark has no rows: nothing to train on")
    # Spark's ln (Java's StrictMath) and DuckDB's (the C library's log, as Python's math.log)
    # differ in the last bit for a few counts (4 of the real file's 947), and a forest's splits
    # notice: training takes the target as DuckDB computes it, so both engines fit the same bits.
    labels["log_streams"] = [math.log(count) for count in labels["streams"].tolist()]
    return TrainingInputs(
        features=labels,
        dataset=spark.read_sql(spark_dir, "select * from audit.build_dataset").iloc[0],
        correlations=spark.read_sql(spark_dir, "select * from marts.feature_correlations"),
    )


def _joined(session, wanted: pd.DataFrame):
    """marts.track_features' rows of the track ids in `wanted`, with its other columns too:
    a join in Spark."""
    return session.createDataFrame(wanted).join(session.table("marts.track_features"), ID_COLUMN)


def read_rows(spark_dir: Path, track_ids: np.ndarray, positions: np.ndarray) -> pd.DataFrame:
    """marts.track_features' rows at `positions` of `track_ids`, indexed by position."""
    wanted = pd.DataFrame({ID_COLUMN: track_ids[positions], "position": positions})
    rows = _joined(spark.session(spark_dir), wanted).toPandas()
    return rows.set_index("position").sort_index()


def held_out_predictor(spark_dir: Path, config: TrainConfig,
                       track_ids: np.ndarray) -> HeldOutPredictor:  # fmt: skip
    """Predicts the CV folds' test rows in Spark (ml/evaluate.py's cross_validate): each row
    travels with the folds that held it out, and their models, broadcast to Spark's Python
    workers, predict it there (mapInPandas)."""
    task, features = config.task, config.features

    def predict_held_out(models: list[tuple], tests: list[np.ndarray]):
        session = spark.session(spark_dir)
        broadcast = session.sparkContext.broadcast(models)

        def predict(batches):
            for batch in batches:
                for split, rows in batch.groupby("split", sort=False):
                    X = feature_matrix(rows, features)
                    yield pd.DataFrame({
                        "split": split,
                        "position": rows["position"].to_numpy(),
                        **{name: task.predict(model, X) for name, model in
                           zip(("prediction", "reference"), broadcast.value[split], strict=True)},
                    })  # fmt: skip

        positions = np.concatenate(tests)
        held_out = pd.DataFrame({
            ID_COLUMN: track_ids[positions],
            "position": positions,
            "split": np.repeat(np.arange(len(tests)), [len(test) for test in tests]),
        })  # fmt: skip
        predicted = (
            _joined(session, held_out)
            .mapInPandas(predict, "split int, position bigint, prediction double, reference double")
            .toPandas()
        )
        broadcast.unpersist()
        by_split = dict(tuple(predicted.set_index("position").groupby("split")))
        return [
            tuple(by_split[split].loc[test, ["prediction", "reference"]].to_numpy().T)
            for split, test in enumerate(tests)
        ]

    return predict_held_out


def write_run(spark_dir, frames: dict[str, pd.DataFrame]) -> None:
    """Append a run's rows (ml/train.py's run_frames) to the Spark ml tables, one table after
    the other: Parquet tables have no transactions, so a reader may see a run's first tables
    before its last."""
    session = spark.session(spark_dir)
    session.sql("create database if not exists ml")
    for table, frame in frames.items():
        rows = session.createDataFrame(frame[SPARK_ML_TABLES[table]], spark_schema(table))
        rows.write.mode("append").saveAsTable(table)


def fit_config(spark_dir: Path, config: TrainConfig, inputs: TrainingInputs, rows: pd.DataFrame,
               pool: JobPool) -> FittedConfig:  # fmt: skip
    """fit_and_evaluate on Spark's tables: `rows` holds at least the config's `rows_read`
    (read_rows), and Spark predicts the folds' test rows."""
    track_ids = inputs.features[ID_COLUMN].to_numpy()
    return fit_and_evaluate(
        config, feature_matrix(rows, config.features), target_vector(inputs.features, config.task),
        pool=pool, predict_held_out=held_out_predictor(spark_dir, config, track_ids),
    )  # fmt: skip


def train_configs(
    configs: list[TrainConfig], paths: Paths, progress: Callable[[str], None] = lambda m: None
) -> list[TrainResult]:
    """Train every config on the Spark engine's tables (see the module's docstring). The
    driver holds each row's track id, targets and predictions, and the feature columns of the
    rows the fits read: every row up to `large_data_rows`, a seeded sample above it."""
    from ml import tracking

    inputs = read_training_inputs(paths.spark_dir)
    check_every_config_fits(configs, inputs.features)
    track_ids = inputs.features[ID_COLUMN].to_numpy()
    wanted = [rows_read(config, target_vector(inputs.features, config.task)) for config in configs]
    rows = read_rows(paths.spark_dir, track_ids, np.unique(np.concatenate(wanted)))
    experiment_id = tracking.configure(paths)
    results = []
    with JobPool(default_workers(), order=[config.name for config in configs]) as pool:
        for number, config in enumerate(configs, start=1):
            fitted = fit_config(paths.spark_dir, config, inputs, rows, pool)
            tags = {**run_tags(config, fitted, inputs), "engine": "spark"}
            with tracking.training_run(experiment_id, config.name, tags) as run_id:
                n_rows = len(inputs.features)
                version = log_to_mlflow(run_id, config, fitted, tags, n_rows)
                write_run(
                    paths.spark_dir, run_frames(run_id, config, fitted, tags, inputs.features)
                )
            result = TrainResult(run_id, config.name, config.task, fitted.metrics, version)
            progress(
                f"[{number}/{len(configs)}] {config.name} on Spark: CV "
                f"{result.score_name} {result.score:.3f} (v{version}, not champion)"
            )
            results.append(result)
    return results
