"""dbt's saved parse outlives a change of raw file and a build into another warehouse."""

import json
from pathlib import Path

from ml.dbt import run_dbt
from ml.settings import SAMPLE_CSV


def files_parsed(warehouse: Path, target_path: Path, raw_csv: Path, **raw_format) -> int:
    """How many of the project's files `dbt parse` parsed, run as every build runs dbt (0: it
    reused the saved parse)."""
    target_path.mkdir()
    run_dbt(["parse"], warehouse, raw_csv, target_path, **raw_format)
    return json.loads((target_path / "perf_info.json").read_text())["parsed_path_count"]


def test_a_build_of_another_file_or_warehouse_reuses_dbts_saved_parse(tmp_path):
    """The raw file's path, encoding, reader and sha256 reach the models when they run, not
    while dbt parses (dbt parses a file again when an env var it read changes, ~1 s of a
    build), and a parse is kept per warehouse name, which is part of dbt's profile (a full
    parse, ~2.5 s, after a build into a warehouse of another name)."""
    warehouse, other_warehouse = tmp_path / "spotify.duckdb", tmp_path / "other.duckdb"
    files_parsed(warehouse, tmp_path / "first", SAMPLE_CSV)
    files_parsed(other_warehouse, tmp_path / "second", SAMPLE_CSV)
    another_file = {"encoding": "utf-8", "parallel_reader": False, "raw_sha256": "0" * 64}
    third = files_parsed(warehouse, tmp_path / "third", tmp_path / "other.csv", **another_file)
    assert third == 0
