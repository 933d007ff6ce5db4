"""Compile a fitted pipeline of ml/pipeline.py into one DuckDB SQL expression over a
marts.track_features row `t` (a struct): the model's output as scikit-learn computes it, so a
DuckDB macro scores songs where they live, with no Python.

Each step is translated as scikit-learn evaluates it: imputation is `coalesce`, the log of
counts `ln(1 + x)`, standardisation `(x - mean) / scale`, one-hot a 1.0/0.0 per known category;
a tree is a nested CASE comparing in float32 where scikit-learn's trees do (random forest,
gradient boosting) and in float64 where it does not (histogram gradient boosting), a missing
value going the side the tree sends it. Numbers are written as exact double literals. What
cannot be translated raises UserError naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from ml.errors import UserError
from ml.features import split_numeric_categorical
from ml.model_files import load_model
from ml.pipeline import served_pipeline
from ml.tasks import TASKS

# Trees that compare in float32 (scikit-learn converts their input); histogram gradient
# boosting compares in float64.
FLOAT32_TREES = (
    RandomForestRegressor, RandomForestClassifier,
    GradientBoostingRegressor, GradientBoostingClassifier,
)  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One model input as SQL, and whether it can be NULL."""

    sql: str
    nullable: bool


def number(value: float) -> str:
    """An exact DOUBLE literal: Python's shortest round-trip form with an exponent (DuckDB reads
    `0.1e0` as the DOUBLE nearest 0.1; a plain `0.1` would be a DECIMAL)."""
    value = float(value)
    if np.isnan(value):
        raise UserError("cannot compile a model holding NaN")
    if np.isinf(value):  # a tree's split of missing values from all others
        return f"'{value}'::double"
    literal = repr(value) if "e" in repr(value) else f"{value!r}e0"
    return f"({literal})" if value < 0 else literal


def text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def compile_model(model, name: str) -> str:
    """The SQL expression of `model`'s output for row `t`: predicted log streams for a
    regressor, the positive class's probability for a classifier. `name` says which model,
    in errors.

    The model's inputs are computed once, in a subquery, and its splits refer to them by
    name: ~4x less to bind than repeating each input's expression in every split. The row's
    fields are read as t['name'], which DuckDB substitutes into a macro's subquery whatever
    the caller's alias (t.name only when the caller's alias is t).
    """
    model = served_pipeline(model)
    if not (isinstance(model, Pipeline) and len(model.steps) == 2):
        raise UserError(f"cannot compile {name}: not a (preprocess, model) pipeline")
    preprocess, estimator = model[0], model[-1]
    columns = _compile_preprocessor(preprocess, name)
    if isinstance(estimator, FLOAT32_TREES):
        columns = [Column(f"({column.sql})::float::double", column.nullable) for column in columns]
    inputs = ", ".join(f"{column.sql} as c{i}" for i, column in enumerate(columns))
    references = [Column(f"model_input.c{i}", column.nullable) for i, column in enumerate(columns)]
    output = _compile_estimator(estimator, references, name)
    return f"(select {output} from (select {inputs}) as model_input)"


def _compile_preprocessor(preprocess, name: str) -> list[Column]:
    if not isinstance(preprocess, ColumnTransformer):
        raise UserError(f"cannot compile {name}: {type(preprocess).__name__} is not supported")
    outputs = []
    for _, transformer, features in preprocess.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        numeric, _ = split_numeric_categorical(list(features))
        columns = [Column(_field(feature, feature in numeric), True) for feature in features]
        steps = transformer.steps if isinstance(transformer, Pipeline) else [(None, transformer)]
        for _, step in steps:
            columns = _compile_step(step, columns, name)
        outputs.extend(columns)
    if len(outputs) != len(preprocess.get_feature_names_out()):
        raise UserError(f"cannot compile {name}: its preprocessing's outputs do not add up")
    return outputs


def _field(feature: str, is_numeric: bool) -> str:
    """Row t's value of `feature`, numbers as DOUBLE (what feature_matrix hands scikit-learn)."""
    return f"t[{text(feature)}]::double" if is_numeric else f"t[{text(feature)}]"


