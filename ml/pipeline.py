"""The scikit-learn Pipeline for a config: preprocessing fitted per fold, then the estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from ml.features import PLATFORM, split_numeric_categorical
from ml.tasks import Task

LINEAR_MODEL_TYPES = {"ridge", "logistic_regression"}


def make_estimator(task: Task, model_type: str, params: dict[str, Any], seed: int):
    """The estimator with the config's params; seeded when it has randomness and no seed given.

    Raises ValueError naming a parameter the estimator does not have, or one whose value it
    refuses (checked now, not at the first fit in a worker).
    """
    estimator = task.estimator(model_type)
    valid = estimator.get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) for {model_type}: {', '.join(unknown)}")
    estimator.set_params(**params)
    # scikit-learn's own check of each value against the estimator's declared constraints,
    # which fit runs first (InvalidParameterError, a ValueError).
    estimator._validate_params()
    if "random_state" in valid and estimator.get_params()["random_state"] is None:
        estimator.set_params(random_state=seed)
    return estimator


def make_preprocessor(features: list[str], model_type: str) -> ColumnTransformer:
    """Impute (and for linear models log-scale counts and standardise); one-hot categoricals."""
    numeric, categorical = split_numeric_categorical(features)
    transformers = []
    if model_type in LINEAR_MODEL_TYPES:
        counts = [name for name in numeric if name in PLATFORM]
        others = [name for name in numeric if name not in PLATFORM]
        if counts:
            transformers.append((
                "counts",
                make_pipeline(
                    SimpleImputer(strategy="median"),
                    FunctionTransformer(np.log1p, feature_names_out="one-to-one"),
                    StandardScaler(),
                ),
                counts,
            ))  # fmt: skip
        if others:
            transformers.append((
                "numeric",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                others,
            ))  # fmt: skip
    elif numeric:
        transformers.append(("numeric", SimpleImputer(strategy="median"), numeric))
    if categorical:
        transformers.append((
            "categorical",
            make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            ),
            categorical,
        ))  # fmt: skip
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def served_pipeline(model) -> Pipeline:
    """The fitted (preprocess, model) pipeline inside a served model (a classifier is served
    as FixedThresholdClassifier(FrozenEstimator(pipeline)))."""
    if isinstance(model, FixedThresholdClassifier):
        model = model.estimator
    return model.estimator if isinstance(model, FrozenEstimator) else model


def make_pipeline_for(
    task: Task, model_type: str, params: dict[str, Any], features: list[str], seed: int
) -> Pipeline:
    return Pipeline([
        ("preprocess", make_preprocessor(features, model_type)),
        ("model", make_estimator(task, model_type, params, seed)),
    ])  # fmt: skip
