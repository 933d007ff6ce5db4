"""Shared fixtures: the real Kaggle file and whole-pipeline runs on it and on the bundled sample.

Tests live by kind: `unit/` (no dbt, CLI or browser: `pytest tests/unit`, the fast tier, is also
`pytest -m "not slow"`), `integration/` (dbt builds and the CLI on small files), `e2e/` (whole
pipeline runs, the app in a browser), `spark/` (the Spark engine: `pytest -m spark`); helpers
in `support/`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime, so the limit below reaches it)
from threadpoolctl import threadpool_limits

from ml.config import DEFAULT_RUN
from ml.settings import SAMPLE_CSV
from support.cpu_profile import pytest_addoption, pytest_configure  # noqa: F401 (--cpu-profile=)
from support.runs import PipelineRun, pipeline_run

REAL_CSV_ENV = "SPOTIFY_REAL_CSV"


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


@pytest.fixture(scope="session", autouse=True)
def one_thread_in_test_workers():
    """Models fitted inside a test use one OpenMP/BLAS thread. The two test workers and the
    dbt, CLI and training processes they start already fill both cores, and a fit on its
    libraries' default thread per core spins against them, at up to twice the CPU time
    (docs/performance/README.md). Processes a test starts keep their defaults, as a user's do."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> PipelineRun:
    return pipeline_run(SAMPLE_CSV, tmp_path_factory.mktemp("sample_run"), SAMPLE_RUN_CONFIGS)


@pytest.fixture(scope="session")
def real_run(real_csv, tmp_path_factory) -> PipelineRun:
    return pipeline_run(real_csv, tmp_path_factory.mktemp("real_run"), REAL_RUN_CONFIGS)


UNIT_TESTS = Path(__file__).parent / "unit"
SPARK_TESTS = Path(__file__).parent / "spark"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items) -> None:
    """Under `pytest -n 2 --dist loadgroup` (pytest.ini), the tests that share a whole-pipeline
    run go to one worker, so each run is made once; the other tests spread over both. Marks
    everything outside unit/ as the slow tier, and the tests in spark/ as spark (one worker:
    they share its Spark builds)."""
    for item in items:
        if SPARK_TESTS in item.path.parents:
            item.add_marker(pytest.mark.spark)
            item.add_marker(pytest.mark.xdist_group("spark"))
        for fixture in ("sample_run", "real_run"):
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(fixture))
                break
        if UNIT_TESTS not in item.path.parents:
            item.add_marker(pytest.mark.slow)
