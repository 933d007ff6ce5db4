import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml import warehouse
from ml.errors import UserError
from support.runs import warehouse_held_by_another_process


def run_frames(run_id: str, tracks: list) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    run = pd.DataFrame([{
        "run_id": run_id, "config_name": "c", "task": "regression", "feature_set": "audio",
        "model_type": "ridge", "dataset_name": "d.csv", "dataset_sha256": "0" * 64,
        "git_commit": None, "n_rows": len(tracks), "training_strategy": "full protocol",
        "folds_sha256": "1" * 64,
        "created_at": pd.Timestamp("2026-01-01"),
    }])  # fmt: skip
    metrics = pd.DataFrame({"run_id": run_id, "metric": ["r2", "baseline_r2"],
                            "value": [0.5, 0.0], "std": [0.1, 0.0], "n_splits": 5})  # fmt: skip
    predictions = pd.DataFrame({
        "run_id": run_id, "config_name": "c", "task": "regression", "track_id": tracks,
        "is_out_of_fold": True, "predicted_log_streams": 19.0, "actual_log_streams": 18.0,
        "predicted_streams": 1.8e8, "predicted_probability": None, "predicted_label": None,
        "actual_label": None, "predicted_log_streams_lower": 18.0,
        "predicted_log_streams_upper": 20.0, "predicted_streams_lower": 6.6e7,
        "predicted_streams_upper": 4.9e8,
    })  # fmt: skip
    return run, metrics, predictions


def count(path, table: str) -> int:
    return int(warehouse.run_query(path, f"select count(*) as n from {table}")["n"][0])


