"""Entry point of the Streamlit app: `python cli.py app` runs `streamlit run` on this file."""

from __future__ import annotations

import streamlit as st

from ml.app import data, experiments, explore, overview, predict_page
from ml.errors import UserError

st.set_page_config(page_title="Spotify popularity", layout="wide")
page = st.navigation([
    st.Page(overview.render, title="Overview", url_path="overview", default=True),
    st.Page(explore.render, title="Explore", url_path="explore"),
    st.Page(predict_page.render, title="Predict", url_path="predict"),
    st.Page(experiments.render, title="Experiments", url_path="experiments"),
])  # fmt: skip
try:
    data.forget_if_changed()
    page.run()
except UserError as error:
    st.error(str(error))
