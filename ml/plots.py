"""Figures of one run and of the dataset, drawn headless with matplotlib from warehouse frames.

Every function takes DataFrames (the columns of marts.feature_correlations, ml.predictions,
ml.feature_importance) and returns a matplotlib Figure; `save_figures` writes them as PNG.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

if TYPE_CHECKING:
    from ml.tasks import Task

# Above this many points a scatter becomes a blot: hexagonal bins show the density instead.
MAX_SCATTER_POINTS = 5_000
# Residuals of a release year are summarised only when it has this many tracks.
MIN_TRACKS_PER_YEAR = 5
WEAK_CORRELATION = 0.1
DPI = 100
LOG_STREAMS_LABEL = "log streams (natural log of total Spotify streams)"


def _figure(width: float = 7.0, height: float = 4.5) -> tuple[Figure, plt.Axes]:
    figure, axes = plt.subplots(figsize=(width, height), dpi=DPI, layout="constrained")
    axes.grid(alpha=0.3)
    return figure, axes


def _finish(axes: plt.Axes, x_label: str, y_label: str, title: str, legend: str | None) -> None:
    """Axis labels, title and (at `legend`, a matplotlib location) the legend."""
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    if legend:
        axes.legend(loc=legend, fontsize="small")


def correlation_figure(correlations: pd.DataFrame) -> Figure:
    """Pearson r of each feature with log_streams and its 95 % interval; Spearman beside it."""
    ordered = correlations.dropna(subset=["pearson_r"]).sort_values("pearson_r")
    figure, axes = _figure(7.5, max(3.5, 0.28 * len(ordered) + 1.2))
    positions = np.arange(len(ordered))
    errors = np.vstack([
        ordered["pearson_r"] - ordered["pearson_r_ci_lower"],
        ordered["pearson_r_ci_upper"] - ordered["pearson_r"],
    ])  # fmt: skip
    axes.axvspan(-WEAK_CORRELATION, WEAK_CORRELATION, color="0.9", label="|r| < 0.1")
    axes.errorbar(ordered["pearson_r"], positions, xerr=errors, fmt="o", color="tab:blue",
                  capsize=3, label="Pearson r, 95 % interval")  # fmt: skip
    axes.scatter(ordered["spearman_rho"], positions, marker="x", color="tab:orange",
                 label="Spearman rho", zorder=3)  # fmt: skip
    axes.axvline(0, color="0.3", linewidth=0.8)
    axes.set_yticks(positions, ordered["feature"])
    axes.set_xlim(-1, 1)
    n_tracks = int(ordered["n"].max()) if len(ordered) else 0
    title = f"Correlation of each feature with log streams ({n_tracks:,} tracks)"
    _finish(axes, "correlation with log streams", "", title, "lower right")
    return figure


def predicted_vs_actual_figure(predictions: pd.DataFrame, run_label: str) -> Figure:
    """Out-of-fold predicted log streams against the actual ones, with the identity line."""
    actual = _floats(predictions["actual_log_streams"])
    predicted = _floats(predictions["predicted_log_streams"])
    figure, axes = _figure(6.0, 5.5)
    if len(actual) > MAX_SCATTER_POINTS:
        cells = axes.hexbin(actual, predicted, gridsize=60, mincnt=1, bins="log", cmap="viridis")
        figure.colorbar(cells, ax=axes, label="tracks per cell")
    else:
        axes.scatter(actual, predicted, s=10, alpha=0.5)
    low, high = np.nanmin([actual, predicted]), np.nanmax([actual, predicted])
    axes.plot([low, high], [low, high], color="tab:red", linewidth=1, label="perfect prediction")
    r2 = 1 - np.sum((actual - predicted) ** 2) / np.sum((actual - actual.mean()) ** 2)
    _finish(axes, f"actual {LOG_STREAMS_LABEL}", "predicted log streams (out of fold)",
            f"{run_label}: predicted vs actual, out of fold\nR² {r2:.3f} on {len(actual):,} tracks",
            "upper left")  # fmt: skip
    return figure


def residuals_by_year_figure(predictions: pd.DataFrame, run_label: str) -> Figure:
    """Out-of-fold residuals against release year, with each well-filled year's median."""
    frame = pd.DataFrame({
        "year": _floats(predictions["released_year"]),
        "residual": _floats(predictions["actual_log_streams"])
        - _floats(predictions["predicted_log_streams"]),
    }).dropna()  # fmt: skip
    shown = frame.sample(min(len(frame), MAX_SCATTER_POINTS), random_state=0)
    figure, axes = _figure()
    axes.scatter(shown["year"], shown["residual"], s=8, alpha=0.35, label="one track")
    by_year = frame.groupby("year")["residual"].agg(["median", "size"])
    by_year = by_year[by_year["size"] >= MIN_TRACKS_PER_YEAR]
    axes.plot(by_year.index, by_year["median"], "o-", color="tab:red",
              label=f"median of the year (years with ≥ {MIN_TRACKS_PER_YEAR} tracks)")  # fmt: skip
    axes.axhline(0, color="0.3", linewidth=0.8)
    _finish(axes, "release year", "residual: actual − predicted log streams",
            f"{run_label}: out-of-fold residuals by release year", "lower left")  # fmt: skip
    return figure


