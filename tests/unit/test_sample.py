import csv
import io

import numpy as np
import pytest

from ml.errors import UserError
from ml.raw_file import RAW_COLUMNS
from ml.sample import BLOCK_ROWS, CORRUPTED_STREAMS, write_sample
from ml.settings import SAMPLE_CSV


def test_generator_reproduces_the_bundled_sample_byte_for_byte(tmp_path):
    regenerated = tmp_path / "sample.csv"
    write_sample(regenerated)
    assert regenerated.read_bytes() == SAMPLE_CSV.read_bytes()


def test_another_seed_gives_other_data(tmp_path):
    write_sample(tmp_path / "one.csv", rows=50, seed=1)
    write_sample(tmp_path / "two.csv", rows=50, seed=2)
    assert (tmp_path / "one.csv").read_bytes() != (tmp_path / "two.csv").read_bytes()


def parsed(path=SAMPLE_CSV) -> list[dict[str, str]]:
    text = path.read_bytes().decode("latin-1")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def parsed_sample() -> list[dict[str, str]]:
    return parsed(SAMPLE_CSV)


def test_sample_has_the_raw_file_format():
    raw = SAMPLE_CSV.read_bytes()
    assert raw.startswith(",".join(RAW_COLUMNS).encode() + b"\r\n")
    assert raw.count(b"\r\n") == raw.count(b"\n")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # latin-1 bytes, as in the real file
    assert b'"1,' in raw or b'"2,' in raw  # quoted thousands separators


def test_sample_carries_every_quirk_of_the_real_file():
    rows = parsed_sample()
    assert 300 <= len(rows) <= 500
    assert sum(row["streams"] == CORRUPTED_STREAMS for row in rows) == 1
    assert (
        sum(row["streams"] == "2762" and row["in_spotify_playlists"] == "763" for row in rows) == 1
    )
    assert sum(row["key"] == "" for row in rows) > len(rows) * 0.05
    assert sum(row["in_shazam_charts"] == "" for row in rows) > 0
    pairs = [(row["track_name"], row["artist(s)_name"]) for row in rows]
    assert len(pairs) - len(set(pairs)) == 4


def test_too_few_rows_is_refused(tmp_path):
    with pytest.raises(UserError, match="at least 30"):
        write_sample(tmp_path / "tiny.csv", rows=5)


def test_a_larger_file_keeps_the_quirk_rates_and_the_signal(tmp_path):
    rows = 20 * BLOCK_ROWS + 500
    path = tmp_path / "large.csv"
    assert write_sample(path, rows=rows, seed=7) == rows
    data = parsed(path)
    assert len(data) == rows
    blocks = 21  # 20 whole blocks of 953 rows and a part holding every quirk offset
    assert sum(row["streams"] == CORRUPTED_STREAMS for row in data) == blocks
    pairs = [(row["track_name"], row["artist(s)_name"]) for row in data]
    assert len(pairs) - len(set(pairs)) == 4 * blocks
    assert 0.08 < sum(row["key"] == "" for row in data) / rows < 0.12
    with_separator = sum("," in row["in_deezer_playlists"] for row in data)
    assert 0.06 < with_separator / rows < 0.10

    numeric = [row for row in data if row["streams"].isdigit() and row["streams"] != "2762"]
    log_streams = np.log([float(row["streams"]) for row in numeric])
    log_playlists = np.log([float(row["in_spotify_playlists"]) for row in numeric])
    danceability = np.array([float(row["danceability_%"]) for row in numeric])
    assert np.corrcoef(log_streams, log_playlists)[0, 1] > 0.6
    assert abs(np.corrcoef(log_streams, danceability)[0, 1]) < 0.05
