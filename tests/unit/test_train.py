"""A training command's champions: chosen once, after every config is recorded."""

import sys
from types import SimpleNamespace

import pandas as pd
import pytest

import ml
from ml import warehouse
from ml.profile import Clock
from ml.tasks import CLASSIFICATION, REGRESSION
from ml.train import TrainResult, promote_best


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
