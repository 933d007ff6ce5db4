"""What the app reads, each on a short read-only connection, cached until the warehouse changes.

The app never holds the DuckDB file open between reads, so `cli.py build` and `cli.py train`
can run while it is open. Every rerun of a page first looks at the file (`forget_if_changed`):
once a build or a training has changed it, the next rerun reads it again; until then nothing
is read twice.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from ml import warehouse
from ml.settings import Paths, resolve_paths

# Reads kept per function: a page asks for a few fixed queries and, on Explore, one per search.
MAX_ENTRIES = 100
_seen_version: tuple = ()


def paths() -> Paths:
    return resolve_paths()


def file_version(path: Path) -> tuple:
    """What changes whenever DuckDB or a build writes the warehouse: the file's identity, size
    and last write, and its write-ahead log's (a build replaces the file, a training writes
    into it)."""
    return tuple(_stamp(file) for file in (path, path.with_name(f"{path.name}.wal")))


def _stamp(file: Path) -> tuple[int, int, int] | None:
    try:
        status = file.stat()
    except FileNotFoundError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


def forget_if_changed() -> None:
    """Drop every cached read (scores included) once the warehouse file has changed."""
    global _seen_version
    version = file_version(paths().warehouse)
    if version != _seen_version:
        st.cache_data.clear()
        _seen_version = version


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def query(sql: str, parameters: tuple = ()) -> pd.DataFrame:
    return warehouse.read_sql(paths().warehouse, sql, list(parameters))


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def table(name: str) -> pd.DataFrame:
    return warehouse.read_table(paths().warehouse, name)


@st.cache_data(show_spinner=False)
def has_runs() -> bool:
    return warehouse.has_table(paths().warehouse, "ml.runs")


@st.cache_data(show_spinner=False)
def model_versions() -> pd.DataFrame:
    """Registered versions with their champion flag (ml.model_versions); empty before the
    first training."""
    return warehouse.read_model_versions(paths().warehouse)
