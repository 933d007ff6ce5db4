"""How long a user waits for a build and a prediction, each next to its floor (the same Python
and library start-up doing nothing), measured in alternation so a noisy machine moves both.
`cli.py latency` writes the table as Markdown."""

from __future__ import annotations

import csv
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from ml.raw_file import inspect_raw_csv
from ml.settings import PROJECT_ROOT, Paths

CLI = [sys.executable, str(PROJECT_ROOT / "cli.py")]
# (what is measured, its floor): the floor starts the same libraries and does nothing.
FLOORS = {
    "cli.py build": ("dbt starts (`dbt --version`)", [sys.executable, "-m", "dbt.cli.main",
                                                      "--version"]),
    "cli.py predict, 10 songs": ("Python imports pandas and DuckDB",
                                 [sys.executable, "-c", "import pandas, duckdb"]),
}  # fmt: skip


def first_songs(raw_csv: Path, count: int, target: Path) -> Path:
    """The header and the first `count` rows of `raw_csv`, in its own encoding."""
    encoding = inspect_raw_csv(raw_csv).encoding
    with raw_csv.open(encoding=encoding, newline="") as handle:
        rows = [row for _, row in zip(range(count + 1), csv.reader(handle), strict=False)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    target.write_bytes(buffer.getvalue().encode(encoding))
    return target


def _wall(command: list[str]) -> float:
    started = time.monotonic()
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if result.returncode not in (0, 3):  # 3: predict scored the file and rejected some rows
        raise RuntimeError(f"{' '.join(command[1:3])} failed: {result.stderr[-500:]}")
    return time.monotonic() - started


def measure(paths: Paths, raw_csv: Path, repeats: int,
            progress: Callable[[str], None]) -> dict[str, list[float]]:  # fmt: skip
    """Seconds per measurement, `repeats` of each; the trained warehouse is copied, not built."""
    from ml.predict import load_scorer, score_csv

    seconds: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="spotify-latency-") as folder:
        warehouse = Path(folder) / paths.warehouse.name
        shutil.copy2(paths.warehouse, warehouse)
        ten, one = (first_songs(raw_csv, n, Path(folder) / f"{n}.csv") for n in (10, 1))
        on_copy = ["--warehouse", str(warehouse)]
        predict = [*CLI, "predict", "--output", str(Path(folder) / "out.csv"), *on_copy]
        commands = {
            "cli.py build": [*CLI, "build", "--raw", str(raw_csv), *on_copy],
            "cli.py predict, 10 songs": [*predict, "--input", str(ten)],
            "cli.py predict, whole file": [*predict, "--input", str(raw_csv)],
        }
        for _, floor_command in FLOORS.values():
            _wall(floor_command)  # the first start of each reads files from disk; not counted
        for repeat in range(repeats):
            progress(f"round {repeat + 1}/{repeats}")
            for name, command in commands.items():
                if name in FLOORS:
                    floor_name, floor_command = FLOORS[name]
                    seconds[floor_name].append(_wall(floor_command))
                seconds[name].append(_wall(command))
        scorer = load_scorer(Paths(warehouse, paths.mlflow_dir))
        for _ in range(repeats):
            started = time.monotonic()
            score_csv(one, scorer, lambda message: None)
            seconds["one song in a running process (scorer loaded)"].append(
                time.monotonic() - started
            )
    return dict(seconds)


def markdown(seconds: dict[str, list[float]], heading: list[str]) -> str:
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    lines = [*heading, "", "| measurement | median s | min–max s | floor | floor median s | "
             "median / floor |", "|---|---:|---:|---|---:|---:|"]  # fmt: skip
    floor_names = {floor for floor, _ in FLOORS.values()}
    for name, values in seconds.items():
        if name in floor_names:
            continue
        floor = FLOORS[name][0] if name in FLOORS else ""
        floor_cells = (
            f"{floor} | {medians[floor]:.2f} | {medians[name] / medians[floor]:.2f}x"
            if floor
            else " | | "
        )
        lines.append(f"| {name} | {medians[name]:.2f} | {min(values):.2f}–{max(values):.2f} | "
                     f"{floor_cells} |")  # fmt: skip
    return "\n".join(lines) + "\n"
