"""Checks shared by the whole-pipeline tests on the sample and on the real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import numpy as np
from scipy import stats

from ml import warehouse
from ml.config import load_config, shipped_params
from ml.dataset import file_sha256
from ml.features import feature_matrix, resolve_feature_set
from ml.pipeline import make_pipeline_for
from ml.sql_model import compile_model, compile_over_trees
from ml.tasks import TASKS
from support.runs import PipelineRun


def query_path(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def query(run: PipelineRun, sql: str) -> list[tuple]:
    return query_path(run.warehouse, sql)


def scalar(run: PipelineRun, sql: str):
    return query(run, sql)[0][0]


def assert_every_raw_row_accounted_for(run: PipelineRun, raw_rows: int) -> None:
    clean = scalar(run, "select count(*) from marts.tracks")
    rejected = scalar(run, "select count(*) from audit.rejected_rows")
    assert clean + rejected == raw_rows
    assert scalar(run, "select raw_rows from audit.build_dataset") == raw_rows


def assert_predictions_for_every_feature_row_and_run(run: PipelineRun) -> None:
    features = scalar(run, "select count(*) from marts.track_features")
    runs = query(run, "select run_id, config_name from ml.runs")
    assert sorted(name for _, name in runs) == sorted(run.config_names)
    per_run = dict(
        query(run, "select run_id, count(distinct track_id) from ml.predictions group by 1")
    )
    assert per_run == {run_id: features for run_id, _ in runs}
    missing = scalar(run, """
        select count(*) from marts.track_features f
        cross join ml.runs r
        anti join ml.predictions p on p.run_id = r.run_id and p.track_id = f.track_id
    """)  # fmt: skip
    assert missing == 0
    assert scalar(run, "select bool_and(is_out_of_fold) from ml.predictions")


def assert_prediction_intervals(run: PipelineRun) -> None:
    """Every regression prediction lies inside its interval (streams bounds = exp of the log
    ones), no classification prediction has one; every regression run measured its coverage
    and calibrated its final model's bins on every track, each once."""
    outside = scalar(run, """
        select count(*) filter (where (
            predicted_log_streams_lower <= predicted_log_streams
            and predicted_log_streams <= predicted_log_streams_upper
            and abs(predicted_streams_lower / exp(predicted_log_streams_lower) - 1) < 1e-12
            and abs(predicted_streams_upper / exp(predicted_log_streams_upper) - 1) < 1e-12
        ) is not true)
        from ml.predictions where task = 'regression'
    """)  # fmt: skip
    assert outside == 0
    assert scalar(run, """
        select count(predicted_log_streams_lower) + count(predicted_streams_upper)
        from ml.predictions where task = 'classification'
    """) == 0  # fmt: skip
    per_run = query(run, """
        select r.n_rows, l.value, c.value, sum(i.calibration_rows)
        from ml.runs r
        join ml.run_metrics l on l.run_id = r.run_id and l.metric = 'interval_level'
        join ml.run_metrics c on c.run_id = r.run_id and c.metric = 'interval_coverage'
        join ml.prediction_intervals i on i.run_id = r.run_id
        where r.task = 'regression'
        group by all
    """)  # fmt: skip
    regression_runs = scalar(run, "select count(*) from ml.runs where task = 'regression'")
    assert len(per_run) == regression_runs > 0
    for n_rows, level, coverage, calibration_rows in per_run:
        assert level == 0.9 and calibration_rows == n_rows
        # Calibrated on residuals the model trained on, coverage would fall far below.
        assert 0.8 <= coverage <= 1.0


def assert_runs_record_their_dataset(run: PipelineRun) -> None:
    sha = file_sha256(run.raw_csv)
    names = query(run, "select distinct dataset_name, dataset_sha256 from ml.runs")
    assert names == [(run.raw_csv.name, sha)]
    with sqlite3.connect(run.mlflow_dir / "mlflow.db") as store:
        finished = store.execute("select count(*) from runs where status = 'FINISHED'").fetchone()[
            0
        ]
        tagged = store.execute(
            "select count(*) from tags where key = 'dataset_sha256' and value = ?", [sha]
        ).fetchone()[0]
    assert finished >= len(run.config_names)
    assert tagged >= len(run.config_names)


