import csv
import io

import pytest

from ml.raw_file import RAW_COLUMNS
from ml.sample import CORRUPTED_STREAMS, generate_rows, write_sample
from ml.settings import SAMPLE_CSV


def test_generator_reproduces_the_bundled_sample_byte_for_byte(tmp_path):
    regenerated = tmp_path / "sample.csv"
    write_sample(regenerated)
    assert regenerated.read_bytes() == SAMPLE_CSV.read_bytes()


def test_another_seed_gives_other_data():
    assert generate_rows(50, seed=1) != generate_rows(50, seed=2)


def parsed_sample() -> list[dict[str, str]]:
    text = SAMPLE_CSV.read_bytes().decode("latin-1")
    return list(csv.DictReader(io.StringIO(text, newline="")))


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


def test_too_few_rows_is_refused():
    with pytest.raises(ValueError, match="at least 20"):
        generate_rows(5)
