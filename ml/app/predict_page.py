"""Predict page: describe a new song, score it with the champion models.

The song is written as one row of the raw Kaggle CSV and scored by ml.predict.score_csv, the
function behind `cli.py predict`: the same dbt feature SQL (the build's, run in memory), the
same champions as SQL macros (kept loaded while they are current).
"""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import date
from pathlib import Path

import streamlit as st

from ml.app import data
from ml.raw_file import RAW_COLUMNS

KEYS = ["A", "A#", "B", "C#", "D", "D#", "E", "F", "F#", "G", "G#"]
BLANK_KEY = "(blank, as C is in the Kaggle file)"
# A typical song of the Kaggle file (medians, rounded); the form starts from it.
DEFAULT_SONG = {
    "track_name": "My new song", "artist(s)_name": "New Artist", "artist_count": 1,
    "released_date": date(2022, 5, 13), "in_spotify_playlists": 2200, "in_spotify_charts": 3,
    "in_apple_playlists": 34, "in_apple_charts": 38, "in_deezer_playlists": 44,
    "in_deezer_charts": 0, "in_shazam_charts": 2, "bpm": 121, "key": "C#", "mode": "Major",
    "danceability_%": 69, "valence_%": 51, "energy_%": 66, "acousticness_%": 18,
    "instrumentalness_%": 0, "liveness_%": 12, "speechiness_%": 6,
}  # fmt: skip
COUNT_LABELS = {
    "in_spotify_playlists": "Spotify playlists", "in_spotify_charts": "Spotify chart rank",
    "in_apple_playlists": "Apple Music playlists", "in_apple_charts": "Apple Music chart rank",
    "in_deezer_playlists": "Deezer playlists", "in_deezer_charts": "Deezer chart rank",
    "in_shazam_charts": "Shazam chart rank",
}  # fmt: skip
PERCENT_LABELS = {
    "danceability_%": "Danceability %", "valence_%": "Valence %", "energy_%": "Energy %",
    "acousticness_%": "Acousticness %", "instrumentalness_%": "Instrumentalness %",
    "liveness_%": "Liveness %", "speechiness_%": "Speechiness %",
}  # fmt: skip


def raw_csv_text(song: dict) -> str:
    """The song as the raw Kaggle file would hold it: header + one row, streams blank."""
    released = song["released_date"]
    row = {
        **{name: song.get(name, "") for name in RAW_COLUMNS},
        "released_year": released.year, "released_month": released.month,
        "released_day": released.day, "streams": "",
    }  # fmt: skip
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RAW_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    return buffer.getvalue()


def song_form() -> dict | None:
    """The form; returns the song when Predict is pressed."""
    song = dict(DEFAULT_SONG)
    with st.form("song"):
        left, middle, right = st.columns(3)
        song["track_name"] = left.text_input("Track name", DEFAULT_SONG["track_name"])
        song["artist(s)_name"] = left.text_input("Artists", DEFAULT_SONG["artist(s)_name"])
        song["artist_count"] = left.number_input("Number of artists", 1, 20, 1)
        song["released_date"] = left.date_input(
            "Release date", DEFAULT_SONG["released_date"], min_value=date(1900, 1, 1)
        )
        key = left.selectbox("Key", [*KEYS, BLANK_KEY], index=KEYS.index(DEFAULT_SONG["key"]))
        song["key"] = "" if key == BLANK_KEY else key
        song["mode"] = left.selectbox("Mode", ["Major", "Minor"])
        song["bpm"] = left.number_input("Beats per minute", 1, 400, DEFAULT_SONG["bpm"])
        for name, label in COUNT_LABELS.items():
            song[name] = middle.number_input(label, 0, 10_000_000, DEFAULT_SONG[name])
        for name, label in PERCENT_LABELS.items():
            song[name] = right.slider(label, 0, 100, DEFAULT_SONG[name])
        song["explain"] = st.checkbox("Explain the prediction (SHAP; the first time takes "
                                      "several seconds)")  # fmt: skip
        submitted = st.form_submit_button("Predict", type="primary")
    return song if submitted else None


