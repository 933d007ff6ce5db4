"""The two prediction tasks, each described once: what it predicts, which estimators it offers,
how it is split, scored, compared against a reference model, registered and drawn. Every
choice in ml/ that depends on the task reads it from a Task."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

import numpy as np
import pandas as pd

# scikit-learn is imported where a task uses it: a prediction (ml/predict.py scores in SQL)
# reads a task's names and needs none of it.


@dataclass(frozen=True)
class Task:
    name: str
    # The column of marts.track_features it predicts, and that column's dtype as a target.
    target: str
    target_dtype: str
    # Config model types -> scikit-learn estimator classes, as module.Class of sklearn.
    model_types: dict[str, str]
    # The metrics it reports (ml.run_metrics names), the first one decides the champion; the
    # same score under scikit-learn's scorer name, and as a figure labels it.
    metrics: tuple[str, ...]
    scorer_name: str
    score_label: str
    # The MLflow registered model its versions go to, and the warehouse macro (schema ml)
    # that scores a marts.track_features row with its champion (`<macro>_v<N>`: version N).
    registered_model: str
    scoring_macro: str
    # Figures of a run's predictions (file stems of ml/plots.py's RUN_FIGURES).
    figures: tuple[str, ...]
    # Classifiers keep class balance in every fold and choose a decision threshold.
    is_classification: bool

    @property
    def champion_metric(self) -> str:
        return self.metrics[0]

    def version_macro(self, version: int) -> str:
        """The macro that scores with registered version `version` (`scoring_macro` is the
        champion's)."""
        return f"{self.scoring_macro}_v{version}"

    def estimator(self, model_type: str):
        """A new scikit-learn estimator of `model_type`, with its default parameters."""
        module, name = self.model_types[model_type].rsplit(".", 1)
        return getattr(import_module(f"sklearn.{module}"), name)()

    def splitter(self, n_splits: int, n_repeats: int, seed: int):
        """The outer folds: repeated K-fold, stratified by the label for a classifier."""
        from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

        splitter = RepeatedStratifiedKFold if self.is_classification else RepeatedKFold
        return splitter(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)

    def inner_splitter(self, n_splits: int, seed: int):
        """The folds inside a training fold (search, threshold): shuffled K-fold, likewise."""
        from sklearn.model_selection import KFold, StratifiedKFold

        splitter = StratifiedKFold if self.is_classification else KFold
        return splitter(n_splits=n_splits, shuffle=True, random_state=seed)

    def holdout_splitter(self, test_size: float, seed: int):
        """One shuffled split of training rows (a threshold or intervals tuned on the held-out
        part), stratified likewise."""
        from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

        splitter = StratifiedShuffleSplit if self.is_classification else ShuffleSplit
        return splitter(n_splits=1, test_size=test_size, random_state=seed)

    def reference_model(self):
        """What a model must beat: the training mean, or the training class prior."""
        from sklearn.dummy import DummyClassifier, DummyRegressor

        if self.is_classification:
            return DummyClassifier(strategy="prior")
        return DummyRegressor(strategy="mean")

    def predict(self, fitted, X: pd.DataFrame) -> np.ndarray:
        """The model's output: predicted log streams, or the top-decile probability."""
        if self.is_classification:
            return fitted.predict_proba(X)[:, 1]
        return fitted.predict(X)

    def champion_score(self, y: np.ndarray, prediction: np.ndarray) -> float:
        """R² or average precision (PR-AUC) of `predict`'s output."""
        from sklearn.metrics import average_precision_score, r2_score

        if self.is_classification:
            return average_precision_score(y, prediction)
        return r2_score(y, prediction)

    def scores(
        self, y: np.ndarray, prediction: np.ndarray, threshold: float | None = None
    ) -> dict[str, float]:
        """The metrics of a prediction (a regressor's intervals are scored by
        ml/intervals.py); a classifier's labels cut at `threshold`."""
        from sklearn import metrics

        if not self.is_classification:
            return {
                "r2": metrics.r2_score(y, prediction),
                "rmse": metrics.root_mean_squared_error(y, prediction),
                "mae": metrics.mean_absolute_error(y, prediction),
            }
        label = (prediction >= threshold).astype(int)
        return {
            "roc_auc": metrics.roc_auc_score(y, prediction),
            "pr_auc": metrics.average_precision_score(y, prediction),
            "f1": metrics.f1_score(y, label, zero_division=0),
            "precision": metrics.precision_score(y, label, zero_division=0),
            "recall": metrics.recall_score(y, label, zero_division=0),
            "brier": metrics.brier_score_loss(y, prediction),
        }

    def prediction_columns(
        self, y: np.ndarray, prediction: np.ndarray, threshold: float | None,
        bounds: tuple[np.ndarray, np.ndarray] | None,
    ) -> dict[str, object]:  # fmt: skip
        """The task's columns of ml.predictions for out-of-fold `prediction` of `y` (and a
        regressor's prediction intervals, `bounds`)."""
        if self.is_classification:
            return {
                "predicted_probability": prediction,
                "predicted_label": pd.array(prediction >= threshold, dtype="boolean"),
                "actual_label": pd.array(y.astype(bool), dtype="boolean"),
            }
        return {
            "predicted_log_streams": prediction,
            "actual_log_streams": y,
            "predicted_streams": np.exp(prediction),
            "predicted_log_streams_lower": bounds[0],
            "predicted_log_streams_upper": bounds[1],
            "predicted_streams_lower": np.exp(bounds[0]),
            "predicted_streams_upper": np.exp(bounds[1]),
        }


REGRESSION = Task(
    name="regression",
    target="log_streams",
    target_dtype="float64",
    model_types={
        "random_forest": "ensemble.RandomForestRegressor",
        "hist_gradient_boosting": "ensemble.HistGradientBoostingRegressor",
        "gradient_boosting": "ensemble.GradientBoostingRegressor",
        "ridge": "linear_model.Ridge",
    },
    metrics=("r2", "rmse", "mae", "interval_coverage", "interval_mean_width"),
    scorer_name="r2",
    score_label="R²",
    registered_model="spotify-log-streams-regressor",
    scoring_macro="predict_log_streams",
    figures=("predicted_vs_actual", "residuals_by_year", "interval_coverage"),
    is_classification=False,
)
CLASSIFICATION = Task(
    name="classification",
    target="is_top_decile",
    target_dtype="int64",
    model_types={
        "random_forest": "ensemble.RandomForestClassifier",
        "hist_gradient_boosting": "ensemble.HistGradientBoostingClassifier",
        "gradient_boosting": "ensemble.GradientBoostingClassifier",
        "logistic_regression": "linear_model.LogisticRegression",
    },
    metrics=("pr_auc", "roc_auc", "f1", "precision", "recall", "brier"),
    scorer_name="average_precision",
    score_label="average precision",
    registered_model="spotify-top-decile-classifier",
    scoring_macro="predict_top_decile_probability",
    figures=("roc", "precision_recall", "calibration"),
    is_classification=True,
)
TASKS = {task.name: task for task in (REGRESSION, CLASSIFICATION)}
