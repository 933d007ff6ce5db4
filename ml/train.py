"""Train configs end to end: read the mart, cross-validate, fit, track, write back."""

from __future__ import annotations

import functools
import subprocess
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from ml import warehouse
from ml.config import TrainConfig
from ml.errors import UserError
from ml.evaluate import (
    CVResult,
    HeldOutPredictor,
    best_f1_threshold,
    check_folds,
    cross_validate,
    fold_score_rows,
    outer_folds,
    permutation_folds,
    permutation_test,
    summarize,
)
from ml.features import ID_COLUMN, feature_matrix, target_vector
from ml.intervals import Intervals, calibrate
from ml.pipeline import make_pipeline_for
from ml.profile import Clock
from ml.ranges import training_ranges
from ml.scale import TrainingPlan, capped, plan_training
from ml.search import chosen_params, chosen_pipeline, with_search
from ml.settings import PROJECT_ROOT, Paths
from ml.tasks import TASKS, Task
from ml.workers import JobPool, default_workers, fresh_model


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    config_name: str
    task: Task
    metrics: pd.DataFrame
    model_version: str

    @property
    def score_name(self) -> str:
        return self.task.champion_metric

    @property
    def score(self) -> float:
        return float(self.metrics.set_index("metric").loc[self.score_name, "value"])


@functools.cache
def git_commit() -> str | None:
    """The project's commit (None outside a git checkout), looked up once per process."""
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
    bounds: tuple[np.ndarray, np.ndarray] | None,
) -> pd.DataFrame:  # fmt: skip
    """ml.predictions rows: one per track, every one out-of-fold (a regressor's with its
    prediction interval, `bounds`)."""
    frame = pd.DataFrame({
        "run_id": run_id,
        "config_name": config.name,
        "task": config.task.name,
        "track_id": track_ids.to_numpy(),
        "is_out_of_fold": True,
        "predicted_log_streams": np.nan,
        "actual_log_streams": np.nan,
        "predicted_streams": np.nan,
        "predicted_log_streams_lower": np.nan,
        "predicted_log_streams_upper": np.nan,
        "predicted_streams_lower": np.nan,
        "predicted_streams_upper": np.nan,
        "predicted_probability": np.nan,
        "predicted_label": pd.array(np.full(len(y), pd.NA), dtype="boolean"),
        "actual_label": pd.array(np.full(len(y), pd.NA), dtype="boolean"),
    })  # fmt: skip
    return frame.assign(**config.task.prediction_columns(y, oof_prediction, threshold, bounds))


def significance_rows(
    model, X, y, config: TrainConfig, plan: TrainingPlan, pool: JobPool
) -> pd.DataFrame:
    """ml.run_metrics rows of the label-permutation test: is the audio-only score real?"""
    _, p_value = permutation_test(
        model, X, y, config.task,
        n_splits=config.cv.n_splits, seed=config.cv.seed, n_permutations=config.cv.n_permutations,
        max_rows=plan.max_train_rows, max_folds=plan.permutation_folds, pool=pool,
        label=config.name,
    )  # fmt: skip
    folds = plan.permutation_folds or config.cv.n_splits
    return pd.DataFrame([
        {"metric": "permutation_pvalue", "value": p_value, "std": None, "n_splits": folds},
        {"metric": "permutation_count", "value": float(config.cv.n_permutations), "std": None,
         "n_splits": folds},
    ])  # fmt: skip


def write_run_plots(
    paths: Paths, run_id: str, config: TrainConfig, predictions: pd.DataFrame,
    importance: pd.DataFrame | None,
) -> Path:  # fmt: skip
    """The run's figures as PNG files in reports/<run_id>/; returns that folder."""
    from ml import plots

    figures = plots.run_figures(config.task, config.name, predictions, importance)
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
    # The fitted pipeline; a classifier's wrapped with its decision threshold.
    final_model: Pipeline | FixedThresholdClassifier
    chosen_params: dict
    # What the final model saw, feature by feature (ml/ranges.py).
    training_ranges: pd.DataFrame
    # A regressor's prediction intervals (ml/intervals.py); None for a classifier.
    intervals: Intervals | None
    # A few rows the final model saw (MLflow's input example).
    input_example: pd.DataFrame


