"""The raw Kaggle CSV format, and a check of a file before dbt reads it (encoding, delimiter,
header), so a bad file ends as one clear line instead of a SQL error halfway through a build."""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path

from ml.errors import UserError

RAW_COLUMNS = [
    "track_name", "artist(s)_name", "artist_count", "released_year", "released_month",
    "released_day", "in_spotify_playlists", "in_spotify_charts", "streams",
    "in_apple_playlists", "in_apple_charts", "in_deezer_playlists", "in_deezer_charts",
    "in_shazam_charts", "bpm", "key", "mode", "danceability_%", "valence_%", "energy_%",
    "acousticness_%", "instrumentalness_%", "liveness_%", "speechiness_%",
]  # fmt: skip
SNIFF_BYTES = 1 << 20


@dataclass(frozen=True)
class RawFileFormat:
    encoding: str  # a DuckDB read_csv encoding: 'utf-8' or 'latin-1'
    columns: list[str]


def detect_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as UTF-8, else latin-1 (Kaggle's)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut by the end of the sample is still UTF-8.
        if error.start < len(head) - 3:
            return "latin-1"
    return "utf-8"


def inspect_raw_csv(path: Path) -> RawFileFormat:
    """The file's encoding and header; UserError naming the file when it cannot be the raw data."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip():
        raise UserError(f"{path}: the file is empty")
    if b"\x00" in head:
        raise UserError(f"{path}: not a CSV file (binary content)")
    encoding = detect_encoding(head)
    text = head.decode("utf-8-sig" if encoding == "utf-8" else "latin-1", errors="replace")
    first_line = text.splitlines()[0]
    header = next(csv.reader([first_line]))
    header = [name.strip() for name in header]
    missing = [name for name in RAW_COLUMNS if name not in header]
    if len(header) == 1 and ";" in first_line:
        raise UserError(f"{path}: columns are separated by ';', expected ',' (re-save as CSV)")
    if missing == RAW_COLUMNS:
        raise UserError(
            f"{path}: not the Kaggle spotify-2023 CSV format (none of its columns in line 1)"
        )
    if missing:
        raise UserError(f"{path}: required column(s) missing: {', '.join(missing)}")
    if len(text.splitlines()) < 2 and len(head) < SNIFF_BYTES:
        raise UserError(f"{path}: the file has a header but no data rows")
    return RawFileFormat(encoding=encoding, columns=header)
