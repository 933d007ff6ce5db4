import json

import numpy as np
import pandas as pd
import pytest

from ml import warehouse
from ml.bench import (
    StageResult,
    parse_sizes,
    run_stage,
    stage_generate,
    time_plain_csv_load,
    to_markdown,
)
from ml.pandas_baseline import clean_and_featurize
from ml.settings import SAMPLE_CSV
from ml.tasks import TASKS
from support.runs import cli_env, run_cli


def test_sizes_are_parsed_and_unknown_ones_refused():
    assert parse_sizes("10k, 1M") == {"10k": 10_000, "1M": 1_000_000}
    with pytest.raises(ValueError, match="unknown size '5M'"):
        parse_sizes("10k,5M")
    with pytest.raises(ValueError, match="no size given"):
        parse_sizes(" , ")


def test_a_stage_runs_in_its_own_process_and_reports_its_peak_memory(tmp_path):
    seconds, rows, note, peak_mb = run_stage(stage_generate, tmp_path / "g.csv", 100)
    assert rows == 100 and seconds > 0 and peak_mb > 10
    assert (tmp_path / "g.csv").is_file()


def test_a_failing_stage_raises_in_the_parent(tmp_path):
    with pytest.raises(RuntimeError, match="stage_generate failed: UserError"):
        run_stage(stage_generate, tmp_path / "g.csv", 5)


def test_arrow_and_executemany_write_the_same_rows(tmp_path):
    frame = pd.DataFrame({
        "run_id": "r", "config_name": "c", "task": "regression",
        "track_id": range(50), "is_out_of_fold": True,
        "predicted_log_streams": np.linspace(10, 20, 50), "actual_log_streams": 15.0,
        "predicted_streams": np.nan, "predicted_probability": np.nan,
        "predicted_label": pd.array([True, None] * 25, dtype="boolean"),
        "actual_label": pd.array([None] * 50, dtype="boolean"),
        "predicted_log_streams_lower": np.nan, "predicted_log_streams_upper": np.nan,
        "predicted_streams_lower": np.nan, "predicted_streams_upper": np.nan,
    })  # fmt: skip
    tables = {}
    for method in ("arrow", "executemany"):
        path = tmp_path / f"{method}.duckdb"
        warehouse.append_rows(path, "ml.predictions", frame, method=method)
        tables[method] = warehouse.read_table(path, "ml.predictions").sort_values("track_id")
    pd.testing.assert_frame_equal(
        tables["arrow"].reset_index(drop=True), tables["executemany"].reset_index(drop=True)
    )
    assert len(tables["arrow"]) == 50


def test_the_floor_loads_every_row(tmp_path):
    seconds, rows = time_plain_csv_load(SAMPLE_CSV, tmp_path / "floor.duckdb")
    assert rows == 404 and seconds > 0
    assert not (tmp_path / "floor.duckdb").exists()


def test_pandas_yardstick_applies_the_same_cleaning_as_dbt(sample_run):
    mart = warehouse.read_track_features(sample_run.warehouse)
    pandas_clean = clean_and_featurize(SAMPLE_CSV)
    assert len(pandas_clean) == len(mart)
    np.testing.assert_allclose(
        np.sort(pandas_clean["log_streams"].to_numpy()), np.sort(mart["log_streams"].to_numpy())
    )
    assert pandas_clean["is_top_decile"].sum() == mart["is_top_decile"].sum()


def test_markdown_table_relates_each_stage_to_the_floor():
    results = [
        StageResult("10k", "floor: DuckDB load", 10_000, 0.5, 100),
        StageResult("10k", "dbt build", 10_000, 2.0, 300),
    ]
    table = to_markdown(results, "Machine: test machine. Date: 2026-12-02.")
    assert table.startswith("Machine: test machine. Date: 2026-12-02.\n")
    assert "| 10k | dbt build | 2.00 | 5,000 | 300 | 4.0 |" in table


