"""One self-contained HTML report of the warehouse: dataset, correlations, experiments, plots.

Everything comes from the warehouse (and the MLflow registry for the champion flag); images
are embedded, so the file opens in any browser with no server and can be mailed as it is.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ml import warehouse
from ml.settings import REPORT_FILE, Paths
from ml.summaries import (
    REJECT_REASONS_SQL,
    champion_run,
    champion_run_ids,
    experiment_table,
    latest_runs,
)
from ml.tasks import TASKS

ROW_WARNINGS_SQL = """
select warning, count(*) as rows, min(raw_row_number) as first_raw_row
from audit.row_warnings
group by warning
order by rows desc, warning
"""
RUN_PREDICTIONS_SQL = """
select predictions.*, features.released_year, level.value as interval_level
from ml.predictions as predictions
left join marts.track_features as features on predictions.track_id = features.track_id
left join ml.run_metrics as level
    on predictions.run_id = level.run_id and level.metric = 'interval_level'
where predictions.run_id = ?
order by predictions.track_id
"""
CONTRIBUTIONS_SQL = """
select
    runs.config_name as config,
    contributions.feature,
    avg(abs(contributions.contribution)) as mean_abs_contribution,
    avg(contributions.contribution) as mean_contribution,
    count(*) as tracks
from ml.prediction_contributions as contributions
inner join ml.runs as runs on contributions.run_id = runs.run_id
where list_contains(?, contributions.run_id)
group by all
order by config, mean_abs_contribution desc
"""
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; white-space: nowrap; }
.wide { overflow-x: auto; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.25rem; }
details { margin: 0.5rem 0; } summary { cursor: pointer; font-weight: 600; }
.note { color: #555; font-size: 0.9rem; }
"""


@dataclass(frozen=True)
class ReportData:
    dataset: pd.Series
    reject_reasons: pd.DataFrame
    row_warnings: pd.DataFrame
    correlations: pd.DataFrame
    runs: pd.DataFrame
    metrics: pd.DataFrame
    fold_scores: pd.DataFrame
    champion_run_ids: frozenset[str]
    # Per champion run and feature: mean |SHAP contribution| and mean contribution.
    champion_contributions: pd.DataFrame


def load_report_data(paths: Paths) -> ReportData:
    path = paths.warehouse
    dataset = warehouse.read_table(path, "audit.build_dataset").iloc[0]
    reject_reasons = warehouse.read_sql(path, REJECT_REASONS_SQL)
    row_warnings = warehouse.read_sql(path, ROW_WARNINGS_SQL)
    correlations = warehouse.read_table(path, "marts.feature_correlations")
    champions = champion_run_ids(warehouse.read_model_versions(path))
    if warehouse.has_table(path, "ml.runs"):
        runs = warehouse.read_sql(path, "select * from ml.runs order by created_at")
        metrics = warehouse.read_table(path, "ml.run_metrics")
        fold_scores = warehouse.read_table(path, "ml.fold_scores")
        contributions = warehouse.read_sql(path, CONTRIBUTIONS_SQL, [list(champions)])
    else:
        runs, metrics = pd.DataFrame(columns=warehouse.RUN_COLUMNS), pd.DataFrame()
        fold_scores = pd.DataFrame(columns=warehouse.FOLD_SCORE_COLUMNS)
        contributions = pd.DataFrame()
    return ReportData(
        dataset, reject_reasons, row_warnings, correlations, runs, metrics, fold_scores,
        champions, contributions,
    )  # fmt: skip


def run_images(paths: Paths, run: pd.Series) -> dict[str, bytes]:
    """The run's figures: the PNGs training saved in reports/<run_id>/ when they are there,
    else drawn from the warehouse."""
    from ml import plots

    saved = paths.reports_dir / str(run["run_id"])
    task = TASKS[run["task"]]
    task_stems = list(task.figures)
    if all((saved / f"{stem}.png").exists() for stem in task_stems):
        files = [saved / f"{stem}.png" for stem in [*task_stems, "importance"]]
        return {file.stem: file.read_bytes() for file in files if file.exists()}
    predictions = warehouse.read_sql(paths.warehouse, RUN_PREDICTIONS_SQL, [run["run_id"]])
    importance = warehouse.read_sql(
        paths.warehouse, "select * from ml.feature_importance where run_id = ?", [run["run_id"]]
    )
    figures = plots.run_figures(task, run["config_name"], predictions, importance)
    return {stem: plots.png_bytes(figure) for stem, figure in figures.items()}


