import numpy as np
import pandas as pd

from ml.ranges import outside_ranges, training_ranges


def test_ranges_are_the_1st_and_99th_percentiles_and_the_categories_seen():
    X = pd.DataFrame({"bpm": np.r_[np.arange(100.0), np.nan], "musical_key": ["C", "D"] * 50
                      + [None]})  # fmt: skip
    ranges = training_ranges(X).set_index("feature")
    assert ranges.loc["bpm", "low"] == np.percentile(np.arange(100.0), 1)
    assert ranges.loc["bpm", "high"] == np.percentile(np.arange(100.0), 99)
    assert ranges.loc["musical_key", "categories"] == ["C", "D"]


def test_rows_outside_the_ranges_name_their_features_and_missing_values_pass():
    ranges = training_ranges(pd.DataFrame({"bpm": np.arange(100.0),
                                           "musical_key": ["C", "D"] * 50}))  # fmt: skip
    new = pd.DataFrame({"bpm": [50.0, 500.0, -3.0, np.nan],
                        "musical_key": ["C", "Z", None, "D"]})  # fmt: skip
    assert outside_ranges(new, ranges).tolist() == [
        "",
        "bpm (above the 99th percentile); musical_key (unseen category)",
        "bpm (below the 1st percentile)",
        "",
    ]


def test_a_feature_outside_two_models_ranges_is_named_once():
    ranges = training_ranges(pd.DataFrame({"bpm": np.arange(100.0)}))
    both = pd.concat([ranges, ranges.assign(high=90.0)])
    assert outside_ranges(pd.DataFrame({"bpm": [95.0, 500.0]}), both).tolist() == [
        "bpm (above the 99th percentile)",
        "bpm (above the 99th percentile)",
    ]