def test_bench_command_end_to_end(tmp_path):
    result = run_cli(
        "bench", "--sizes", "10k", "--write-rows", "2000", "--config", "regression_platform_ridge",
        "--out", str(tmp_path / "report"), "--work-dir", str(tmp_path),
        env=cli_env(tmp_path / "mlflow"), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report" / "bench.json").read_text())
    stages = {(row["size"], row["stage"]): row for row in report["results"]}
    for stage in ("generate", "floor: DuckDB load", "dbt build", "pandas clean (seed way)",
                  "read features", "train", "write-back", "score: SQL macro",
                  "score: SQL version macro", "score: scikit-learn"):  # fmt: skip
        row = stages[("10k", stage)]
        assert row["seconds"] > 0 and row["peak_mb"] > 0, stage
    assert stages[("10k", "dbt build")]["rows"] == 10_000
    assert stages[("10k", "write-back")]["rows"] == stages[("10k", "read features")]["rows"]
    assert stages[("10k", "score: SQL macro")]["rows"] == stages[("10k", "read features")]["rows"]
    for stage in ("score: scikit-learn", "score: SQL version macro"):
        assert float(stages[("10k", stage)]["note"].rsplit(" ", 1)[1]) <= 1e-9, stage
    assert stages[("2,000", "write-back via executemany")]["rows"] == 2000
    assert "| 10k | dbt build |" in (tmp_path / "report" / "bench.md").read_text()
    assert not list(tmp_path.glob("spotify-bench-*"))  # scratch files are removed


def test_latency_table_relates_each_measurement_to_its_floor():
    from ml.latency import FLOORS, markdown

    build_floor = FLOORS["cli.py build"][0]
    seconds = {build_floor: [2.0, 3.0, 2.5], "cli.py build": [6.0, 8.0, 7.5],
               "cli.py predict, whole file": [3.0]}  # fmt: skip
    lines = markdown(seconds, ["# heading"]).splitlines()
    assert f"| cli.py build | 7.50 | 6.00–8.00 | {build_floor} | 2.50 | 3.00x |" in lines
    assert not any(line.startswith(f"| {build_floor}") for line in lines)  # a column, not a row
    assert "| cli.py predict, whole file | 3.00 | 3.00–3.00 |  | |  |" in lines


def test_the_first_songs_of_a_file_keep_its_header_and_encoding(tmp_path):
    from ml.latency import first_songs

    songs = first_songs(SAMPLE_CSV, 3, tmp_path / "three.csv")
    original = SAMPLE_CSV.read_bytes().split(b"\r\n")
    assert songs.read_bytes().split(b"\r\n")[:4] == original[:4]


def test_macro_limits_measure_every_model_type(tmp_path):
    raw, out = tmp_path / "small.csv", tmp_path / "macros.md"
    # The name every test's build uses, so dbt reuses its saved parse (ml/dbt.py).
    warehouse_path = str(tmp_path / "spotify.duckdb")
    env = cli_env(tmp_path / "mlflow")
    assert run_cli("make-sample", "--rows", "120", "--out", str(raw), env=env).returncode == 0
    built = run_cli("build", "--raw", str(raw), "--warehouse", warehouse_path, env=env)
    assert built.returncode == 0, built.stderr
    result = run_cli("macro-limits", "--warehouse", warehouse_path, "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| regression |")
            or line.startswith("| classification |")]  # fmt: skip
    assert len(rows) == sum(len(task.model_types) for task in TASKS.values())
    forest = next(row for row in rows if row.startswith("| regression | random_forest |"))
    cells = [float(cell.replace(",", "")) for cell in forest.split("|")[3:-1]]
    assert len(cells) == 10  # nodes, SQL MB, then file MB and three timings per macro form
    nodes, sql_mb, champion_mb, version_mb = cells[0], cells[1], cells[2], cells[6]
    assert nodes > 1000 and 0 < sql_mb < champion_mb and version_mb > 0
    assert "Data: small.csv" in out.read_text()
