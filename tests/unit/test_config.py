import re
from pathlib import Path

import pytest

from ml.config import all_configs, config_names, load_config, load_configs, parse_config
from ml.errors import UserError

SEED_AND_FULL_CONFIGS = {
    "baseline", "experiment_1", "experiment_2", "classifier", "classifier_gb",
    "full_regression", "full_classification",
}  # fmt: skip


def minimal(**overrides) -> dict:
    return {
        "name": "t", "task": "regression", "feature_set": "audio",
        "model": {"type": "random_forest", "params": {"n_estimators": 5}},
        **overrides,
    }  # fmt: skip


def test_every_shipped_config_loads():
    assert set(config_names()) >= SEED_AND_FULL_CONFIGS
    for name in config_names():
        config = load_config(name)
        assert config.name == name
        assert config.features


def test_seed_configs_use_the_seed_feature_sets():
    assert load_config("experiment_1").feature_set == "audio"
    assert len(load_config("baseline").features) == 9
    assert load_config("classifier").model_params["class_weight"] == "balanced"
    assert load_config("full_regression").feature_set == "full"


def test_unknown_top_level_key_is_named():
    with pytest.raises(UserError, match="unknown key\\(s\\) n_trees in the config"):
        parse_config(minimal(n_trees=3), "t.yaml")


def test_unknown_feature_is_named():
    raw = minimal(features=["bpm", "loudness_db"])
    del raw["feature_set"]
    with pytest.raises(UserError, match="unknown feature\\(s\\) loudness_db"):
        parse_config(raw, "t.yaml")


def test_features_must_be_a_list_of_distinct_names():
    """A name given as a string, an empty list or a name listed twice fails at load (the
    string was read letter by letter; a repeated name failed in the first fit)."""
    for features, message in (
        ("bpm", "'features' must be a non-empty list of feature names"),
        ([], "'features' must be a non-empty list of feature names"),
        (["bpm", "energy_pct", "bpm"], "feature(s) listed more than once: bpm"),
    ):
        raw = minimal(features=features)
        del raw["feature_set"]
        with pytest.raises(UserError, match=re.escape(f"t.yaml: {message}")):
            parse_config(raw, "t.yaml")


def test_target_is_not_accepted_as_a_feature():
    raw = minimal(features=["bpm", "log_streams"])
    del raw["feature_set"]
    with pytest.raises(UserError, match="log_streams"):
        parse_config(raw, "t.yaml")


def test_unknown_model_parameter_is_named():
    with pytest.raises(UserError, match="n_estimatorz"):
        parse_config(minimal(model={"type": "random_forest", "params": {"n_estimatorz": 5}}), "t")


def test_a_model_parameter_value_the_estimator_refuses_is_named():
    """Checked as the config is read, before any build or fit (scikit-learn's constraints)."""
    for params, message in (
        ({"n_estimators": -5}, "'n_estimators' parameter of RandomForestRegressor must be"),
        ({"max_features": "most"}, "'max_features' parameter of RandomForestRegressor must be"),
    ):
        model = {"type": "random_forest", "params": params}
        with pytest.raises(UserError, match=re.escape(f"t.yaml: The {message}")):
            parse_config(minimal(model=model), "t.yaml")


def test_model_type_must_fit_the_task():
    with pytest.raises(UserError, match="'ridge' is not available for classification"):
        parse_config(minimal(task="classification", model={"type": "ridge"}), "t.yaml")


def test_feature_set_and_features_are_exclusive():
    with pytest.raises(UserError, match="exactly one of"):
        parse_config(minimal(features=["bpm"]), "t.yaml")


def test_cv_settings_are_read_and_checked():
    config = parse_config(minimal(cv={"n_splits": 3, "n_repeats": 2, "seed": 7}), "t.yaml")
    assert (config.cv.n_splits, config.cv.n_repeats, config.cv.seed) == (3, 2, 7)
    with pytest.raises(UserError, match="unknown key\\(s\\) folds in 'cv'"):
        parse_config(minimal(cv={"folds": 3}), "t.yaml")
    assert parse_config(minimal(cv={"interval_level": 0.8}), "t.yaml").cv.interval_level == 0.8
    with pytest.raises(UserError, match="t.yaml: cv needs 0 < interval_level < 1, got 90"):
        parse_config(minimal(cv={"interval_level": 90}), "t.yaml")
    # As written, never converted: 5.5 and true used to become 5 and 1 folds, silently.
    for key, value, message in (
        ("n_splits", "five", "cv.n_splits must be a whole number, got 'five'"),
        ("n_splits", 5.5, "cv.n_splits must be a whole number, got 5.5"),
        ("n_repeats", True, "cv.n_repeats must be a whole number, got True"),
        ("interval_level", "0.8", "cv.interval_level must be a number, got '0.8'"),
        ("seed", -1, "cv needs 0 <= seed < 2**32, got -1"),
    ):
        with pytest.raises(UserError, match=re.escape(f"t.yaml: {message}")):
            parse_config(minimal(cv={key: value}), "t.yaml")


def test_an_empty_name_is_refused():
    """`name:` left empty used to train a config named "None"."""
    for name in (None, "", "  "):
        with pytest.raises(UserError, match="t.yaml: 'name' is empty"):
            parse_config(minimal(name=name), "t.yaml")


