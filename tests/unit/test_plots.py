"""Figures drawn from small frames shaped like the warehouse's tables."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from sklearn.metrics import roc_auc_score

from ml import plots
from ml.tasks import CLASSIFICATION, REGRESSION

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def correlations() -> pd.DataFrame:
    return pd.DataFrame({
        "feature": ["in_spotify_playlists", "bpm", "released_year"],
        "n": [100, 100, 98],
        "pearson_r": [0.66, 0.02, -0.26],
        "spearman_rho": [0.83, 0.01, -0.68],
        "pearson_r_ci_lower": [0.53, -0.17, -0.44],
        "pearson_r_ci_upper": [0.76, 0.21, -0.06],
    })  # fmt: skip


def regression_predictions(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    actual = rng.normal(19, 1, rows)
    predicted = actual + rng.normal(0, 0.3, rows)
    return pd.DataFrame({
        "actual_log_streams": actual,
        "predicted_log_streams": predicted,
        "predicted_log_streams_lower": predicted - 0.5,
        "predicted_log_streams_upper": predicted + 0.5,
        "released_year": pd.array(rng.choice([1990, 2019, 2020, 2023, None], rows),
                                  dtype="Int64"),
        "interval_level": 0.9,
    })  # fmt: skip


def classification_predictions(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    label = rng.random(rows) < 0.1
    probability = np.clip(label * 0.3 + rng.random(rows) * 0.7, 0, 1)
    return pd.DataFrame({
        "actual_label": pd.array(label, dtype="boolean"),
        "predicted_probability": probability,
    })  # fmt: skip


def importance() -> pd.DataFrame:
    return pd.DataFrame({
        "feature": ["in_spotify_playlists", "bpm"],
        "importance_mean": [0.7, 0.01],
        "importance_std": [0.05, 0.01],
    })  # fmt: skip


def labels(figure) -> tuple[str, str, str]:
    axes = figure.axes[0]
    return axes.get_title(), axes.get_xlabel(), axes.get_ylabel()


def test_a_regression_run_gets_fit_residuals_and_importance():
    figures = plots.run_figures(REGRESSION, "full_regression", regression_predictions(),
                                importance())  # fmt: skip
    assert list(figures) == ["predicted_vs_actual", "residuals_by_year", "interval_coverage",
                             "importance"]  # fmt: skip
    for figure in figures.values():
        title, x_label, y_label = labels(figure)
        assert title and x_label, f"unlabelled figure: {title!r}"
    assert "full_regression" in figures["predicted_vs_actual"].axes[0].get_title()
    assert "R²" in figures["importance"].axes[0].get_xlabel()


def test_interval_coverage_is_drawn_per_decile_and_year_band_against_the_level():
    frame = regression_predictions(rows=200)
    figure = plots.interval_coverage_figure(frame, "full_regression")
    by_decile, by_band = figure.axes
    inside = (frame["actual_log_streams"] - frame["predicted_log_streams"]).abs() <= 0.5
    decile = pd.qcut(frame["predicted_log_streams"].rank(method="first"), 10, labels=False)
    heights = [bar.get_height() for bar in by_decile.patches]
    np.testing.assert_allclose(heights, inside.groupby(decile).mean())
    assert [tick.get_text() for tick in by_band.get_xticklabels()] == [
        "before 2000", "2015–2019", "2020–2021", "2023 on"]  # fmt: skip
    assert by_decile.lines[0].get_ydata()[0] == 0.9
    assert f"{inside.mean():.1%} of 200 tracks" in figure._suptitle.get_text()


def test_a_classification_run_gets_roc_precision_recall_and_calibration():
    figures = plots.run_figures(CLASSIFICATION, "full_classification",
                                classification_predictions(), None)  # fmt: skip
    assert list(figures) == ["roc", "precision_recall", "calibration"]
    frame = classification_predictions()
    expected_auc = roc_auc_score(frame["actual_label"].astype(bool), frame["predicted_probability"])
    roc_legend = figures["roc"].axes[0].get_legend().get_texts()[0].get_text()
    assert roc_legend == f"model (AUC {expected_auc:.3f})"
    assert 0.6 < expected_auc < 1
    _, x_label, y_label = labels(figures["calibration"])
    assert "predicted probability" in x_label and "observed share" in y_label


def test_correlation_figure_lists_every_feature_with_its_interval():
    figure = plots.correlation_figure(correlations())
    ticks = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert ticks == ["released_year", "bpm", "in_spotify_playlists"]  # sorted by r
    assert "100 tracks" in figure.axes[0].get_title()


def test_many_points_are_binned_instead_of_scattered():
    few = plots.predicted_vs_actual_figure(regression_predictions(60), "run")
    many = plots.predicted_vs_actual_figure(
        regression_predictions(plots.MAX_SCATTER_POINTS + 1), "run"
    )
    assert not any(isinstance(item, PolyCollection) for item in few.axes[0].collections)
    assert any(isinstance(item, PolyCollection) for item in many.axes[0].collections)


def test_residuals_summarise_only_years_with_enough_tracks():
    frame = regression_predictions(60)
    frame.loc[0, "released_year"] = 1950  # a year with one track: scattered, not summarised
    figure = plots.residuals_by_year_figure(frame, "run")
    median_line = figure.axes[0].get_lines()[0]
    assert 1950 not in median_line.get_xdata()
    assert set(median_line.get_xdata()) == {1990, 2019, 2020, 2023}


def test_figures_are_saved_as_png_files(tmp_path):
    figures = {"correlations": plots.correlation_figure(correlations())}
    written = plots.save_figures(figures, tmp_path / "run")
    assert written == [tmp_path / "run" / "correlations.png"]
    assert written[0].read_bytes()[:8] == PNG_MAGIC
    assert plots.png_bytes(plots.correlation_figure(correlations()))[:8] == PNG_MAGIC


@pytest.mark.parametrize("missing", ["actual_log_streams", "predicted_log_streams"])
def test_a_missing_column_names_itself(missing):
    with pytest.raises(KeyError, match=missing):
        plots.predicted_vs_actual_figure(regression_predictions().drop(columns=missing), "run")


def test_waterfall_steps_from_the_base_value_to_the_prediction():
    from ml.plots import waterfall_figure

    contributions = pd.DataFrame({
        "feature": [f"f{i}" for i in range(12)], "contribution": np.linspace(-1.0, 1.2, 12),
        "base_value": 19.5,
    })  # fmt: skip
    contributions["prediction"] = 19.5 + contributions["contribution"].sum()
    axes = waterfall_figure(contributions, "log streams", top=8).axes[0]
    bars = axes.patches
    assert len(bars) == 9  # the eight largest and the four others together
    assert bars[0].get_width() == pytest.approx(1.2)  # the largest first
    assert bars[-1].get_x() + bars[-1].get_width() == pytest.approx(
        contributions["prediction"].iloc[0]
    )
    assert [label.get_text() for label in axes.get_yticklabels()][-1] == "4 other features"
