"""Compile a fitted pipeline of ml/pipeline.py into one DuckDB SQL expression over a
marts.track_features row `t` (a struct): the model's output as scikit-learn computes it, so a
DuckDB macro scores songs where they live, with no Python.

Each step is translated as scikit-learn evaluates it: imputation is `coalesce`, the log of
counts `ln(1 + x)`, standardisation `(x - mean) / scale`, one-hot a 1.0/0.0 per known category;
a tree is a nested CASE comparing in float32 where scikit-learn's trees do (random forest,
gradient boosting) and in float64 where it does not (histogram gradient boosting), a missing
value going the side the tree sends it. Numbers are written as exact double literals. What
cannot be translated raises UserError naming it.

A registered version's macro (`<task macro>_v<N>`) reads its trees from ml.model_trees instead
and walks them with DuckDB's list functions: the same output, a macro of a few kilobytes
whatever the forest's size (a nested CASE takes megabytes of catalog, read whenever the
warehouse is opened), slower to score many rows.
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
LINEAR_MODELS = (Ridge, LogisticRegression)


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
    estimator, columns = _estimator_and_inputs(model, name)
    inputs = ", ".join(f"{column.sql} as c{i}" for i, column in enumerate(columns))
    references = [Column(f"model_input.c{i}", column.nullable) for i, column in enumerate(columns)]
    output = _compile_estimator(estimator, references, name)
    return f"(select {output} from (select {inputs}) as model_input)"


def compile_over_trees(model, name: str, model_name: str, version: int) -> tuple[str, pd.DataFrame]:
    """(SQL expression, rows for ml.model_trees): `model`'s output for row `t` as compile_model
    gives it, its trees read from the rows of (`model_name`, `version`) in ml.model_trees and
    walked there. A linear model has no trees: its expression is compile_model's."""
    estimator, columns = _estimator_and_inputs(model, name)
    if isinstance(estimator, LINEAR_MODELS):
        return compile_model(model, name), _tree_rows([], model_name, version)
    trees, output = _ensemble(estimator, name)
    inputs = ", ".join(column.sql for column in columns)
    selected = f"model_name = {text(model_name)} and version = {int(version)}"
    fields = ", ".join(f"'{field}': {field}" for field in TREE_FIELDS)
    walked = output.format(trees=(
        "list_sum(list_transform(model.trees, lambda tree: tree.value[list_reduce("
        "range(tree.depth), lambda node, step: case when tree.left_child[node] = 0 then node "
        "when coalesce(model_input.x[tree.feature[node]] <= tree.threshold[node], "
        "tree.missing_go_to_left[node]) then tree.left_child[node] "
        "else tree.right_child[node] end, 1)]))"
    ))  # fmt: skip
    sql = (f"(select {walked} from (select [{inputs}] as x) as model_input, "
           f"(select list({{{fields}}} order by tree) as trees from {TREES_TABLE} "
           f"where {selected}) as model)")  # fmt: skip
    return sql, _tree_rows(trees, model_name, version)


def _estimator_and_inputs(model, name: str) -> tuple[object, list[Column]]:
    """The fitted estimator, and its inputs as SQL over row t (in float32 for the trees that
    compare in float32)."""
    model = served_pipeline(model)
    if not (isinstance(model, Pipeline) and len(model.steps) == 2):
        raise UserError(f"cannot compile {name}: not a (preprocess, model) pipeline")
    preprocess, estimator = model[0], model[-1]
    columns = _compile_preprocessor(preprocess, name)
    if isinstance(estimator, FLOAT32_TREES):
        columns = [Column(f"({column.sql})::float::double", column.nullable) for column in columns]
    return estimator, columns


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
    trees, output = _ensemble(estimator, name)
    return output.format(trees=_sum([_case_tree(tree, columns) for tree in trees]))


def _ensemble(estimator, name: str) -> tuple[list[Tree], str]:
    """A tree ensemble's trees, and its output as SQL around `{trees}`, the sum of the values
    of the leaves a row reaches."""
    if isinstance(estimator, RandomForestRegressor | RandomForestClassifier):
        output = 0
        if isinstance(estimator, RandomForestClassifier):
            output = _check_binary(estimator, name)
        trees = [_fitted_tree(tree.tree_, output) for tree in estimator.estimators_]
        return trees, f"({{trees}}) / {number(len(trees))}"
    if isinstance(estimator, GradientBoostingRegressor | GradientBoostingClassifier):
        # The init estimator's raw prediction is a constant (a mean, or the prior's log-odds).
        initial = estimator._raw_predict_init(np.zeros((1, estimator.n_features_in_), np.float32))
        trees = [_fitted_tree(stage[0].tree_, 0, estimator.learning_rate)
                 for stage in estimator.estimators_]  # fmt: skip
        baseline = initial[0, 0]
    elif isinstance(estimator, HistGradientBoostingRegressor | HistGradientBoostingClassifier):
        trees = [_hist_tree(predictor.nodes, name) for (predictor,) in estimator._predictors]
        baseline = estimator._baseline_prediction[0, 0]
    else:
        raise UserError(f"cannot compile {name}: {type(estimator).__name__} is not supported")
    raw = f"{number(baseline)} + ({{trees}})"
    if isinstance(estimator, GradientBoostingClassifier | HistGradientBoostingClassifier):
        _check_binary(estimator, name)
        return trees, _expit(raw)
    return trees, raw


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


@dataclass(frozen=True)
class Tree:
    """A fitted tree's nodes as arrays, node 0 its root: a leaf has children -1 and its value;
    a split sends a row left when its `feature` is <= `threshold`, a missing value left when
    `missing_go_to_left`. `depth`: splits on the longest path from the root to a leaf."""

    feature: np.ndarray
    threshold: np.ndarray
    missing_go_to_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int


