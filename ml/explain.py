"""Why a model predicts what it does for one song: SHAP values, per original feature, of the
model's explained output (log streams; a classifier's log-odds, or a forest's probability), so
that base_value + the sum of a row's contributions = that output.

Trees (random forest, gradient boosting, histogram gradient boosting) by shap's TreeExplainer
(exact Tree SHAP, path-dependent); ridge and logistic regression by its LinearExplainer against
the training rows (exact for a linear model). The one-hot columns of a category are summed back
to it (musical_key, mode). shap is imported only here: it costs seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge

from ml.features import CATEGORICAL
from ml.pipeline import served_pipeline

CONTRIBUTION_COLUMNS = ["track_id", "feature", "contribution", "base_value", "prediction"]
# At most this many rows are explained per champion (the first by track_id): Tree SHAP of the
# boosting champion takes ~2.5 ms a row on this project's machine.
MAX_EXPLAINED_ROWS = 10_000


def explained_output(model, X: pd.DataFrame) -> np.ndarray:
    """What the contributions add up to, as scikit-learn computes it."""
    pipeline = served_pipeline(model)
    estimator = pipeline[-1]
    if isinstance(estimator, RandomForestClassifier):
        return pipeline.predict_proba(X)[:, 1]
    if hasattr(estimator, "decision_function"):
        return pipeline.decision_function(X)
    return pipeline.predict(X)


def contributions(model, X: pd.DataFrame, background: pd.DataFrame) -> pd.DataFrame:
    """Long rows (row position, feature, contribution, base_value, prediction) for every row
    of `X` (feature_matrix): `prediction` is explained_output, which base_value plus the
    row's contributions add up to; `background` (the training rows) is what a linear model's
    contributions are measured against."""
    import shap

    pipeline = served_pipeline(model)
    preprocess, estimator = pipeline[0], pipeline[-1]
    Z = preprocess.transform(X)
    if isinstance(estimator, Ridge | LogisticRegression):
        explainer = shap.LinearExplainer(estimator, preprocess.transform(background))
        values = np.asarray(explainer.shap_values(Z))
    else:
        explainer = shap.TreeExplainer(estimator)
        values = np.asarray(explainer.shap_values(Z, check_additivity=False))
    base = np.ravel(explainer.expected_value)
    if values.ndim == 3:  # a forest classifier explains each class: keep class 1
        values, base = values[:, :, 1], base[1:]
    columns = pd.DataFrame(values, columns=preprocess.get_feature_names_out())
    by_feature = columns.T.groupby(_source_features(columns.columns, X.columns)).sum().T
    long = by_feature[list(X.columns)].rename_axis(index="row").reset_index()
    long = long.melt(id_vars="row", var_name="feature", value_name="contribution")
    long["base_value"] = float(base[0])
    long["prediction"] = explained_output(model, X)[long["row"].to_numpy()]
    return long


def _source_features(output_columns, input_features) -> list[str]:
    """The input feature each preprocessed column comes from (one-hot columns are
    `<category feature>_<value>`)."""
    sources = []
    for column in output_columns:
        if column in input_features:
            sources.append(column)
        else:
            sources.append(next(f for f in CATEGORICAL if column.startswith(f"{f}_")))
    return sources
