import os
import subprocess
import sys

from support.cpu_profile import CpuProfile, kind_of

BUSY_CHILD = """
import time
end = time.process_time() + 0.6
while time.process_time() < end:
    pass
time.sleep(0.5)  # alive for the sampler's next read
"""


def test_processes_are_grouped_by_what_they_run():
    venv_python = "/work/.venv/bin/python"
    assert kind_of(f"{venv_python} -c import sys; from dbt.cli.main import cli") == "dbt"
    assert kind_of(f"{venv_python} /repo/cli.py predict --input songs.csv") == "cli.py predict"
    assert kind_of(f"{venv_python} -c run(['cli.py', 'build'])").startswith("python -c")
    assert kind_of(f"{venv_python} -m streamlit run ml/app/main.py") == "cli.py app"
    assert kind_of(f"{venv_python} -B -c from multiprocessing.forkserver import main").startswith(
        "job pool"
    )
    assert kind_of(f"{venv_python} -u -c import sys;exec(eval(sys.stdin.readline()))").startswith(
        "pytest workers"
    )


def test_a_process_counts_for_the_test_that_started_it_and_older_ones_not_at_all(tmp_path):
    profile = CpuProfile(tmp_path / "cpu.md")
    test = "tests/unit/test_x.py::test_busy"
    subprocess.run([sys.executable, "-c", BUSY_CHILD], check=True,
                   env={**os.environ, "PYTEST_CURRENT_TEST": f"{test} (call)"})  # fmt: skip
    profile.stop()
    (child,) = [process for process in profile.processes.values() if process.test == test]
    assert child.kind.startswith("python -c") and 0.5 <= child.cpu_seconds < 2
    assert os.getpid() not in [pid for pid, _ in profile.processes]  # began before it
    lines = profile.markdown(10.0, 5.0, "pytest tests/unit", {"passed": 3}).splitlines()
    assert "`pytest tests/unit`: 3 passed in 10.0 s wall." in lines
    total = 5.0 + sum(process.cpu_seconds for process in profile.processes.values())
    assert any(f"**{total:.0f} CPU s**" in line for line in lines)
    row = next(line for line in lines if line.startswith(f"| `{test}` |"))
    assert 0.5 <= float(row.split("|")[2]) < 2
