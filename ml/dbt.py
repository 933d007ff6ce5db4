"""Runs dbt in a child process, so its DuckDB connection (and lock) ends with the process."""

from __future__ import annotations

import contextlib
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
    PROJECT_ROOT,
    RAW_CSV_ENV,
    RAW_ENCODING_ENV,
    RAW_PARALLEL_ENV,
    RAW_SHA256_ENV,
    SPARK_WAREHOUSE_ENV,
    WAREHOUSE_ENV,
)

PARTIAL_PARSE = "partial_parse.msgpack"
# The profile's targets: DuckDB (the default) and Spark.
DUCKDB_TARGET = "dev"
SPARK_TARGET = "spark"

# `python -m dbt.cli.main`, ended without the interpreter's teardown (ml/quick_exit.py). dbt
# imports itself (~2 s) while the parent prepares; it starts on the parent's "go".
DBT_CHILD = f"""
import sys
sys.path.insert(0, {str(PROJECT_ROOT)!r})
from dbt.cli.main import cli
from ml.quick_exit import run_then_exit
if sys.stdin.readline() == "go\\n":
    run_then_exit(lambda: cli.main(sys.argv[1:], prog_name="dbt"))
"""

# dbt's structured log events that report a node's outcome (shown as build progress).
NODE_RESULT_EVENTS = {"LogModelResult", "LogTestResult", "LogNodeNoOpResult", "LogSkipBecauseError"}
PASSED = {"success", "pass"}


# The line of DuckDB's CSV error that says what is wrong with the line it names.
CSV_ERROR_CAUSES = ("Expected Number of Columns", "Maximum line size")


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
    target: str = DUCKDB_TARGET,
    prepare: Callable[[], None] = lambda: None,
) -> DbtResult:
    """`dbt <command>` against `warehouse` (the DuckDB file, or the Spark target's folder),
    reading `raw_csv`, its artifacts in `target_path` (Spark's build keeps its manifest and run
    results; a DuckDB build writes none). Outcomes come from dbt's structured log, not its
    console text. Raises DbtFailure.

    On DuckDB, dbt runs in a child process in the warehouse's folder and names the file
    without its folder, so the profile (part of what dbt checks before reusing a saved parse)
    is the same for every build of a file of that name; `prepare` runs while the child imports
    dbt, and its failure stops the child. On Spark, dbt runs in this process, after `prepare`:
    its session method starts Spark here, and this process's later reads use that session.
    The saved parse is copied in and the new one kept after a success."""
    if "'" in str(raw_csv) or "'" in str(warehouse):
        raise UserError(f"paths may not contain a single quote: {raw_csv}")
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    env = {
        WAREHOUSE_ENV: warehouse.name,
        RAW_CSV_ENV: str(raw_csv),
        RAW_SHA256_ENV: raw_sha256,
        RAW_ENCODING_ENV: encoding,
        RAW_PARALLEL_ENV: "true" if parallel_reader else "false",
        SPARK_WAREHOUSE_ENV: str(warehouse),
    }
    saved_parse = _saved_parse(target, warehouse.name)
    if saved_parse.is_file():
        shutil.copy(saved_parse, target_path / PARTIAL_PARSE)
    arguments = [
        *command,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_path), "--log-format", "json", "--target", target,
    ]  # fmt: skip
    if target == DUCKDB_TARGET:
        # Nothing reads dbt's JSON artifacts after a DuckDB build (outcomes come from the log,
        # the scoring SQL from an on-run-end hook), and writing the manifest takes ~0.3 s.
        arguments.append("--no-write-json")
    results: list[dict] = []
    messages: dict[str, str] = {}
    errors: list[str] = []

    def hear(event: dict) -> None:
        if event["name"] in NODE_RESULT_EVENTS:
            results.append({"unique_id": event["node"], "status": event["status"]})
            if on_line is not None:
                on_line(event["msg"])
        elif event["name"] == "RunResultError" and event["node"]:
            messages[event["node"]] = event["msg"]
        elif event["level"] == "error":
            errors.append(event["msg"].strip())

    if target == SPARK_TARGET:
        prepare()
        succeeded = _run_in_process(arguments, env, hear, errors)
    else:
        succeeded = _run_in_child(arguments, env, warehouse.parent, hear, errors, prepare)
    if not succeeded:
        results = [{**result, "message": messages.get(result["unique_id"])} for result in results]
        raise _failure(command[0], results, [error for error in errors if error])
    _save_parse(target_path / PARTIAL_PARSE, saved_parse)
    return DbtResult(passed=sum(result["status"] in PASSED for result in results))