def _compile_step(step, columns: list[Column], name: str) -> list[Column]:
    if isinstance(step, SimpleImputer):
        if step.add_indicator:
            raise UserError(f"cannot compile {name}: SimpleImputer(add_indicator=True)")
        return [
            Column(f"coalesce({column.sql}, {_literal(fill)})", False)
            for column, fill in zip(columns, step.statistics_, strict=True)
        ]
    if isinstance(step, FunctionTransformer) and step.func is None:  # passthrough
        return columns
    if isinstance(step, FunctionTransformer) and step.func is np.log1p:
        return [Column(f"ln(1 + {column.sql})", column.nullable) for column in columns]
    if isinstance(step, StandardScaler):
        mean = step.mean_ if step.with_mean else np.zeros(len(columns))
        scale = step.scale_ if step.with_std else np.ones(len(columns))
        return [
            Column(f"(({column.sql} - {number(m)}) / {number(s)})", column.nullable)
            for column, m, s in zip(columns, mean, scale, strict=True)
        ]
    if isinstance(step, OneHotEncoder):
        if step.handle_unknown != "ignore" or step.drop is not None:
            raise UserError(f"cannot compile {name}: OneHotEncoder needs handle_unknown='ignore'"
                            " and no drop")  # fmt: skip
        if getattr(step, "_infrequent_enabled", False):
            raise UserError(f"cannot compile {name}: OneHotEncoder with infrequent categories")
        return [
            Column(
                f"(case when {column.sql} = {text(category)} then 1.0e0 else 0.0e0 end)", False
            )  # fmt: skip
            for column, categories in zip(columns, step.categories_, strict=True)
            for category in categories
        ]
    raise UserError(f"cannot compile {name}: {type(step).__name__} is not supported")


def _literal(value) -> str:
    return text(value) if isinstance(value, str) else number(value)


def _compile_estimator(estimator, columns: list[Column], name: str) -> str:
    if isinstance(estimator, Ridge):
        return _linear(estimator.coef_.ravel(), float(np.ravel(estimator.intercept_)[0]), columns)
    if isinstance(estimator, LogisticRegression):
        _check_binary(estimator, name)
        return _expit(_linear(estimator.coef_[0], float(estimator.intercept_[0]), columns))
    if isinstance(estimator, RandomForestRegressor):
        trees = [_tree(tree.tree_, columns, output=0) for tree in estimator.estimators_]
        return f"({_sum(trees)}) / {number(len(trees))}"
    if isinstance(estimator, RandomForestClassifier):
        positive = _check_binary(estimator, name)
        trees = [_tree(tree.tree_, columns, output=positive) for tree in estimator.estimators_]
        return f"({_sum(trees)}) / {number(len(trees))}"
    if isinstance(estimator, GradientBoostingRegressor | GradientBoostingClassifier):
        if isinstance(estimator, GradientBoostingClassifier):
            _check_binary(estimator, name)
        # The init estimator's raw prediction is a constant (a mean, or the prior's log-odds).
        initial = estimator._raw_predict_init(np.zeros((1, len(columns)), dtype=np.float32))
        trees = [
            _tree(stage[0].tree_, columns, output=0, scale=estimator.learning_rate)
            for stage in estimator.estimators_
        ]
        raw = f"{number(initial[0, 0])} + ({_sum(trees)})"
        return _expit(raw) if isinstance(estimator, GradientBoostingClassifier) else raw
    if isinstance(estimator, HistGradientBoostingRegressor | HistGradientBoostingClassifier):
        if isinstance(estimator, HistGradientBoostingClassifier):
            _check_binary(estimator, name)
        trees = [_hist_tree(predictor.nodes, columns, name)
                 for (predictor,) in estimator._predictors]  # fmt: skip
        raw = f"{number(estimator._baseline_prediction[0, 0])} + ({_sum(trees)})"
        return _expit(raw) if isinstance(estimator, HistGradientBoostingClassifier) else raw
    raise UserError(f"cannot compile {name}: {type(estimator).__name__} is not supported")


def _check_binary(estimator, name: str) -> int:
    """The index of class 1 in a binary classifier's classes."""
    classes = list(estimator.classes_)
    if len(classes) != 2 or 1 not in classes:
        raise UserError(f"cannot compile {name}: not a binary classifier of 0/1")
    return classes.index(1)


def _linear(coefficients: np.ndarray, intercept: float, columns: list[Column]) -> str:
    terms = [f"{number(c)} * {column.sql}" for c, column in zip(coefficients, columns, strict=True)]
    return f"{number(intercept)} + ({_sum(terms)})"


