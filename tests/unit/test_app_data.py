"""The app's reads: kept until the warehouse file changes, read again at once after it does."""

import shutil

import duckdb

from ml.app import data


def test_reads_are_kept_until_a_write_or_a_new_build_changes_the_file(tmp_path, monkeypatch):
    path = tmp_path / "spotify.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema ml; create table ml.runs as select 1 as run")
    monkeypatch.setenv("SPOTIFY_WAREHOUSE", str(path))
    runs = "select count(*) as runs from ml.runs"
    data.forget_if_changed()
    assert data.query(runs)["runs"].iloc[0] == 1

    before = data.file_version(path)
    with duckdb.connect(str(path), read_only=True) as connection:
        connection.execute(runs).fetchall()
    assert data.file_version(path) == before  # readers, the app's own included, change nothing

    with duckdb.connect(str(path)) as connection:  # a training writes into the file
        connection.execute("insert into ml.runs values (2)")
    assert data.query(runs)["runs"].iloc[0] == 1  # kept until the page's next rerun looks
    data.forget_if_changed()
    assert data.query(runs)["runs"].iloc[0] == 2

    rebuilt = tmp_path / "rebuilt.duckdb"  # a build replaces the file with another
    shutil.copy(path, rebuilt)
    with duckdb.connect(str(rebuilt)) as connection:
        connection.execute("insert into ml.runs values (3)")
    rebuilt.replace(path)
    data.forget_if_changed()
    assert data.query(runs)["runs"].iloc[0] == 3
