"""Training on the Spark engine (`train --engine spark`, `run --engine spark`): the configs and
protocol of ml/train.py (same folds, same seeds), reading marts.track_features from Spark and
writing ml.runs, ml.run_metrics, ml.predictions and ml.feature_importance as Spark tables.

Every row's out-of-fold prediction is made in Spark: each row travels with the folds that held
it out, and the fold models (fitted in the driver's worker processes) predict it in Spark's
Python workers (mapInPandas), averaged over repeats as on DuckDB. MLflow logs each run and
registers its model as on DuckDB, but never makes it champion: the champion is what scoring
serves, and scoring (`predict`, the SQL macros) reads the DuckDB warehouse."""

from __future__ import annotations

import math
from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd

from ml import spark
from ml.config import TrainConfig
from ml.errors import UserError
from ml.evaluate import CVResult
from ml.features import ID_COLUMN, feature_matrix, target_vector
from ml.settings import Paths
from ml.train import (
    TrainingInputs,
    TrainResult,
    fit_and_evaluate,
    log_to_mlflow,
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


def read_training_inputs(spark_dir, max_rows: int) -> TrainingInputs:
    """The training inputs, read from Spark. The whole feature mart comes into the driver, so
    a mart of more than `max_rows` (the full protocol's size) is refused before it is read."""
    session = spark.session(spark_dir)
    if not session.catalog.tableExists("marts.track_features"):
        raise UserError(f"no Spark build in {spark_dir} (run `python cli.py build --engine spark`)")
    rows = session.sql("select count(*) from marts.track_features").collect()[0][0]
    if rows > max_rows:
        raise UserError(
            f"marts.track_features on Spark has {rows:,} rows: training on Spark reads it into "
            f"the driver, so it stops at {max_rows:,} rows (train larger data on DuckDB)"
        )
    if rows == 0:
        raise UserError("marts.track_features on Spark has no rows: nothing to train on")
    features = spark.read_sql(spark_dir, "select * from marts.track_features order by track_id")
    # Spark's ln (Java's StrictMath) and DuckDB's (the C library's log, as Python's math.log)
    # differ in the last bit for a few counts (4 of the real file's 947), and a forest's splits
    # notice: training takes the target as DuckDB computes it, so both engines fit the same bits.
    features["log_streams"] = [math.log(count) for count in features["streams"].tolist()]
    return TrainingInputs(
        features=features,
        dataset=spark.read_sql(spark_dir, "select * from audit.build_dataset").iloc[0],
        correlations=spark.read_sql(spark_dir, "select * from marts.feature_correlations"),
    )


def out_of_fold_in_spark(spark_dir, config: TrainConfig, cv_result: CVResult,
                         track_ids: pd.Series) -> np.ndarray:  # fmt: skip
    """Every row's out-of-fold prediction, made in Spark by the fold models that never saw it
    and averaged over repeats, in the order of `track_ids`."""
    session = spark.session(spark_dir)
    test_rows = cv_result.fold_test_rows
    held_out = pd.DataFrame({
        ID_COLUMN: np.concatenate([track_ids.to_numpy()[rows] for rows in test_rows]),
        "split": np.repeat(np.arange(len(test_rows)), [len(rows) for rows in test_rows]),
    })  # fmt: skip
    models = session.sparkContext.broadcast(cv_result.fold_models)
    task, features = config.task, config.features

    def predict(batches):
        for batch in batches:
            for split, rows in batch.groupby("split", sort=False):
                yield pd.DataFrame({
                    ID_COLUMN: rows[ID_COLUMN].to_numpy(),
                    "prediction": task.predict(models.value[split], feature_matrix(rows, features)),
                })  # fmt: skip

    features_table = session.table("marts.track_features")
    joined = session.createDataFrame(held_out).join(features_table, ID_COLUMN)
    predictions = (
        joined.mapInPandas(predict, f"{ID_COLUMN} bigint, prediction double")
        .groupBy(ID_COLUMN).avg("prediction")
        .toPandas().set_index(ID_COLUMN)["avg(prediction)"]
    )  # fmt: skip
    return predictions.reindex(track_ids.to_numpy()).to_numpy()


def write_run(spark_dir, frames: dict[str, pd.DataFrame]) -> None:
    """Append a run's rows (ml/train.py's run_frames) to the Spark ml tables, one table after
    the other: Parquet tables have no transactions, so a reader may see a run's first tables
    before its last."""
    session = spark.session(spark_dir)
    session.sql("create database if not exists ml")
    for table, columns in SPARK_ML_TABLES.items():
        rows = session.createDataFrame(frames[table][columns], spark_schema(table))
        rows.write.mode("append").saveAsTable(table)


def train_configs(
    configs: list[TrainConfig], paths: Paths, progress: Callable[[str], None] = lambda m: None
) -> list[TrainResult]:
    """Train every config on the Spark engine's tables (see the module's docstring)."""
    from ml import tracking

    max_rows = min(config.cv.large_data_rows for config in configs)
    inputs = read_training_inputs(paths.spark_dir, max_rows)
    experiment_id = tracking.configure(paths)
    results = []
    with JobPool(default_workers(), order=[config.name for config in configs]) as pool:
        for number, config in enumerate(configs, start=1):
            X = feature_matrix(inputs.features, config.features)
            y = target_vector(inputs.features, config.task)
            fitted = fit_and_evaluate(config, X, y, pool=pool, keep_fold_models=True)
            oof = out_of_fold_in_spark(
                paths.spark_dir, config, fitted.cv_result, inputs.features[ID_COLUMN]
            )
            if not np.allclose(oof, fitted.cv_result.oof_prediction, rtol=1e-9, atol=0):
                raise RuntimeError(f"{config.name}: Spark's out-of-fold predictions differ")
            tags = {**run_tags(config, fitted, inputs), "engine": "spark"}
            with tracking.training_run(experiment_id, config.name, tags) as run_id:
                version, score = log_to_mlflow(run_id, config, fitted, tags, inputs.features)
                frames = run_frames(run_id, config, fitted, tags, inputs.features, oof)
                write_run(paths.spark_dir, frames)
            progress(
                f"[{number}/{len(configs)}] {config.name} on Spark: CV "
                f"{config.task.champion_metric} {score:.3f} (v{version}, not champion)"
            )
            results.append(TrainResult(run_id, config.name, config.task, fitted.metrics,
                                       version, False))  # fmt: skip
    return results