def test_runs_append_and_never_touch_older_ones(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse.write_run(path, *run_frames("run-1", [1, 2, 3]))
    warehouse.write_run(path, *run_frames("run-2", [1, 2]))
    assert count(path, "ml.runs") == 2
    assert count(path, "ml.run_metrics") == 4
    assert count(path, "ml.predictions") == 5


def test_a_failing_write_leaves_no_part_of_the_run(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse.write_run(path, *run_frames("run-1", [1]))
    run, metrics, predictions = run_frames("run-2", [1, None])  # not-null fails last
    with pytest.raises(duckdb.Error):
        warehouse.write_run(path, run, metrics, predictions)
    assert count(path, "ml.runs") == 1
    assert count(path, "ml.run_metrics") == 2
    assert count(path, "ml.predictions") == 1


def test_a_run_with_a_track_twice_is_refused_before_writing(tmp_path):
    path = tmp_path / "w.duckdb"
    with pytest.raises(ValueError, match="more than once"):
        warehouse.write_run(path, *run_frames("run-1", [1, 1]))
    assert not path.exists()


def warehouse_with_a_text_track_id(path: Path) -> int:
    """A warehouse whose ml.predictions predates numeric track ids (one row, the md5 as text);
    returns the number marts.tracks now gives that track (the formula of models/marts/tracks.sql
    and macros/track_identity.sql, spelled out here as the specification)."""
    identity = "lower('Flowers') || chr(31) || lower('Miley Cyrus')"
    with duckdb.connect(str(path)) as connection:
        connection.execute(warehouse.ML_SCHEMA_DDL.replace("track_id bigint", "track_id varchar"))
        _, _, predictions = run_frames("old-run", [0])
        predictions["track_id"] = connection.execute(f"select md5({identity})").fetchone()[0]
        connection.execute("insert into ml.predictions select * from predictions")
        number = connection.execute(f"select ('0x' || left(md5({identity}), 15))::bigint")
        return number.fetchone()[0]


def test_text_track_ids_of_an_older_warehouse_become_the_numbers_marts_tracks_uses(tmp_path):
    path = tmp_path / "w.duckdb"
    track_id_in_tracks = warehouse_with_a_text_track_id(path)
    warehouse.write_run(path, *run_frames("new-run", [track_id_in_tracks]))
    ids = warehouse.run_query(path, "select run_id, track_id from ml.predictions order by run_id")
    assert ids["track_id"].tolist() == [track_id_in_tracks, track_id_in_tracks]
    assert ids["track_id"].dtype == "int64"


def test_preparing_converts_text_track_ids_and_gives_new_warehouses_empty_tables(tmp_path):
    old = tmp_path / "old.duckdb"
    track_id_in_tracks = warehouse_with_a_text_track_id(old)
    warehouse.prepare_ml_tables(old)
    assert warehouse.run_query(old, "select track_id from ml.predictions")["track_id"].tolist() == [
        track_id_in_tracks
    ]
    fresh = tmp_path / "fresh.duckdb"
    duckdb.connect(str(fresh)).close()
    warehouse.prepare_ml_tables(fresh)
    empty = warehouse.run_query(fresh, "select count(*) as n from ml.predictions")
    assert empty["n"].tolist() == [0]


def test_sql_is_read_only(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse.write_run(path, *run_frames("run-1", [1]))
    with pytest.raises(UserError, match="query failed: .*read-only"):
        warehouse.run_query(path, "delete from ml.runs")
    assert count(path, "ml.runs") == 1


def test_reads_inside_a_snapshot_share_one_connection(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    warehouse.write_run(path, *run_frames("run-1", [1]))
    opened, real_connect = [], duckdb.connect

    def counted(*args, **kwargs):
        opened.append(args)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", counted)
    with warehouse.snapshot(path):
        versions = warehouse.read_model_versions(path)
        assert count(path, "ml.runs") == 1
        assert warehouse.read_prediction_intervals(path, "run-1").empty
    assert len(opened) == 1 and versions.empty
    warehouse.read_model_versions(path)  # after the block, a read opens its own connection
    assert len(opened) == 2


def test_missing_table_and_missing_warehouse_are_clear(tmp_path):
    with pytest.raises(UserError, match="warehouse not found"):
        warehouse.read_track_features(tmp_path / "none.duckdb")
    path = tmp_path / "w.duckdb"
    warehouse.write_run(path, *run_frames("run-1", [1]))
    with pytest.raises(UserError, match="table marts.track_features not found"):
        warehouse.read_track_features(path)


def test_a_locked_warehouse_is_reported_after_a_bounded_wait(tmp_path):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    locked = "is locked by another process \\(waited 1 s\\)"
    with (
        warehouse_held_by_another_process(path),
        pytest.raises(UserError, match=locked),
        warehouse.connect(path, read_only=False, wait_seconds=1),
    ):
        pass
    with warehouse.connect(path, read_only=False, wait_seconds=1):
        pass


def test_a_write_killed_midway_leaves_no_trace_of_its_run(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse.write_run(path, *run_frames("kept", [1, 2]))
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parents[1])!r}]
        from pathlib import Path
        from test_warehouse import run_frames
        from ml import warehouse
        run, metrics, predictions = run_frames("killed", [f"t{{i}}" for i in range(3_000_000)])
        print("writing", flush=True)
        warehouse.write_run(Path({str(path)!r}), run, metrics, predictions)
        print("done", flush=True)
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    time.sleep(1.0)  # inside the insert of 3 M prediction rows
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert writer.stdout.read() == ""  # it never finished
    runs = warehouse.run_query(path, "select run_id from ml.runs")["run_id"].tolist()
    assert runs == ["kept"]
    assert count(path, "ml.predictions") == 2
    assert count(path, "ml.run_metrics") == 2


def test_training_rows_come_in_track_id_order_whatever_order_they_were_written_in(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema marts")
        connection.execute(
            "create table marts.track_features as"
            " select * from (values (30, 'c'), (10, 'a'), (20, 'b')) as t(track_id, name)"
        )
    frame = warehouse.read_track_features(path)
    assert frame["track_id"].tolist() == [10, 20, 30]
    assert frame["name"].tolist() == ["a", "b", "c"]
