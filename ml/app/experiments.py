"""Experiments page: every run with its cross-validated metrics; two runs side by side."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ml.app import data
from ml.compare import compare_runs
from ml.summaries import champion_run_ids, experiment_table
from ml.tasks import TASKS


def _run_label(run: pd.Series) -> str:
    return f"{run['config_name']} · {run['created_at']:%Y-%m-%d %H:%M} · {run['run_id'][:8]}"


def compare(
    runs: pd.DataFrame, metrics: pd.DataFrame, fold_scores: pd.DataFrame, first: str, second: str
) -> pd.DataFrame:
    """Metrics of two runs side by side (mean over folds), their difference and, for runs
    scored on the same folds, its corrected resampled t-test p-value (ml/compare.py)."""
    by_id = runs.set_index("run_id", drop=False)
    labels = {run_id: _run_label(by_id.loc[run_id]) for run_id in (first, second)}
    chosen = metrics[metrics["run_id"].isin([first, second])]
    table = chosen.pivot(index="metric", columns="run_id", values="value")
    table = table.reindex(columns=[first, second])
    table["difference"] = table[second] - table[first]
    same_folds = by_id.loc[first, "folds_sha256"] == by_id.loc[second, "folds_sha256"]
    if same_folds and pd.notna(by_id.loc[first, "folds_sha256"]):
        scored = set(fold_scores.loc[fold_scores["run_id"] == first, "metric"])
        table["p (corrected)"] = [
            compare_runs(fold_scores, second, first, metric).p_value if metric in scored else None
            for metric in table.index
        ]  # fmt: skip
    return table.rename(columns=labels).reset_index()


def show_intervals(runs: pd.DataFrame, champions: frozenset[str]) -> None:
    """How far to trust a prediction: coverage of the regression champion's intervals."""
    from ml.report import champion_intervals

    shown = champion_intervals(data.paths(), runs, champions)
    if shown is None:
        return
    st.subheader("How far to trust a prediction")
    st.image(shown.coverage_png)
    st.caption("Each bar: the share of tracks whose true streams lie inside the champion's "
               "out-of-fold prediction interval (split conformal, calibrated per bin of "
               "predicted streams on rows the model never trained on).")  # fmt: skip


def render() -> None:
    st.title("Experiments")
    if not data.has_runs():
        st.info("No runs yet: run `python cli.py train --all`.")
        return
    runs = data.query("select * from ml.runs order by created_at desc")
    metrics = data.table("ml.run_metrics")
    fold_scores = data.table("ml.fold_scores")
    champions = champion_run_ids(data.model_versions())
    for task in TASKS.values():
        table = experiment_table(runs, metrics, fold_scores, task, champions)
        if len(table):
            st.subheader(task.name.capitalize())
            st.dataframe(table, hide_index=True)

    show_intervals(runs, champions)

    st.subheader("Compare two runs")
    task = st.radio("Task", list(TASKS), horizontal=True)
    task_runs = runs[runs["task"] == task]
    options = task_runs["run_id"].tolist()
    if len(options) < 2:
        st.info(f"Train two {task} configs to compare them.")
        return
    labels = dict(zip(options, task_runs.apply(_run_label, axis=1), strict=True))
    left, right = st.columns(2)
    first = left.selectbox("First run", options, format_func=labels.get, index=0)
    second = right.selectbox("Second run", options, format_func=labels.get, index=1)
    if first == second:
        st.info("Pick two different runs to compare.")
        return
    st.dataframe(compare(runs, metrics, fold_scores, first, second).round(4), hide_index=True)
    st.caption("p (corrected): the corrected resampled t-test over the runs' shared folds; "
               "shown only for runs scored on the same folds.")  # fmt: skip
    importance = data.query(
        "select run_id, feature, importance_mean from ml.feature_importance"
        " where run_id in (?, ?)", (first, second),
    )  # fmt: skip
    if len(importance):
        wide = importance.pivot(index="feature", columns="run_id", values="importance_mean")
        st.caption("Permutation importance (drop in the run's score when a feature is shuffled)")
        st.bar_chart(wide.rename(columns=labels), stack=False, horizontal=True)