def assert_metrics_and_baselines(run: PipelineRun) -> None:
    rows = query(run, """
        select r.task, m.metric from ml.run_metrics m join ml.runs r using (run_id)
    """)  # fmt: skip
    regression = {metric for task, metric in rows if task == "regression"}
    classification = {metric for task, metric in rows if task == "classification"}
    assert {"r2", "rmse", "mae", "baseline_r2", "interval_coverage", "interval_mean_width",
            "interval_level"} <= regression  # fmt: skip
    assert {
        "roc_auc",
        "pr_auc",
        "f1",
        "precision",
        "recall",
        "brier",
        "baseline_pr_auc",
    } <= classification


def assert_correlations_match_scipy(run: PipelineRun) -> None:
    numeric = query(run, """
        select column_name from information_schema.columns
        where table_schema = 'marts' and table_name = 'track_features'
          and data_type in ('BIGINT', 'DOUBLE')
          and column_name not in ('track_id', 'streams', 'log_streams')
    """)  # fmt: skip
    correlations = {row[0]: row[1:] for row in query(
        run, "select feature, n, pearson_r, spearman_rho from marts.feature_correlations"
    )}  # fmt: skip
    assert set(correlations) == {name for (name,) in numeric}
    for feature in ("in_spotify_playlists", "bpm", "in_shazam_charts"):
        pairs = query(run, f"""
            select {feature}, log_streams from marts.track_features where {feature} is not null
        """)  # fmt: skip
        x, y = zip(*pairs, strict=True)
        n, pearson, spearman = correlations[feature]
        assert n == len(pairs)
        assert abs(pearson - stats.pearsonr(x, y).statistic) < 1e-9
        assert abs(spearman - stats.spearmanr(x, y).statistic) < 1e-9


def assert_importance_and_significance(run: PipelineRun) -> None:
    """Held-out importance for every input column of every run; p-values for audio runs only."""
    importance = dict(query(run, """
        select r.config_name, count(*) from ml.feature_importance i join ml.runs r using (run_id)
        group by 1
    """))  # fmt: skip
    assert importance == {name: len(load_config(name).features) for name in run.config_names}
    p_values = dict(query(run, """
        select r.config_name, m.value from ml.run_metrics m join ml.runs r using (run_id)
        where m.metric = 'permutation_pvalue'
    """))  # fmt: skip
    audio_runs = {name for name in run.config_names if load_config(name).feature_set == "audio"}
    assert set(p_values) == audio_runs
    assert all(0 < value <= 1 for value in p_values.values())


def sql_scores(connection, model, table: str, order_by: str, over_trees: bool = False):
    """`model` compiled to a DuckDB macro (ml/sql_model.py), applied to every row of `table`:
    as a nested CASE, or `over_trees` as a registered version's macro, its trees in this
    connection's ml.model_trees."""
    if over_trees:
        body, trees = compile_over_trees(model, "test", "test", 1)
        warehouse.create_ml_schema(connection)
        connection.execute("delete from ml.model_trees")
        connection.register("trees", trees)
        connection.execute("insert into ml.model_trees select * from trees")
    else:
        body = compile_model(model, "test")
    connection.execute(f"create or replace temp macro compiled(t) as {body}")
    rows = connection.execute(f"select compiled(r) from {table} r order by {order_by}").fetchall()
    return np.array([value for (value,) in rows], dtype="float64")


def assert_sql_scores_match(connection, model, task, frame, table: str, order_by: str) -> None:
    """Both compiled forms of the model give scikit-learn's output on every row, to 1e-9
    (absolute)."""
    features = feature_matrix(frame, list(model[0].feature_names_in_))
    expected = task.predict(model, features)
    for over_trees in (False, True):
        scores = sql_scores(connection, model, table, order_by, over_trees)
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-9, err_msg=str(over_trees))


def every_model_type_fitted(frame):
    """(task, model type, pipeline) for every model type, with its first shipped config's
    parameters on every feature, fitted on `frame` (track_features rows). Forests get a quarter
    of their trees: each tree compiles and is explained alike, and binding the seed's 100
    full-depth trees as SQL takes ~10 s (docs/performance/sql-macros.md)."""
    features = resolve_feature_set("full")
    X = feature_matrix(frame, features)
    for task in TASKS.values():
        y = frame[task.target].to_numpy(dtype=task.target_dtype)
        for model_type in task.model_types:
            params = shipped_params(task, model_type)
            if model_type == "random_forest":
                params["n_estimators"] = 25
            model = make_pipeline_for(task, model_type, params, features, seed=42)
            yield task, model_type, model.fit(X, y)
