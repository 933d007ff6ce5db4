"""The CLI as a user meets it: fast help, one-line errors, non-zero exits."""

import subprocess
import sys

from conftest import cli_env, run_cli
from ml.settings import PROJECT_ROOT

COMMANDS = ["build", "train", "run", "predict", "sql", "models", "make-sample"]


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


def test_every_command_has_help(tmp_path):
    for command in COMMANDS:
        result = run_cli(command, "--help", env=cli_env(tmp_path))
        assert result.returncode == 0 and "Usage:" in result.stdout, command


def one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


def test_named_raw_file_that_is_missing_fails_in_one_line(tmp_path):
    result = run_cli("build", "--raw", str(tmp_path / "missing.csv"),
                     "--warehouse", str(tmp_path / "w.duckdb"), env=cli_env(tmp_path))  # fmt: skip
    assert one_line_error(result).startswith("error: raw CSV not found:")
    assert not (tmp_path / "w.duckdb").exists()


def test_unknown_config_fails_in_one_line(tmp_path):
    result = run_cli("train", "--config", "nope", "--warehouse", str(tmp_path / "w.duckdb"),
                     env=cli_env(tmp_path))  # fmt: skip
    assert "error: config not found: nope" in one_line_error(result)


def test_train_without_a_config_says_what_to_do(tmp_path):
    result = run_cli("train", "--warehouse", str(tmp_path / "w.duckdb"), env=cli_env(tmp_path))
    assert "--config" in one_line_error(result)


def test_sql_on_a_missing_warehouse_fails_in_one_line(tmp_path):
    result = run_cli("sql", "select 1", "--warehouse", str(tmp_path / "none.duckdb"),
                     env=cli_env(tmp_path))  # fmt: skip
    assert "warehouse not found" in one_line_error(result)


def test_make_sample_writes_a_seeded_file(tmp_path):
    target = tmp_path / "s.csv"
    result = run_cli("make-sample", "--rows", "30", "--seed", "5", "--out", str(target),
                     env=cli_env(tmp_path))  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.strip() == f"wrote 30 data rows to {target}"
    assert target.read_bytes().count(b"\r\n") == 31
