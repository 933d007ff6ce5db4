"""Each example query in docs/queries/ runs on a trained warehouse and gives what an independent
computation (pandas, scikit-learn, the MLflow store) gives on the same rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, r2_score

from ml import warehouse
from ml.features import feature_matrix
from ml.intervals import Intervals
from ml.model_files import load_model
from ml.settings import PROJECT_ROOT
from ml.tasks import TASKS

QUERIES = PROJECT_ROOT / "docs" / "queries"


def run(sample_run, name: str) -> pd.DataFrame:
    return warehouse.run_query(sample_run.warehouse, (QUERIES / name).read_text())


def table(sample_run, sql: str) -> pd.DataFrame:
    return warehouse.run_query(sample_run.warehouse, sql)


def newest_run(sample_run, config_name: str) -> str:
    runs = table(sample_run, "select run_id, config_name, created_at from ml.runs")
    return runs[runs["config_name"] == config_name].sort_values("created_at")["run_id"].iloc[-1]


def test_the_queries_folder_holds_the_six_tested_here():
    assert sorted(path.name for path in QUERIES.glob("*.sql")) == [
        "1_correlations.sql", "2_latest_scores.sql", "3_oof_r2.sql", "4_misjudged_songs.sql",
        "5_top_decile_confusion.sql", "6_score_in_sql.sql",
    ]  # fmt: skip


def test_correlations_are_pandas_pairwise_pearson_and_spearman(sample_run):
    result = run(sample_run, "1_correlations.sql").set_index("feature")
    features = table(sample_run, "select * from marts.track_features")
    assert len(result) >= 20
    for feature, row in result.iterrows():
        pair = features[[feature, "log_streams"]].astype(float).dropna()
        assert row["n"] == len(pair), feature
        pearson = pair[feature].corr(pair["log_streams"])
        spearman = pair[feature].corr(pair["log_streams"], method="spearman")
        assert row["r"] == pytest.approx(pearson, abs=5e-4 + 1e-12), feature
        assert row["rho"] == pytest.approx(spearman, abs=5e-4 + 1e-12), feature
    assert list(result.index) == list(result["r"].abs().sort_values(ascending=False).index)


def test_latest_scores_are_those_mlflow_logged(sample_run):
    result = run(sample_run, "2_latest_scores.sql")
    assert sorted(result["config_name"]) == sorted(sample_run.config_names)
    with sqlite3.connect(sample_run.mlflow_dir / "mlflow.db") as store:
        logged = pd.read_sql("select r.name, m.key, m.value from metrics m "
                             "join runs r on r.run_uuid = m.run_uuid", store)  # fmt: skip
    for row in result.itertuples():
        metrics = logged[logged["name"] == row.config_name].set_index("key")["value"]
        assert row.score == round(metrics[row.metric], 3), row.config_name
        assert row.sd == round(metrics[f"{row.metric}_std"], 3), row.config_name
        assert row.reference == round(metrics[f"baseline_{row.metric}"], 3), row.config_name


def test_out_of_fold_r2_is_scikit_learns_on_the_same_rows(sample_run):
    result = run(sample_run, "3_oof_r2.sql")
    predictions = table(sample_run, "select * from ml.predictions where task = 'regression'")
    assert len(result) == predictions["run_id"].nunique() >= 2
    for row in result.itertuples():
        rows = predictions[predictions["run_id"] == row.run_id]
        expected = r2_score(rows["actual_log_streams"], rows["predicted_log_streams"])
        assert row.oof_r2 == pytest.approx(expected, abs=1e-9)


def test_misjudged_songs_are_the_largest_residuals(sample_run):
    result = run(sample_run, "4_misjudged_songs.sql")
    run_id = newest_run(sample_run, "full_regression")
    predictions = table(sample_run, f"select * from ml.predictions where run_id = '{run_id}'")
    tracks = table(sample_run, "select track_id, track_name from marts.tracks")
    joined = predictions.merge(tracks, on="track_id")
    joined["residual"] = joined["actual_log_streams"] - joined["predicted_log_streams"]
    joined["size"] = joined["residual"].abs().round(2)
    expected = joined.sort_values(["size", "track_id"], ascending=[False, True]).head(10)
    assert result["track_name"].tolist() == expected["track_name"].tolist()
    np.testing.assert_allclose(result["residual"], expected["residual"].round(2))


def test_top_decile_confusion_counts_are_scikit_learns(sample_run):
    result = run(sample_run, "5_top_decile_confusion.sql")
    run_id = newest_run(sample_run, "full_classification")
    predictions = table(sample_run, f"select * from ml.predictions where run_id = '{run_id}'")
    labels = predictions[["actual_label", "predicted_label"]].astype(bool)
    matrix = confusion_matrix(labels["actual_label"], labels["predicted_label"],
                              labels=[False, True])  # fmt: skip
    counts = {(bool(row.actual_label), bool(row.predicted_label)): row.tracks
              for row in result.itertuples()}  # fmt: skip
    expected = {(actual, predicted): int(matrix[int(actual), int(predicted)])
                for actual in (False, True) for predicted in (False, True)
                if matrix[int(actual), int(predicted)]}  # fmt: skip
    assert counts == expected


def test_songs_scored_in_sql_are_scored_as_the_champion_pipelines_score_them(sample_run):
    result = run(sample_run, "6_score_in_sql.sql")
    features = table(sample_run, "select * from marts.track_features")
    tracks = table(sample_run, "select track_id, track_name from marts.tracks")
    champions = warehouse.read_model_versions(sample_run.warehouse).query("is_champion")
    scores = {}
    for champion in champions.itertuples():
        model = load_model(Path(champion.model_path), champion.model_name)
        X = feature_matrix(features, list(model.feature_names_in_))
        scores[champion.task] = TASKS[champion.task].predict(model, X)
        if champion.task == "classification":
            threshold = model.threshold
    expected = (
        features[["track_id"]]
        .assign(log_streams=scores["regression"], probability=scores["classification"])
        .merge(tracks, on="track_id")
    )
    expected = expected.sort_values(["log_streams", "track_id"], ascending=[False, True]).head(10)
    assert result["track_name"].tolist() == expected["track_name"].tolist()
    np.testing.assert_allclose(result["predicted_streams"], np.exp(expected["log_streams"]).round())
    regressor_run = champions.query("task == 'regression'")["run_id"].iloc[0]
    intervals = Intervals.from_rows(
        warehouse.read_prediction_intervals(sample_run.warehouse, regressor_run)
    )
    for side, bound in zip(("lower", "upper"), intervals.bounds(expected["log_streams"]),
                           strict=True):  # fmt: skip
        np.testing.assert_allclose(result[f"predicted_streams_{side}"], np.exp(bound).round())
    np.testing.assert_allclose(result["top_decile_probability"], expected["probability"].round(3))
    assert result["is_predicted_top_decile"].tolist() == list(expected["probability"] >= threshold)
    by_task = champions.set_index("task")
    for task, column in (("regression", "regression_model"),
                         ("classification", "classification_model")):  # fmt: skip
        row = by_task.loc[task]
        assert set(result[column]) == {f"{row['config_name']} v{row['version']}"}
