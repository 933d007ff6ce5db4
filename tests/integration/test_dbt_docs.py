"""dbt docs: every model and column described, the ML consumer declared as an exposure, and the
descriptions in the warehouse as DuckDB comments."""

import json
import os
import subprocess
import sys
from pathlib import Path

from ml.dbt import declared_columns
from ml.raw_file import RAW_COLUMNS
from ml.settings import DBT_PROJECT_DIR
from support import checks as check


def test_docs_generate_passes_and_describes_every_model_and_column(sample_run, tmp_path):
    env = {**sample_run.env, "SPOTIFY_WAREHOUSE": str(sample_run.warehouse),
           "SPOTIFY_RAW_CSV": str(sample_run.raw_csv)}  # fmt: skip
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [str(dbt), "docs", "generate", "--target-path", str(tmp_path)],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "catalog.json").read_text())

    models = {key: node for key, node in manifest["nodes"].items() if key.startswith("model.")}
    assert len(models) >= 8
    undescribed = [key for key, node in models.items() if not node["description"].strip()]
    assert undescribed == []
    for key, built in catalog["nodes"].items():  # the columns each table really has
        documented = models[key]["columns"]
        missing = [name for name in built["columns"]
                   if not documented.get(name, {}).get("description", "").strip()]  # fmt: skip
        assert missing == [], f"{key}: columns without a description: {missing}"

    source = next(node for key, node in manifest["sources"].items() if key.endswith("raw_tracks"))
    assert [name for name in RAW_COLUMNS if not source["columns"].get(name, {}).get("description")
            ] == []  # fmt: skip

    exposures = {node["name"]: node for node in manifest["exposures"].values()}
    ml_consumer = exposures["popularity_models"]
    assert ml_consumer["type"] == "ml"
    assert "model.spotify.track_features" in ml_consumer["depends_on"]["nodes"]
    assert os.path.getsize(tmp_path / "index.html") > 0


def test_every_table_and_column_carries_its_description_as_a_duckdb_comment(sample_run):
    """The models' columns and the ml tables (which ml/ writes, dbt only declares) are
    commented by the build's on-run-end hook; the models' tables by persist_docs."""
    uncommented = check.query(sample_run, """
        select schema_name || '.' || table_name || coalesce('.' || column_name, '')
        from (
            select schema_name, table_name, column_name, comment from duckdb_columns()
            union all
            select schema_name, table_name, null, comment from duckdb_tables()
        )
        where schema_name in ('staging', 'intermediate', 'marts', 'audit', 'ml')
            and coalesce(comment, '') = ''
    """)  # fmt: skip
    assert uncommented == []
    for properties, schema, table in [("marts/_marts__models.yml", "marts", "tracks"),
                                      ("ml/_ml__sources.yml", "ml", "runs")]:  # fmt: skip
        comments = dict(check.query(sample_run, f"""
            select column_name, comment from duckdb_columns()
            where schema_name = '{schema}' and table_name = '{table}'
        """))  # fmt: skip
        declared = {column["name"]: column["description"] for column in declared_columns(
            properties, table)}  # fmt: skip
        assert comments == declared
