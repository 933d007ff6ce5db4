"""MLflow runs: how a Ctrl-C during one of MLflow's own writes ends."""

import sqlite3
import subprocess
import sys
import textwrap

from ml.settings import PROJECT_ROOT

CTRL_C_DURING_A_WRITE = textwrap.dedent("""
    import sys
    from pathlib import Path

    import mlflow
    import sqlalchemy

    from ml import tracking
    from ml.settings import Paths

    experiment = tracking.configure(Paths(Path(sys.argv[1]), Path(sys.argv[2])))

    armed = []

    def ctrl_c_after_the_write(connection, cursor, statement, *rest):
        # Once: the new value is written, and the latest value's row waits to be read.
        if armed and statement.startswith("SELECT latest_metrics"):
            armed.clear()
            raise KeyboardInterrupt

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "after_cursor_execute",
                            ctrl_c_after_the_write)
    try:
        with tracking.training_run(experiment, "interrupted", {}):
            mlflow.log_metric("r2", 0.4)
            armed.append(True)
            mlflow.log_metric("r2", 0.5)
    except KeyboardInterrupt:
        print("interrupted")
""")


def test_a_ctrl_c_inside_an_mlflow_write_ends_the_run_failed_at_once(tmp_path):
    """Ending the run waited 20 s for sqlite's lock, which the interrupted cursor still held,
    then failed with an MlflowException traceback, leaving the run RUNNING."""
    result = subprocess.run(
        [sys.executable, "-c", CTRL_C_DURING_A_WRITE, str(tmp_path / "w.duckdb"), str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout == "interrupted\n", result.stderr[-2000:]
    with sqlite3.connect(tmp_path / "mlflow.db") as store:
        assert store.execute("select name, status from runs").fetchall() == [
            ("interrupted", "FAILED")
        ]