def test_model_params_must_be_a_mapping():
    with pytest.raises(UserError, match="t.yaml: 'model.params' must map parameter names"):
        parse_config(minimal(model={"type": "ridge", "params": [1, 2]}), "t.yaml")


def test_missing_config_lists_the_known_ones():
    with pytest.raises(UserError, match="config not found: nope .*baseline"):
        load_config("nope")


def test_config_from_a_path(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\ntask: classification\nfeature_set: platform\n"
                    "model: {type: logistic_regression}\n")  # fmt: skip
    config = load_config(path)
    assert (config.name, config.task.name, config.feature_set) == (
        "mine",
        "classification",
        "platform",
    )


def test_invalid_yaml_is_one_clear_error(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(path)


def test_every_task_set_and_model_is_trained_once():
    """The grid covers every task x feature set x model; where a named config computes the
    same (full_regression, full_classification), the grid's copy is left out."""
    configs = all_configs()
    combos = [(config.task.name, config.feature_set, config.model_type) for config in configs
              if not config.search]  # fmt: skip
    for task, models in (
        ("regression", {"random_forest", "hist_gradient_boosting", "ridge"}),
        ("classification", {"random_forest", "hist_gradient_boosting", "logistic_regression"}),
    ):
        for feature_set in ("audio", "audio_meta", "platform", "full"):
            for model in models:
                assert (task, feature_set, model) in combos
    names = [config.name for config in configs]
    assert "full_regression" in names and "regression_full_hist_gradient_boosting" not in names
    assert "full_classification" in names
    assert "classification_full_hist_gradient_boosting" not in names
    assert len(configs) == 31
    assert load_config("regression_platform_ridge").feature_set == "platform"


def test_grid_file_expands_and_checks_its_keys(tmp_path: Path):
    path = tmp_path / "grid.yaml"
    path.write_text(
        "grid:\n  feature_sets: [audio, platform]\n"
        "  regression: {ridge: {alpha: 2.0}}\n  classification: {logistic_regression: {}}\n"
    )
    configs = load_configs(path)
    assert sorted(config.name for config in configs) == [
        "classification_audio_logistic_regression", "classification_platform_logistic_regression",
        "regression_audio_ridge", "regression_platform_ridge",
    ]  # fmt: skip
    assert {config.model_params.get("alpha") for config in configs} == {2.0, None}
    path.write_text("grid:\n  feature_sets: [audio]\n  clustering: {kmeans: {}}\n")
    with pytest.raises(UserError, match="unknown key\\(s\\) clustering in 'grid'"):
        load_configs(path)
    path.write_text("grid:\n  feature_sets: [audio, loud]\n  regression: {ridge: {}}\n")
    with pytest.raises(UserError, match="unknown feature set 'loud'"):
        load_configs(path)


def test_a_config_file_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path):
    """A latin-1 config (an accent in its description) was a UnicodeDecodeError traceback."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: t\ndescription: caf\xe9\ntask: regression\nfeature_set: full\n")
    with pytest.raises(UserError, match=re.escape(f"{path}: not UTF-8 text (save it as UTF-8)")):
        load_configs(path)


def test_a_grid_that_names_nothing_or_is_misshapen_is_refused(tmp_path: Path):
    """A grid of no configs used to train the default eight instead; a list of model types a
    traceback; a feature set written as text was read letter by letter."""
    path = tmp_path / "grid.yaml"
    ridge = "  regression: {ridge: {}}\n"
    not_a_list = "'grid.feature_sets' must be a non-empty list"
    for body, message in (
        ("  feature_sets: [audio]\n", "the grid names no model (under regression or"),
        ("  feature_sets: []\n" + ridge, not_a_list),
        ("  feature_sets: audio\n" + ridge, not_a_list),
        ("  feature_sets: [audio]\n  regression: [ridge]\n", "'grid.regression' must map model"),
    ):
        path.write_text("grid:\n" + body)
        with pytest.raises(UserError, match=re.escape(f"{path}: {message}")):
            load_configs(path)


def test_a_search_is_read_and_each_candidate_checked():
    searched = minimal(model={"type": "random_forest", "search": {"max_depth": [3, None]}})
    assert parse_config(searched, "t.yaml").search == {"max_depth": [3, None]}
    assert parse_config(minimal(), "t.yaml").search == {}
    for search, message in (
        ({"max_dept": [3]}, "unknown parameter(s) for random_forest: max_dept"),
        ({"max_depth": 3}, "'model.search.max_depth' must be a non-empty list of values"),
        ({"max_depth": []}, "'model.search.max_depth' must be a non-empty list of values"),
        ([3], "'model.search' must map parameter names to lists of values"),
        ({"n_estimators": [10]}, "'n_estimators' is both a fixed parameter and searched"),
        ({"max_depth": [3, -1]}, "The 'max_depth' parameter of RandomForestRegressor must be"),
    ):
        model = {"type": "random_forest", "params": {"n_estimators": 5}, "search": search}
        with pytest.raises(UserError, match=re.escape(message)):
            parse_config(minimal(model=model), "t.yaml")


def test_the_shipped_search_configs_search_the_full_boosting_models():
    for task in ("regression", "classification"):
        config = load_config(f"full_{task}_search")
        assert config.feature_set == "full" and config.model_type == "hist_gradient_boosting"
        assert config.search == {"learning_rate": [0.05, 0.1], "min_samples_leaf": [10, 20]}
