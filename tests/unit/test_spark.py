"""The Spark engine's settings, without starting Spark (tests/spark/ builds on it)."""

from ml.spark import spark_conf


def test_spark_settings_are_the_profiles_for_the_chosen_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SPOTIFY_SPARK_MASTER", raising=False)
    monkeypatch.setenv("SPOTIFY_SPARK_WAREHOUSE", "/elsewhere")
    conf = spark_conf(tmp_path)
    assert conf["spark.master"] == "local[2]"
    assert conf["spark.sql.warehouse.dir"] == f"{tmp_path}/tables"
    assert conf["spark.driver.extraJavaOptions"] == f"-Dderby.system.home={tmp_path}"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    monkeypatch.setenv("SPOTIFY_SPARK_MASTER", "spark://cluster:7077")
    assert spark_conf(tmp_path)["spark.master"] == "spark://cluster:7077"


def test_spark_ml_tables_take_their_columns_and_types_from_the_duckdb_ddl():
    from ml.spark_train import SPARK_ML_TABLES, spark_schema

    assert spark_schema("ml.runs").startswith("run_id string, config_name string")
    assert "n_rows bigint" in spark_schema("ml.runs")
    assert "created_at timestamp" in spark_schema("ml.runs")
    assert "n_splits int" in spark_schema("ml.run_metrics")
    predictions = spark_schema("ml.predictions")
    assert "track_id bigint, is_out_of_fold boolean, predicted_log_streams double" in predictions
    for table, columns in SPARK_ML_TABLES.items():
        assert [part.split()[0] for part in spark_schema(table).split(", ")] == columns
