"""Tables of the warehouse that the HTML report, the app and `cli.py results` show: the
reasons rows were rejected, and the experiments of a task with their champion."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml import compare, warehouse
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


def champion_run(runs: pd.DataFrame, champions: frozenset[str], task: str) -> pd.Series | None:
    """The ml.runs row of `task`'s current champion (None before there is one)."""
    found = runs[runs["run_id"].isin(champions) & (runs["task"] == task)]
    return None if found.empty else found.iloc[0]


def experiment_table(
    runs: pd.DataFrame, metrics: pd.DataFrame, fold_scores: pd.DataFrame, task: Task,
    champions: frozenset[str],
) -> pd.DataFrame:  # fmt: skip
    """One row per run of `task`: mean ± std of its metrics, the reference model's score on
    the same folds, the corrected p-value of its difference from the best run on the same
    folds (ml/compare.py), and whether the run's model is the champion."""
    task_runs = runs[runs["task"] == task.name]
    against_best = compare.versus_best(task_runs, metrics, fold_scores, task)
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
        row[VERSUS_BEST] = against_best.get(run.run_id, "")
        rows.append(row)
    return pd.DataFrame(rows, columns=[*columns, *names, VERSUS_BEST, baseline,
                                       "permutation_pvalue"])  # fmt: skip


# The column of experiment_table that says whether a run differs from the best beyond noise.
VERSUS_BEST = "p vs best"


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
    runs: pd.DataFrame, metrics: pd.DataFrame, fold_scores: pd.DataFrame,
    champions: frozenset[str], heading: list[str],
) -> str:  # fmt: skip
    """`heading`, then per task a Markdown table of `runs` (experiment_table's columns, but
    the dataset's, which the heading names)."""
    lines = list(heading)
    for task in TASKS.values():
        table = experiment_table(runs, metrics, fold_scores, task, champions)
        if table.empty:
            continue
        table = table.drop(columns=["dataset", "rows", "created at"])
        lines += ["", f"## {task.name.capitalize()} (champion chosen by {task.champion_metric})",
                  "", "| " + " | ".join(table.columns) + " |",
                  "|" + "---|" * len(table.columns)]  # fmt: skip
        lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _current_runs(path: Path) -> tuple[pd.Series, pd.DataFrame]:
    """(the warehouse's dataset row, the newest run of each config on it)."""
    dataset = warehouse.read_table(path, "audit.build_dataset").iloc[0]
    return dataset, latest_runs(warehouse.read_table(path, "ml.runs"), dataset["dataset_sha256"])


def results_document(path: Path) -> str:
    """`cli.py results`: every config's newest run on the warehouse's data, by feature set,
    under a heading that names the data, the dates and the commits of the runs."""
    dataset, runs = _current_runs(path)
    if runs.empty:
        name = dataset["dataset_name"]
        raise UserError(f"no runs on {name} yet (run `python cli.py train --all`)")
    runs = runs.sort_values(["feature_set", "config_name"])
    commits = ", ".join(sorted({str(commit)[:7] for commit in runs["git_commit"].dropna()}))
    heading = [
        "# Results: every config's newest run",
        "",
        f"Data: {dataset['dataset_name']} (sha256 {dataset['dataset_sha256'][:12]}…), "
        f"{runs['n_rows'].iloc[0]} clean tracks. {len(runs)} configs, trained "
        f"{runs['created_at'].min():%Y-%m-%d} to {runs['created_at'].max():%Y-%m-%d} at commit "
        f"{commits or 'unknown'}. Mean ± std over the outer folds; `baseline_*` is the reference "
        "model on the same folds; `p vs best`: the corrected resampled t-test of the champion "
        "metric against the best config's on the same folds (`python cli.py compare`). "
        "Written by `python cli.py results --out …`.",
    ]
    metrics = warehouse.read_table(path, "ml.run_metrics")
    fold_scores = warehouse.read_table(path, "ml.fold_scores")
    champions = champion_run_ids(warehouse.read_model_versions(path))
    return results_markdown(runs, metrics, fold_scores, champions, heading)


def comparison_markdown(path: Path, config_a: str, config_b: str) -> str:
    """`cli.py compare`: the newest runs of two configs on the warehouse's data, metric by
    metric: means, difference with its confidence interval, corrected and naive p-values."""
    if config_a == config_b:
        raise UserError(f"compare needs two different configs (got {config_a} twice)")
    dataset, runs = _current_runs(path)
    chosen = []
    for name in (config_a, config_b):
        found = runs[runs["config_name"] == name]
        if found.empty:
            raise UserError(f"no run of {name} on {dataset['dataset_name']} "
                            f"(train it: `python cli.py train --config {name}`)")  # fmt: skip
        chosen.append(found.iloc[0])
    a, b = chosen
    if a["task"] != b["task"]:
        raise UserError(f"{config_a} is {a['task']} and {config_b} {b['task']}: not comparable")
    if pd.isna(a["folds_sha256"]) or a["folds_sha256"] != b["folds_sha256"]:
        raise UserError(f"{config_a} and {config_b} were not scored on the same folds (same "
                        "data, CV splits and seed; runs before fold scores were kept have none): "
                        "retrain both")  # fmt: skip
    fold_scores = warehouse.read_sql(path, "select * from ml.fold_scores where run_id in (?, ?)",
                                     [a["run_id"], b["run_id"]])  # fmt: skip
    metrics = warehouse.read_table(path, "ml.run_metrics").set_index(["run_id", "metric"])
    lines = [
        f"# {config_a} against {config_b}",
        "",
        f"Newest runs on {dataset['dataset_name']}: {a['run_id'][:8]} and {b['run_id'][:8]}, "
        f"the same {a['n_rows']} rows and folds. Difference = {config_a} − {config_b}, per "
        f"fold; {compare.CONFIDENCE:.0%} interval and p-value by the corrected resampled t-test "
        "(Nadeau & Bengio); the naive paired t-test over the same folds for contrast.",
        "",
        f"| metric | {config_a} | {config_b} | difference | {compare.CONFIDENCE:.0%} interval "
        "| p (corrected) | p (naive) |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for metric in TASKS[a["task"]].metrics:
        test = compare.compare_runs(fold_scores, a["run_id"], b["run_id"], metric)
        naive = compare.compare_runs(fold_scores, a["run_id"], b["run_id"], metric, False)
        lines.append(
            f"| {metric} | {metrics.loc[(a['run_id'], metric), 'value']:.3f} | "
            f"{metrics.loc[(b['run_id'], metric), 'value']:.3f} | {test.mean:+.3f} | "
            f"{test.low:+.3f} to {test.high:+.3f} | {test.p_value:.2g} | {naive.p_value:.2g} |"
        )
    if "sampled" in str(a["training_strategy"]):
        lines += ["", "Large data: fits saw capped samples, so the correction's test/train "
                  "ratio, 1/(K−1), understates it: the p-values are too small."]  # fmt: skip
    return "\n".join(lines) + "\n"
