"""dbt's saved parse outlives a change of raw file."""

import json
import os
import subprocess
import sys
from pathlib import Path

from ml.settings import DBT_PROJECT_DIR, SAMPLE_CSV


def parse_events(target_path: Path, raw: dict[str, str]) -> list[str]:
    """The names of the events of `dbt parse` with the raw file's env vars `raw`."""
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [str(dbt), "parse", "--target-path", str(target_path), "--log-format", "json",
         "--log-level", "debug", "--no-write-json"],
        cwd=DBT_PROJECT_DIR, env={**os.environ, "SPOTIFY_WAREHOUSE": "spotify.duckdb", **raw},
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    return [json.loads(line)["info"]["name"] for line in result.stdout.splitlines()]


def test_a_build_of_another_raw_file_reuses_dbts_saved_parse(tmp_path):
    """The raw file's path, encoding, reader and sha256 reach the models when they run, not
    while dbt parses: dbt parses every file that read an env var again when its value changes
    (~1 s of each build that reads another file)."""
    first = parse_events(tmp_path, {"SPOTIFY_RAW_CSV": str(SAMPLE_CSV)})
    assert "PartialParsingSkipParsing" not in first  # a fresh target: a full parse
    other = {"SPOTIFY_RAW_CSV": str(tmp_path / "other.csv"), "SPOTIFY_RAW_ENCODING": "utf-8",
             "SPOTIFY_RAW_PARALLEL": "false", "SPOTIFY_RAW_SHA256": "0" * 64}  # fmt: skip
    assert "PartialParsingSkipParsing" in parse_events(tmp_path, other)