@st.cache_data(show_spinner=False)
def scorer_state() -> str:
    """The build's scoring SQL and the champion versions, as one text; looked up again only
    once the warehouse has changed (data.forget_if_changed), so a new build or champion
    reaches the page without reloading the scorer per song."""
    from ml import warehouse

    needed = ("ml.scoring_sql", "ml.model_versions")
    path = data.paths().warehouse
    # One opening of the warehouse for the three reads (each opening parses the scoring
    # macros: tens of ms).
    with warehouse.snapshot(path):
        if not all(warehouse.has_table(path, table) for table in needed):
            return ""  # load_scorer says what is missing
        return warehouse.read_sql(path, """
            select coalesce((select md5(string_agg(sql, ';' order by position))
                             from ml.scoring_sql), '') || ' ' ||
                   coalesce((select string_agg(model_name || ' v' || version, ', ' order by task)
                             from ml.model_versions where is_champion), '') as state
        """, [])["state"].iloc[0]  # fmt: skip


@st.cache_resource(max_entries=1, show_spinner=False)
def scorer(state: str):
    """The scoring SQL and the champions' macros, read once per `state` and kept loaded."""
    from ml.predict import load_scorer

    return load_scorer(data.paths())


@st.cache_data(max_entries=100, show_spinner=False)
def score(csv_text: str, state: str, explain: bool = False):
    from ml.predict import score_csv

    with tempfile.TemporaryDirectory(prefix="spotify-app-") as folder:
        path = Path(folder) / "new-song.csv"
        path.write_text(csv_text, encoding="utf-8")
        return score_csv(path, scorer(state), lambda message: None, explain=explain)


def show_explanation(contributions) -> None:
    """One waterfall per task: from the model's base value to this song's prediction."""
    from ml.plots import waterfall_figure

    st.subheader("Why")
    outputs = {"regression": "log streams", "classification": "top-decile score (log-odds; "
               "a forest's probability)"}  # fmt: skip
    for task, label in outputs.items():
        rows = contributions[contributions["task"] == task]
        st.pyplot(waterfall_figure(rows, label), clear_figure=True)


def render() -> None:
    st.title("Predict a new song's popularity")
    st.caption(
        "Playlist and chart counts are measured at the same time as streams: they describe how "
        "popular a song already is, so these are not forecasts made before release."
    )
    song = song_form()
    if song is None:
        # The scorer is loaded, and the form's song scored, with the page: a process's first
        # scoring pays ~30 ms of DuckDB's first use, which the first press then does not.
        score(raw_csv_text(DEFAULT_SONG), scorer_state())
        st.info("Set the song's values and press Predict.")
        return
    explain = song.pop("explain")
    csv_text = raw_csv_text(song)
    with st.spinner("Computing features with the dbt SQL and scoring with the champions"):
        scored = score(csv_text, scorer_state(), explain)
    for row in scored.rejected.itertuples():
        st.error(f"Rejected: {row.reject_reason} ({row.rejected_field} = {row.rejected_value})")
    if scored.predictions.empty:
        return
    result = scored.predictions.iloc[0]
    left, right = st.columns(2)
    left.metric("Predicted streams", f"{result['predicted_streams']:,.0f}")
    left.caption(f"{scored.interval_level:.0%} prediction interval: "
                 f"{result['predicted_streams_lower']:,.0f} to "
                 f"{result['predicted_streams_upper']:,.0f} streams")  # fmt: skip
    right.metric("Chance of the top 10 % by streams", f"{result['top_decile_probability']:.1%}")
    verdict = "yes" if result["is_predicted_top_decile"] else "no"
    st.markdown(
        f"Exact values: predicted log streams `{result['predicted_log_streams']:.6f}` · "
        f"top-decile probability `{result['top_decile_probability']:.6f}` · "
        f"predicted top decile: **{verdict}**"
    )
    if result["outside_training_range"]:
        st.warning("Unlike the songs the models were trained on: "
                   f"{result['outside_training_range']}. Trust this prediction less.")  # fmt: skip
    if scored.contributions is not None:
        show_explanation(scored.contributions)
    st.caption(f"Models: {scored.model_versions['regression']} (regression), "
               f"{scored.model_versions['classification']} (classification)")  # fmt: skip
    st.download_button("This song as a raw CSV row", csv_text, "new-song.csv", "text/csv")
    st.caption("Score the same file from the shell: `python cli.py predict --input new-song.csv`")
