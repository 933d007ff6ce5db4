"""The champion models compiled to DuckDB macros (ml/sql_model.py) score as scikit-learn does."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np

from ml import warehouse
from ml.features import feature_matrix, resolve_feature_set
from ml.intervals import Intervals
from ml.model_files import load_model
from ml.tasks import TASKS
from support.checks import assert_sql_scores_match, every_model_type_fitted


def assert_every_model_type_scores_in_sql(warehouse_path: Path) -> None:
    frame = warehouse.read_track_features(warehouse_path)
    with duckdb.connect() as connection:
        connection.execute(f"attach '{warehouse_path}' as built (read_only)")
        for task, _, model in every_model_type_fitted(frame):
            assert_sql_scores_match(connection, model, task, frame,
                                    "built.marts.track_features", "track_id")  # fmt: skip


# The features the real file leaves blank (checked on it below), blank in the sample too.
NULLABLE_FEATURES = {"musical_key", "in_shazam_charts"}


def features_with_nulls(warehouse_path: Path) -> set[str]:
    features = resolve_feature_set("full")
    counts = warehouse.read_sql(
        warehouse_path,
        "select "
        + ", ".join(f'count(*) - count("{name}")' for name in features)
        + " from marts.track_features",
    )
    return {name for name, nulls in zip(features, counts.iloc[0], strict=True) if nulls}


def test_every_model_type_scores_in_sql_on_the_real_file(real_run):
    assert features_with_nulls(real_run.warehouse) == NULLABLE_FEATURES
    assert_every_model_type_scores_in_sql(real_run.warehouse)


def test_every_model_type_scores_in_sql_with_missing_values(sample_run):
    """The bundled sample is generated (make-sample) with blanks in every nullable feature."""
    assert features_with_nulls(sample_run.warehouse) == NULLABLE_FEATURES
    assert_every_model_type_scores_in_sql(sample_run.warehouse)


SCORE_WITH_DUCKDB_ONLY = """
import json, sys
import duckdb
connection = duckdb.connect(sys.argv[1], read_only=True)
rows = connection.execute(
    "select track_id, ml.predict_log_streams(t), ml.predict_top_decile_probability(t), "
    "ml.predict_log_streams_interval(t) from marts.track_features t order by track_id"
).fetchall()
versioned = connection.execute(sys.argv[2]).fetchall()
connection.close()
# Attached under another name, the macros work once it is the current database.
attached = duckdb.connect()
attached.execute(f"attach '{sys.argv[1]}' as songs (read_only)")
attached.execute("use songs")
via_attach = attached.execute(
    "select track_id, ml.predict_log_streams(t), ml.predict_top_decile_probability(t), "
    "ml.predict_log_streams_interval(t) from marts.track_features t order by track_id"
).fetchall()
print(json.dumps({"rows": rows, "versioned": versioned, "modules": sorted(sys.modules),
                  "same_when_attached": via_attach == rows}))
"""


def test_a_plain_duckdb_client_scores_every_row_with_the_champions(real_run):
    """No project code imported: the DuckDB client alone, the warehouse read-only. Every
    registered version scores through its `_v<N>` macro, as its own pipeline does."""
    run = real_run
    versions = warehouse.read_sql(run.warehouse, "select * from ml.model_versions")
    assert len(versions) > versions["is_champion"].sum()
    versioned = "select " + ", ".join(
        f"ml.{TASKS[row.task].scoring_macro}_v{row.version}(t)" for row in versions.itertuples()
    ) + " from marts.track_features t order by track_id"  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCORE_WITH_DUCKDB_ONLY), str(run.warehouse),
         versioned], capture_output=True, text=True, check=True, cwd="/",
    )  # fmt: skip
    # A query slower than two seconds draws DuckDB's progress bar on stdout above the JSON.
    scored = json.loads(result.stdout.splitlines()[-1])
    assert not [name for name in scored["modules"] if name == "ml" or name.startswith("ml.")]
    assert scored["same_when_attached"]
    frame = warehouse.read_track_features(run.warehouse)
    rows = np.array(scored["rows"], dtype=object)
    assert list(rows[:, 0]) == list(frame["track_id"])
    by_version = np.array(scored["versioned"], dtype=float)
    for column, version in enumerate(versions.itertuples()):
        model = load_model(Path(version.model_path), version.model_name)
        expected = TASKS[version.task].predict(
            model, feature_matrix(frame, list(model.feature_names_in_))
        )
        np.testing.assert_allclose(by_version[:, column], expected, rtol=0, atol=1e-9)
        if version.is_champion:
            champion = rows[:, 1 if version.task == "regression" else 2].astype(float)
            np.testing.assert_allclose(champion, expected, rtol=0, atol=1e-9)
        if version.is_champion and version.task == "regression":
            intervals = Intervals.from_rows(
                warehouse.read_prediction_intervals(run.warehouse, version.run_id)
            )
            bounds = [[interval[side] for interval in rows[:, 3]] for side in ("lower", "upper")]
            np.testing.assert_allclose(bounds, intervals.bounds(expected), rtol=0, atol=1e-9)
