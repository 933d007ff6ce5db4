"""Running the project as a user does: `cli.py` in a child process, a whole-pipeline run into a
temporary warehouse and MLflow store, a second process holding the warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ml.settings import PROJECT_ROOT


@dataclass(frozen=True)
class PipelineRun:
    """A finished `cli.py run` into a temporary warehouse and MLflow store."""

    raw_csv: Path
    config_names: tuple[str, ...]
    warehouse: Path
    mlflow_dir: Path
    result: subprocess.CompletedProcess
    # The run's `--profile` file: where its time went.
    profile: Path

    @property
    def env(self) -> dict[str, str]:
        return cli_env(self.mlflow_dir)


def cli_env(mlflow_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SPOTIFY_")}
    env["SPOTIFY_MLFLOW_DIR"] = str(mlflow_dir)
    return env


def run_cli(
    *arguments: str, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess:
    """`python cli.py ...` in a child process, as a user runs it."""
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pipeline_run(raw_csv: Path, folder: Path, configs: tuple[str, ...]) -> PipelineRun:
    """`cli.py run` of `configs` with 1 CV repeat and 3 label permutations (quick), its
    profile written beside the warehouse."""
    warehouse = folder / "spotify.duckdb"
    mlflow_dir = folder / "mlflow"
    profile = folder / "profile.md"
    result = run_cli(
        "run", "--raw", str(raw_csv), "--warehouse", str(warehouse),
        "--cv-repeats", "1", "--permutations", "3", "--profile", str(profile),
        *[option for name in configs for option in ("--config", name)],
        env=cli_env(mlflow_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return PipelineRun(raw_csv, configs, warehouse, mlflow_dir, result, profile)


@contextmanager
def warehouse_held_by_another_process(warehouse: Path) -> Iterator[None]:
    """A second process keeps the DuckDB file open read-write (like a DuckDB shell) meanwhile."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys
            connection = duckdb.connect({str(warehouse)!r})
            print("locked", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate("")
