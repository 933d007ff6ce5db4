"""Tables of the warehouse that the HTML report, the app and `cli.py results` show: the
reasons rows were rejected, and the experiments of a task with their champion."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml import warehouse
from ml.errors import UserError
from ml.tasks import TASKS, Task

REJECT_REASONS_SQL = """
select reject_reason, count(*) as rows
from audit.rejected_rows
group by reject_reason
order by rows desc, reject_reason
"""


def champion_run_ids(versions: pd.DataFrame) -> frozenset[str]:
    """Run ids of the current champions among `versions` (ml.model_versions rows)."""
    if versions.empty:
        return frozenset()
    return frozenset(versions.loc[versions["is_champion"], "run_id"])


def experiment_table(
    runs: pd.DataFrame, metrics: pd.DataFrame, task: Task, champions: frozenset[str]
) -> pd.DataFrame:
    """One row per run of `task`: mean ± std of its metrics, the reference model's score on
    the same folds, and whether the run's model is the champion."""
    task_runs = runs[runs["task"] == task.name]
    columns = ["champion", "config", "feature set", "model", "dataset", "rows", "created at"]
    names = task.metrics
    baseline = f"baseline_{task.champion_metric}"
    rows = []
    for run in task_runs.itertuples():
        run_metrics = metrics[metrics["run_id"] == run.run_id].set_index("metric")
        row = {
            "champion": "★ champion" if run.run_id in champions else "",
            "config": run.config_name,
            "feature set": run.feature_set,
            "model": run.model_type,
            "dataset": run.dataset_name,
            "rows": run.n_rows,
            "created at": f"{run.created_at:%Y-%m-%d %H:%M}",
        }
        for name in [*names, baseline, "permutation_pvalue"]:
            row[name] = _mean_std(run_metrics, name)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*columns, *names, baseline, "permutation_pvalue"])


def _mean_std(run_metrics: pd.DataFrame, name: str) -> str:
    if name not in run_metrics.index:
        return ""
    value, std = run_metrics.loc[name, "value"], run_metrics.loc[name, "std"]
    return f"{value:.3f}" if pd.isna(std) else f"{value:.3f} ± {std:.3f}"


def latest_runs(runs: pd.DataFrame, dataset_sha256: str) -> pd.DataFrame:
    """The newest run of each config on the warehouse's current dataset (the ones plotted)."""
    current = runs[runs["dataset_sha256"] == dataset_sha256]
    return current.sort_values("created_at").groupby("config_name").tail(1)


def results_markdown(
    runs: pd.DataFrame, metrics: pd.DataFrame, champions: frozenset[str], heading: list[str]
) -> str:
    """`heading`, then per task a Markdown table of `runs` (experiment_table's columns, but
    the dataset's, which the heading names)."""
    lines = list(heading)
    for task in TASKS.values():
        table = experiment_table(runs, metrics, task, champions)
        if table.empty:
            continue
        table = table.drop(columns=["dataset", "rows", "created at"])
        lines += ["", f"## {task.name.capitalize()} (champion chosen by {task.champion_metric})",
                  "", "| " + " | ".join(table.columns) + " |",
                  "|" + "---|" * len(table.columns)]  # fmt: skip
        lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def results_document(path: Path) -> str:
    """`cli.py results`: every config's newest run on the warehouse's data, by feature set,
    under a heading that names the data, the dates and the commits of the runs."""
    dataset = warehouse.read_table(path, "audit.build_dataset").iloc[0]
    runs = latest_runs(warehouse.read_table(path, "ml.runs"), dataset["dataset_sha256"])
    if runs.empty:
        raise UserError(f"no runs on {dataset['dataset_name']} yet (`python cli.py run --all`)")
    runs = runs.sort_values(["feature_set", "config_name"])
    commits = ", ".join(sorted({str(commit)[:7] for commit in runs["git_commit"].dropna()}))
    heading = [
        "# Results: every config's newest run",
        "",
        f"Data: {dataset['dataset_name']} (sha256 {dataset['dataset_sha256'][:12]}…), "
        f"{runs['n_rows'].iloc[0]} clean tracks. {len(runs)} configs, trained "
        f"{runs['created_at'].min():%Y-%m-%d} to {runs['created_at'].max():%Y-%m-%d} at commit "
        f"{commits or 'unknown'}. Mean ± std over the outer folds; `baseline_*` is the reference "
        "model on the same folds. Written by `python cli.py results --out …`.",
    ]
    metrics = warehouse.read_table(path, "ml.run_metrics")
    champions = champion_run_ids(warehouse.read_model_versions(path))
    return results_markdown(runs, metrics, champions, heading)
