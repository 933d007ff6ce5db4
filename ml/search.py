"""Hyper-parameter search as nested CV: the config's Pipeline wrapped in a grid search whose
own (inner) folds split only the rows it is fitted on. The evaluation protocol fits it inside
each outer training fold, so the score it reports is that of the whole procedure, search
included, on rows the search never saw."""

from __future__ import annotations

from typing import Any

from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from ml.tasks import Task

INNER_SPLITS = 3


def with_search(
    pipeline: Pipeline, task: Task, search: dict[str, list[Any]], seed: int
) -> Pipeline | GridSearchCV:
    """The pipeline itself when nothing is searched; otherwise a grid search over the model's
    parameters, scored by R² / average precision (the champion metrics) on inner folds."""
    if not search:
        return pipeline
    return GridSearchCV(
        pipeline,
        param_grid={f"model__{name}": values for name, values in search.items()},
        scoring=task.scorer_name,
        cv=task.inner_splitter(INNER_SPLITS, seed),
        refit=True,
    )


def chosen_pipeline(model: Pipeline | GridSearchCV) -> Pipeline:
    """The fitted Pipeline that predicts: a fitted search's best one, else the model itself."""
    return model.best_estimator_ if isinstance(model, GridSearchCV) else model


def chosen_params(model: Pipeline | GridSearchCV) -> dict[str, Any]:
    """The model parameters a fitted search chose ({} without a search)."""
    if not isinstance(model, GridSearchCV):
        return {}
    return {name.removeprefix("model__"): value for name, value in model.best_params_.items()}
