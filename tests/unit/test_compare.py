import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.compare import corrected_t_test, paired_differences

DIFFERENCES = np.array([0.02, -0.01, 0.03, 0.015, 0.0, 0.025, 0.01, -0.005, 0.02, 0.012])


def test_without_correction_it_is_scipys_paired_t_test():
    naive = corrected_t_test(DIFFERENCES, test_to_train=0.0)
    assert naive.p_value == pytest.approx(stats.ttest_1samp(DIFFERENCES, 0.0).pvalue, rel=1e-12)
    interval = stats.ttest_1samp(DIFFERENCES, 0.0).confidence_interval(0.95)
    assert (naive.low, naive.high) == pytest.approx((interval.low, interval.high), rel=1e-12)


def test_the_correction_divides_t_by_the_square_root_of_one_plus_folds_times_the_ratio():
    """Nadeau & Bengio: variance (1/J + n2/n1) s² instead of s²/J, so t shrinks by
    sqrt(1 + J n2/n1); for 5-fold CV n2/n1 = 1/4."""
    folds, ratio = len(DIFFERENCES), 1 / 4
    naive_t = stats.ttest_1samp(DIFFERENCES, 0.0).statistic
    expected = 2 * stats.t.sf(abs(naive_t) / np.sqrt(1 + folds * ratio), folds - 1)
    corrected = corrected_t_test(DIFFERENCES, ratio)
    assert corrected.p_value == pytest.approx(expected, rel=1e-12)
    assert corrected.p_value > corrected_t_test(DIFFERENCES, 0.0).p_value
    assert corrected.low < DIFFERENCES.mean() < corrected.high


def test_equal_folds_give_p_one_and_a_constant_gap_p_zero():
    assert corrected_t_test(np.zeros(5), 0.25).p_value == 1.0
    constant = corrected_t_test(np.full(5, 0.1), 0.25)
    assert constant.p_value == 0.0 and constant.low == constant.high == pytest.approx(0.1)
    with pytest.raises(ValueError, match="at least two folds"):
        corrected_t_test(np.array([0.1]), 0.25)


def test_folds_pair_by_repeat_and_fold_whatever_their_order():
    scores = pd.DataFrame({
        "run_id": ["a", "a", "a", "b", "b", "b"], "repeat": [0, 0, 1, 1, 0, 0],
        "fold": [0, 1, 0, 0, 1, 0], "metric": "r2", "value": [0.5, 0.6, 0.7, 0.4, 0.3, 0.2],
    })  # fmt: skip
    differences, folds_per_repeat = paired_differences(scores, "a", "b", "r2")
    np.testing.assert_allclose(differences, [0.3, 0.3, 0.3])
    assert folds_per_repeat == 2
