"""The CLI as a user meets it: fast help, one-line errors, non-zero exits.

Usage errors are checked in this process with click's CliRunner (what `cli.py` prints and
its exit code, without starting Python again); start-up itself is checked in a child."""

import json
import os
import socket
import subprocess
import sys

import duckdb
import pytest
from click.testing import CliRunner

import cli
from ml.settings import PROJECT_ROOT, SAMPLE_CSV

COMMANDS = ["build", "train", "run", "predict", "sql", "results", "models", "make-sample",
            "macro-limits", "compare"]  # fmt: skip


def test_help_does_not_import_heavy_libraries():
    probe = (
        "import sys; sys.argv = ['cli.py', '--help']\n"
        "import cli\n"
        "try:\n    cli.cli()\nexcept SystemExit:\n    pass\n"
        "heavy = ('mlflow', 'duckdb', 'sklearn', 'pandas', 'dbt')\n"
        "heavy = [name for name in heavy if name in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stdout or result.stdout.rstrip().endswith("HEAVY=")


@pytest.fixture
def invoke(monkeypatch, tmp_path):
    """`cli.py ARGS` in this process, with no SPOTIFY_* settings of the caller's."""
    for name in [name for name in os.environ if name.startswith("SPOTIFY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SPOTIFY_MLFLOW_DIR", str(tmp_path / "mlflow"))
    return lambda *arguments: CliRunner().invoke(cli.cli, list(arguments))


def test_every_command_has_help(invoke):
    for command in COMMANDS:
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout, command


def one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[-1]


def test_named_raw_file_that_is_missing_fails_in_one_line(invoke, tmp_path):
    result = invoke("build", "--raw", str(tmp_path / "missing.csv"),
                    "--warehouse", str(tmp_path / "w.duckdb"))  # fmt: skip
    assert one_line_error(result).startswith("error: raw CSV not found:")
    assert not (tmp_path / "w.duckdb").exists()


def test_spark_engine_refuses_strict_in_one_line(invoke, tmp_path):
    result = invoke("build", "--engine", "spark", "--strict",
                    "--warehouse", str(tmp_path / "w.duckdb"))  # fmt: skip
    assert one_line_error(result) == (
        "error: --strict needs the DuckDB engine: Spark replaces its tables in place"
    )
    assert not (tmp_path / "spark").exists()


def test_spark_engine_refuses_profile_in_one_line(invoke, tmp_path):
    result = invoke("run", "--engine", "spark", "--profile", str(tmp_path / "p.md"),
                    "--warehouse", str(tmp_path / "w.duckdb"))  # fmt: skip
    assert one_line_error(result) == (
        "error: --profile measures the DuckDB engine's stages; leave it out with Spark"
    )


def test_a_warehouse_named_like_a_duckdb_catalog_fails_in_one_line(invoke, tmp_path):
    # DuckDB names the database after the file name up to its first dot.
    for name, file_name in (("main", "main.duckdb"), ("System", "System.duckdb"),
                            ("temp", "temp.duckdb"), ("main", "main.v2.duckdb")):  # fmt: skip
        warehouse = tmp_path / file_name
        assert one_line_error(invoke("build", "--warehouse", str(warehouse))) == (
            f"error: warehouse {warehouse}: DuckDB keeps the name '{name}' for a catalog of "
            "its own; choose another name"
        )
    assert not list(tmp_path.glob("*.duckdb*"))


def test_unknown_config_fails_in_one_line(invoke, tmp_path):
    result = invoke("train", "--config", "nope", "--warehouse", str(tmp_path / "w.duckdb"))
    assert "error: config not found: nope" in one_line_error(result)


def test_a_config_given_twice_fails_in_one_line(invoke, tmp_path):
    baseline_file = str(PROJECT_ROOT / "ml" / "configs" / "baseline.yaml")
    result = invoke("train", "--config", "baseline", "--config", baseline_file, "--config",
                    "full_regression", "--warehouse", str(tmp_path / "w.duckdb"))  # fmt: skip
    assert one_line_error(result) == "error: config given more than once: baseline"


def test_train_without_a_config_says_what_to_do(invoke, tmp_path):
    result = invoke("train", "--warehouse", str(tmp_path / "w.duckdb"))
    assert "--config" in one_line_error(result)


def test_sql_on_a_missing_warehouse_fails_in_one_line(invoke, tmp_path):
    result = invoke("sql", "select 1", "--warehouse", str(tmp_path / "none.duckdb"))
    assert "warehouse not found" in one_line_error(result)


def test_sql_reads_a_query_file_and_names_a_missing_one(invoke, tmp_path):
    query = tmp_path / "q.sql"
    query.write_text("select 41 + 1 as answer")
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    result = invoke("sql", str(query), "--warehouse", str(warehouse))
    assert result.exit_code == 0 and result.stdout.split() == ["answer", "42"]
    missing = invoke("sql", str(tmp_path / "none.sql"), "--warehouse", str(warehouse))
    assert one_line_error(missing) == f"error: {tmp_path / 'none.sql'}: no such query file"
    latin1 = tmp_path / "latin1.sql"
    latin1.write_bytes(b"select 1 as caf\xe9")  # a traceback before
    result = invoke("sql", str(latin1), "--warehouse", str(warehouse))
    assert one_line_error(result) == f"error: {latin1}: not UTF-8 text (save it as UTF-8)"


def test_make_sample_writes_a_seeded_file(invoke, tmp_path):
    target = tmp_path / "s.csv"
    result = invoke("make-sample", "--rows", "30", "--seed", "5", "--out", str(target))
    assert result.exit_code == 0
    assert result.stdout.strip() == f"wrote 30 data rows to {target}"
    assert target.read_bytes().count(b"\r\n") == 31


@pytest.mark.parametrize("rows", ["0", "-3", "29"])
def test_make_sample_refuses_too_few_rows_before_it_starts(invoke, tmp_path, rows):
    """`--rows 0` generated the default 404 rows; any refusal came after a "generating" line."""
    target = tmp_path / "s.csv"
    result = invoke("make-sample", "--rows", rows, "--out", str(target))
    expected = f"error: rows must be at least 30 to hold every quirk, got {rows}"
    assert one_line_error(result) == expected
    assert "generating" not in result.stderr and not target.exists()


def test_an_output_path_under_a_file_fails_before_any_work(invoke, tmp_path):
    """Every option that names a file or folder to write is checked as the command starts:
    one usage line, and nothing built, trained or generated first."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    inside = str(blocker / "out")
    warehouse = ("--warehouse", str(tmp_path / "w.duckdb"))
    for arguments in (("results", "--out", inside, *warehouse),
                      ("predict", "--input", str(blocker), "--output", inside, *warehouse),
                      ("run", "--profile", inside, *warehouse),
                      ("report", "--out", inside, *warehouse),
                      ("make-sample", "--out", inside),
                      ("bench", "--out", inside)):  # fmt: skip
        result = invoke(*arguments)
        last_line = result.stderr.strip().splitlines()[-1]
        assert result.exit_code == 2, arguments
        assert last_line.endswith(f"{blocker} is a file, not a folder"), arguments
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"]


def test_predict_refuses_to_write_over_its_input(invoke, tmp_path):
    """The songs file was replaced by its predictions."""
    songs = tmp_path / "songs.csv"
    songs.write_bytes(SAMPLE_CSV.read_bytes())
    same = str(tmp_path / "." / "songs.csv")
    result = invoke("predict", "--input", str(songs), "--output", same,
                    "--warehouse", str(tmp_path / "w.duckdb"))  # fmt: skip
    assert one_line_error(result) == f"error: --output {same} would overwrite the songs of --input"
    assert songs.read_bytes() == SAMPLE_CSV.read_bytes()


def test_report_out_names_the_html_file_or_the_folder_it_goes_in(invoke, monkeypatch, tmp_path):
    """`--out report.html` used to make a folder of that name, with report.html inside."""
    import ml.report

    written = []

    def write_report(paths, target, progress):
        written.append(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("<html></html>")
        return target

    monkeypatch.setattr(ml.report, "write_report", write_report)
    (tmp_path / "old.html").mkdir()  # a folder, though its name ends in .html
    for out, expected in (("mine.html", "mine.html"), ("reports", "reports/report.html"),
                          ("old.html", "old.html/report.html")):  # fmt: skip
        result = invoke("report", "--out", str(tmp_path / out),
                        "--warehouse", str(tmp_path / "w.duckdb"))  # fmt: skip
        assert result.exit_code == 0, result.output
        assert written.pop() == tmp_path / expected


def test_bench_out_names_the_markdown_file_or_the_folder_it_goes_in(invoke, monkeypatch, tmp_path):
    """`--out bench-10k.md` used to make a folder of that name, with bench.md inside."""
    import ml.bench
    from ml.bench import StageResult

    timed = [StageResult("10k", "dbt build", 10_000, 2.0, 300)]
    monkeypatch.setattr(ml.bench, "run_benchmark", lambda *args, **kwargs: timed)
    for out, expected in (("bench-10k.md", "bench-10k"), ("runs", "runs/bench")):
        result = invoke("bench", "--sizes", "10k", "--out", str(tmp_path / out))
        assert result.exit_code == 0, result.output
        table = (tmp_path / f"{expected}.md").read_text()
        assert "| 10k | dbt build | 2.00 | 5,000 | 300 |" in table
        rows = json.loads((tmp_path / f"{expected}.json").read_text())["results"]
        assert [row["stage"] for row in rows] == ["dbt build"]


def test_sql_prints_the_columns_of_an_empty_result_and_refuses_an_empty_query(invoke, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    result = invoke("sql", "--warehouse", str(warehouse), "select 1 as a, 2 as b where false")
    assert result.exit_code == 0 and result.stdout == "a  b\n"
    assert one_line_error(invoke("sql", "--warehouse", str(warehouse), "  ")) == (
        "error: the query is empty"
    )


def test_sql_prints_the_first_rows_of_a_long_result_and_counts_them_all(invoke, tmp_path):
    """Counted by DuckDB, not fetched: printing 50 of a million rows held them all before."""
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    query = "select range as n from range(1000000) order by n desc"
    result = invoke("sql", "--warehouse", str(warehouse), "--max-rows", "3", query)
    assert result.exit_code == 0
    assert result.stdout.split() == ["n", "999999", "999998", "999997"]
    assert result.stderr.strip() == "1000000 row(s) (the first 3 shown; --max-rows)"
    exact = invoke("sql", "--warehouse", str(warehouse), "--max-rows", "3", "select 1 as n")
    assert exact.stdout.split() == ["n", "1"] and exact.stderr.strip() == "1 row(s)"


def test_a_file_that_is_not_duckdb_as_the_warehouse_fails_before_any_work(
    invoke, monkeypatch, tmp_path
):
    """A CSV given as the warehouse: DuckDB opened it as data ("Cannot launch in-memory
    database in read-only mode"), and a build ran dbt into a compilation error. A folder in
    SPOTIFY_WAREHOUSE (--warehouse refuses one itself) was "not found"."""
    raw = tmp_path / "spotify-2023.csv"
    raw.write_bytes(SAMPLE_CSV.read_bytes())
    for command in (("sql", "select 1"), ("build", "--raw", str(raw)), ("models",)):
        for warehouse in (raw, tmp_path):
            monkeypatch.setenv("SPOTIFY_WAREHOUSE", str(warehouse))
            assert one_line_error(invoke(*command)) == (
                f"error: warehouse {warehouse} is not a DuckDB file (a raw CSV goes to --raw)"
            ), (command, warehouse)
    assert raw.read_bytes() == SAMPLE_CSV.read_bytes()


def test_a_warehouse_or_mlflow_folder_under_a_file_fails_before_any_work(
    invoke, monkeypatch, tmp_path
):
    """A build into `a-file/spotify.duckdb` was a NotADirectoryError traceback; a file named
    in SPOTIFY_MLFLOW_DIR, a FileExistsError one from the first training."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    inside = blocker / "spotify.duckdb"
    for command in (("build", "--raw", str(SAMPLE_CSV)), ("train", "--config", "baseline")):
        assert one_line_error(invoke(*command, "--warehouse", str(inside))) == (
            f"error: warehouse {inside}: {blocker} is a file, not a folder"
        ), command
        monkeypatch.setenv("SPOTIFY_MLFLOW_DIR", str(blocker))
        assert one_line_error(invoke(*command, "--warehouse", str(tmp_path / "w.duckdb"))) == (
            f"error: SPOTIFY_MLFLOW_DIR {blocker}: {blocker} is a file, not a folder"
        ), command
        monkeypatch.delenv("SPOTIFY_MLFLOW_DIR")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"]


def test_a_lock_wait_that_is_not_a_number_of_seconds_fails_in_one_line(
    invoke, monkeypatch, tmp_path
):
    """`nan` waited forever on a locked warehouse, and a negative wait did not wait."""
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    for value in ("nan", "-5", "ten"):
        monkeypatch.setenv("SPOTIFY_LOCK_WAIT_SECONDS", value)
        assert one_line_error(invoke("sql", "select 1", "--warehouse", str(warehouse))) == (
            f"error: SPOTIFY_LOCK_WAIT_SECONDS must be a number of seconds (0 or more), "
            f"got {value!r}"
        )
    monkeypatch.setenv("SPOTIFY_LOCK_WAIT_SECONDS", "0")
    assert invoke("sql", "select 1 as n", "--warehouse", str(warehouse)).exit_code == 0


def test_a_worker_killed_outright_ends_in_one_line(invoke, monkeypatch, tmp_path):
    """A training worker killed by the kernel (BrokenProcessPool) ended in a traceback."""
    from concurrent.futures.process import BrokenProcessPool

    def killed(*args):
        raise BrokenProcessPool("A child process terminated abruptly")

    monkeypatch.setattr(cli, "_select_configs", killed)
    warehouse = str(tmp_path / "w.duckdb")
    assert one_line_error(invoke("train", "--config", "baseline", "--warehouse", warehouse)) == (
        "error: a worker process was killed before its job ended (out of memory?)"
    )


def test_app_on_a_port_in_use_fails_in_one_line(invoke, tmp_path, monkeypatch):
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()

    def start_streamlit(*_):
        raise AssertionError("Streamlit was started on a port in use")

    monkeypatch.setattr(os, "execve", start_streamlit)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        result = invoke("app", "--port", str(port), "--address", "127.0.0.1",
                        "--warehouse", str(warehouse))  # fmt: skip
    assert one_line_error(result) == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another --port or --address?)"
    )


def test_compare_refuses_a_config_against_itself(invoke, tmp_path):
    result = invoke("compare", "full_regression", "full_regression",
                    "--warehouse", str(tmp_path / "w.duckdb"))  # fmt: skip
    assert one_line_error(result) == (
        "error: compare needs two different configs (got full_regression twice)"
    )


def test_predictions_print_rounded_with_their_interval():
    import pandas as pd

    predictions = pd.DataFrame({
        "raw_row_number": [1, 2], "track_name": ["Seven", "A very long track name that goes on"],
        "predicted_streams": [103_559_271.9, 2_000.4],
        "predicted_streams_lower": [52_859_850.2, 1e3],
        "predicted_streams_upper": [202_886_000.7, 4e3], "top_decile_probability": [0.91234, 0.0],
        "is_predicted_top_decile": [True, False], "outside_training_range": ["", "bpm (unseen)"],
    })  # fmt: skip
    lines = cli._predictions_text(predictions, 0.9).splitlines()
    assert lines[0].split() == ["raw", "row", "track", "predicted", "streams", "90%", "interval",
                                "top", "10", "%", "probability", "top", "10", "%", "outside",
                                "training", "range"]  # fmt: skip
    assert lines[1].split() == ["1", "Seven", "103,559,272", "52,859,850", "to", "202,886,001",
                                "0.912", "yes"]  # fmt: skip
    assert "A very long track name that go " in lines[2] and "bpm (unseen)" in lines[2]


@pytest.mark.parametrize(("exit_call", "code", "stderr"), [
    ("sys.exit(3)", 3, ""), ("sys.exit()", 0, ""),
    ("sys.exit('no such song')", 1, "no such song\n"),
])  # fmt: skip
def test_a_quick_exit_ends_as_the_interpreter_would(exit_call, code, stderr):
    """ml/quick_exit.py skips the teardown, not the exit code, a message or the exit handlers."""
    program = ("import atexit, sys\nfrom ml.quick_exit import run_then_exit\n"
               "atexit.register(print, 'handlers ran')\n"
               f"run_then_exit(lambda: {exit_call})")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", program], cwd=PROJECT_ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert (result.returncode, result.stderr, result.stdout) == (code, stderr, "handlers ran\n")
