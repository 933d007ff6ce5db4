"""Explore page: correlations, distributions and top tracks, filtered by year and artist."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ml import plots
from ml.app import data

TRACKS_SQL = """
select
    track_name, artist_names, released_date, streams, in_spotify_playlists, bpm,
    danceability_pct, valence_pct, energy_pct, acousticness_pct, instrumentalness_pct,
    liveness_pct, speechiness_pct
from marts.tracks
where year(released_date) between ? and ? and artist_names ilike ? escape '\\'
order by streams desc
"""
DISTRIBUTION_COLUMNS = [
    "streams", "bpm", "danceability_pct", "valence_pct", "energy_pct", "acousticness_pct",
    "instrumentalness_pct", "liveness_pct", "speechiness_pct", "in_spotify_playlists",
]  # fmt: skip


def render() -> None:
    st.title("Explore the clean tracks")
    correlations = data.table("marts.feature_correlations")
    st.subheader("Correlation of each feature with log streams")
    st.image(plots.png_bytes(plots.correlation_figure(correlations)))  # closes the figure
    st.dataframe(correlations.sort_values("pearson_r", key=abs, ascending=False).round(3),
                 hide_index=True)  # fmt: skip

    years = data.query("select min(year(released_date)) as low, "
                       "max(year(released_date)) as high from marts.tracks")  # fmt: skip
    low, high = int(years["low"].iloc[0]), int(years["high"].iloc[0])
    st.subheader("Filter")
    chosen_years = st.slider("Release year", low, high, (low, high)) if low < high else (low, high)
    artist = st.text_input("Artist name contains", "").replace("%", r"\%").replace("_", r"\_")
    tracks = data.query(TRACKS_SQL, (*chosen_years, f"%{artist}%"))
    st.caption(f"{len(tracks):,} tracks match")

    st.subheader("Distribution")
    column = st.selectbox("Column", DISTRIBUTION_COLUMNS)
    values = tracks[column].dropna()
    if len(values):
        shown = np.log10(values.clip(lower=1)) if column == "streams" else values
        counts, edges = np.histogram(shown, bins=30)
        label = "log10(streams)" if column == "streams" else column
        st.bar_chart({label: counts}, x_label=label, y_label="tracks")
        st.caption(f"{label}: bins from {edges[0]:.1f} to {edges[-1]:.1f}")

    st.subheader("Top tracks by streams")
    st.dataframe(tracks.head(50), hide_index=True)
