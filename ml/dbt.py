"""Runs dbt in a child process, so its DuckDB connection (and lock) ends with the process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

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

# dbt's structured log events that report a node's outcome (shown as build progress).
NODE_RESULT_EVENTS = {"LogModelResult", "LogTestResult", "LogNodeNoOpResult", "LogSkipBecauseError"}
PASSED = {"success", "pass"}


@dataclass(frozen=True)
class DbtResult:
    passed: int


class DbtFailure(UserError):
    """dbt failed; `node` is the unique id of the first node that failed (None when dbt stopped
    before running any, e.g. on a compilation error)."""

    def __init__(self, message: str, node: str | None = None):
        super().__init__(message)
        self.node = node


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
    results) in `target_path`. Outcomes come from dbt's artifacts and structured log, not its
    console text. Raises DbtFailure.

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
        "--target-path", str(target_path), "--log-format", "json",
    ]  # fmt: skip
    process = subprocess.Popen(
        arguments,
        cwd=warehouse.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    errors = []
    assert process.stdout is not None
    for line in process.stdout:
        event = _event(line)
        if event is None:
            errors.append(line.strip())
        elif event["name"] in NODE_RESULT_EVENTS and on_line is not None:
            on_line(event["msg"])
        elif event["level"] == "error":
            errors.append(event["msg"].strip())
    return_code = process.wait()
    results = _run_results(target_path)
    if return_code != 0:
        raise _failure(command[0], results, [error for error in errors if error])
    _save_parse(target_path / PARTIAL_PARSE)
    return DbtResult(passed=sum(result["status"] in PASSED for result in results))


def _event(line: str) -> dict | None:
    """The `info` of one line of dbt's JSON log, or None for a line that is not one."""
    try:
        return json.loads(line)["info"]
    except (ValueError, KeyError, TypeError):
        return None


def _run_results(target_path: Path) -> list[dict]:
    """The node results of dbt's run_results.json ([] when dbt stopped before writing it)."""
    path = target_path / "run_results.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text(encoding="utf-8"))["results"]


def _failure(command: str, results: list[dict], errors: list[str]) -> DbtFailure:
    """One line for the first node that failed: a test's own message, or a model's error
    without dbt's header line (and with the column counts of a CSV error, when given)."""
    failed = [result for result in results if result["status"] in ("error", "fail")]
    if not failed:
        return DbtFailure(f"dbt {command} failed: {errors[0] if errors else 'no output'}")
    node, message = failed[0]["unique_id"], (failed[0]["message"] or "").strip()
    if failed[0]["status"] == "fail":
        return DbtFailure(f"dbt {command} failed: test {node.split('.')[2]}: {message}", node)
    lines = [line.strip() for line in message.splitlines()[1:] if line.strip()] or [message]
    counts = [line for line in lines if line.startswith("Expected Number of Columns")]
    detail = f"{lines[0]} ({counts[0]})" if counts else lines[0]
    return DbtFailure(f"dbt {command} failed: {detail}", node)


def _save_parse(parse: Path) -> None:
    """Keep `parse` as the saved parse; a copy then a rename, so a reader never sees half."""
    if not parse.is_file():
        return
    SAVED_PARSE.parent.mkdir(parents=True, exist_ok=True)
    copy = SAVED_PARSE.with_name(f"{PARTIAL_PARSE}.{os.getpid()}")
    shutil.copyfile(parse, copy)
    os.replace(copy, SAVED_PARSE)


def declared_columns(properties_file: str, name: str) -> list[dict]:
    """The columns (name, description, config, ...) that `properties_file`, a yml file under
    dbt_project/models/, declares for the model or source table `name`, in order: lists that
    dbt and ml/ both read from there."""
    path = DBT_PROJECT_DIR / "models" / properties_file
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    tables = [table for source in spec.get("sources", []) for table in source["tables"]]
    (node,) = [node for node in [*spec.get("models", []), *tables] if node["name"] == name]
    return node["columns"]


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
