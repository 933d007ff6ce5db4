"""Tables of the warehouse that the HTML report, the app and `cli.py results` show: the
reasons rows were rejected, and the experiments of a task with their champion."""

from __future__ import annotations

import pandas as pd

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
