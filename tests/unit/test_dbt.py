"""dbt's outcome is read from its structured log: the first failing node becomes one line. dbt's
child process starts only once the build's preparation is done."""

import json
from pathlib import Path

import pytest

from ml import dbt
from ml.dbt import DbtFailure, _event, _failure
from ml.errors import UserError

CSV_ERROR = (
    "Runtime Error in model base_spotify__tracks (models/staging/base/base_spotify__tracks.sql)\n"
    "  Invalid Input Error: CSV Error on Line: 24241\n  Original Line: \n  a,b,SURPLUS\n"
    "  Expected Number of Columns: 24 Found: 25"
)


def result(unique_id: str, status: str, message: str | None = None) -> dict:
    return {"unique_id": unique_id, "status": status, "message": message}


def test_a_model_error_keeps_its_cause_and_the_column_counts():
    failure = _failure("build", [
        result("model.spotify.base_spotify__tracks", "error", CSV_ERROR),
        result("model.spotify.tracks", "skipped"),
    ], [])  # fmt: skip
    assert str(failure) == ("dbt build failed: Invalid Input Error: CSV Error on Line: 24241 "
                            "(Expected Number of Columns: 24 Found: 25)")  # fmt: skip
    assert failure.node == "model.spotify.base_spotify__tracks"


def test_a_csv_line_too_long_keeps_its_cause():
    cause = "Maximum line size of 2000000 bytes exceeded. Actual Size:3000087 bytes."
    message = CSV_ERROR.replace("Expected Number of Columns: 24 Found: 25",
                                f"{cause}\n\n  Possible Solution: a larger size")  # fmt: skip
    reader = "model.spotify.base_spotify__tracks"
    failure = _failure("build", [result(reader, "error", message)], [])
    assert str(failure).endswith(f"CSV Error on Line: 24241 ({cause})")


def test_a_failing_data_test_is_named_with_its_message():
    failure = _failure("build", [
        result("model.spotify.tracks", "success", "OK"),
        result("test.spotify.unique_tracks_track_id.2701e62379", "fail",
               "Got 2 results, configured to fail if != 0"),
    ], [])  # fmt: skip
    assert str(failure) == (
        "dbt build failed: test unique_tracks_track_id: Got 2 results, configured to fail if != 0"
    )
    assert failure.node == "test.spotify.unique_tracks_track_id.2701e62379"


def test_without_node_results_the_first_logged_error_is_the_message():
    failure = _failure("build", [], ["Compilation Error in model tracks", "more"])
    assert str(failure) == "dbt build failed: Compilation Error in model tracks"
    assert failure.node is None
    with pytest.raises(DbtFailure, match="no output"):
        raise _failure("build", [], [])


def test_a_json_log_line_gives_the_node_and_its_status():
    line = json.dumps({
        "info": {"name": "LogTestResult", "msg": "1 of 2 FAIL 2 unique_tracks_track_id",
                 "level": "error", "ts": "2026-12-02T21:00:00Z"},
        "data": {"node_info": {"unique_id": "test.spotify.unique_tracks_track_id.2701e62379",
                               "node_status": "fail"}, "num_failures": 2},
    })  # fmt: skip
    assert _event(line) == {
        "name": "LogTestResult", "msg": "1 of 2 FAIL 2 unique_tracks_track_id", "level": "error",
        "node": "test.spotify.unique_tracks_track_id.2701e62379", "status": "fail",
    }  # fmt: skip
    hook = json.dumps({"info": {"name": "LogHookEndLine", "msg": "OK hook", "level": "info"},
                       "data": {}})  # fmt: skip
    assert _event(hook)["node"] is None
    assert _event("Traceback (most recent call last):") is None


class FakeChild:
    """Stands in for dbt's child process: records what the build does to it, in order."""

    def __init__(self, steps: list[str]):
        self.steps, self.stdin, self.stdout = steps, self, iter(())

    def write(self, text: str) -> None:
        self.steps.append(f"tell the child {text!r}")

    def close(self) -> None:
        pass

    def kill(self) -> None:
        self.steps.append("kill the child")

    def wait(self) -> int:
        return 0


def run_with_fake_child(monkeypatch, steps: list[str], prepare) -> None:
    monkeypatch.setattr(dbt.subprocess, "Popen", lambda *args, **kwargs: FakeChild(steps))
    dbt._run_in_child(["build"], {}, Path("."), lambda event: None, [], prepare)


def test_dbt_is_told_to_start_only_after_the_preparation(monkeypatch):
    steps: list[str] = []
    run_with_fake_child(monkeypatch, steps, lambda: steps.append("prepare"))
    assert steps == ["prepare", "tell the child 'go\\n'"]


def test_a_failed_preparation_kills_the_child_without_starting_dbt(monkeypatch):
    steps: list[str] = []

    def prepare() -> None:
        steps.append("prepare")
        raise UserError("warehouse is locked by another process")

    with pytest.raises(UserError, match="locked"):
        run_with_fake_child(monkeypatch, steps, prepare)
    assert steps == ["prepare", "kill the child"]
