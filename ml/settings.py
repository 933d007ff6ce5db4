"""Where things live. Every path comes from here, built on the project root; env vars override."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ml.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
WAREHOUSE_DIR = PROJECT_ROOT / "warehouse"
SAMPLE_CSV = WAREHOUSE_DIR / "sample" / "spotify-2023-sample.csv"
APP_SCRIPT = PROJECT_ROOT / "ml" / "app" / "main.py"
DEFAULT_RAW_CSV = WAREHOUSE_DIR / "raw" / "spotify-2023.csv"
# The file names `cli.py report` and `bench` write, unless their --out names another.
REPORT_FILE = "report.html"
BENCH_FILE = "bench.md"  # and its JSON beside it

WAREHOUSE_ENV = "SPOTIFY_WAREHOUSE"
RAW_CSV_ENV = "SPOTIFY_RAW_CSV"
RAW_ENCODING_ENV = "SPOTIFY_RAW_ENCODING"
RAW_SHA256_ENV = "SPOTIFY_RAW_SHA256"
RAW_PARALLEL_ENV = "SPOTIFY_RAW_PARALLEL"
LOCK_WAIT_ENV = "SPOTIFY_LOCK_WAIT_SECONDS"
MLFLOW_DIR_ENV = "SPOTIFY_MLFLOW_DIR"
SPARK_WAREHOUSE_ENV = "SPOTIFY_SPARK_WAREHOUSE"

# DuckDB names a file's database after the file name up to its first dot, and it keeps these
# names (any case) for catalogs of its own: dbt's tables would land where plain DuckDB clients
# do not look.
RESERVED_WAREHOUSE_NAMES = ("main", "system", "temp")

# A build that rejects a larger share of the rows ends with a warning (an error under --strict).
MAX_REJECTED_SHARE = 0.05


@dataclass(frozen=True)
class Paths:
    """The state one command works on: the DuckDB file and the MLflow store beside it."""

    warehouse: Path
    mlflow_dir: Path

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def artifact_location(self) -> Path:
        return self.mlflow_dir / "mlartifacts"

    @property
    def spark_dir(self) -> Path:
        """The Spark target's tables and catalog (cli.py --engine spark), beside the DuckDB file."""
        return self.warehouse.parent / "spark"

    @property
    def reports_dir(self) -> Path:
        """Plots of each run (reports/<run_id>/) and the HTML report, beside the DuckDB file."""
        return self.warehouse.parent / "reports"


def resolve_paths(warehouse: str | Path | None = None) -> Paths:
    """--warehouse, then env SPOTIFY_WAREHOUSE, then warehouse/spotify.duckdb.

    The MLflow store sits next to the DuckDB file unless SPOTIFY_MLFLOW_DIR says otherwise,
    so a temporary warehouse gets a temporary MLflow store too.
    """
    chosen = warehouse or os.environ.get(WAREHOUSE_ENV) or WAREHOUSE_DIR / "spotify.duckdb"
    warehouse_path = Path(chosen).expanduser().resolve()
    catalog = warehouse_path.name.split(".")[0]
    if catalog.lower() in RESERVED_WAREHOUSE_NAMES:
        raise UserError(
            f"warehouse {warehouse_path}: DuckDB keeps the name '{catalog}' for a "
            "catalog of its own; choose another name"
        )
    if warehouse_path.exists() and not _is_duckdb_file(warehouse_path):
        raise UserError(
            f"warehouse {warehouse_path} is not a DuckDB file (a raw CSV goes to --raw)"
        )
    mlflow_dir = os.environ.get(MLFLOW_DIR_ENV)
    mlflow_path = Path(mlflow_dir).expanduser().resolve() if mlflow_dir else warehouse_path.parent
    for named, folder in ((f"warehouse {warehouse_path}", warehouse_path.parent),
                          (f"{MLFLOW_DIR_ENV} {mlflow_path}", mlflow_path)):  # fmt: skip
        blocker = nearest_existing(folder)
        if not blocker.is_dir():
            raise UserError(f"{named}: {blocker} is a file, not a folder")
    return Paths(warehouse=warehouse_path, mlflow_dir=mlflow_path)


def nearest_existing(path: Path) -> Path:
    """`path` if it exists, else the nearest of its parents that does."""
    while not path.exists():
        path = path.parent
    return path


def _is_duckdb_file(path: Path) -> bool:
    """DuckDB's file header: an 8-byte checksum, then the magic bytes DUCK. (DuckDB opens an
    existing .csv, .parquet or .json file as data in memory, not as a database.)"""
    try:
        with path.open("rb") as handle:
            return handle.read(12)[8:] == b"DUCK"
    except IsADirectoryError:
        return False
    except OSError:  # unreadable: DuckDB says why when it opens it
        return True
