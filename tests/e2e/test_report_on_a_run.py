"""`cli.py report` and the saved plots of a finished run on the sample."""

import re
import shutil

import pandas as pd

from ml.report import run_images
from ml.settings import Paths
from support import checks as check
from support.runs import run_cli


def test_report_command_writes_one_self_contained_page(sample_run, tmp_path):
    """To the .html file --out names (a folder gets report.html; the unit tests check that)."""
    target = tmp_path / "spotify-report.html"
    result = run_cli("report", "--out", str(target), "--warehouse", str(sample_run.warehouse),
                     env=sample_run.env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {target} (")
    page = target.read_text(encoding="utf-8")
    sha256 = check.scalar(sample_run, "select dataset_sha256 from audit.build_dataset")
    assert sha256 in page
    for reason in ("duplicate_track", "unparseable_number", "implausible_streams"):
        assert reason in page
    assert page.count("★ champion") == 2  # one champion per task
    assert "<th>p vs best</th>" in page
    why = page.split("<h2>Why the champions predict what they do</h2>")[1].split("<h2>")[0]
    assert "in_spotify_playlists" in why and "full_regression" in why
    for config in sample_run.config_names:
        assert f"<summary>{config} — " in page
    trust = page.split("<h2>How far to trust a prediction</h2>")[1].split("<h2>")[0]
    assert "90% interval" in trust and "<th>half_width</th>" in trust
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert images[:2] == ["correlations with log streams", "interval coverage"]
    shown = {(alt.split(" — ")[0], alt.rsplit(": ", 1)[1]) for alt in images[2:]}
    assert ("full_classification", "calibration") in shown
    assert ("full_regression", "interval_coverage") in shown
    assert not re.search(r'src="(http|file|/)', page)  # nothing fetched from elsewhere


def test_training_saves_each_runs_plots_beside_the_warehouse_and_in_mlflow(sample_run):
    run_ids = dict(check.query(sample_run, "select config_name, run_id from ml.runs"))
    expected = {
        "full_regression": {"predicted_vs_actual", "residuals_by_year", "interval_coverage",
                            "importance"},
        "full_classification": {"roc", "precision_recall", "calibration", "importance"},
    }  # fmt: skip
    for config, stems in expected.items():
        folder = sample_run.warehouse.parent / "reports" / run_ids[config]
        assert {path.stem for path in folder.glob("*.png")} == stems
        logged = list((sample_run.mlflow_dir / "mlartifacts").glob(
            f"**/{run_ids[config]}/artifacts/plots/*.png"))  # fmt: skip
        assert {path.stem for path in logged} == stems


def test_report_uses_the_saved_plots_and_draws_them_when_they_are_gone(sample_run, tmp_path):
    run = pd.Series(dict(zip(("run_id", "config_name", "task"), check.query(
        sample_run,
        "select run_id, config_name, task from ml.runs where config_name = 'full_regression'",
    )[0], strict=True)))  # fmt: skip
    saved = sample_run.warehouse.parent / "reports" / run["run_id"]
    with_saved = run_images(Paths(sample_run.warehouse, sample_run.mlflow_dir), run)
    assert list(with_saved) == ["predicted_vs_actual", "residuals_by_year", "interval_coverage",
                                "importance"]  # fmt: skip
    assert with_saved["importance"] == (saved / "importance.png").read_bytes()

    copy = tmp_path / "copy.duckdb"  # a warehouse with no reports/ folder beside it
    shutil.copy(sample_run.warehouse, copy)
    drawn = run_images(Paths(copy, sample_run.mlflow_dir), run)
    assert list(drawn) == list(with_saved)
    assert all(png.startswith(b"\x89PNG") for png in drawn.values())


def test_results_prints_every_config_of_the_run_with_the_champions(sample_run, tmp_path):
    out = tmp_path / "new folder" / "results.md"  # made on writing
    result = run_cli("results", "--out", str(out), "--warehouse", str(sample_run.warehouse),
                     env=sample_run.env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert text == result.stdout.rstrip("\n") + "\n"
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    for config in sample_run.config_names:
        assert sum(f"| {config} |" in row for row in rows) == 1, config
    assert sum(row.startswith("| ★ champion |") for row in rows) == 2
    assert "spotify-2023-sample.csv" in text.splitlines()[2]
