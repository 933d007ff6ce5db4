"""A corpus of damaged raw files, made from the bundled sample, each with its outcome asserted.

Variants of the sample must read to the same rows, alone and all in one file; bad rows must land
in audit.rejected_rows; bad files must end in one line naming the file, leaving the previous
warehouse exactly as it was.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import subprocess
from pathlib import Path

import duckdb
import pytest

from ml import warehouse
from ml.raw_file import RAW_COLUMNS, inspect_raw_csv
from ml.settings import SAMPLE_CSV
from support.runs import cli_env, run_cli, warehouse_held_by_another_process

SAMPLE_ROWS = 404


def sample_records() -> list[list[str]]:
    text = SAMPLE_CSV.read_bytes().decode("latin-1")
    return list(csv.reader(io.StringIO(text, newline="")))


def write_csv(path: Path, records, encoding="latin-1", newline="\r\n", prefix=b"") -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator=newline).writerows(records)
    path.write_bytes(prefix + buffer.getvalue().encode(encoding))
    return path


def build(raw: Path, warehouse: Path, **env) -> subprocess.CompletedProcess:
    environment = {**cli_env(warehouse.parent / "mlflow"), **env}
    return run_cli("build", "--raw", str(raw), "--warehouse", str(warehouse), env=environment)


def table(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# The rows a variant must read to, from the warehouse's tables or a scoring run's.
TRACKS = "select * exclude (track_id) from {} order by raw_row_number"
REJECTED = "select * from {} order by raw_row_number"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    warehouse = tmp_path_factory.mktemp("reference") / "spotify.duckdb"
    result = build(SAMPLE_CSV, warehouse)
    assert result.returncode == 0, result.stderr
    # dbt's process ends without Python's teardown: DuckDB must have closed the file anyway.
    assert [path.name for path in warehouse.parent.iterdir()] == [warehouse.name]
    return warehouse


def blanks_as_placeholders(records):
    """The sample with its blank cells written as the placeholders of SQL/BI exports, in turn."""
    placeholders = itertools.cycle(["null", " N/A ", "NA", "None", "nan", "-", "NULL"])
    rows = [[cell if cell.strip() else next(placeholders) for cell in row] for row in records[1:]]
    return [records[0], *rows]


def numbers_with_zero_decimals(records):
    names = [records[0].index("track_name"), records[0].index("artist(s)_name")]
    return [records[0], *([f"{cell}.00" if cell.isdigit() and index not in names else cell
                           for index, cell in enumerate(row)] for row in records[1:])]  # fmt: skip


def columns_reversed(records):
    return [list(reversed(record)) for record in records]


def extra_cover_url_column(records):
    return [[*r, "cover_url" if i == 0 else f"https://example.org/{i}.jpg"]
            for i, r in enumerate(records)]  # fmt: skip


def unchanged(records):
    return records


# Each variant of the sample: how its records change, and how the file is written (write_csv).
VARIANTS = {
    "utf8": (unchanged, {"encoding": "utf-8"}),
    "utf8_bom": (unchanged, {"encoding": "utf-8", "prefix": codecs.BOM_UTF8}),
    "lf_line_endings": (unchanged, {"newline": "\n"}),
    "columns_reversed": (columns_reversed, {}),
    "blanks_as_placeholders": (blanks_as_placeholders, {}),
    "numbers_with_zero_decimals": (numbers_with_zero_decimals, {}),
    "extra_cover_url_column": (extra_cover_url_column, {}),
}


def variant_file(names: list[str], path: Path) -> Path:
    records, written = sample_records(), {}
    for name in names:
        change, options = VARIANTS[name]
        records = change(records)
        written.update(options)
    return write_csv(path, records, **written)


def scored_rows(reference: Path, raw: Path) -> tuple[list[tuple], list[tuple]]:
    """(tracks, rejected rows) of `raw` as `cli.py predict` reads it: the reference build's
    scoring SQL run on it in memory."""
    models = warehouse.read_scoring_sql(reference)
    with warehouse.scoring_run(models, raw, inspect_raw_csv(raw).encoding) as (connection, names):
        tracks = connection.execute(TRACKS.format(names["tracks"])).fetchall()
        return tracks, connection.execute(REJECTED.format(names["rejected_rows"])).fetchall()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_reads_as_the_sample_does(variant, reference, tmp_path):
    """Each variant alone, read by the build's SQL as `cli.py predict` reads a file."""
    raw = variant_file([variant], tmp_path / f"{variant}.csv")
    assert scored_rows(reference, raw) == scored_rows(reference, SAMPLE_CSV)


