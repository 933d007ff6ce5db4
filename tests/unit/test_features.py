import jinja2
import numpy as np
import pandas as pd
import pytest

from ml.dbt import declared_columns
from ml.features import (
    ALL_FEATURES,
    AUDIO,
    FEATURE_GROUPS,
    FEATURE_SETS,
    NOT_FEATURES,
    PLATFORM,
    feature_matrix,
    resolve_feature_set,
    target_vector,
)
from ml.raw_file import RAW_COLUMNS
from ml.settings import DBT_PROJECT_DIR
from ml.tasks import CLASSIFICATION, REGRESSION, TASKS


def test_every_contract_column_is_a_grouped_feature_the_key_or_a_target():
    columns = [c["name"] for c in declared_columns("marts/_marts__models.yml", "track_features")]
    grouped = [name for names in FEATURE_GROUPS.values() for name in names]
    assert len(grouped) == len(set(grouped)) == 24
    assert set(columns) - set(grouped) - NOT_FEATURES == {"released_day"}  # kept, not used
    assert {task.target for task in TASKS.values()} <= set(columns)
    assert set(ALL_FEATURES) == set(grouped)


def test_no_feature_set_contains_a_target_or_the_key():
    for name, features in FEATURE_SETS.items():
        assert not set(features) & NOT_FEATURES, name


def test_named_sets_have_the_documented_sizes():
    assert len(FEATURE_SETS["audio"]) == 8
    assert len(FEATURE_SETS["audio_artist"]) == 9
    assert len(FEATURE_SETS["platform"]) == 7
    assert set(FEATURE_SETS["audio_meta"]) < set(FEATURE_SETS["full"])


def test_unknown_feature_set_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown feature set 'loud'.*audio"):
        resolve_feature_set("loud")


def tiny_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "bpm": pd.array([120, 90, None], dtype="Int64"),
        "musical_key": ["C", None, "A#"],
        "log_streams": [19.0, 18.5, 20.1],
        "is_top_decile": [False, False, True],
    })  # fmt: skip


def test_feature_matrix_turns_missing_numbers_into_nan_and_keeps_categories():
    X = feature_matrix(tiny_frame(), ["bpm", "musical_key"])
    assert X["bpm"].dtype == np.float64
    assert np.isnan(X["bpm"].iloc[2])
    assert X["musical_key"].tolist()[0] == "C"
    assert X["musical_key"].isna().tolist() == [False, True, False]


def test_feature_matrix_names_the_missing_column():
    with pytest.raises(ValueError, match="missing from the input: energy_pct"):
        feature_matrix(tiny_frame(), ["bpm", "energy_pct"])


def test_target_vector_per_task():
    frame = tiny_frame()
    assert target_vector(frame, REGRESSION).tolist() == [19.0, 18.5, 20.1]
    assert target_vector(frame, CLASSIFICATION).tolist() == [0, 0, 1]


def test_target_vector_refuses_missing_targets():
    frame = tiny_frame().assign(log_streams=[19.0, None, 20.1])
    with pytest.raises(ValueError, match="log_streams has 1 missing"):
        target_vector(frame, REGRESSION)


class MacroReturn(Exception):
    """dbt's `return()` inside a macro, for rendering the project's macros with plain Jinja."""


def sql_list(macro: str):
    """What a macro of dbt_project/macros/spotify_columns.sql returns."""

    def give_back(value):
        raise MacroReturn(value)

    source = (DBT_PROJECT_DIR / "macros" / "spotify_columns.sql").read_text(encoding="utf-8")
    environment = jinja2.Environment()
    environment.globals["return"] = give_back
    with pytest.raises(MacroReturn) as returned:
        getattr(environment.from_string(source).module, macro)()
    return returned.value.args[0]


def test_the_sql_column_lists_agree_with_the_contract_and_the_source():
    """The cleaning SQL's own lists: numeric raw columns and their clean names, percentages,
    counts. Each must match the raw columns and the contract's feature groups."""
    numeric = sql_list("spotify_numeric_columns")
    assert set(numeric) <= set(RAW_COLUMNS)
    marts = [
        declared_columns("marts/_marts__models.yml", name) for name in ("tracks", "track_features")
    ]
    assert set(numeric.values()) <= {column["name"] for columns in marts for column in columns}
    assert sql_list("spotify_count_columns") == PLATFORM
    assert sql_list("spotify_percentage_columns") == [name for name in AUDIO if name != "bpm"]
