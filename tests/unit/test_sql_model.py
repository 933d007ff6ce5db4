import duckdb
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline

from ml.errors import UserError
from ml.features import ALL_FEATURES, CATEGORICAL, feature_matrix, resolve_feature_set
from ml.model_files import MODEL_FILE
from ml.pipeline import make_pipeline_for
from ml.sql_model import INTERVAL_MACRO, compile_model, macro_statements, number
from ml.tasks import TASKS
from support.checks import assert_sql_scores_match, sql_scores

SMALL = {
    "random_forest": {"n_estimators": 5, "min_samples_leaf": 2},
    "hist_gradient_boosting": {"max_iter": 20},
    "gradient_boosting": {"n_estimators": 20},
    "ridge": {},
    "logistic_regression": {"max_iter": 2000},
}


def track_features(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Rows shaped like marts.track_features, missing values in the nullable features."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        name: rng.integers(0, 100, rows).astype("int64") for name in ALL_FEATURES
        if name not in CATEGORICAL
    })  # fmt: skip
    frame["in_spotify_playlists"] = rng.integers(0, 50_000, rows)
    frame["danceability_x_energy"] = rng.random(rows) * 100
    frame["musical_key"] = pd.Series(rng.choice(["C", "C#", "D", "A#"], rows)).where(
        rng.random(rows) > 0.1
    )
    frame["mode"] = rng.choice(["Major", "Minor", "O'Brien"], rows)
    frame["in_shazam_charts"] = pd.Series(frame["in_shazam_charts"], dtype="Int64").where(
        rng.random(rows) > 0.2
    )
    frame["log_streams"] = 18 + frame["in_spotify_playlists"] / 10_000 + rng.normal(0, 1, rows)
    frame["is_top_decile"] = frame["log_streams"] > frame["log_streams"].quantile(0.9)
    frame.insert(0, "track_id", np.arange(rows))
    return frame


@pytest.fixture(scope="module")
def connection():
    connection = duckdb.connect()
    connection.register("incoming", track_features())
    connection.execute("create table track_features as select * from incoming")
    yield connection
    connection.close()


@pytest.mark.parametrize(("task", "model_type"), [
    (task, model_type) for task in TASKS.values() for model_type in task.model_types
])  # fmt: skip
def test_every_model_type_scores_in_sql_as_in_scikit_learn(connection, task, model_type):
    frame = track_features()
    features = resolve_feature_set("full")
    y = frame[task.target].to_numpy(dtype=task.target_dtype)
    model = make_pipeline_for(task, model_type, SMALL[model_type], features, seed=3)
    model.fit(feature_matrix(frame, features), y)
    assert_sql_scores_match(connection, model, task, frame, "track_features", "track_id")


@pytest.mark.parametrize("estimator", [
    HistGradientBoostingRegressor(max_iter=20), RandomForestClassifier(n_estimators=5),
])  # fmt: skip
def test_missing_values_go_where_the_tree_sends_them(connection, estimator):
    """Without imputation the trees see the missing values themselves (missing_go_to_left)."""
    frame = track_features()
    features = ["in_shazam_charts", "bpm"]
    passthrough = ColumnTransformer([("numeric", "passthrough", features)])
    model = Pipeline([("preprocess", passthrough), ("model", estimator)])
    task = TASKS["classification" if hasattr(estimator, "predict_proba") else "regression"]
    model.fit(feature_matrix(frame, features), frame[task.target].to_numpy(task.target_dtype))
    assert_sql_scores_match(connection, model, task, frame, "track_features", "track_id")


def test_a_model_that_cannot_be_compiled_is_named(connection):
    frame = track_features()
    model = Pipeline([
        ("preprocess", ColumnTransformer([("numeric", "passthrough", ["bpm"])])),
        ("model", KNeighborsRegressor()),
    ]).fit(frame[["bpm"]].astype(float), frame["log_streams"])  # fmt: skip
    with pytest.raises(UserError, match="cannot compile my model: KNeighborsRegressor"):
        compile_model(model, "my model")