def test_every_variant_at_once_builds_to_the_same_result(reference, tmp_path):
    """One build of a file with every variant in it (one dbt run, not one per variant)."""
    raw = variant_file(list(VARIANTS), tmp_path / "every_variant.csv")
    warehouse_path = tmp_path / "spotify.duckdb"
    result = build(raw, warehouse_path)
    assert result.returncode == 0, result.stderr
    for sql in (TRACKS.format("marts.tracks"), REJECTED.format("audit.rejected_rows")):
        assert table(warehouse_path, sql) == table(reference, sql)


# Per column with a contract rule: its table, and a value the rule forbids.
FORBIDDEN_VALUES = {
    "mode": ("marts.tracks", "'Dorian'"),
    "musical_key": ("marts.tracks", "'H'"),
    "reject_reason": ("audit.rejected_rows", "'typo'"),
    "rejected_field": ("audit.rejected_rows", "null"),
    "dataset_sha256": ("audit.build_dataset", "null"),
    "pearson_r": ("marts.feature_correlations", "1.5"),
    "spearman_rho": ("marts.feature_correlations", "-2"),
}


def test_the_built_tables_refuse_rows_that_break_their_contracts(reference, tmp_path):
    """The rules the contracts declare (dbt_project/models/*/_*__models.yml) stay on the
    tables as DuckDB constraints: checked as dbt writes them, and as anyone writes later."""
    copy = tmp_path / "spotify.duckdb"
    copy.write_bytes(reference.read_bytes())
    with duckdb.connect(str(copy)) as connection:
        for column, (table, value) in FORBIDDEN_VALUES.items():
            broken = f"select * replace ({value} as {column}) from {table} limit 1"
            with pytest.raises(duckdb.ConstraintException, match=column):
                connection.execute(f"insert into {table} {broken}")


def test_bad_rows_are_rejected_with_row_number_reason_and_value(tmp_path):
    records = sample_records()
    good = records[1]
    column = {name: index for index, name in enumerate(RAW_COLUMNS)}

    def variant(name_suffix: str, **changes) -> list[str]:
        row = list(good)
        row[column["track_name"]] = good[column["track_name"]] + name_suffix
        for key, value in changes.items():
            row[column[key]] = value
        return row

    extra = [
        variant(" garbage", bpm="12abc"),
        variant(" too danceable", **{"danceability_%": "150"}),
        variant(" negative", in_apple_playlists="-5"),
        variant(" huge", streams="99999999999999999999999"),
        list(records[2]),  # an exact duplicate of a sample row
        variant(' he said "hi", then\nleft'),
        variant(" miscounted", artist_count="3"),  # kept, with a warning
        [*variant(" longer"), "SURPLUS", "MORE"],  # two fields more than the header
        variant(" no-break space", bpm="\u00a0120"),  # no space here: text, as on Spark
    ]
    raw = write_csv(tmp_path / "bad_rows.csv", records + extra)
    truncated = ",".join(good[:5])
    raw.write_bytes(raw.read_bytes() + truncated.encode("latin-1"))  # a cut-off last line
    warehouse = tmp_path / "spotify.duckdb"
    result = build(raw, warehouse)
    assert result.returncode == 0, result.stderr

    total = SAMPLE_ROWS + len(extra) + 1
    clean = table(warehouse, "select count(*) from marts.tracks")[0][0]
    rejected = dict(
        (row, (reason, field, value))
        for row, reason, field, value in table(
            warehouse,
            """
            select raw_row_number, reject_reason, rejected_field, rejected_value
            from audit.rejected_rows
        """,
        )  # fmt: skip
    )
    assert clean + len(rejected) == total
    first_extra = SAMPLE_ROWS + 1
    assert rejected[first_extra] == ("unparseable_number", "bpm", "12abc")
    assert rejected[first_extra + 1] == ("out_of_range", "danceability_pct", "150")
    assert rejected[first_extra + 2] == ("out_of_range", "in_apple_playlists", "-5")
    assert rejected[first_extra + 3][:2] == ("unparseable_number", "streams")
    assert rejected[first_extra + 4][0] == "duplicate_track"
    assert rejected[first_extra + 7] == ("extra_fields", "surplus_fields", "SURPLUS,MORE")
    assert rejected[first_extra + 8] == ("unparseable_number", "bpm", "\u00a0120")
    assert rejected[total][0] == "missing_value"
    kept = table(
        warehouse, f"select track_name from marts.tracks where raw_row_number = {first_extra + 5}"
    )
    assert kept == [(good[column["track_name"]] + ' he said "hi", then\nleft',)]
    assert table(warehouse, "select * from audit.row_warnings") == [
        (first_extra + 6, "artist_count_differs_from_names", "artist_count", "3 artists, 1 names")
    ]


