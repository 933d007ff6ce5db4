import gzip
import re
import zipfile

import pytest

from ml import dataset
from ml.dataset import file_sha256, resolve_raw_csv
from ml.errors import UserError
from ml.raw_file import inspect_raw_csv, unpaired_quote
from ml.settings import RAW_CSV_ENV, SAMPLE_CSV


@pytest.fixture
def no_default_raw(monkeypatch, tmp_path):
    monkeypatch.delenv(RAW_CSV_ENV, raising=False)
    monkeypatch.setattr(dataset, "DEFAULT_RAW_CSV", tmp_path / "absent.csv")


def test_option_beats_env_beats_default(no_default_raw, monkeypatch, tmp_path):
    option, env, default = (tmp_path / name for name in ("option.csv", "env.csv", "default.csv"))
    for path in (option, env, default):
        path.write_text(path.name)
    monkeypatch.setattr(dataset, "DEFAULT_RAW_CSV", default)
    monkeypatch.setenv(RAW_CSV_ENV, str(env))
    assert resolve_raw_csv(option).path == option
    assert resolve_raw_csv().path == env
    monkeypatch.delenv(RAW_CSV_ENV)
    assert resolve_raw_csv().path == default


def test_sample_is_used_only_when_nothing_is_found(no_default_raw):
    found = resolve_raw_csv()
    assert found.is_sample and found.path == SAMPLE_CSV
    assert found.sha256 == file_sha256(SAMPLE_CSV)


def test_named_but_missing_file_is_an_error_not_a_fallback(no_default_raw, monkeypatch, tmp_path):
    with pytest.raises(UserError, match="raw CSV not found: .*nope.csv \\(given by --raw\\)"):
        resolve_raw_csv(tmp_path / "nope.csv")
    monkeypatch.setenv(RAW_CSV_ENV, str(tmp_path / "gone.csv"))
    with pytest.raises(UserError, match=f"given by {RAW_CSV_ENV}"):
        resolve_raw_csv()


def test_sha256_of_a_known_file(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_compressed_or_utf16_file_is_refused_saying_what_it_is(tmp_path):
    """Kaggle downloads a zip; each of these used to be "not a CSV file (binary content)"."""
    sample = SAMPLE_CSV.read_bytes()
    archive = tmp_path / "top-spotify-songs-2023.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("spotify-2023.csv", sample)
    files = {
        archive: "a zip archive (as Kaggle downloads it): extract the CSV from it first",
        tmp_path / "spotify-2023.csv.gz": "gzip-compressed: decompress it first",
        tmp_path / "utf16.csv": "UTF-16 text: save it as UTF-8 or latin-1",
    }
    (tmp_path / "spotify-2023.csv.gz").write_bytes(gzip.compress(sample))
    (tmp_path / "utf16.csv").write_bytes(sample.decode("latin-1").encode("utf-16"))
    for path, reason in files.items():
        with pytest.raises(UserError, match=re.escape(f"{path}: {reason} (expected: the Kaggle")):
            inspect_raw_csv(path)


def test_a_file_with_another_separator_is_refused_naming_it(tmp_path):
    """A tab-separated export was "not the Kaggle spotify-2023 CSV format (only 0 of its 24
    columns in line 1)"."""
    lines = SAMPLE_CSV.read_bytes().decode("latin-1").split("\r\n")[:3]
    for separator, name in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
        path = tmp_path / "separated.csv"
        path.write_text("\r\n".join(line.replace(",", separator) for line in lines))
        reason = f"columns are separated by {name}, expected ',' (re-save as CSV)"
        with pytest.raises(UserError, match=re.escape(f"{path}: {reason} (expected: the Kaggle")):
            inspect_raw_csv(path)


def test_a_column_named_twice_is_refused(tmp_path):
    """The build read the first `streams` and silently dropped the second."""
    header, *rows = SAMPLE_CSV.read_bytes().decode("latin-1").split("\r\n")[:3]
    path = tmp_path / "twice.csv"
    lines = [header + ",streams,extra,extra", *(row + ",5,,," for row in rows)]
    path.write_text("\r\n".join(lines))
    reason = "column(s) named twice in line 1: streams (which one holds the data?)"
    with pytest.raises(UserError, match=re.escape(f"{path}: {reason} (expected: the Kaggle")):
        inspect_raw_csv(path)


def test_a_quote_that_does_not_pair_is_found_with_its_line(tmp_path):
    """DuckDB only says it could not make out such a file's dialect; the line comes from here."""
    sniffing = 'Invalid Input Error: Error when sniffing file "quotes.csv".'
    lines = SAMPLE_CSV.read_bytes().decode("latin-1").split("\r\n")
    path = tmp_path / "quotes.csv"
    path.write_text("\r\n".join(lines[:5] + ['"Cut off, by a download']), encoding="latin-1")
    assert str(unpaired_quote(path, "latin-1", sniffing)) == (
        f"{path}: line 6 opens a quoted value that is never closed (was the file cut off?)"
    )
    assert unpaired_quote(path, "latin-1", "Catalog Error: no such table") is None
    path.write_text("\r\n".join([*lines[:3], f'"{lines[3]}', *lines[4:]]), encoding="latin-1")
    assert str(unpaired_quote(path, "latin-1", sniffing)).startswith(
        f"{path}: line 4 has a quoted value"
    )
    assert unpaired_quote(SAMPLE_CSV, "latin-1", sniffing) is None
    path.write_text("\r\n".join([lines[0], "x" * 200_000]), encoding="latin-1")
    assert unpaired_quote(path, "latin-1", sniffing) is None  # too long for Python's csv
