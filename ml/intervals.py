"""Prediction intervals for log streams by split conformal prediction, calibrated per bin of
the predicted value (Mondrian conformal prediction).

Calibration rows are rows a model never trained on. Their absolute residuals are grouped into
bins of predicted log streams (quartiles of the calibration predictions, fewer bins below
MIN_BIN_ROWS rows each). A bin of n rows gets as half-width its ceil((n + 1) * level)-th
smallest residual, so a new prediction in that bin is covered with probability at least
`level`. A prediction's interval is its value plus or minus its bin's half-width: the width
adapts to the song, since songs predicted to stream little are the hardest to predict.

Each outer CV fold calibrates on its own training rows only: a model fitted on four fifths of
them predicts the last fifth (ml/evaluate.py), so the coverage measured on the fold's test rows
is honest. That model saw fewer rows than the fold's, so its residuals run a little larger and
the intervals a little wide (docs/training.md measures by how much). A final model calibrates
on the first CV repeat's out-of-fold predictions: each row predicted by a model that never saw
it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

INTERVAL_BINS = 4
MIN_BIN_ROWS = 50
# The share of a CV fold's training rows that calibrates its intervals.
CALIBRATION_SHARE = 1 / 5


@dataclass(frozen=True)
class Intervals:
    level: float
    # Bin i holds the predictions from edges[i - 1] (included) to edges[i] (excluded); the
    # first bin starts at -inf, the last ends at +inf.
    edges: tuple[float, ...]
    half_widths: tuple[float, ...]
    calibration_rows: tuple[int, ...]

    def bounds(self, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) of each prediction."""
        prediction = np.asarray(prediction, dtype=float)
        half_width = np.asarray(self.half_widths)[np.searchsorted(self.edges, prediction,
                                                                  side="right")]  # fmt: skip
        return prediction - half_width, prediction + half_width

    def rows(self) -> pd.DataFrame:
        """One row per bin (ml.prediction_intervals without run_id)."""
        edges = [-math.inf, *self.edges, math.inf]
        return pd.DataFrame({
            "bin": range(len(self.half_widths)),
            "interval_level": self.level,
            "prediction_from": edges[:-1],
            "prediction_to": edges[1:],
            "half_width": self.half_widths,
            "calibration_rows": self.calibration_rows,
        })  # fmt: skip

    @classmethod
    def from_rows(cls, rows: pd.DataFrame) -> Intervals:
        rows = rows.sort_values("bin")
        return cls(float(rows["interval_level"].iloc[0]), tuple(rows["prediction_to"].iloc[:-1]),
                   tuple(rows["half_width"]), tuple(rows["calibration_rows"]))  # fmt: skip


def calibrate(y: np.ndarray, prediction: np.ndarray, level: float) -> Intervals:
    """Intervals at `level` from true values and the predictions of a model that never
    trained on their rows. A bin with too few rows for `level` (fewer than level / (1 - level))
    gets an infinite half-width: no finite bound is honest there."""
    if not 0 < level < 1:
        raise ValueError(f"interval level must lie between 0 and 1, got {level}")
    n_bins = max(1, min(INTERVAL_BINS, len(prediction) // MIN_BIN_ROWS))
    edges = list(np.unique(np.quantile(prediction, np.arange(1, n_bins) / n_bins)))
    while edges:  # Tied predictions can leave a bin short: merge it into a neighbour.
        counts = np.bincount(np.searchsorted(edges, prediction, side="right"),
                             minlength=len(edges) + 1)  # fmt: skip
        if counts.min() >= MIN_BIN_ROWS:
            break
        del edges[min(int(np.argmin(counts)), len(edges) - 1)]
    bins = np.searchsorted(edges, prediction, side="right")
    residuals = np.abs(y - prediction)
    half_widths, counts = [], []
    for number in range(len(edges) + 1):
        scores = np.sort(residuals[bins == number])
        # Rounded first: (n + 1) * 0.9 is 9.000000000000002 in floating point for n = 9.
        rank = math.ceil(round((len(scores) + 1) * level, 9))
        half_widths.append(float(scores[rank - 1]) if rank <= len(scores) else math.inf)
        counts.append(len(scores))
    return Intervals(level, tuple(map(float, edges)), tuple(half_widths), tuple(counts))


def interval_scores(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict[str, float]:
    """The share of true values inside their interval, and the intervals' mean width."""
    return {
        "interval_coverage": float(np.mean((y >= lower) & (y <= upper))),
        "interval_mean_width": float(np.mean(upper - lower)),
    }