def test_a_feature_constant_over_the_tracks_builds_with_its_correlation_null(tmp_path):
    """corr() of a constant column is NaN, which failed the check that r lies in [-1, 1]: a
    file whose Deezer chart ranks were all 0 did not build (nor one with a single clean row)."""
    header, *records = sample_records()
    column = header.index("in_deezer_charts")
    constant = [[*record[:column], "0", *record[column + 1 :]] for record in records]
    warehouse = tmp_path / "spotify.duckdb"
    result = build(write_csv(tmp_path / "constant.csv", [header, *constant]), warehouse)
    assert result.returncode == 0, result.stderr[-2000:]
    correlations = {feature: (n, pearson, spearman) for feature, n, pearson, spearman in table(
        warehouse, "select feature, n, pearson_r, spearman_rho from marts.feature_correlations"
    )}  # fmt: skip
    assert correlations["in_deezer_charts"] == (correlations["bpm"][0], None, None)
    assert None not in correlations["bpm"]


def test_a_longer_row_beyond_the_readers_sample_stops_the_build_in_one_line(tmp_path):
    """DuckDB sizes the columns from a sample of the file: a longer row inside it is rejected
    (extra_fields, above), one beyond it stops the build, naming the line."""
    records = sample_records()
    copies = [[f"{row[0]} {copy}", *row[1:]] for copy in range(60) for row in records[1:]]
    copies[-1] = [*copies[-1], "SURPLUS"]
    raw = write_csv(tmp_path / "late_surplus.csv", [records[0], *copies])
    result = build(raw, tmp_path / "spotify.duckdb")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: dbt build failed: Invalid Input Error: CSV Error on Line: {len(copies) + 1} "
        "(Expected Number of Columns: 24 Found: 25)"
    )
    assert not (tmp_path / "spotify.duckdb").exists()


def test_spreadsheet_numbers_are_rejected_with_their_text_not_rounded(tmp_path):
    """Scientific notation, decimals, hex and underscores are not whole numbers as written; a
    build rejects each row with the cell's text, reports the share, and --strict refuses."""
    records = sample_records()
    streams, bpm = RAW_COLUMNS.index("streams"), RAW_COLUMNS.index("bpm")
    written = {1: (streams, "1.41E+08"), 2: (streams, "2762.5"), 3: (bpm, "0x10"),
               4: (bpm, "1_000")}  # fmt: skip
    for row, (column, text) in written.items():
        records[row][column] = text
    raw = write_csv(tmp_path / "spreadsheet.csv", records)
    warehouse = tmp_path / "spotify.duckdb"
    result = build(raw, warehouse, SPOTIFY_MAX_REJECTED_SHARE="0.01")
    assert result.returncode == 0, result.stderr
    rejected = {row: (reason, value) for row, reason, value in table(
        warehouse, "select raw_row_number, reject_reason, rejected_value from audit.rejected_rows"
    )}  # fmt: skip
    for row, (_, text) in written.items():
        assert rejected[row] == ("unparseable_number", text)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("warning: ") and "rows were rejected" in last
    assert "unparseable_number" in last
    before = sha(warehouse)
    strict = build(raw, warehouse, SPOTIFY_MAX_REJECTED_SHARE="0.01", SPOTIFY_STRICT="1")
    assert strict.returncode == 1 and "--strict" in strict.stderr.strip().splitlines()[-1]
    assert sha(warehouse) == before


