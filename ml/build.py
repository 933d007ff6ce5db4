"""Builds the warehouse all or nothing: dbt builds a copy, which replaces the warehouse only
when every model and test passed. A failed build leaves the previous warehouse as it was."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ml import warehouse
from ml.dataset import Dataset
from ml.dbt import DbtResult, run_dbt, scoring_sql
from ml.errors import UserError
from ml.raw_file import inspect_raw_csv

CSV_PARSE_ERROR = "CSV Error"


def build_warehouse(
    warehouse_path: Path, dataset: Dataset, on_line: Callable[[str], None] | None = None
) -> DbtResult:
    raw_format = inspect_raw_csv(dataset.path)
    warehouse.wait_until_free(warehouse_path)
    # One copy per process, so two builds at once cannot overwrite each other's work.
    building = warehouse_path.with_name(f"{warehouse_path.name}.building-{os.getpid()}")
    try:
        try:
            result = _build_copy(warehouse_path, building, dataset, raw_format.encoding, on_line)
        except UserError as error:
            if CSV_PARSE_ERROR not in str(error):
                raise
            # DuckDB's parallel reader cannot pad a short line in a file whose quoted names
            # hold line breaks; its single-threaded reader can (slower, so only then).
            result = _build_copy(
                warehouse_path, building, dataset, raw_format.encoding, on_line, parallel=False
            )
        warehouse.upgrade_ml_tables(building)
    except BaseException:
        _remove_build_files(building)
        raise
    os.replace(building, warehouse_path)
    _remove_build_files(building)
    return result


def _build_copy(
    warehouse_path: Path, building: Path, dataset: Dataset, encoding: str, on_line,
    parallel: bool = True,
) -> DbtResult:  # fmt: skip
    _remove_build_files(building)
    if warehouse_path.exists():
        shutil.copy2(warehouse_path, building)
    # dbt's artifacts go to a folder of this build's own (two builds may run at once); the
    # SQL it ran for the scoring models is kept in the warehouse, for `cli.py predict`.
    with tempfile.TemporaryDirectory(prefix="spotify-dbt-") as target_path:
        result = run_dbt(
            ["build"],
            building,
            dataset.path,
            variables={"raw_file_sha256": dataset.sha256},
            encoding=encoding,
            parallel_reader=parallel,
            on_line=on_line,
            target_path=Path(target_path),
        )
        warehouse.write_scoring_sql(building, scoring_sql(Path(target_path)))
    return result


def _remove_build_files(building: Path) -> None:
    """The copy, its write-ahead log and DuckDB's spill folder."""
    building.unlink(missing_ok=True)
    building.with_name(building.name + ".wal").unlink(missing_ok=True)
    shutil.rmtree(building.with_name(building.name + ".tmp"), ignore_errors=True)
