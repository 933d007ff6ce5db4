"""Builds raw files on Spark as a user does (`cli.py build --engine spark`), in one process as
the Spark engine requires, and exports every model after each build for the parity tests:

    python -m support.spark_tables WAREHOUSE CONFIGS RAW OUT [RAW OUT ...]

Each OUT folder gets one Parquet folder per model (<schema>.<name>) and types.json ({model:
[[column, Spark type], ...]}); the models are those of the build's manifest. Then dbt's unit
tests run on Spark, and CONFIGS (names or YAML paths, comma-separated) are trained on the last
file (`cli.py train --engine spark`, two CV repeats, three label permutations), their ml tables
exported to the last OUT folder as well."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cli import cli
from ml import spark
from ml.dataset import resolve_raw_csv
from ml.dbt import SPARK_TARGET, run_dbt
from ml.settings import resolve_paths
from ml.spark_train import SPARK_ML_TABLES


def export_tables(spark_dir: Path, tables: list[str], out: Path) -> None:
    session = spark.session(spark_dir)
    types = {}
    for table in tables:
        frame = session.table(table)
        types[table] = [[field.name, field.dataType.simpleString()] for field in frame.schema]
        # One partition, so the file keeps the table's order (base_spotify__tracks: the file's).
        frame.coalesce(1).write.mode("overwrite").parquet(str(out / table))
    (out / "types.json").write_text(json.dumps(types), encoding="utf-8")


def built_models(spark_dir: Path) -> list[str]:
    manifest = json.loads((spark_dir / "dbt" / "manifest.json").read_text(encoding="utf-8"))
    return [f"{node['schema']}.{node['name']}" for node in manifest["nodes"].values()
            if node["resource_type"] == "model"]  # fmt: skip


def main(warehouse: str, configs: str, *raws_and_outs: str) -> None:
    spark_dir = resolve_paths(warehouse).spark_dir
    pairs = list(zip(raws_and_outs[::2], raws_and_outs[1::2], strict=True))
    for raw, out in pairs:
        cli.main(["build", "--engine", "spark", "--raw", raw, "--warehouse", warehouse],
                 standalone_mode=False)  # fmt: skip
        export_tables(spark_dir, built_models(spark_dir), Path(out))
    run_dbt(
        ["test", "--select", "test_type:unit"], spark_dir, resolve_raw_csv(Path(pairs[-1][0])).path,
        spark_dir / "dbt", target=SPARK_TARGET,
    )  # fmt: skip
    results = json.loads((spark_dir / "dbt" / "run_results.json").read_text(encoding="utf-8"))
    passed = [result["unique_id"] for result in results["results"] if result["status"] == "pass"]
    print(json.dumps({"unit_tests_passed": sorted(passed)}))
    references = [option for config in configs.split(",") for option in ("--config", config)]
    cli.main(["train", "--engine", "spark", *references, "--cv-repeats", "2", "--permutations",
              "3", "--warehouse", warehouse], standalone_mode=False)  # fmt: skip
    export_tables(spark_dir, list(SPARK_ML_TABLES), Path(pairs[-1][1]) / "trained")


if __name__ == "__main__":
    main(*sys.argv[1:])