def test_numbers_are_exact_double_literals():
    values = [0.1, -2.5, 1e-300, 5e-324, 1.7976931348623157e308, 1 / 3, 12.0, float("inf")]
    with duckdb.connect() as connection:
        row = connection.execute(f"select {', '.join(map(number, values))}").fetchone()
        types = connection.execute(f"select typeof({number(0.1)})").fetchone()
    assert list(row) == values
    assert types == ("DOUBLE",)


def test_macros_follow_the_registry_and_compile_only_what_changed(tmp_path):
    versions = pd.DataFrame({
        "task": ["regression", "regression", "classification"],
        "version": [1, 2, 5],
        "is_champion": [False, True, True],
        "model_name": ["r", "r", "c"],
        "model_path": ["", "", ""],
        "run_id": ["a", "b", "c"],
    })  # fmt: skip
    current = {"predict_log_streams_v1": None, "predict_log_streams_v2": None,
               "predict_top_decile_probability_v5": None, "predict_log_streams": "r version 2",
               "predict_top_decile_probability": "c version 5"}  # fmt: skip
    stale = {"predict_log_streams_v0": None, "not_ours_v1": None}
    statements, trees = macro_statements(versions, {**current, **stale})
    assert statements == [INTERVAL_MACRO.format(run_id="b"), "drop macro ml.predict_log_streams_v0"]
    assert trees.empty

    frame = track_features()
    model = make_pipeline_for(TASKS["regression"], "random_forest", SMALL["random_forest"],
                              ["bpm", "musical_key"], seed=0)  # fmt: skip
    skops.io.dump(model.fit(feature_matrix(frame, ["bpm", "musical_key"]), frame["log_streams"]),
                  tmp_path / MODEL_FILE)  # fmt: skip
    new_champion = pd.DataFrame({"task": ["regression"], "version": [3], "is_champion": [True],
                                 "model_name": ["r"], "model_path": [str(tmp_path)],
                                 "run_id": ["d"]})  # fmt: skip
    demoted = versions.assign(is_champion=versions["task"] != "regression")
    promoted = pd.concat([demoted, new_champion])
    statements, trees = macro_statements(promoted, current)
    assert [statement.split(" as ")[0] for statement in statements[:2]] == [
        "create or replace macro ml.predict_log_streams_v3(t)",
        "create or replace macro ml.predict_log_streams(t)",
    ]
    assert "ml.model_trees" in statements[0] and "ml.model_trees" not in statements[1]
    assert statements[2:] == ["comment on macro ml.predict_log_streams is 'r version 3'",
                              INTERVAL_MACRO.format(run_id="d")]  # fmt: skip
    assert list(trees["tree"]) == list(range(SMALL["random_forest"]["n_estimators"]))
    assert set(trees["version"]) == {3}


def test_any_alias_of_the_row_can_be_scored(connection):
    frame = track_features()
    model = make_pipeline_for(TASKS["regression"], "ridge", {}, ["bpm", "musical_key"], seed=0)
    model.fit(feature_matrix(frame, ["bpm", "musical_key"]), frame["log_streams"])
    by_t = sql_scores(connection, model, "track_features", "track_id")
    connection.execute("create or replace view model_input as select * from track_features")
    by_other = sql_scores(connection, model, "model_input", "track_id")
    np.testing.assert_array_equal(by_t, by_other)


def test_forest_splits_compare_in_float32_as_scikit_learn_does():
    """The split lies between two training values two float32 steps apart; a value just
    above it rounds onto it in float32, so scikit-learn sends it left where float64 would not."""
    step = 2.0**-23
    train = pd.DataFrame({"bpm": [1.0, 1.0 + 2 * step]})
    model = Pipeline([
        ("preprocess", ColumnTransformer([("numeric", "passthrough", ["bpm"])])),
        ("model", RandomForestRegressor(n_estimators=1, bootstrap=False)),
    ]).fit(train, [0.0, 1.0])  # fmt: skip
    assert model[-1].estimators_[0].tree_.threshold[0] == 1.0 + step
    scored = pd.DataFrame({"track_id": [0, 1], "bpm": [1.0 + step + 2.0**-30, 1.0 + 3 * step]})
    with duckdb.connect() as connection:
        connection.register("scored", scored)
        for over_trees in (False, True):
            assert list(sql_scores(connection, model, "scored", "track_id", over_trees)) == [0, 1]
    assert list(model.predict(scored[["bpm"]])) == [0.0, 1.0]