def fit_final(model, X: pd.DataFrame, y: np.ndarray):
    """A job: the model fitted on the given rows."""
    return fresh_model(model).fit(X, y)


def rows_read(config: TrainConfig, y: np.ndarray) -> np.ndarray:
    """The positions of the rows whose features fit_and_evaluate reads when the CV's test rows
    are predicted elsewhere: every fold's training and importance rows, the permutation
    test's, the final fit's. All of them up to `large_data_rows`; a few per fit above it."""
    plan = plan_training(config.cv, len(y))
    folds = outer_folds(config.task, y, config.cv.n_splits, plan.n_repeats, config.cv.seed,
                        plan.max_train_rows, config.cv.importance_repeats, plan.importance_folds,
                        plan.max_importance_rows)  # fmt: skip
    parts = [_final_rows(config, plan, len(y))]
    parts += [rows for fold in folds for rows in (fold.train, fold.importance)]
    if _tests_significance(config):
        parts += [rows for fold in permutation_folds(
            config.task, y, config.cv.n_splits, config.cv.seed, plan.max_train_rows,
            plan.permutation_folds) for rows in fold]  # fmt: skip
    return np.unique(np.concatenate(parts))


def _tests_significance(config: TrainConfig) -> bool:
    return config.feature_set == "audio" and config.cv.n_permutations > 0


def _final_rows(config: TrainConfig, plan: TrainingPlan, n_rows: int) -> np.ndarray:
    """The rows the final model is fitted on: all, or a seeded sample on large data."""
    return capped(np.arange(n_rows), plan.max_train_rows, config.cv.seed)


def fit_and_evaluate(
    config: TrainConfig, X: pd.DataFrame, y: np.ndarray, pool: JobPool | None = None,
    predict_held_out: HeldOutPredictor | None = None,
) -> FittedConfig:  # fmt: skip
    """The training work of one config, nothing tracked or written: plan for the data size,
    cross-validate, test significance (audio runs), choose the threshold, fit the final model.
    The fits run as jobs of `pool` (in this process without one). `X` holds the features of
    every row of `y`, or with `predict_held_out` (ml/evaluate.py's cross_validate) only those
    of `rows_read`, indexed by position."""
    pool = pool or JobPool()
    plan = plan_training(config.cv, len(y))
    model_params = plan.model_params(config.model_type, config.model_params)
    pipeline = make_pipeline_for(
        config.task, config.model_type, model_params, config.features, config.cv.seed
    )
    model = with_search(pipeline, config.task, config.search, config.cv.seed)
    final_rows = _final_rows(config, plan, len(y))
    final_fit = pool.submit(
        config.name, "final fit", fit_final, model, X.loc[final_rows], y[final_rows]
    )
    with ThreadPoolExecutor(1) as beside:
        # The permutation test's jobs are queued now, beside the folds', not after them.
        significance = (
            beside.submit(significance_rows, model, X, y, config, plan, pool)
            if _tests_significance(config)
            else None
        )
        result = cross_validate(
            model, X, y, config.task,
            n_splits=config.cv.n_splits, n_repeats=plan.n_repeats, seed=config.cv.seed,
            importance_repeats=config.cv.importance_repeats,
            max_train_rows=plan.max_train_rows, max_importance_rows=plan.max_importance_rows,
            importance_folds=plan.importance_folds, interval_level=config.cv.interval_level,
            pool=pool, label=config.name, predict_held_out=predict_held_out,
        )  # fmt: skip
        metrics = summarize(result)
        if significance is not None:
            metrics = pd.concat([metrics, significance.result()])
    final_model = final_fit.result()
    threshold, intervals, served = None, None, chosen_pipeline(final_model)
    if config.task.is_classification:
        threshold = best_f1_threshold(y, result.oof_prediction)
        # The threshold travels inside the model: its predict() gives the top-decile label.
        served = FixedThresholdClassifier(
            FrozenEstimator(served), threshold=threshold, response_method="predict_proba"
        ).fit(X.loc[final_rows], y[final_rows])
    else:
        intervals = calibrate(y, result.first_repeat_prediction, config.cv.interval_level)
        metrics = pd.concat([metrics, pd.DataFrame([{
            "metric": "interval_level", "value": intervals.level, "std": None,
            "n_splits": result.n_splits,
        }])], ignore_index=True)  # fmt: skip
    return FittedConfig(
        plan, model_params, result, metrics, threshold, final_rows, served,
        chosen_params(final_model), training_ranges(X.loc[final_rows]), intervals,
        X.loc[final_rows[:5]],
    )  # fmt: skip


