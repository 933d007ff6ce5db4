import math

import numpy as np
import pytest

from ml.intervals import Intervals, calibrate, interval_scores


def test_a_bin_of_n_rows_takes_the_ceil_n_plus_1_times_level_th_residual():
    y = np.zeros(9)
    residuals = np.arange(1.0, 10.0)  # 9 rows: rank ceil(10 * 0.9) = 9, the largest
    assert calibrate(y, residuals, 0.9).half_widths == (9.0,)
    assert calibrate(y, -residuals, 0.5).half_widths == (5.0,)  # rank ceil(5) = 5
    # 8 rows cannot hold 90 %: no finite bound is honest.
    assert calibrate(y[:8], residuals[:8], 0.9).half_widths == (math.inf,)


def test_bins_follow_the_predicted_value_and_the_edge_belongs_to_the_upper_bin():
    intervals = Intervals(0.9, edges=(1.0, 2.0), half_widths=(0.5, 0.3, 0.1),
                          calibration_rows=(50, 50, 50))  # fmt: skip
    lower, upper = intervals.bounds(np.array([0.0, 1.0, 1.5, 2.0, 9.0]))
    np.testing.assert_allclose(upper - lower, [1.0, 0.6, 0.6, 0.2, 0.2])
    np.testing.assert_allclose((upper + lower) / 2, [0.0, 1.0, 1.5, 2.0, 9.0])
    assert Intervals.from_rows(intervals.rows()) == intervals


def test_widths_adapt_and_each_bin_covers_its_level_on_new_rows():
    """Noise grows with the predicted value: one width for all would over-cover the low
    predictions and under-cover the high ones; a width per bin covers each at its level."""
    rng = np.random.default_rng(0)

    def rows(n):
        prediction = rng.uniform(0, 4, n)
        return prediction + rng.normal(0, 0.1 + 0.2 * prediction), prediction

    intervals = calibrate(*rows(20_000), 0.9)
    assert len(intervals.half_widths) == 4
    assert list(intervals.half_widths) == sorted(intervals.half_widths)
    assert intervals.half_widths[-1] > 3 * intervals.half_widths[0]
    y, prediction = rows(20_000)
    lower, upper = intervals.bounds(prediction)
    for low, high in [(0, 1), (1, 2), (2, 3), (3, 4)]:
        held = (prediction >= low) & (prediction < high)
        assert interval_scores(y[held], lower[held], upper[held])["interval_coverage"] == (
            pytest.approx(0.9, abs=0.015)
        )


def test_few_calibration_rows_share_fewer_bins():
    rng = np.random.default_rng(1)
    prediction = rng.normal(size=120)
    assert len(calibrate(prediction + rng.normal(size=120), prediction, 0.9).half_widths) == 2


def test_a_level_outside_0_and_1_is_an_error():
    with pytest.raises(ValueError, match="between 0 and 1"):
        calibrate(np.zeros(20), np.zeros(20), 1.0)


def test_scores_count_the_true_values_inside_and_the_mean_width():
    scores = interval_scores(np.array([0.0, 1.0, 5.0]), np.array([-1.0, 1.0, 0.0]),
                             np.array([1.0, 2.0, 4.0]))  # fmt: skip
    assert scores["interval_coverage"] == pytest.approx(2 / 3)
    assert scores["interval_mean_width"] == pytest.approx(7 / 3)


def test_tied_predictions_never_leave_a_bin_short():
    """A constant model (the reference mean) predicts one value: one bin, not an empty one
    whose infinite width would catch every new prediction below it."""
    y = np.random.default_rng(2).normal(size=300)
    intervals = calibrate(y, np.full(300, 0.5), 0.9)
    assert intervals.edges == () and intervals.calibration_rows == (300,)
    lower, upper = intervals.bounds(np.array([0.4, 0.6]))
    assert np.isfinite(lower).all() and np.isfinite(upper).all()