def _run_in_child(arguments: list[str], env: dict, folder: Path, hear, errors: list[str],
                  prepare: Callable[[], None]) -> bool:  # fmt: skip
    """dbt in a child process in `folder` (its DuckDB connection and lock end with it),
    started once `prepare` has run."""
    process = subprocess.Popen(
        [sys.executable, "-c", DBT_CHILD, *arguments],
        cwd=folder,
        env={"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        prepare()
    except BaseException:
        process.kill()
        process.wait()
        raise
    with contextlib.suppress(BrokenPipeError):  # a child that failed to start says why below
        process.stdin.write("go\n")
        process.stdin.close()
    for line in process.stdout:
        event = _event(line)
        if event is None:
            errors.append(line.strip())
        else:
            hear(event)
    return process.wait() == 0


def _run_in_process(arguments: list[str], env: dict, hear, errors: list[str]) -> bool:
    """dbt in this process, its events heard as they happen, `env` set while it runs."""
    from dbt.cli.main import dbtRunner

    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

    def on_event(event) -> None:
        node = getattr(event.data, "node_info", None)
        unique_id, status = (node.unique_id, node.node_status) if node else (None, None)
        hear(_outcome(event.info.name, event.info.msg, event.info.level, unique_id, status))

    try:
        result = dbtRunner(callbacks=[on_event]).invoke([*arguments, "--quiet"])
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if result.exception is not None:
        errors.append(str(result.exception))
    return result.success


def _outcome(name: str, msg: str, level: str, node: str | None, status: str | None) -> dict:
    """One of dbt's log events as run_dbt hears it: its name, message and level, and the node
    it reports on (unique id) with that node's status (as in dbt's run results)."""
    return {"name": name, "msg": msg, "level": level, "node": node or None, "status": status}


def _event(line: str) -> dict | None:
    """One line of dbt's JSON log as an _outcome, or None for a line that is not one."""
    try:
        record = json.loads(line)
        info, node = record["info"], record.get("data", {}).get("node_info", {})
        return _outcome(info["name"], info["msg"], info["level"], node.get("unique_id"),
                        node.get("node_status"))  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _failure(command: str, results: list[dict], errors: list[str]) -> DbtFailure:
    """One line for the first node that failed: a test's own message, or a model's error
    without dbt's header line (and with the cause of a CSV error, when given)."""
    failed = [result for result in results if result["status"] in ("error", "fail")]
    if not failed:
        return DbtFailure(f"dbt {command} failed: {errors[0] if errors else 'no output'}")
    node, message = failed[0]["unique_id"], (failed[0]["message"] or "").strip()
    if failed[0]["status"] == "fail":
        return DbtFailure(f"dbt {command} failed: test {node.split('.')[2]}: {message}", node)
    lines = [line.strip() for line in message.splitlines()[1:] if line.strip()] or [message]
    causes = [line for line in lines if line.startswith(CSV_ERROR_CAUSES)]
    detail = f"{lines[0]} ({causes[0]})" if causes else lines[0]
    return DbtFailure(f"dbt {command} failed: {detail}", node)


def _saved_parse(target: str, warehouse_name: str) -> Path:
    """dbt's parse of the project for `target` and a warehouse of that name (part of the
    profile), kept between builds: dbt re-parses only what changed, and a parse made for
    another profile (another target or warehouse name) would be parsed again in full."""
    return DBT_PROJECT_DIR / "target" / f"{target}.{warehouse_name}.{PARTIAL_PARSE}"


def _save_parse(parse: Path, saved: Path) -> None:
    """Keep `parse` as the saved parse; a copy then a rename, so a reader never sees half."""
    if not parse.is_file():
        return
    saved.parent.mkdir(parents=True, exist_ok=True)
    copy = saved.with_name(f"{saved.name}.{os.getpid()}")
    shutil.copyfile(parse, copy)
    os.replace(copy, saved)


def declared_columns(properties_file: str, name: str) -> list[dict]:
    """The columns (name, description, config, ...) that `properties_file`, a yml file under
    dbt_project/models/, declares for the model or source table `name`, in order: lists that
    dbt and ml/ both read from there."""
    path = DBT_PROJECT_DIR / "models" / properties_file
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    tables = [table for source in spec.get("sources", []) for table in source["tables"]]
    (node,) = [node for node in [*spec.get("models", []), *tables] if node["name"] == name]
    return node["columns"]