# Release years grouped so that each band holds enough of the Kaggle file's songs to measure
# coverage: (first year, label); a band runs to the next one's first year.
YEAR_BANDS = [(-np.inf, "before 2000"), (2000, "2000–2014"), (2015, "2015–2019"),
              (2020, "2020–2021"), (2022, "2022"), (2023, "2023 on")]  # fmt: skip


def interval_coverage_figure(predictions: pd.DataFrame, run_label: str) -> Figure:
    """The share of tracks whose true log streams lie inside their out-of-fold prediction
    interval, per decile of predicted streams and per release-year band, against the level
    the intervals were calibrated to (column `interval_level`)."""
    frame = pd.DataFrame({
        "actual": _floats(predictions["actual_log_streams"]),
        "predicted": _floats(predictions["predicted_log_streams"]),
        "lower": _floats(predictions["predicted_log_streams_lower"]),
        "upper": _floats(predictions["predicted_log_streams_upper"]),
        "year": _floats(predictions["released_year"]),
    }).dropna(subset=["actual", "lower", "upper"])  # fmt: skip
    frame["covered"] = frame["actual"].between(frame["lower"], frame["upper"])
    frame["decile"] = pd.qcut(frame["predicted"].rank(method="first"), 10, labels=range(1, 11))
    starts, names = zip(*YEAR_BANDS, strict=True)
    frame["band"] = pd.cut(frame["year"], [*starts, np.inf], labels=names, right=False)
    level = float(predictions["interval_level"].iloc[0])
    figure, (by_decile, by_band) = plt.subplots(1, 2, figsize=(10.0, 4.2), dpi=DPI,
                                                layout="constrained", sharey=True)  # fmt: skip
    for axes, column, x_label in ((by_decile, "decile", "decile of predicted streams"),
                                  (by_band, "band", "release year")):  # fmt: skip
        groups = frame.groupby(column, observed=True)["covered"].agg(["mean", "size"])
        axes.bar(groups.index.astype(str), groups["mean"], color="tab:blue", alpha=0.8)
        for position, (share, size) in enumerate(groups.itertuples(index=False)):
            axes.text(position, share + 0.01, f"{size}", ha="center", fontsize=7)
        axes.axhline(level, color="tab:red", linestyle="--", label=f"calibrated to {level:.0%}")
        axes.set_ylim(0, 1.08)
        axes.grid(alpha=0.3)
        axes.tick_params(axis="x", labelsize=8)
        _finish(axes, x_label, "share inside the interval (tracks above bars)",
                f"by {x_label}", "lower left")  # fmt: skip
    figure.suptitle(f"{run_label}: coverage of the out-of-fold prediction intervals "
                    f"({frame['covered'].mean():.1%} of {len(frame):,} tracks)")  # fmt: skip
    return figure


def importance_figure(
    importance: pd.DataFrame, run_label: str, task: Task, top: int = 20
) -> Figure:
    """Held-out permutation importance (mean ± std) of the `top` most important features."""
    ordered = importance.sort_values("importance_mean").tail(top)
    figure, axes = _figure(7.0, max(3.0, 0.3 * len(ordered) + 1.2))
    axes.barh(ordered["feature"], ordered["importance_mean"], xerr=ordered["importance_std"],
              color="tab:green", capsize=3)  # fmt: skip
    axes.axvline(0, color="0.3", linewidth=0.8)
    _finish(axes, f"drop in {task.score_label} when the feature is shuffled (held-out folds)",
            "", f"{run_label}: permutation importance", None)  # fmt: skip
    return figure


def roc_figure(predictions: pd.DataFrame, run_label: str) -> Figure:
    from sklearn.metrics import roc_auc_score, roc_curve

    actual, probability = _labels_and_probabilities(predictions)
    false_positive, true_positive, _ = roc_curve(actual, probability)
    figure, axes = _figure(5.5, 5.0)
    axes.plot(false_positive, true_positive, color="tab:blue",
              label=f"model (AUC {roc_auc_score(actual, probability):.3f})")  # fmt: skip
    axes.plot([0, 1], [0, 1], linestyle="--", color="0.5", label="chance")
    _finish(axes, "false positive rate", "true positive rate (recall)",
            f"{run_label}: ROC curve, out of fold", "lower right")  # fmt: skip
    return figure