def _expit(raw: str) -> str:
    return f"1.0e0 / (1.0e0 + exp(-({raw})))"


def _sum(terms: list[str]) -> str:
    """Terms added pairwise: the expression nests log2(n) deep, not n (DuckDB limits depth)."""
    while len(terms) > 1:
        pairs = [f"({a} + {b})" for a, b in zip(terms[::2], terms[1::2], strict=False)]
        terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


def _split(column: Column, threshold: str, missing_go_to_left: bool) -> str:
    """The condition sending a row left: value <= threshold; a missing value goes where the
    tree learnt (or, seeing none, sends most rows)."""
    condition = f"{column.sql} <= {threshold}"
    if column.nullable:
        return f"coalesce({condition}, {'true' if missing_go_to_left else 'false'})"
    return condition


def _tree(tree, columns: list[Column], output: int, scale: float = 1.0) -> str:
    """A scikit-learn tree (random forest, gradient boosting): the leaf's value for `output`
    (the positive class's fraction in a classifier), times `scale`."""
    values = tree.value[:, 0, output] * scale

    def node_sql(node: int) -> str:
        left, right = tree.children_left[node], tree.children_right[node]
        if left == -1:
            return number(values[node])
        condition = _split(columns[tree.feature[node]], number(tree.threshold[node]),
                           bool(tree.missing_go_to_left[node]))  # fmt: skip
        return f"case when {condition} then {node_sql(left)} else {node_sql(right)} end"

    return node_sql(0)


def _hist_tree(nodes: np.ndarray, columns: list[Column], name: str) -> str:
    """A histogram-gradient-boosting tree: its leaves hold their value, learning rate applied."""
    if nodes["is_categorical"].any():
        raise UserError(f"cannot compile {name}: native categorical splits are not supported")

    def node_sql(index: int) -> str:
        node = nodes[index]
        if node["is_leaf"]:
            return number(node["value"])
        condition = _split(columns[node["feature_idx"]], number(node["num_threshold"]),
                           bool(node["missing_go_to_left"]))  # fmt: skip
        return (f"case when {condition} then {node_sql(node['left'])} "
                f"else {node_sql(node['right'])} end")  # fmt: skip

    return node_sql(0)


# The regression champion's prediction interval, {lower, upper} in ln(streams), from its bins
# in ml.prediction_intervals.
INTERVAL_MACRO = """
create or replace macro ml.predict_log_streams_interval(t) as (
    select {{'lower': p - half_width, 'upper': p + half_width}}
    from (select ml.{versioned}(t) as p) as prediction
    join ml.prediction_intervals as bins
        on bins.run_id = '{run_id}' and p >= bins.prediction_from and p < bins.prediction_to
)
"""


def macro_statements(versions: pd.DataFrame, existing: set[str]) -> list[str]:
    """The DDL that makes schema ml's scoring macros match the registry `versions` (rows of
    ml.model_versions), given the names of the macros it holds: per task, the champion's
    `<task macro>_v<N>` (compiled from its model file when missing) and the unversioned macro
    calling it (and predict_log_streams_interval for the regression champion); every other
    scoring macro dropped.

    Only champions get a macro: a forest's takes megabytes of catalog, which every connection
    to the warehouse reads when it opens (measured in docs/scoring-in-sql.md).
    """
    statements, wanted = [], set()
    for row in versions[versions["is_champion"]].itertuples():
        macro = TASKS[row.task].scoring_macro
        versioned = f"{macro}_v{row.version}"
        wanted |= {macro, versioned}
        if versioned not in existing:
            name = f"{row.model_name} version {row.version}"
            body = compile_model(load_model(Path(row.model_path), name), name)
            statements.append(f"create or replace macro ml.{versioned}(t) as {body}")
        statements.append(f"create or replace macro ml.{macro}(t) as ml.{versioned}(t)")
        if not TASKS[row.task].is_classification:
            statements.append(INTERVAL_MACRO.format(versioned=versioned, run_id=row.run_id))
    macros = {task.scoring_macro for task in TASKS.values()}
    for name in sorted(existing - wanted):
        if re.sub(r"_v\d+$", "", name) in macros:
            statements.append(f"drop macro ml.{name}")
    return statements