def not_csv_files(tmp_path: Path) -> dict[str, Path]:
    header = ",".join(RAW_COLUMNS)
    files = {
        "empty": b"",
        "header_only": (header + "\r\n").encode(),
        "random_bytes": bytes(range(256)) * 8,
        "json": b'[{"track_name": "Seven", "streams": 1}]\n',
        "semicolons": (header.replace(",", ";") + "\r\nSeven;Latto;1\r\n").encode(),
        "missing_streams_column": (
            header.replace(",streams", "") + "\r\n" + ",".join(["1"] * 23) + "\r\n"
        ).encode(),
        "percent_signs_removed": (
            header.replace("_%", "") + "\r\n" + ",".join(["1"] * 24) + "\r\n"
        ).encode(),
        "another_dataset": b"id,key,mode,tempo\r\n1,C,Major,120\r\n",
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_bytes(content)
    return paths


EXPECTED_ERRORS = {
    "empty": "the file is empty",
    "header_only": "has a header but no data rows",
    "random_bytes": "not a CSV file",
    "json": "not the Kaggle spotify-2023 CSV format",
    "semicolons": "separated by ';'",
    "missing_streams_column": "required column(s) missing: streams",
    "percent_signs_removed": "danceability_% (found danceability)",
    "another_dataset": "not the Kaggle spotify-2023 CSV format (only 2 of its 24 columns",
}


def test_bad_files_fail_in_one_line_and_leave_the_warehouse_untouched(reference, tmp_path):
    warehouse = tmp_path / "spotify.duckdb"
    warehouse.write_bytes(reference.read_bytes())
    before = sha(warehouse)
    for name, raw in not_csv_files(tmp_path).items():
        result = build(raw, warehouse)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1, name
        assert "Traceback" not in result.stderr, name
        assert lines[-1].startswith(f"error: {raw}: ") and EXPECTED_ERRORS[name] in lines[-1], name
        assert lines[-1].endswith("see the README, 'Getting the real data')"), name
        assert not any("dbt build" in line for line in lines), name  # refused before dbt
        assert sha(warehouse) == before, name


def test_a_build_that_fails_inside_dbt_leaves_the_previous_warehouse(reference, tmp_path):
    warehouse = tmp_path / "spotify.duckdb"
    warehouse.write_bytes(reference.read_bytes())
    before = sha(warehouse)
    raw = write_csv(tmp_path / "unclosed_quote.csv", sample_records())
    lines = raw.read_bytes().split(b"\r\n")
    lines[10] = b'"' + lines[10]  # a quote opened and never closed: the CSV cannot be parsed
    raw.write_bytes(b"\r\n".join(lines))
    result = build(raw, warehouse)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {raw}: line 11 has a quoted value with more text after its closing quote "
        "(a stray '\"' in a cell?)"
    )  # DuckDB's own error only said it could not sniff the file
    assert sha(warehouse) == before
    assert not list(tmp_path.glob("*.building*"))


def test_a_locked_warehouse_fails_after_the_configured_wait(reference, tmp_path):
    warehouse = tmp_path / "spotify.duckdb"
    warehouse.write_bytes(reference.read_bytes())
    with warehouse_held_by_another_process(warehouse):
        result = build(SAMPLE_CSV, warehouse, SPOTIFY_LOCK_WAIT_SECONDS="1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: warehouse {warehouse} is locked by another process (waited 1 s); "
        "close it and retry"
    )
