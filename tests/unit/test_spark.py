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
