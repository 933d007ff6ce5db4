"""Runs dbt in a child process, so its DuckDB connection (and lock) ends with the process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml.errors import UserError
from ml.settings import (
    DBT_PROJECT_DIR,
    RAW_CSV_ENV,
    RAW_ENCODING_ENV,
    RAW_PARALLEL_ENV,
    RAW_SHA256_ENV,
    WAREHOUSE_ENV,
)

PARTIAL_PARSE = "partial_parse.msgpack"
# dbt's parse of the project, kept between builds (dbt re-parses only what changed).
SAVED_PARSE = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE

PROGRESS_LINE = re.compile(r"\d+ of \d+ (OK|PASS|ERROR|FAIL|WARN|SKIP)\b.*")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class DbtResult:
    passed: int
    failed: int
    output: str


def run_dbt(
    command: list[str],
    warehouse: Path,
    raw_csv: Path,
    target_path: Path,
    raw_sha256: str = "",
    encoding: str = "latin-1",
    parallel_reader: bool = True,
    on_line: Callable[[str], None] | None = None,
) -> DbtResult:
    """`dbt <command>` against `warehouse`, reading `raw_csv`, its artifacts (manifest, run
    results) in `target_path`. Raises UserError on failure.

    dbt runs in the warehouse's folder and names the file without its folder, so the profile
    (part of what dbt checks before reusing a saved parse) is the same for every build of a
    file of that name; the saved parse is copied in and the new one kept after a success."""
    if "'" in str(raw_csv) or "'" in str(warehouse):
        raise UserError(f"paths may not contain a single quote: {raw_csv}")
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        WAREHOUSE_ENV: warehouse.name,
        RAW_CSV_ENV: str(raw_csv),
        RAW_SHA256_ENV: raw_sha256,
        RAW_ENCODING_ENV: encoding,
        RAW_PARALLEL_ENV: "true" if parallel_reader else "false",
    }
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if SAVED_PARSE.is_file():
        shutil.copy(SAVED_PARSE, target_path / PARTIAL_PARSE)
    arguments = [
        sys.executable, "-m", "dbt.cli.main", *command,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_path), "--no-use-colors",
    ]  # fmt: skip
    process = subprocess.Popen(
        arguments,
        cwd=warehouse.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    assert process.stdout is not None
    for raw_line in process.stdout:
        line = ANSI.sub("", raw_line.rstrip())
        lines.append(line)
        match = PROGRESS_LINE.search(line)
        if match and on_line is not None:
            on_line(match.group(0))
    return_code = process.wait()
    output = "\n".join(lines)
    passed, failed = _totals(output)
    if return_code != 0:
        raise UserError(f"dbt {command[0]} failed: {_first_error(lines)}")
    _save_parse(target_path / PARTIAL_PARSE)
    return DbtResult(passed=passed, failed=failed, output=output)


def _save_parse(parse: Path) -> None:
    """Keep `parse` as the saved parse; a copy then a rename, so a reader never sees half."""
    if not parse.is_file():
        return
    SAVED_PARSE.parent.mkdir(parents=True, exist_ok=True)
    copy = SAVED_PARSE.with_name(f"{PARTIAL_PARSE}.{os.getpid()}")
    shutil.copyfile(parse, copy)
    os.replace(copy, SAVED_PARSE)


def _totals(output: str) -> tuple[int, int]:
    match = re.search(r"Done\. PASS=(\d+) WARN=\d+ ERROR=(\d+)", output)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _first_error(lines: list[str]) -> str:
    """The most useful single line of dbt's failure output."""
    for marker in ("Error:", "Error in", "Failure in", "Got ", "ERROR"):
        for index, line in enumerate(lines):
            if marker in line:
                detail = line.split("  ", 1)[-1].strip()
                following = lines[index + 1].strip() if index + 1 < len(lines) else ""
                if marker in ("Failure in", "Error in") and following:
                    detail = f"{detail}: {following}"
                # A row with more fields than the header beyond the reader's sample: say so.
                counts = [ahead.strip() for ahead in lines[index + 1 : index + 5]
                          if ahead.strip().startswith("Expected Number of Columns")]  # fmt: skip
                return f"{detail} ({counts[0]})" if counts else detail
    return lines[-1] if lines else "no output"


# The models that turn raw rows into what scoring needs: these and their ancestors.
SCORING_MODELS = ("model.spotify.tracks", "model.spotify.track_features",
                  "model.spotify.rejected_rows")  # fmt: skip


def scoring_sql(target_path: Path) -> list[dict]:
    """The SQL a finished `dbt build` ran for the scoring models and their ancestors, in an order
    that builds each after what it reads: (position, model, relation, materialization, sql),
    read from dbt's own artifacts in `target_path`."""
    manifest = json.loads((target_path / "manifest.json").read_text(encoding="utf-8"))
    results = json.loads((target_path / "run_results.json").read_text(encoding="utf-8"))
    compiled = {result["unique_id"]: result for result in results["results"]}
    ordered: list[str] = []

    def visit(unique_id: str) -> None:
        if unique_id in ordered or not unique_id.startswith("model."):
            return
        for parent in manifest["nodes"][unique_id]["depends_on"]["nodes"]:
            visit(parent)
        ordered.append(unique_id)

    for unique_id in SCORING_MODELS:
        visit(unique_id)
    return [
        {
            "position": position,
            "model": manifest["nodes"][unique_id]["name"],
            "relation": compiled[unique_id]["relation_name"],
            "materialization": manifest["nodes"][unique_id]["config"]["materialized"],
            "sql": compiled[unique_id]["compiled_code"],
        }
        for position, unique_id in enumerate(ordered)
    ]
