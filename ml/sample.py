"""Seeded generator of synthetic songs in the raw Kaggle file's exact format and quirks.

The bundled sample (warehouse/sample/) is this generator's output for the default seed and
size; `cli.py make-sample` rewrites it byte for byte. The numbers are invented, but streams
depend on playlist counts and song age roughly as in the real file, so models learn something.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ml.raw_file import RAW_COLUMNS

DEFAULT_ROWS = 400
DEFAULT_SEED = 2023
SNAPSHOT_YEAR = 2023
KEYS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
WORDS = [
    "Love", "Night", "Summer", "Fire", "Dance", "Heart", "Dream", "Rain", "Gold", "Moon",
    "Corazón", "Niña", "Mañana", "Café", "Señorita", "Été", "Noël", "Fiesta", "Baby", "Frï¿½ï¿½gil",
]  # fmt: skip
FIRST_NAMES = ["Ana", "Leo", "Zoé", "Mia", "Kai", "José", "Lía", "Max", "Noa", "Iván"]
LAST_NAMES = ["Rivera", "Stone", "Müller", "Kim", "Björk", "Santos", "Lee", "Núñez", "Gray"]
CORRUPTED_STREAMS = "BPM110KeyAModeMajorDanceability53Valence75Energy69Acousticness7"


def _artist_pool(rng: np.random.Generator, size: int) -> list[str]:
    names = {f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(size * 3)}
    return sorted(names)[:size]


def _track_names(rng: np.random.Generator, rows: int) -> list[str]:
    names = []
    for row in range(rows):
        words = rng.choice(WORDS, size=int(rng.integers(1, 4)), replace=False)
        names.append(" ".join(words) + f" {row + 1}")
    return names


def _thousands(value: int) -> str:
    """The raw file writes some counts with a thousands separator (then quoted by csv)."""
    return f"{value:,}"


def generate_rows(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> list[list[str]]:
    """Data rows (as text, in RAW_COLUMNS order) with the raw file's quirks.

    Quirks, at roughly the real file's rates: missing `key` (10 %) and `in_shazam_charts`
    (5 %), thousands separators in large deezer/shazam counts, one corrupted `streams`
    cell, one implausibly low `streams` value, and 4 duplicated tracks (counts differ).
    """
    if rows < 20:
        raise ValueError(f"rows must be at least 20 to hold every quirk, got {rows}")
    rng = np.random.default_rng(seed)
    artists = _artist_pool(rng, max(10, rows // 4))
    track_names = _track_names(rng, rows)

    recent = rng.random(rows) < 0.6
    released_year = np.where(
        recent, rng.integers(2022, SNAPSHOT_YEAR + 1, rows), rng.integers(1970, 2022, rows)
    )
    released_month = rng.integers(1, 13, rows)
    released_month = np.where(
        released_year == SNAPSHOT_YEAR, rng.integers(1, 8, rows), released_month
    )
    released_day = rng.integers(1, 29, rows)
    age_years = SNAPSHOT_YEAR - released_year

    log_playlists = 6.3 + 0.09 * np.minimum(age_years, 25) + rng.normal(0, 1.0, rows)
    spotify_playlists = np.clip(np.exp(log_playlists), 30, 60000).astype(int)
    log_streams = 14.2 + 0.75 * np.log(spotify_playlists) - 0.01 * age_years
    log_streams = log_streams + rng.normal(0, 0.45, rows)
    streams = np.exp(log_streams).astype(np.int64)
    popularity = (log_streams - log_streams.mean()) / log_streams.std()

    apple_playlists = np.clip(spotify_playlists * rng.uniform(0.01, 0.05, rows), 0, 700).astype(int)
    deezer_playlists = np.clip(spotify_playlists * rng.uniform(0.02, 0.2, rows), 0, 12000).astype(
        int
    )
    chart_strength = np.clip(recent * 60 + 20 * popularity + rng.normal(0, 30, rows), 0, None)
    spotify_charts = np.where(rng.random(rows) < 0.5, 0, chart_strength).astype(int)
    apple_charts = np.clip(chart_strength * rng.uniform(0.5, 2.5, rows), 0, 275).astype(int)
    deezer_charts = np.where(rng.random(rows) < 0.6, 0, chart_strength / 8).astype(int)
    shazam_charts = np.where(rng.random(rows) < 0.4, 0, chart_strength * rng.uniform(1, 20, rows))
    shazam_charts = shazam_charts.astype(int)

    artist_count = np.where(rng.random(rows) < 0.7, 1, rng.integers(2, 5, rows))
    bpm = np.clip(rng.normal(122, 28, rows), 65, 206).astype(int)
    audio = {
        "danceability_%": np.clip(rng.normal(67, 14, rows), 23, 96),
        "valence_%": np.clip(rng.normal(51, 23, rows), 4, 97),
        "energy_%": np.clip(rng.normal(64, 16, rows), 9, 97),
        "acousticness_%": np.clip(rng.exponential(27, rows), 0, 97),
        "instrumentalness_%": np.where(rng.random(rows) < 0.9, 0, rng.integers(1, 91, rows)),
        "liveness_%": np.clip(rng.gamma(2.5, 7, rows), 3, 97),
        "speechiness_%": np.clip(rng.gamma(1.5, 7, rows), 2, 64),
    }
    key = rng.choice(KEYS, rows)
    key_missing = rng.random(rows) < 0.10
    shazam_missing = rng.random(rows) < 0.05
    mode = np.where(rng.random(rows) < 0.55, "Major", "Minor")

    data = []
    for i in range(rows):
        credited = [
            artists[int(j)] for j in rng.choice(len(artists), artist_count[i], replace=False)
        ]
        data.append([
            track_names[i],
            ", ".join(credited),
            str(artist_count[i]),
            str(released_year[i]),
            str(released_month[i]),
            str(released_day[i]),
            str(spotify_playlists[i]),
            str(spotify_charts[i]),
            str(streams[i]),
            str(apple_playlists[i]),
            str(apple_charts[i]),
            _thousands(int(deezer_playlists[i])),
            str(deezer_charts[i]),
            "" if shazam_missing[i] else _thousands(int(shazam_charts[i])),
            str(bpm[i]),
            "" if key_missing[i] else str(key[i]),
            str(mode[i]),
            *[str(int(round(values[i]))) for values in audio.values()],
        ])  # fmt: skip

    streams_column = RAW_COLUMNS.index("streams")
    data[rows // 2][streams_column] = CORRUPTED_STREAMS
    implausible = data[rows // 3]
    implausible[RAW_COLUMNS.index("in_spotify_playlists")] = "763"
    implausible[streams_column] = "2762"
    for offset, original in enumerate(range(1, rows, rows // 4)[:4]):
        copy = list(data[original])
        copy[streams_column] = str(int(copy[streams_column]) - 1000 * (offset + 1))
        data.insert(min(len(data), original + rows // 8), copy)
    return data


def write_sample(path: Path, rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> int:
    """Write the CSV as the raw file is: latin-1, CRLF, minimal quoting. Returns the data rows."""
    data = generate_rows(rows, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="latin-1", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(RAW_COLUMNS)
        writer.writerows(data)
    return len(data)