def check_every_config_fits(configs: list[TrainConfig], features: pd.DataFrame) -> None:
    """Every config's folds fit these rows (ml/evaluate.py's check_folds), checked before any
    fit starts."""
    for config in configs:
        try:
            check_folds(config.task, target_vector(features, config.task), config.cv.n_splits)
        except UserError as error:
            raise UserError(f"{config.name}: {error}") from None


def train_configs(
    configs: list[TrainConfig], paths: Paths, progress: Callable[[str], None] = lambda m: None,
    clock: Clock | None = None,
) -> list[TrainResult]:  # fmt: skip
    """Train every config: the fits of all of them run as jobs of one pool of single-threaded
    worker processes (in this process above `large_data_rows`, where each fit is large), while
    this process records each finished config in turn (MLflow, warehouse, plots); then the
    champions (promote_best) and their explanations."""
    clock = clock or Clock()
    with clock.measure("", "read features"):
        inputs = read_training_inputs(paths.warehouse)
    check_every_config_fits(configs, inputs.features)
    n_rows = len(inputs.features)
    is_small = not any(plan_training(config.cv, n_rows).is_scaled_down for config in configs)
    workers = default_workers() if is_small else 1
    # The pool closes first: on an error its waiting jobs are cancelled, which frees the
    # threads that wait on them. While its workers fill the cores, this process predicts
    # (MLflow's check of each logged model) on one thread: on one per core it spins against them.
    with (
        threadpool_limits(1 if workers > 1 else None),
        ThreadPoolExecutor(len(configs) if workers > 1 else 1) as submitting,
        JobPool(workers, order=[config.name for config in configs]) as pool,
    ):
        clock.pool = pool

        def fit_config(config: TrainConfig) -> FittedConfig:
            # The model input is made in the config's own thread: on large data only the
            # configs in flight hold theirs.
            X = feature_matrix(inputs.features, config.features)
            return fit_and_evaluate(config, X, target_vector(inputs.features, config.task),
                                    pool=pool)  # fmt: skip

        fits = {
            submitting.submit(fit_config, config): position
            for position, config in enumerate(configs)
        }
        results, trained = {}, {}
        # Recorded as they finish, so that this process's share overlaps the workers' fits.
        for number, done in enumerate(as_completed(fits), start=1):
            config, fitted = configs[fits[done]], done.result()
            result = record_run(config, fitted, paths, inputs, clock)
            progress(
                f"[{number}/{len(configs)}] {config.name} ({config.model_type}, "
                f"{config.feature_set} features): CV {result.score_name} {result.score:.3f} "
                f"(v{result.model_version})"
            )
            results[fits[done]] = result
            trained[result.run_id] = config, fitted
    ordered = [results[position] for position in range(len(configs))]
    for result in promote_best(ordered, paths, str(inputs.dataset["dataset_sha256"]), clock):
        progress(f"{result.config_name} v{result.model_version} is now the {result.task.name} "
                 "champion")  # fmt: skip
        config, fitted = trained[result.run_id]
        with clock.measure(config.name, "explanations"):
            explained = champion_contributions(result.run_id, config, fitted, inputs)
            warehouse.write_contributions(paths.warehouse, explained)
    return ordered


