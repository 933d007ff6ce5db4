"""The HTML report's tables and choices, from small frames (the report of a run: e2e/)."""

from datetime import datetime

import pandas as pd

from ml.compare import compare_runs
from ml.summaries import experiment_table, latest_runs, results_markdown
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
        "folds_sha256": ["f", "f", "f"],
        "created_at": [datetime(2026, 1, day) for day in (1, 2, 3)],
    })  # fmt: skip


def fold_scores() -> pd.DataFrame:
    """Run a's r2 per fold is below run b's, by varying amounts."""
    return pd.DataFrame({
        "run_id": ["a"] * 4 + ["b"] * 4, "repeat": [0, 0, 1, 1] * 2, "fold": [0, 1] * 4,
        "metric": "r2", "value": [0.80, 0.83, 0.85, 0.86, 0.84, 0.83, 0.86, 0.87],
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
    table = experiment_table(runs(), metrics(), fold_scores(), REGRESSION, frozenset({"b"}))
    assert table["config"].tolist() == ["full_regression", "full_regression"]
    first, second = table.to_dict("records")
    assert first["r2"] == "0.836 ± 0.037" and first["baseline_r2"] == "-0.015 ± 0.010"
    assert first["champion"] == "" and second["champion"] == "★ champion"
    assert second["r2"] == "0.840" and second["rmse"] == ""  # no std, no value: shown as such
    assert second["p vs best"] == "best"
    expected = compare_runs(fold_scores(), "a", "b", "r2").p_value
    assert first["p vs best"] == f"{expected:.2g}" and 0 < expected < 1


def test_only_the_newest_run_of_each_config_on_the_current_data_is_plotted():
    chosen = latest_runs(runs(), "new")
    assert sorted(chosen["run_id"]) == ["b", "c"]


def test_results_markdown_has_a_table_per_task_with_its_champion():
    text = results_markdown(runs(), metrics(), fold_scores(), frozenset({"c"}),
                            ["# Results", "", "heading"])  # fmt: skip
    lines = text.splitlines()
    assert lines[:3] == ["# Results", "", "heading"]
    assert "## Regression (champion chosen by r2)" in lines
    assert "## Classification (champion chosen by pr_auc)" in lines
    header = lines[lines.index("## Regression (champion chosen by r2)") + 2]
    assert header.startswith("| champion | config | feature set | model | r2 | rmse | mae |")
    regression = [line for line in lines if line.startswith("|  | full_regression |")]
    assert [line.split(" | ")[4] for line in regression] == ["0.836 ± 0.037", "0.840"]
    assert any(line.startswith("| ★ champion | full_classification |") for line in lines)
