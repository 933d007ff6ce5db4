"""Train one config end to end: read the mart, cross-validate, fit, track, write back."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ml import warehouse
from ml.config import TrainConfig
from ml.evaluate import (
    CHAMPION_METRIC,
    CVResult,
    best_f1_threshold,
    cross_validate,
    permutation_test,
    summarize,
)
from ml.features import ID_COLUMN, TARGETS, feature_matrix, target_vector
from ml.pipeline import make_pipeline_for
from ml.scale import TrainingPlan, capped, plan_training
from ml.search import chosen_params, chosen_pipeline, with_search
from ml.settings import PROJECT_ROOT, Paths


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    config_name: str
    task: str
    metrics: pd.DataFrame
    model_version: str
    is_champion: bool

    @property
    def score_name(self) -> str:
        return CHAMPION_METRIC[self.task]

    @property
    def score(self) -> float:
        return float(self.metrics.set_index("metric").loc[self.score_name, "value"])


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def prediction_frame(
    run_id: str, config: TrainConfig, track_ids: pd.Series, y: np.ndarray,
    oof_prediction: np.ndarray, threshold: float | None,
) -> pd.DataFrame:  # fmt: skip
    """ml.predictions rows: one per track, every one out-of-fold."""
    frame = pd.DataFrame({
        "run_id": run_id,
        "config_name": config.name,
        "task": config.task,
        "track_id": track_ids.to_numpy(),
        "is_out_of_fold": True,
        "predicted_log_streams": np.nan,
        "actual_log_streams": np.nan,
        "predicted_streams": np.nan,
        "predicted_probability": np.nan,
        "predicted_label": pd.array(np.full(len(y), pd.NA), dtype="boolean"),
        "actual_label": pd.array(np.full(len(y), pd.NA), dtype="boolean"),
    })  # fmt: skip
    if config.task == "regression":
        frame["predicted_log_streams"] = oof_prediction
        frame["actual_log_streams"] = y
        frame["predicted_streams"] = np.exp(oof_prediction)
    else:
        frame["predicted_probability"] = oof_prediction
        frame["predicted_label"] = pd.array(oof_prediction >= threshold, dtype="boolean")
        frame["actual_label"] = pd.array(y.astype(bool), dtype="boolean")
    return frame


def significance_rows(
    model, X, y, config: TrainConfig, plan: TrainingPlan, progress
) -> pd.DataFrame:
    """ml.run_metrics rows of the label-permutation test: is the audio-only score real?"""
    _, p_value = permutation_test(
        model, X, y, config.task,
        n_splits=config.cv.n_splits, seed=config.cv.seed, n_permutations=config.cv.n_permutations,
        on_permutation=lambda done, total: progress(f"{config.name}: permutation {done}/{total}"),
        max_rows=plan.max_train_rows, max_folds=plan.permutation_folds,
    )  # fmt: skip
    folds = plan.permutation_folds or config.cv.n_splits
    return pd.DataFrame([
        {"metric": "permutation_pvalue", "value": p_value, "std": None, "n_splits": folds},
        {"metric": "permutation_count", "value": float(config.cv.n_permutations), "std": None,
         "n_splits": folds},
    ])  # fmt: skip


def write_run_plots(
    paths: Paths, run_id: str, config: TrainConfig, predictions: pd.DataFrame,
    importance: pd.DataFrame | None, correlations: pd.DataFrame,
) -> Path:  # fmt: skip
    """The run's figures as PNG files in reports/<run_id>/; returns that folder."""
    from ml import plots

    figures = plots.run_figures(config.task, config.name, predictions, importance, correlations)
    folder = paths.reports_dir / run_id
    plots.save_figures(figures, folder)
    return folder


def search_record(config: TrainConfig, fitted: FittedConfig) -> dict:
    """The grid, what the final fit chose, and how often each choice won an outer fold."""
    fold_choices = Counter(repr(choice) for choice in fitted.cv_result.fold_choices)
    return {
        "grid": config.search,
        "final_choice": fitted.chosen_params,
        "outer_fold_choices": dict(fold_choices.most_common()),
    }


@dataclass(frozen=True)
class TrainingInputs:
    """What every config reads from the warehouse; a run of many configs reads it once."""

    features: pd.DataFrame
    dataset: pd.Series
    correlations: pd.DataFrame


def read_training_inputs(warehouse_path: Path) -> TrainingInputs:
    return TrainingInputs(
        features=warehouse.read_track_features(warehouse_path),
        dataset=warehouse.read_table(warehouse_path, "audit.build_dataset").iloc[0],
        correlations=warehouse.read_table(warehouse_path, "marts.feature_correlations"),
    )


@dataclass(frozen=True)
class FittedConfig:
    """What fit_and_evaluate learned: the plan it followed, CV scores, the final model (and
    the parameters its search chose, if the config has one)."""

    plan: TrainingPlan
    model_params: dict
    cv_result: CVResult
    metrics: pd.DataFrame
    threshold: float | None
    final_rows: np.ndarray
    final_model: Pipeline
    chosen_params: dict