def record_run(
    config: TrainConfig, fitted: FittedConfig, paths: Paths, inputs: TrainingInputs, clock: Clock
) -> TrainResult:
    """Record a trained config through its sinks: the MLflow run and its registered version
    first, then the run's rows in `ml.*` (one transaction), then the plots."""
    from ml import tracking

    tags = run_tags(config, fitted, inputs)
    with clock.measure(config.name, "MLflow logging"):
        experiment_id = tracking.configure(paths)
    with tracking.training_run(experiment_id, config.name, tags) as run_id:
        with clock.measure(config.name, "MLflow logging"):
            version = log_to_mlflow(run_id, config, fitted, tags, len(inputs.features))
        with clock.measure(config.name, "write-back"):
            predictions = write_to_warehouse(
                paths, run_id, config, fitted, tags, inputs, tracking.list_model_versions(paths)
            )
        with clock.measure(config.name, "plots"):
            plot_folder = write_run_plots(
                paths, run_id, config,
                predictions.assign(released_year=inputs.features["released_year"],
                                   interval_level=config.cv.interval_level),
                fitted.cv_result.importance,
            )  # fmt: skip
            tracking.log_artifacts(plot_folder, "plots")
    return TrainResult(run_id, config.name, config.task, fitted.metrics, version)


def promote_best(
    results: list[TrainResult], paths: Paths, dataset_sha256: str, clock: Clock
) -> list[TrainResult]:
    """Once a command's configs are all recorded (their runs in `ml.*`), per task its best
    new version (the earlier config on a tie) becomes champion if it beats the champion;
    then ml.model_versions and the scoring macros are rewritten, once. A command stopped
    before this promotes nothing, and no version is champion for a moment on the way.
    Returns the promoted results."""
    from ml import tracking

    promoted = []
    for task in TASKS.values():
        of_task = [result for result in results if result.task is task]
        if not of_task:
            continue
        best = max(of_task, key=lambda result: result.score)
        with clock.measure(best.config_name, "MLflow logging"):
            if tracking.promote_if_better(task, best.model_version, best.score, dataset_sha256):
                promoted.append(best)
    if promoted:
        with clock.measure(promoted[-1].config_name, "write-back"):
            warehouse.write_model_versions(paths.warehouse, tracking.list_model_versions(paths))
    return promoted


def champion_contributions(
    run_id: str, config: TrainConfig, fitted: FittedConfig, inputs: TrainingInputs
) -> pd.DataFrame:
    """ml.prediction_contributions rows of a champion: why it predicts what it does for each
    track (the first MAX_EXPLAINED_ROWS by track_id), ml/explain.py. train_configs writes
    them for the configs it promotes."""
    from ml.explain import MAX_EXPLAINED_ROWS, contributions

    features = inputs.features.head(MAX_EXPLAINED_ROWS)
    X = feature_matrix(features, config.features)
    background = feature_matrix(inputs.features.iloc[fitted.final_rows], config.features)
    rows = contributions(fitted.final_model, X, background)
    track_ids = features[ID_COLUMN].to_numpy()
    return rows.assign(run_id=run_id, track_id=track_ids[rows.pop("row").to_numpy()])


def run_tags(config: TrainConfig, fitted: FittedConfig, inputs: TrainingInputs) -> dict[str, str]:
    """What identifies a run: its config, the data it saw and the code (MLflow tags)."""
    commit = git_commit()
    return {
        "config_name": config.name,
        "task": config.task.name,
        "feature_set": config.feature_set,
        "model_type": config.model_type,
        "dataset_name": str(inputs.dataset["dataset_name"]),
        "dataset_sha256": str(inputs.dataset["dataset_sha256"]),
        "training_strategy": fitted.plan.describe(len(inputs.features)),
        # Outside a git checkout there is no commit: no tag, and NULL in ml.runs.
        **({"git_commit": commit} if commit else {}),
    }


