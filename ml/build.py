"""Builds the warehouse all or nothing: dbt builds a copy, which replaces the warehouse only
when every model and test passed. A failed build leaves the previous warehouse as it was."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ml import warehouse
from ml.dbt import DbtResult, run_dbt
from ml.raw_file import inspect_raw_csv


def build_warehouse(
    warehouse_path: Path, raw_csv: Path, on_line: Callable[[str], None] | None = None
) -> DbtResult:
    raw_format = inspect_raw_csv(raw_csv)
    warehouse.wait_until_free(warehouse_path)
    # One copy per process, so two builds at once cannot overwrite each other's work.
    building = warehouse_path.with_name(f"{warehouse_path.name}.building-{os.getpid()}")
    if warehouse_path.exists():
        shutil.copy2(warehouse_path, building)
    try:
        result = run_dbt(
            ["build"], building, raw_csv, encoding=raw_format.encoding, on_line=on_line
        )
    except BaseException:
        building.unlink(missing_ok=True)
        raise
    os.replace(building, warehouse_path)
    return result