def fit_and_evaluate(
    config: TrainConfig, X: pd.DataFrame, y: np.ndarray,
    progress: Callable[[str], None] = lambda message: None,
) -> FittedConfig:  # fmt: skip
    """The training work of one config, nothing tracked or written: plan for the data size,
    cross-validate, test significance (audio runs), choose the threshold, fit the final model."""
    plan = plan_training(config.cv, len(X))
    model_params = plan.model_params(config.model_type, config.model_params)
    pipeline = make_pipeline_for(
        config.task, config.model_type, model_params, config.features, config.cv.seed
    )
    model = with_search(pipeline, config.task, config.search, config.cv.seed)
    result = cross_validate(
        model, X, y, config.task,
        n_splits=config.cv.n_splits, n_repeats=plan.n_repeats, seed=config.cv.seed,
        importance_repeats=config.cv.importance_repeats,
        on_fold=lambda done, total: progress(f"{config.name}: fold {done}/{total}"),
        max_train_rows=plan.max_train_rows, max_importance_rows=plan.max_importance_rows,
        importance_folds=plan.importance_folds,
    )  # fmt: skip
    metrics = summarize(result)
    if config.feature_set == "audio" and config.cv.n_permutations > 0:
        metrics = pd.concat([metrics, significance_rows(model, X, y, config, plan, progress)])
    threshold = (
        best_f1_threshold(y, result.oof_prediction) if config.task == "classification" else None
    )
    final_rows = capped(np.arange(len(X)), plan.max_train_rows, config.cv.seed)
    progress(f"{config.name}: fitting the final model on {len(final_rows):,} rows")
    final_fit = model.fit(X.iloc[final_rows], y[final_rows])
    return FittedConfig(
        plan, model_params, result, metrics, threshold, final_rows,
        chosen_pipeline(final_fit), chosen_params(final_fit),
    )  # fmt: skip


def train_config(
    config: TrainConfig,
    paths: Paths,
    progress: Callable[[str], None] = lambda message: None,
    inputs: TrainingInputs | None = None,
) -> TrainResult:
    """`inputs`: the warehouse tables already read (a run of many configs reads them once)."""
    from ml import tracking

    inputs = inputs or read_training_inputs(paths.warehouse)
    features, dataset = inputs.features, inputs.dataset
    X = feature_matrix(features, config.features)
    y = target_vector(features, config.task)
    fitted = fit_and_evaluate(config, X, y, progress)
    importance = fitted.cv_result.importance

    experiment_id = tracking.configure(paths)
    tags = {
        "config_name": config.name,
        "task": config.task,
        "feature_set": config.feature_set,
        "model_type": config.model_type,
        "dataset_name": str(dataset["dataset_name"]),
        "dataset_sha256": str(dataset["dataset_sha256"]),
        "git_commit": git_commit() or "unknown",
        "training_strategy": fitted.plan.describe(len(X)),
    }
    with tracking.training_run(experiment_id, config.name, tags) as run_id:
        tracking.log_params({
            **{f"model.{key}": value for key, value in fitted.model_params.items()},
            **{f"search.{key}": values for key, values in config.search.items()},
            **{f"chosen.{key}": value for key, value in fitted.chosen_params.items()},
            "model_type": config.model_type,
            "feature_set": config.feature_set,
            "n_features": len(config.features),
            "target": TARGETS[config.task],
            "cv.n_splits": config.cv.n_splits,
            "cv.n_repeats": fitted.plan.n_repeats,
            "cv.seed": config.cv.seed,
            "cv.n_permutations": config.cv.n_permutations,
            "cv.importance_repeats": config.cv.importance_repeats,
            "n_rows": len(X),
            "decision_threshold": fitted.threshold,
            "scale.max_train_rows": fitted.plan.max_train_rows,
            "scale.max_importance_rows": fitted.plan.max_importance_rows,
            "final_model_rows": len(fitted.final_rows),
        })  # fmt: skip

        tracking.log_metrics(fitted.metrics)
        tracking.log_dict({"features": config.features}, "features.json")
        if importance is not None:
            tracking.log_dict(importance.to_dict(orient="records"), "importance.json")
        if config.search:
            tracking.log_dict(search_record(config, fitted), "search.json")
        score = float(fitted.metrics.set_index("metric").loc[CHAMPION_METRIC[config.task], "value"])
        version_tags = {
            **tags,
            "run_id": run_id,
            "cv_score": repr(score),
            "decision_threshold": repr(fitted.threshold) if fitted.threshold is not None else "",
        }
        progress(f"{config.name}: logging the model to MLflow")
        version = tracking.log_model(fitted.final_model, config.task, X.head(5), version_tags)
        is_champion = tracking.promote_if_better(
            config.task, version, score, str(dataset["dataset_sha256"])
        )
        run_row = pd.DataFrame([{
            "run_id": run_id,
            **{key: tags[key] for key in ("config_name", "task", "feature_set", "model_type")},
            "dataset_name": tags["dataset_name"],
            "dataset_sha256": tags["dataset_sha256"],
            "git_commit": git_commit(),
            "n_rows": len(X),
            "training_strategy": tags["training_strategy"],
            "created_at": datetime.now(UTC).replace(tzinfo=None),
        }])  # fmt: skip
        metric_rows = fitted.metrics.assign(run_id=run_id)
        predictions = prediction_frame(
            run_id, config, features[ID_COLUMN], y, fitted.cv_result.oof_prediction,
            fitted.threshold,
        )  # fmt: skip
        progress(f"{config.name}: writing {len(predictions)} predictions to ml.predictions")
        importance_rows = importance.assign(run_id=run_id) if importance is not None else None
        warehouse.write_run(paths.warehouse, run_row, metric_rows, predictions, importance_rows)
        progress(f"{config.name}: drawing plots")
        plot_folder = write_run_plots(
            paths, run_id, config, predictions.assign(released_year=features["released_year"]),
            importance, inputs.correlations,
        )  # fmt: skip
        tracking.log_artifacts(plot_folder, "plots")
    return TrainResult(run_id, config.name, config.task, fitted.metrics, version, is_champion)
