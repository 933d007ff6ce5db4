"""A training command: every config's folds checked before any fit; the champions chosen once,
after every config is recorded."""

import sys
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import ml
from ml import warehouse
from ml.config import load_config
from ml.errors import UserError
from ml.profile import Clock
from ml.tasks import CLASSIFICATION, REGRESSION
from ml.train import TrainResult, check_every_config_fits, promote_best


def recorded(name, task, version, score):
    metrics = pd.DataFrame({"metric": [task.champion_metric], "value": [score]})
    return TrainResult(f"run-{version}", name, task, metrics, version)


@pytest.fixture
def registry(monkeypatch):
    """MLflow's registry as promote_best sees it: the versions offered to the champion alias
    (those named in `refused` do not beat the champion), and each rewrite of the warehouse's
    copy."""
    state = SimpleNamespace(offered=[], refused=set(), rewrites=0)

    def promote_if_better(task, version, score, dataset_sha256):
        state.offered.append((task.name, version, score, dataset_sha256))
        return version not in state.refused

    def write_model_versions(path, versions):
        state.rewrites += 1

    fake = SimpleNamespace(promote_if_better=promote_if_better, list_model_versions=lambda p: None)
    monkeypatch.setattr(ml, "tracking", fake, raising=False)
    monkeypatch.setitem(sys.modules, "ml.tracking", fake)
    monkeypatch.setattr(warehouse, "write_model_versions", write_model_versions)
    return state


def promote(results):
    return promote_best(results, SimpleNamespace(warehouse=None), "abc", Clock())


def test_each_task_offers_only_its_best_new_version_the_earlier_on_a_tie(registry):
    results = [
        recorded("weak", REGRESSION, "1", 0.5),
        recorded("first_best", REGRESSION, "2", 0.8),
        recorded("tied", REGRESSION, "3", 0.8),
        recorded("classifier", CLASSIFICATION, "4", 0.3),
    ]
    registry.refused = {"4"}
    promoted = promote(results)
    assert registry.offered == [
        ("regression", "2", 0.8, "abc"),
        ("classification", "4", 0.3, "abc"),
    ]
    assert [result.config_name for result in promoted] == ["first_best"]
    assert registry.rewrites == 1


def test_nothing_promoted_leaves_the_warehouse_registry_alone(registry):
    registry.refused = {"1"}
    assert promote([recorded("weak", CLASSIFICATION, "1", 0.1)]) == []
    assert registry.offered == [("classification", "1", 0.1, "abc")]
    assert registry.rewrites == 0


def test_every_configs_folds_are_checked_before_any_fit_naming_the_config():
    """A config with more folds than the rows allow fails before the workers start."""
    features = pd.DataFrame({"log_streams": np.linspace(10, 20, 40),
                             "is_top_decile": [1] * 6 + [0] * 34})  # fmt: skip
    regression, classification = load_config("full_regression"), load_config("full_classification")
    check_every_config_fits([regression, classification], features)  # 5 folds fit
    too_many = replace(classification, cv=replace(classification.cv, n_splits=7))
    with pytest.raises(UserError, match="^full_classification: 6 rows of the rarer class"):
        check_every_config_fits([regression, too_many], features)
