"""Shared fixtures: the bundled sample, the real Kaggle file, and whole-pipeline runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml.config import DEFAULT_RUN
from ml.settings import PROJECT_ROOT, SAMPLE_CSV

REAL_CSV_ENV = "SPOTIFY_REAL_CSV"


@dataclass(frozen=True)
class PipelineRun:
    """A finished `cli.py run` into a temporary warehouse and MLflow store."""

    raw_csv: Path
    config_names: tuple[str, ...]
    warehouse: Path
    mlflow_dir: Path
    result: subprocess.CompletedProcess

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


# On the real file the whole-pipeline test trains every model type and every kind of step
# (threshold search, permutation test, nested search) once; their metrics are pinned
# (tests/data/real_run_metrics.json). experiment_1 and experiment_2 of the default run are
# left out: the baseline's random forest on other features. On the sample, one config per
# kind. The 24-config grid itself is unit-tested (test_config.py), the nested search in
# test_search.py.
REAL_RUN_CONFIGS = (
    *[name for name in DEFAULT_RUN if name not in ("experiment_1", "experiment_2")],
    "full_regression_search",
    "classification_audio_logistic_regression",
)
SAMPLE_RUN_CONFIGS = (
    "experiment_2",
    "full_regression",
    "full_classification",
    "regression_audio_ridge",
)


def _pipeline_run(raw_csv: Path, folder: Path, configs: tuple[str, ...]) -> PipelineRun:
    """`cli.py run` of `configs` with 1 CV repeat and 3 label permutations (quick)."""
    warehouse = folder / "spotify.duckdb"
    mlflow_dir = folder / "mlflow"
    result = run_cli(
        "run", "--raw", str(raw_csv), "--warehouse", str(warehouse),
        "--cv-repeats", "1", "--permutations", "3",
        *[option for name in configs for option in ("--config", name)],
        env=cli_env(mlflow_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return PipelineRun(raw_csv, configs, warehouse, mlflow_dir, result)


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


@pytest.fixture(scope="session")
def real_csv() -> Path:
    """The original Kaggle file from env SPOTIFY_REAL_CSV; under CI a missing file fails."""
    value = os.environ.get(REAL_CSV_ENV)
    path = Path(value).expanduser().resolve() if value else None
    if path is None or not path.is_file():
        message = f"real Kaggle file not available (set {REAL_CSV_ENV}; got {value!r})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> PipelineRun:
    return _pipeline_run(SAMPLE_CSV, tmp_path_factory.mktemp("sample_run"), SAMPLE_RUN_CONFIGS)


@pytest.fixture(scope="session")
def real_run(real_csv, tmp_path_factory) -> PipelineRun:
    return _pipeline_run(real_csv, tmp_path_factory.mktemp("real_run"), REAL_RUN_CONFIGS)


# Modules whose tests start dbt, the CLI or a browser; with the tests that share a
# whole-pipeline run they are the `slow` tier (`pytest -m "not slow"` runs the rest).
SLOW_MODULES = {"test_app", "test_bad_input", "test_bench", "test_dbt_docs",
                "test_example_queries", "test_warehouse"}  # fmt: skip


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items) -> None:
    """Under `pytest -n 2 --dist loadgroup` (pytest.ini), the tests that share a whole-pipeline
    run go to one worker, so each run is made once; the other tests spread over both. Marks
    the slow tier."""
    for item in items:
        for fixture in ("sample_run", "real_run"):
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(fixture))
                item.add_marker(pytest.mark.slow)
                break
        if item.module.__name__ in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
