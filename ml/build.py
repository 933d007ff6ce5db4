"""Builds the warehouse all or nothing: dbt builds a copy, which replaces the warehouse only
when every model and test passed. A failed build leaves the previous warehouse as it was."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ml import warehouse
from ml.dataset import Dataset
from ml.dbt import SPARK_TARGET, DbtFailure, run_dbt
from ml.errors import UserError
from ml.raw_file import inspect_raw_csv, unpaired_quote
from ml.settings import MAX_REJECTED_SHARE

# The model that reads the raw file.
READER_MODEL = "model.spotify.base_spotify__tracks"


@dataclass(frozen=True)
class BuildResult:
    """A finished build: dbt's nodes that passed, the raw, clean and rejected rows
    (audit.build_dataset), and a warning when more than the allowed share was rejected."""

    passed: int
    counts: dict[str, int]
    warning: str | None


def build_warehouse(
    warehouse_path: Path, dataset: Dataset, on_step: Callable[[str], None] | None = None,
    on_line: Callable[[str], None] | None = None,
    max_rejected_share: float = MAX_REJECTED_SHARE, strict: bool = False,
) -> BuildResult:  # fmt: skip
    """The warehouse built from `dataset`. `strict` makes the rejection warning an error that
    leaves the warehouse as it was. `on_step` hears that dbt starts (once the file is
    accepted), `on_line` each dbt node."""
    raw_format = inspect_raw_csv(dataset.path)
    if on_step is not None:
        on_step(f"dbt build: {dataset.path.name} -> {warehouse_path}")
    # A folder per process, so two builds at once cannot overwrite each other's work; the copy
    # inside keeps the warehouse's name (dbt reuses its parse only while the name is the same).
    folder = warehouse_path.with_name(f"{warehouse_path.name}.building-{os.getpid()}")
    building = folder / warehouse_path.name
    try:
        try:
            passed = _build_copy(warehouse_path, building, dataset, raw_format.encoding, on_line)
        except DbtFailure as failure:
            if failure.node != READER_MODEL:
                raise
            # DuckDB's parallel reader cannot pad a short line in a file whose quoted names
            # hold line breaks; its single-threaded reader can (slower, so only when the
            # model that reads the file failed; a file neither can read fails again).
            try:
                passed = _build_copy(warehouse_path, building, dataset, raw_format.encoding,
                                     on_line, parallel=False)  # fmt: skip
            except DbtFailure as again:
                quoting = unpaired_quote(dataset.path, raw_format.encoding, str(again))
                if quoting:
                    raise quoting from again
                raise
        # One connection for the counts: opening the warehouse takes tens of ms.
        with warehouse.connect(building, read_only=True) as connection:
            result = _result(passed, lambda sql: connection.execute(sql).fetchall(),
                             max_rejected_share)  # fmt: skip
        if result.warning and strict:
            raise UserError(f"{result.warning}; the warehouse was left as it was (--strict)")
        os.replace(building, warehouse_path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def build_spark(
    spark_dir: Path, dataset: Dataset, on_step: Callable[[str], None] | None = None,
    on_line: Callable[[str], None] | None = None,
    max_rejected_share: float = MAX_REJECTED_SHARE,
) -> BuildResult:  # fmt: skip
    """The Spark target built and tested in `spark_dir`, in this process (ml/spark.py). Spark
    replaces each table as its model finishes: a failed build leaves the tables it had
    already replaced (the DuckDB build's all-or-nothing copy has no Spark counterpart here).
    dbt's compiled SQL and results of the last build stay in `spark_dir`/dbt."""
    from ml import spark

    raw_format = inspect_raw_csv(dataset.path)
    if on_step is not None:
        on_step(f"dbt build --target spark: {dataset.path.name} -> {spark_dir}")
    spark.session(spark_dir)
    artifacts = spark_dir / "dbt"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    dbt_result = run_dbt(
        ["build", "--exclude-resource-type", "unit_test"],
        spark_dir,
        dataset.path,
        artifacts,
        raw_sha256=dataset.sha256,
        encoding=raw_format.encoding,
        on_line=on_line,
        target=SPARK_TARGET,
    )
    return _result(dbt_result.passed, partial(spark.read_rows, spark_dir), max_rejected_share)


def _result(passed: int, read_rows: Callable[[str], list[tuple]], max_share: float) -> BuildResult:
    """The build's result, its counts read from audit.build_dataset through `read_rows` (a
    query on the engine that built), with one line of warning when more than `max_share` of
    the rows were rejected: the share and the most frequent reasons."""
    (counts,) = read_rows("select raw_rows, clean_rows, rejected_rows from audit.build_dataset")
    counts = dict(zip(("raw_rows", "clean_rows", "rejected_rows"), map(int, counts), strict=True))
    raw_rows, rejected = counts["raw_rows"], counts["rejected_rows"]
    if not raw_rows or rejected / raw_rows <= max_share:
        return BuildResult(passed, counts, None)
    reasons = read_rows("""
        select reject_reason, count(*) as n from audit.rejected_rows
        group by reject_reason order by n desc, reject_reason limit 3
    """)  # fmt: skip
    top = ", ".join(f"{reason} {n}" for reason, n in reasons)
    warning = (f"{rejected / raw_rows:.1%} of the rows were rejected ({rejected} of {raw_rows}, "
               f"more than {max_share:.0%}): {top}; see audit.rejected_rows")  # fmt: skip
    return BuildResult(passed, counts, warning)


def _build_copy(
    warehouse_path: Path, building: Path, dataset: Dataset, encoding: str, on_line,
    parallel: bool = True,
) -> int:  # fmt: skip
    """A fresh folder holding a copy of the warehouse (if any, once no other process holds
    it), built by dbt: the nodes that passed. dbt's on-run-end hook keeps the SQL of the
    scoring models in the copy."""
    shutil.rmtree(building.parent, ignore_errors=True)
    building.parent.mkdir(parents=True)

    def copy() -> None:  # while dbt imports itself
        warehouse.wait_until_free(warehouse_path)
        if warehouse_path.exists():
            shutil.copy2(warehouse_path, building)
        warehouse.prepare_ml_tables(building)

    # dbt's artifacts go to a folder of this build's own.
    with tempfile.TemporaryDirectory(prefix="spotify-dbt-") as target_path:
        return run_dbt(
            # dbt's unit tests check the SQL, not the data: the test suite runs them
            # (a plain `dbt build`), a build of the data does not need to.
            ["build", "--exclude-resource-type", "unit_test"],
            building,
            dataset.path,
            Path(target_path),
            raw_sha256=dataset.sha256,
            encoding=encoding,
            parallel_reader=parallel,
            on_line=on_line,
            prepare=copy,
        ).passed
