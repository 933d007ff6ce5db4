"""Explore page: correlations, distributions and top tracks, filtered by year and artist."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ml import plots
from ml.app import data

MATCHING_TRACKS = """
from marts.tracks
where year(released_date) between ? and ? and artist_names ilike ? escape '\\'
"""
TOP_TRACKS = 50
TOP_TRACKS_SQL = f"""
select
    track_name, artist_names, released_date, streams, in_spotify_playlists, bpm,
    danceability_pct, valence_pct, energy_pct, acousticness_pct, instrumentalness_pct,
    liveness_pct, speechiness_pct
{MATCHING_TRACKS}
order by streams desc
limit {TOP_TRACKS}
"""
# How many tracks match, and the chosen value's histogram over them: 30 bins of equal width from
# its lowest value to its highest, each counted under its upper edge. DuckDB does the counting,
# so the page reads a few dozen numbers however many tracks the warehouse holds.
DISTRIBUTION_SQL = f"""
with
    matching as (select {{value}}::double as value {MATCHING_TRACKS}),
    bounds as (select count(*) as tracks, min(value) as low, max(value) as high from matching)
select tracks, low, high, histogram(value, equi_width_bins(low, high, 30, false)) as bins
from matching, bounds
group by all
"""
DISTRIBUTIONS = {  # the label shown -> the value binned
    "log10(streams)": "log10(greatest(streams, 1))",
    **{column: column for column in (
        "bpm", "danceability_pct", "valence_pct", "energy_pct", "acousticness_pct",
        "instrumentalness_pct", "liveness_pct", "speechiness_pct", "in_spotify_playlists",
    )},
}  # fmt: skip


def containing(text: str) -> str:
    """The ILIKE pattern (escape '\\') of the names that contain `text` as typed."""
    escaped = text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
    return f"%{escaped}%"


@st.cache_data(show_spinner=False)
def correlation_png(correlations: pd.DataFrame) -> bytes:
    """Drawn once per build rather than on every change of a filter (~0.2 s each)."""
    return plots.png_bytes(plots.correlation_figure(correlations))


def render() -> None:
    st.title("Explore the clean tracks")
    years = data.query("select min(year(released_date)) as low, "
                       "max(year(released_date)) as high from marts.tracks")  # fmt: skip
    if years["low"].isna().all():
        st.info("No clean tracks: the build rejected every raw row (the Overview lists why).")
        return
    low, high = int(years["low"].iloc[0]), int(years["high"].iloc[0])

    correlations = data.table("marts.feature_correlations")
    st.subheader("Correlation of each feature with log streams")
    st.image(correlation_png(correlations))
    st.dataframe(correlations.sort_values("pearson_r", key=abs, ascending=False).round(3),
                 hide_index=True)  # fmt: skip

    st.subheader("Filter")
    chosen_years = st.slider("Release year", low, high, (low, high)) if low < high else (low, high)
    artist = st.text_input("Artist name contains", "")
    matching = (*chosen_years, containing(artist))

    st.subheader("Distribution")
    label = st.selectbox("Column", list(DISTRIBUTIONS))
    distribution = data.query(DISTRIBUTION_SQL.format(value=DISTRIBUTIONS[label]), matching)
    tracks = int(distribution["tracks"].iloc[0]) if len(distribution) else 0
    st.caption(f"{tracks:,} tracks match")
    if tracks and distribution["bins"].iloc[0] is not None:
        shown = distribution.iloc[0]
        counts = [shown["bins"][edge] for edge in sorted(shown["bins"])]
        st.bar_chart({label: counts}, x_label=label, y_label="tracks")
        st.caption(f"{label}: bins from {shown['low']:.1f} to {shown['high']:.1f}")

    st.subheader(f"Top {TOP_TRACKS} tracks by streams")
    st.dataframe(data.query(TOP_TRACKS_SQL, matching), hide_index=True)
