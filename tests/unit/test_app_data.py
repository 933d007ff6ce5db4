"""The app's reads: kept until the warehouse file changes, read again at once after it does."""

import shutil
import sys

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


def test_explore_counts_bins_and_ranks_the_matching_tracks_in_duckdb(tmp_path, monkeypatch):
    """The page reads one row of counts and the top tracks, not every matching track (1 M rows
    were 140 MB per filter, each kept in the cache); the same histogram as numpy's."""
    import numpy as np
    import pandas as pd

    from ml.app import explore

    rng = np.random.default_rng(7)
    size = 400
    tracks = pd.DataFrame({
        "track_name": [f"song {i}" for i in range(size)],
        "artist_names": rng.choice(["Ana", "Bo", "50%_off", "AC\\DC"], size),
        "released_date": pd.Timestamp("2000-01-01") + pd.to_timedelta(rng.integers(0, 8000, size),
                                                                       "D"),
        "streams": rng.lognormal(18, 2, size).round(),
        "in_spotify_playlists": rng.integers(0, 50_000, size),
        "bpm": np.where(rng.random(size) < 0.1, np.nan, rng.uniform(60, 200, size)),
        **{name: rng.integers(0, 101, size) for name in explore.DISTRIBUTIONS if "_pct" in name},
    })  # fmt: skip
    path = tmp_path / "spotify.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema marts; create table marts.tracks as from tracks")
    monkeypatch.setenv("SPOTIFY_WAREHOUSE", str(path))
    data.forget_if_changed()

    years = tracks["released_date"].dt.year
    for first, last, text in ((2000, 2030, ""), (2005, 2012, "a"), (2000, 2030, "50%_"),
                              (2000, 2030, "c\\d")):  # fmt: skip
        artist = explore.containing(text)  # as typed: % _ and \ are letters, not wildcards
        matching = tracks[
            years.between(first, last)
            & tracks["artist_names"].str.contains(text, case=False, regex=False)
        ]
        assert len(matching)
        for label, column in (("log10(streams)", "streams"), ("bpm", "bpm")):
            sql = explore.DISTRIBUTION_SQL.format(value=explore.DISTRIBUTIONS[label])
            distribution = data.query(sql, (first, last, artist))
            assert len(distribution) == 1
            shown = distribution.iloc[0]
            assert shown["tracks"] == len(matching)
            values = matching[column].dropna()
            values = np.log10(values.clip(lower=1)) if column == "streams" else values
            assert shown["low"] == values.min() and shown["high"] == values.max()
            expected, _ = np.histogram(values, bins=30)
            assert [shown["bins"][edge] for edge in sorted(shown["bins"])] == expected.tolist()
        top = data.query(explore.TOP_TRACKS_SQL, (first, last, artist))
        assert top["track_name"].tolist() == matching.nlargest(50, "streams")["track_name"].tolist()
    nothing = explore.DISTRIBUTION_SQL.format(value="bpm")
    assert data.query(nothing, (2000, 2030, "%nobody%")).empty


def test_explore_says_so_when_every_row_was_rejected(tmp_path, monkeypatch):
    """With no clean track the page stopped on a TypeError (int() of a missing year)."""
    from streamlit.testing.v1 import AppTest

    path = tmp_path / "spotify.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("""
            create schema marts;
            create table marts.tracks (released_date date);
            create table marts.feature_correlations as  -- as such a build leaves it
            select 'bpm' as feature, 0::bigint as n, null::double as pearson_r,
                null::double as spearman_rho, null::double as pearson_r_ci_lower,
                null::double as pearson_r_ci_upper
        """)
    monkeypatch.setenv("SPOTIFY_WAREHOUSE", str(path))

    def page():
        from ml.app import data, explore

        data.forget_if_changed()
        explore.render()

    # Streamlit installs its script as __main__ and leaves it there: the job pool's workers,
    # started later in this process, would run it again on start.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    shown = AppTest.from_function(page).run()
    assert not shown.exception
    assert [box.value for box in shown.info] == [
        "No clean tracks: the build rejected every raw row (the Overview lists why)."
    ]
