"""Overview page: the dataset behind the warehouse and the champion models."""

from __future__ import annotations

import streamlit as st

from ml.app import data
from ml.summaries import REJECT_REASONS_SQL


def render() -> None:
    st.title("Spotify popularity: overview")
    dataset = data.table("audit.build_dataset").iloc[0]
    st.caption(f"Warehouse: {data.paths().warehouse}")
    columns = st.columns(3)
    columns[0].metric("Raw rows", f"{dataset['raw_rows']:,}")
    columns[1].metric("Clean tracks", f"{dataset['clean_rows']:,}")
    columns[2].metric("Rejected rows", f"{dataset['rejected_rows']:,}")
    st.markdown(
        f"**Dataset** `{dataset['dataset_name']}` · sha256 `{dataset['dataset_sha256']}` · "
        f"built {dataset['built_at']:%Y-%m-%d %H:%M}"
    )
    reasons = data.query(REJECT_REASONS_SQL)
    st.subheader("Rejected rows, by reason")
    if reasons.empty:
        st.write("No row was rejected.")
    else:
        st.dataframe(reasons, hide_index=True)

    st.subheader("Champion models")
    versions = data.model_versions()
    if versions.empty:
        st.info("No trained models yet: run `python cli.py train --all`.")
        return
    champions = versions[versions["is_champion"]]
    st.dataframe(
        champions[["model_name", "version", "config_name", "cv_score", "dataset_sha256", "run_id"]],
        hide_index=True,
    )
    st.caption("A new version becomes champion only if its cross-validated score beats the "
               "champion's on the same dataset.")  # fmt: skip
