"""The in-memory DuckDB that runs a build's scoring SQL on new songs (ml.warehouse.scoring_run)."""

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from ml import warehouse
from ml.errors import UserError

# A stand-in for a build's scoring SQL: one model that shows which file the run was given.
MODELS = pd.DataFrame([{
    "position": 0, "model": "given", "relation": '"spotify"."staging"."given"',
    "materialization": "table", "sql": "select getvariable('spotify_raw_csv') as raw_csv",
}])  # fmt: skip


def given_file(connection, relations) -> str:
    return connection.execute(f"select raw_csv from {relations['given']}").fetchone()[0]


def score(path, models: pd.DataFrame = MODELS) -> str:
    with warehouse.scoring_run(models, path, "utf-8") as run:
        return given_file(*run)


def test_a_run_waits_for_the_run_in_progress(tmp_path):
    """The app scores in several threads, and each run attaches the build's catalog by its name:
    a second run while one is in progress would clash with it, so it waits its turn."""
    with ThreadPoolExecutor(1) as pool:
        with warehouse.scoring_run(MODELS, tmp_path / "first.csv", "utf-8") as run:
            second = pool.submit(score, tmp_path / "second.csv")
            with pytest.raises(TimeoutError):
                second.result(timeout=0.3)
            assert given_file(*run) == str(tmp_path / "first.csv")
        assert second.result(timeout=30) == str(tmp_path / "second.csv")


def test_a_duckdb_error_is_one_line_naming_the_file_and_leaves_nothing_behind(tmp_path):
    broken = MODELS.assign(sql="select * from no_such_table")
    with pytest.raises(UserError, match=r"^cannot score new\.csv: Catalog Error"):
        score(tmp_path / "new.csv", broken)
    assert score(tmp_path / "next.csv") == str(tmp_path / "next.csv")


def test_a_file_whose_quotes_do_not_pair_is_refused_naming_the_line(tmp_path):
    reader = "read_csv(getvariable('spotify_raw_csv'), quote = '\"', strict_mode = true)"
    reading = MODELS.assign(sql=f"select * from {reader}")
    path = tmp_path / "new.csv"
    path.write_text('name,streams\r\nSeven,1\r\n"Cut off, by a download', encoding="utf-8")
    with pytest.raises(UserError, match=r"new\.csv: line 3 opens a quoted value that is never"):
        score(path, reading)