def log_to_mlflow(
    run_id: str, config: TrainConfig, fitted: FittedConfig, tags: dict[str, str], n_rows: int
) -> str:
    """The MLflow sink: params, metrics, records and the model, registered as a new version
    (not yet champion). Returns the version."""
    from ml import tracking

    importance = fitted.cv_result.importance
    tracking.log_params({
        **{f"model.{key}": value for key, value in fitted.model_params.items()},
        **{f"search.{key}": values for key, values in config.search.items()},
        **{f"chosen.{key}": value for key, value in fitted.chosen_params.items()},
        "model_type": config.model_type,
        "feature_set": config.feature_set,
        "n_features": len(config.features),
        "target": config.task.target,
        "cv.n_splits": config.cv.n_splits,
        "cv.n_repeats": fitted.plan.n_repeats,
        "cv.seed": config.cv.seed,
        "cv.n_permutations": config.cv.n_permutations,
        "cv.importance_repeats": config.cv.importance_repeats,
        "n_rows": n_rows,
        "decision_threshold": fitted.threshold,
        "scale.max_train_rows": fitted.plan.max_train_rows,
        "scale.max_importance_rows": fitted.plan.max_importance_rows,
        "final_model_rows": len(fitted.final_rows),
    })  # fmt: skip
    tracking.log_metrics(fitted.metrics)
    tracking.log_dict({"features": config.features}, "features.json")
    tracking.log_dict(fitted.training_ranges.to_dict(orient="records"), "training_ranges.json")
    if fitted.intervals is not None:
        tracking.log_dict(fitted.intervals.rows().to_dict(orient="records"), "intervals.json")
    if importance is not None:
        tracking.log_dict(importance.to_dict(orient="records"), "importance.json")
    if config.search:
        tracking.log_dict(search_record(config, fitted), "search.json")
    score = float(fitted.metrics.set_index("metric").loc[config.task.champion_metric, "value"])
    version_tags = {
        **tags,
        "run_id": run_id,
        "cv_score": repr(score),
        "decision_threshold": repr(fitted.threshold) if fitted.threshold is not None else "",
    }
    return tracking.log_model(fitted.final_model, config.task, fitted.input_example,
                              version_tags)  # fmt: skip


def run_frames(
    run_id: str, config: TrainConfig, fitted: FittedConfig, tags: dict[str, str],
    features: pd.DataFrame,
) -> dict[str, pd.DataFrame]:  # fmt: skip
    """The run's rows that every engine writes: ml.runs, ml.run_metrics, ml.predictions and
    ml.feature_importance."""
    importance = fitted.cv_result.importance
    run_row = pd.DataFrame([{
        "run_id": run_id,
        **{key: tags[key] for key in ("config_name", "task", "feature_set", "model_type",
                                      "dataset_name", "dataset_sha256", "training_strategy")},
        "git_commit": tags.get("git_commit"),
        "n_rows": len(features),
        "folds_sha256": fitted.cv_result.folds_sha256,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
    }])  # fmt: skip
    predictions = prediction_frame(
        run_id, config, features[ID_COLUMN], target_vector(features, config.task),
        fitted.cv_result.oof_prediction, fitted.threshold, fitted.cv_result.oof_bounds,
    )  # fmt: skip
    return {
        "ml.runs": run_row,
        "ml.run_metrics": fitted.metrics.assign(run_id=run_id),
        "ml.predictions": predictions,
        "ml.feature_importance": importance.assign(run_id=run_id)
        if importance is not None
        else pd.DataFrame(columns=warehouse.IMPORTANCE_COLUMNS),
    }


def write_to_warehouse(
    paths: Paths, run_id: str, config: TrainConfig, fitted: FittedConfig, tags: dict[str, str],
    inputs: TrainingInputs, model_versions: pd.DataFrame,
) -> pd.DataFrame:  # fmt: skip
    """The warehouse sink: the run's rows in ml.runs, ml.run_metrics, ml.fold_scores,
    ml.predictions, ml.feature_importance, ml.training_ranges and ml.prediction_intervals, and
    the registry in ml.model_versions, in one transaction. Returns the run's predictions."""
    frames = run_frames(run_id, config, fitted, tags, inputs.features)
    fold_scores = fold_score_rows(fitted.cv_result, config.cv.n_splits).assign(run_id=run_id)
    intervals = fitted.intervals.rows().assign(run_id=run_id) if fitted.intervals else None
    warehouse.write_run(paths.warehouse, frames["ml.runs"], frames["ml.run_metrics"],
                        frames["ml.predictions"], frames["ml.feature_importance"],
                        model_versions, fold_scores,
                        fitted.training_ranges.assign(run_id=run_id), intervals)  # fmt: skip
    return frames["ml.predictions"]
