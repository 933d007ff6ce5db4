"""What the app reads, each on a short read-only connection, cached for a short while.

The app never holds the DuckDB file open between reads, so `cli.py build` and `cli.py train`
can run while it is open; after they finish, the app shows the new data within TTL_SECONDS.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ml import warehouse
from ml.settings import Paths, resolve_paths

TTL_SECONDS = 30


def paths() -> Paths:
    return resolve_paths()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def query(sql: str, parameters: tuple = ()) -> pd.DataFrame:
    return warehouse.read_sql(paths().warehouse, sql, list(parameters))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def table(name: str) -> pd.DataFrame:
    return warehouse.read_table(paths().warehouse, name)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def has_runs() -> bool:
    return warehouse.has_table(paths().warehouse, "ml.runs")


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def model_versions() -> pd.DataFrame:
    """Registered versions with their champion flag (ml.model_versions); empty before the
    first training."""
    return warehouse.read_model_versions(paths().warehouse)
