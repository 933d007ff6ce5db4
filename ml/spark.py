"""The Spark engine (`--engine spark`): dbt's spark target, and the Spark session it runs in.

dbt-spark's session method starts Spark inside the calling process, so one command builds and
reads through one session. Its local catalog (a Derby database in the Spark folder) stays
locked by this process until it ends: one process at a time per Spark folder, and one Spark
folder per process."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from ml.errors import UserError
from ml.settings import DBT_PROJECT_DIR, PROJECT_ROOT, SPARK_WAREHOUSE_ENV

INSTALL_HINT = "pip install -r requirements-spark.txt (and a Java 17 runtime)"
# The Spark type of each DuckDB type the project's tables use.
SPARK_TYPES = {"BIGINT": "bigint", "INTEGER": "int", "VARCHAR": "string", "DOUBLE": "double",
               "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp"}  # fmt: skip


def spark_conf(spark_dir: Path) -> dict[str, str]:
    """The Spark settings of the profile's spark target (dbt_project/profiles.yml, the one
    place they are written), for the Spark folder `spark_dir`."""
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    parameters = profile["spotify"]["outputs"]["spark"]["server_side_parameters"]
    env = {**os.environ, SPARK_WAREHOUSE_ENV: str(spark_dir)}

    def env_var(name: str, default: str | None = None) -> str:
        return env.get(name, default)

    return {
        key: jinja2.Template(str(value)).render(env_var=env_var)
        for key, value in parameters.items()
    }


def session(spark_dir: Path):
    """This process's Spark session on `spark_dir`, started on first use. Its settings are
    the profile's; ANSI mode is off as dbt-spark's session sets it."""
    # pyspark 4.3 warns on every conversion that it is not tested with pandas 3; the
    # conversions this project makes are checked against DuckDB's by tests/spark/.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    try:
        from pyspark.errors import PySparkRuntimeError
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise UserError(f"the Spark engine needs pyspark and dbt-spark: {INSTALL_HINT}") from error
    active = SparkSession.getActiveSession()
    conf = spark_conf(spark_dir)
    if active is not None:
        opened = active.conf.get("spark.sql.warehouse.dir")
        if Path(opened.removeprefix("file:")) != Path(conf["spark.sql.warehouse.dir"]):
            raise UserError(f"this process already uses the Spark folder of {opened}")
        return active
    # Spark's Python workers (mapInPandas) run this interpreter, not the first python3 found,
    # and import this project's modules (the fold models use them) from any working folder.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
    )
    builder = SparkSession.builder.enableHiveSupport()
    # Arrow moves DataFrames between pandas and Spark column by column (toPandas, mapInPandas).
    local = {"spark.sql.ansi.enabled": "false", "spark.sql.execution.arrow.pyspark.enabled": "true"}
    for key, value in {**conf, **local}.items():
        builder = builder.config(key, value)
    try:
        started = builder.getOrCreate()
    except PySparkRuntimeError as error:  # e.g. no Java, or JAVA_HOME naming none
        java_home = os.environ.get("JAVA_HOME", "unset")
        raise UserError(f"Spark did not start ({error.getCondition()}; JAVA_HOME {java_home}): "
                        f"{INSTALL_HINT}") from None  # fmt: skip
    started.sparkContext.setLogLevel("ERROR")
    return started


def stop() -> None:
    """Ends this process's Spark session and waits for its JVM to exit: the catalog is free
    for another process, and the JVM's peak memory counts among this process's children."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    gateway = SparkContext._gateway
    if gateway is not None:
        gateway.shutdown()
        gateway.proc.stdin.close()  # the JVM exits when its launcher's input closes
        gateway.proc.wait()
        SparkContext._gateway = SparkContext._jvm = None


def read_sql(spark_dir: Path, sql: str) -> pd.DataFrame:
    """A small query's result in the driver, as a DataFrame."""
    return session(spark_dir).sql(sql).toPandas()


def read_rows(spark_dir: Path, sql: str) -> list[tuple]:
    """A small query's rows in the driver, as tuples."""
    return session(spark_dir).sql(sql).collect()
