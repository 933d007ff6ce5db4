"""The HTML report: its tables from small frames, and `cli.py report` on a finished run."""

import re
import shutil
from datetime import datetime

import pandas as pd

import pipeline_checks as check
from conftest import run_cli
from ml.report import experiment_table, latest_runs, run_images
from ml.settings import Paths
from ml.tasks import REGRESSION


def runs() -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": ["a", "b", "c"],
        "config_name": ["full_regression", "full_regression", "full_classification"],
        "task": ["regression", "regression", "classification"],
        "feature_set": ["full", "full", "full"],
        "model_type": ["hist_gradient_boosting"] * 3,
        "dataset_name": ["spotify-2023.csv"] * 3,
        "dataset_sha256": ["old", "new", "new"],
        "n_rows": [947] * 3,
        "created_at": [datetime(2026, 1, day) for day in (1, 2, 3)],
    })  # fmt: skip


def metrics() -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": ["a", "a", "b", "c"],
        "metric": ["r2", "baseline_r2", "r2", "pr_auc"],
        "value": [0.8361, -0.0152, 0.8402, 0.864],
        "std": [0.0371, 0.0101, None, 0.08],
        "n_splits": [25, 25, 5, 25],
    })  # fmt: skip


def test_experiment_table_shows_mean_std_baseline_and_the_champion():
    table = experiment_table(runs(), metrics(), REGRESSION, frozenset({"b"}))
    assert table["config"].tolist() == ["full_regression", "full_regression"]
    first, second = table.to_dict("records")
    assert first["r2"] == "0.836 ± 0.037" and first["baseline_r2"] == "-0.015 ± 0.010"
    assert first["champion"] == "" and second["champion"] == "★ champion"
    assert second["r2"] == "0.840" and second["rmse"] == ""  # no std, no value: shown as such


def test_only_the_newest_run_of_each_config_on_the_current_data_is_plotted():
    chosen = latest_runs(runs(), "new")
    assert sorted(chosen["run_id"]) == ["b", "c"]


def test_report_command_writes_one_self_contained_page(sample_run, tmp_path):
    result = run_cli("report", "--out", str(tmp_path), "--warehouse", str(sample_run.warehouse),
                     env=sample_run.env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    sha256 = check.scalar(sample_run, "select dataset_sha256 from audit.build_dataset")
    assert sha256 in page
    for reason in ("duplicate_track", "unparseable_number", "implausible_streams"):
        assert reason in page
    assert page.count("★ champion") == 2  # one champion per task
    for config in sample_run.config_names:
        assert f"<summary>{config} — " in page
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    shown = {(alt.split(" — ")[0], alt.rsplit(": ", 1)[1]) for alt in images[1:]}
    assert ("full_classification", "calibration") in shown
    assert ("full_regression", "residuals_by_year") in shown
    assert images[0] == "correlations with log streams"
    assert not re.search(r'src="(http|file|/)', page)  # nothing fetched from elsewhere


def test_training_saves_each_runs_plots_beside_the_warehouse_and_in_mlflow(sample_run):
    run_ids = dict(check.query(sample_run, "select config_name, run_id from ml.runs"))
    expected = {
        "full_regression": {"predicted_vs_actual", "residuals_by_year", "importance"},
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
    assert list(with_saved) == ["predicted_vs_actual", "residuals_by_year", "importance"]
    assert with_saved["importance"] == (saved / "importance.png").read_bytes()

    copy = tmp_path / "copy.duckdb"  # a warehouse with no reports/ folder beside it
    shutil.copy(sample_run.warehouse, copy)
    drawn = run_images(Paths(copy, sample_run.mlflow_dir), run)
    assert list(drawn) == list(with_saved)
    assert all(png.startswith(b"\x89PNG") for png in drawn.values())