def precision_recall_figure(predictions: pd.DataFrame, run_label: str) -> Figure:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    actual, probability = _labels_and_probabilities(predictions)
    precision, recall, _ = precision_recall_curve(actual, probability)
    figure, axes = _figure(5.5, 5.0)
    score = average_precision_score(actual, probability)
    axes.step(recall, precision, where="post", color="tab:blue",
              label=f"model (average precision {score:.3f})")  # fmt: skip
    axes.axhline(actual.mean(), linestyle="--", color="0.5",
                 label=f"share of top-decile tracks ({actual.mean():.2f})")  # fmt: skip
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    _finish(axes, "recall", "precision", f"{run_label}: precision–recall curve, out of fold",
            "lower left")  # fmt: skip
    return figure


def calibration_figure(predictions: pd.DataFrame, run_label: str, bins: int = 10) -> Figure:
    from sklearn.calibration import calibration_curve

    actual, probability = _labels_and_probabilities(predictions)
    observed, predicted = calibration_curve(actual, probability, n_bins=bins, strategy="uniform")
    figure, axes = _figure(5.5, 5.0)
    label = f"model ({bins} bins of width {1 / bins:g}; empty bins left out)"
    axes.plot(predicted, observed, "o-", color="tab:blue", label=label)
    axes.plot([0, 1], [0, 1], linestyle="--", color="0.5", label="perfectly calibrated")
    _finish(axes, "predicted probability of the top decile", "observed share in the top decile",
            f"{run_label}: calibration, out of fold", "upper left")  # fmt: skip
    return figure


def waterfall_figure(contributions: pd.DataFrame, output_label: str, top: int = 8) -> Figure:
    """One song's SHAP contributions (rows of one task, ml/explain.py) as a waterfall: from
    the base value, the `top` largest steps and the rest together, to the prediction."""
    ranked = contributions.reindex(
        contributions["contribution"].abs().sort_values(ascending=False).index
    )
    steps = list(zip(ranked["feature"].head(top), ranked["contribution"].head(top), strict=True))
    rest = ranked["contribution"].iloc[top:]
    if len(rest):
        steps.append((f"{len(rest)} other features", rest.sum()))
    start = float(ranked["base_value"].iloc[0])
    figure, axes = _figure(7.0, 0.45 * len(steps) + 1.6)
    for position, (_, step) in enumerate(steps):
        axes.barh(position, step, left=start, color="tab:red" if step > 0 else "tab:blue")
        axes.text(start + step, position, f" {step:+.3f}", va="center", fontsize=8)
        start += step
    axes.set_yticks(range(len(steps)), [name for name, _ in steps])
    axes.invert_yaxis()
    axes.axvline(float(ranked["base_value"].iloc[0]), color="gray", linestyle=":")
    axes.axvline(float(ranked["prediction"].iloc[0]), color="black")
    _finish(axes, output_label, "", f"base {ranked['base_value'].iloc[0]:.3f} → "
            f"prediction {ranked['prediction'].iloc[0]:.3f}", None)  # fmt: skip
    return figure


def _labels_and_probabilities(predictions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return (
        predictions["actual_label"].astype(bool).to_numpy(dtype=int),
        _floats(predictions["predicted_probability"]),
    )


def _floats(values: pd.Series) -> np.ndarray:
    """Any numeric column (nullable or not) as float64, missing as NaN."""
    return pd.to_numeric(values).astype("float64").to_numpy()


# The figures drawn from a run's predictions, by file stem (each task names its own in
# Task.figures; run_figures adds the importance when the run measured it). The correlations
# depend only on the build: the report and the app draw them from marts.feature_correlations.
RUN_FIGURES = {
    "predicted_vs_actual": predicted_vs_actual_figure,
    "residuals_by_year": residuals_by_year_figure,
    "interval_coverage": interval_coverage_figure,
    "roc": roc_figure,
    "precision_recall": precision_recall_figure,
    "calibration": calibration_figure,
}


def run_figures(
    task: Task,
    run_label: str,
    predictions: pd.DataFrame,
    importance: pd.DataFrame | None,
) -> dict[str, Figure]:
    """All figures of one run, by file stem. `predictions` holds the run's ml.predictions rows
    plus `released_year`."""
    figures = {stem: RUN_FIGURES[stem](predictions, run_label) for stem in task.figures}
    if importance is not None and len(importance):
        figures["importance"] = importance_figure(importance, run_label, task)
    return figures


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes (for embedding), then freed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def save_figures(figures: dict[str, Figure], folder: Path) -> list[Path]:
    """Write each figure as folder/<stem>.png and free it. Returns the files in order."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, figure in figures.items():
        path = folder / f"{stem}.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written