def _img(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _table(frame: pd.DataFrame) -> str:
    return f"<div class='wide'>{frame.to_html(index=False, escape=True, border=0, na_rep='')}</div>"


@dataclass(frozen=True)
class ChampionIntervals:
    """The regression champion's run, its interval bins (with the streams factor they mean)
    and its coverage figure (PNG), as the report and the app show them."""

    run: pd.Series
    bins: pd.DataFrame
    level: float
    coverage_png: bytes


def champion_intervals(
    paths: Paths, runs: pd.DataFrame, champions: frozenset[str]
) -> ChampionIntervals | None:
    """None without a regression champion, or for one trained before intervals were kept."""
    run = champion_run(runs, champions, "regression")
    if run is None:
        return None
    bins = warehouse.read_prediction_intervals(paths.warehouse, run["run_id"])
    if bins.empty:
        return None
    table = bins.assign(streams_factor=np.exp(bins["half_width"]))[
        ["prediction_from", "prediction_to", "half_width", "streams_factor", "calibration_rows"]
    ]  # fmt: skip
    return ChampionIntervals(run, table, float(bins["interval_level"].iloc[0]),
                             run_images(paths, run)["interval_coverage"])  # fmt: skip


def interval_section(paths: Paths, data: ReportData) -> list[str]:
    """How far to trust a prediction: the regression champion's interval bins and the
    coverage of its out-of-fold intervals by decile and release year (none without one)."""
    shown = champion_intervals(paths, data.runs, data.champion_run_ids)
    if shown is None:
        return []
    return [
        "<h2>How far to trust a prediction</h2>",
        f"<p class='note'>The regression champion ({html.escape(shown.run['config_name'])}) "
        f"gives each prediction a {shown.level:.0%} interval: the predicted log streams ± the "
        "half-width of its bin (ml.prediction_intervals), i.e. predicted streams times or "
        "divided by streams_factor. Calibrated by split conformal prediction on out-of-fold "
        "residuals; interval_coverage in the experiment table is measured on each CV fold's "
        "test rows, the figure on the stored out-of-fold intervals.</p>",
        _table(shown.bins.round(3)),
        _img(shown.coverage_png, "interval coverage"),
    ]


def render_html(
    data: ReportData, correlation_png: bytes, images: dict[str, dict], intervals: list[str]
) -> str:
    """The report page. `images`: run label -> {figure stem: PNG bytes}; `intervals`: the
    interval_section's HTML."""
    dataset = data.dataset
    correlations = data.correlations.sort_values("pearson_r", key=abs, ascending=False)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Spotify popularity: report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Spotify popularity: pipeline report</h1>",
        f"<p class='note'>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from the warehouse."
        " All metrics are cross-validated; predictions are out of fold.</p>",
        "<h2>Dataset</h2>",
        _table(
            pd.DataFrame(
                [
                    {
                        "file": dataset["dataset_name"],
                        "sha256": dataset["dataset_sha256"],
                        "raw rows": dataset["raw_rows"],
                        "clean tracks": dataset["clean_rows"],
                        "rejected rows": dataset["rejected_rows"],
                        "built at": dataset["built_at"],
                    }
                ]
            )
        ),  # fmt: skip
        "<h3>Why rows were rejected</h3>",
        _table(data.reject_reasons) if len(data.reject_reasons) else "<p>No row was rejected.</p>",
        "<h3>Kept rows with warnings (audit.row_warnings)</h3>",
        _table(data.row_warnings) if len(data.row_warnings) else "<p>No warnings.</p>",
        "<h2>Correlations with log streams</h2>",
        _img(correlation_png, "correlations with log streams"),
        _table(correlations.round(3)),
        "<h2>Experiments</h2>",
    ]
    if data.runs.empty:
        parts.append("<p>No runs yet: <code>python cli.py train --all</code>.</p>")
    for task in TASKS.values():
        table = experiment_table(data.runs, data.metrics, data.fold_scores, task,
                                 data.champion_run_ids)  # fmt: skip
        if len(table):
            parts += [f"<h3>{task.name.capitalize()} (champion chosen by "
                      f"{task.champion_metric})</h3>", _table(table)]  # fmt: skip
    parts += intervals
    if len(data.champion_contributions):
        parts += [
            "<h2>Why the champions predict what they do</h2>",
            "<p class='note'>Mean absolute SHAP contribution of each feature over the tracks "
            "(ml.prediction_contributions; log streams, or the classifier's log-odds): how far "
            "it moves a prediction from the base value, on average.</p>",
            _table(data.champion_contributions.round(4)),
        ]
    if images:
        parts.append("<h2>Plots of the newest run of each config</h2>")
    for label, figures in images.items():
        pictures = "".join(_img(png, f"{label}: {stem}") for stem, png in figures.items())
        parts.append(f"<details><summary>{html.escape(label)}</summary>{pictures}</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    paths: Paths, target: Path | None = None, progress: Callable[[str], None] = lambda _: None
) -> Path:
    """Write the report to `target` (default: reports/report.html beside the warehouse)."""
    from ml import plots

    data = load_report_data(paths)
    correlation_png = plots.png_bytes(plots.correlation_figure(data.correlations))
    images = {}
    plotted = latest_runs(data.runs, str(data.dataset["dataset_sha256"]))
    for number, run in enumerate(plotted.to_dict("records"), start=1):
        progress(f"plotting {run['config_name']} ({number}/{len(plotted)})")
        label = f"{run['config_name']} — {run['task']}, {run['model_type']}, {run['feature_set']}"
        images[label] = run_images(paths, pd.Series(run))
    target = target or paths.reports_dir / REPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    html_text = render_html(data, correlation_png, images, interval_section(paths, data))
    target.write_text(html_text, encoding="utf-8")
    return target