def _fitted_tree(tree, output: int, scale: float = 1.0) -> Tree:
    """A scikit-learn tree (random forest, gradient boosting): the leaf's value for `output`
    (the positive class's fraction in a classifier), times `scale`."""
    values = tree.value[:, 0, output] * scale
    return Tree(tree.feature, tree.threshold, tree.missing_go_to_left.astype(bool),
                tree.children_left, tree.children_right, values, tree.max_depth)  # fmt: skip


def _hist_tree(nodes: np.ndarray, name: str) -> Tree:
    """A histogram-gradient-boosting tree: its leaves hold their value, learning rate applied."""
    if nodes["is_categorical"].any():
        raise UserError(f"cannot compile {name}: native categorical splits are not supported")
    leaf = nodes["is_leaf"].astype(bool)
    left, right = (np.where(leaf, -1, nodes[side].astype(np.int64)) for side in ("left", "right"))
    return Tree(nodes["feature_idx"].astype(np.int64), nodes["num_threshold"],
                nodes["missing_go_to_left"].astype(bool), left, right, nodes["value"],
                int(nodes["depth"].max()))  # fmt: skip


def _case_tree(tree: Tree, columns: list[Column]) -> str:
    """A tree as a nested CASE over `columns`."""

    def node_sql(node: int) -> str:
        left, right = tree.left[node], tree.right[node]
        if left == -1:
            return number(tree.value[node])
        condition = _split(columns[tree.feature[node]], number(tree.threshold[node]),
                           bool(tree.missing_go_to_left[node]))  # fmt: skip
        return f"case when {condition} then {node_sql(left)} else {node_sql(right)} end"

    return node_sql(0)


TREES_TABLE = "ml.model_trees"
# ml.model_trees' list columns, one element per node, in node order (1-based in SQL).
TREE_FIELDS = ["depth", "feature", "threshold", "missing_go_to_left", "left_child",
               "right_child", "value"]  # fmt: skip


def _tree_rows(trees: list[Tree], model_name: str, version: int) -> pd.DataFrame:
    """ml.model_trees' rows for `trees`: positions 1-based as DuckDB's lists count, a leaf's
    children 0, its feature 0 and its threshold 0."""
    rows = []
    for index, tree in enumerate(trees):
        leaf = tree.left == -1
        rows.append({
            "model_name": model_name, "version": int(version), "tree": index,
            "depth": int(tree.depth),
            "feature": np.where(leaf, 0, tree.feature + 1).tolist(),
            "threshold": np.where(leaf, 0.0, tree.threshold).astype(float).tolist(),
            "missing_go_to_left": tree.missing_go_to_left.astype(bool).tolist(),
            "left_child": np.where(leaf, 0, tree.left + 1).tolist(),
            "right_child": np.where(leaf, 0, tree.right + 1).tolist(),
            "value": tree.value.astype(float).tolist(),
        })  # fmt: skip
    columns = ["model_name", "version", "tree", *TREE_FIELDS]
    return pd.DataFrame(rows, columns=columns)


# The regression champion's prediction interval, {lower, upper} in ln(streams), from its bins
# in ml.prediction_intervals.
INTERVAL_MACRO = """
create or replace macro ml.predict_log_streams_interval(t) as (
    select {{'lower': p - half_width, 'upper': p + half_width}}
    from (select ml.predict_log_streams(t) as p) as prediction
    join ml.prediction_intervals as bins
        on bins.run_id = '{run_id}' and p >= bins.prediction_from and p < bins.prediction_to
)
"""


def macro_statements(
    versions: pd.DataFrame, existing: dict[str, str | None]
) -> tuple[list[str], pd.DataFrame]:
    """(DDL, rows for ml.model_trees) that make schema ml's scoring macros match the registry
    `versions` (rows of ml.model_versions), given the macros it holds (name -> comment):

    - every registered version N gets `<task macro>_v<N>`, its trees in ml.model_trees
      (compile_over_trees), compiled from its model file when missing;
    - each task's champion gets the unversioned macro as a nested CASE (compile_model, fast on
      many rows), commented with the version it is, and compiled only when that changes; the
      regression champion gets predict_log_streams_interval too;
    - every other scoring macro is dropped.
    """
    statements, trees, wanted = [], [], set()
    for row in versions.itertuples():
        macro = TASKS[row.task].scoring_macro
        versioned = TASKS[row.task].version_macro(row.version)
        label = f"{row.model_name} version {row.version}"
        wanted.add(versioned)
        new_version = versioned not in existing
        new_champion = row.is_champion and existing.get(macro) != label
        if new_version or new_champion:
            model = load_model(Path(row.model_path), label)
        if new_version:
            body, rows = compile_over_trees(model, label, row.model_name, row.version)
            statements.append(f"create or replace macro ml.{versioned}(t) as {body}")
            trees.append(rows)
        if new_champion:
            statements += [
                f"create or replace macro ml.{macro}(t) as {compile_model(model, label)}",
                f"comment on macro ml.{macro} is {text(label)}",
            ]  # fmt: skip
        if row.is_champion:
            wanted.add(macro)
            if not TASKS[row.task].is_classification:
                statements.append(INTERVAL_MACRO.format(run_id=row.run_id))
    macros = {task.scoring_macro for task in TASKS.values()}
    for name in sorted(set(existing) - wanted):
        if re.sub(r"_v\d+$", "", name) in macros:
            statements.append(f"drop macro ml.{name}")
    return statements, pd.concat(trees, ignore_index=True) if trees else _tree_rows([], "", 0)
