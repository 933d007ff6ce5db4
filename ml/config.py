"""Training configs: YAML in ml/configs/, validated at load so typos fail with their names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ml.errors import UserError, given_twice, read_user_text
from ml.features import ALL_FEATURES, FEATURE_SETS, resolve_feature_set
from ml.pipeline import make_estimator
from ml.settings import CONFIGS_DIR
from ml.tasks import TASKS, Task

# What `cli.py run` trains unless told otherwise: the seed's five configs, the full-feature
# model of each task (the champions) and a linear audio-only model whose permutation test
# backs the headline; `--all` trains every config (the whole results table).
DEFAULT_RUN = (
    "baseline", "experiment_1", "experiment_2", "classifier", "classifier_gb",
    "full_regression", "full_classification", "regression_audio_ridge",
)  # fmt: skip
TOP_LEVEL_KEYS = {"name", "description", "task", "feature_set", "features", "model", "cv"}
MODEL_KEYS = {"type", "params", "search"}
CV_KEYS = {
    "n_splits", "n_repeats", "seed", "n_permutations", "importance_repeats",
    "large_data_rows", "large_data_repeats", "max_train_rows", "max_importance_rows",
    "interval_level",
}  # fmt: skip


@dataclass(frozen=True)
class CVSettings:
    n_splits: int = 5
    n_repeats: int = 5
    seed: int = 42
    # Label permutations for the significance test that runs on `audio` feature-set configs.
    n_permutations: int = 19
    # Shuffles per column for held-out permutation importance (0 turns it off).
    importance_repeats: int = 5
    # Above this many rows, training scales down (ml/scale.py): fewer repeats, capped fits.
    large_data_rows: int = 20_000
    large_data_repeats: int = 1
    max_train_rows: int = 5_000
    max_importance_rows: int = 2_000
    # The share of true log streams a prediction interval should hold (ml/intervals.py).
    interval_level: float = 0.9


@dataclass(frozen=True)
class TrainConfig:
    name: str
    task: Task
    feature_set: str
    features: list[str]
    model_type: str
    model_params: dict[str, Any] = field(default_factory=dict)
    # Candidate values per model parameter, searched by inner CV inside each outer fold.
    search: dict[str, list[Any]] = field(default_factory=dict)
    cv: CVSettings = CVSettings()
    description: str = ""


def _reject_unknown(keys: set[str], allowed: set[str], where: str, source: str) -> None:
    unknown = sorted(keys - allowed)
    if unknown:
        raise UserError(
            f"{source}: unknown key(s) {', '.join(unknown)} in {where} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def parse_config(raw: Any, source: str) -> TrainConfig:
    """Validate a loaded YAML mapping; every problem names the config and the offending key."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: a config must be a YAML mapping")
    _reject_unknown(set(raw), TOP_LEVEL_KEYS, "the config", source)
    for required in ("name", "task", "model"):
        if required not in raw:
            raise UserError(f"{source}: missing required key '{required}'")
    if raw["name"] is None or not str(raw["name"]).strip():
        raise UserError(f"{source}: 'name' is empty")
    if raw["task"] not in TASKS:
        raise UserError(f"{source}: task must be one of {', '.join(TASKS)}, got '{raw['task']}'")
    task = TASKS[raw["task"]]

    if ("feature_set" in raw) == ("features" in raw):
        raise UserError(f"{source}: give exactly one of 'feature_set' or 'features'")
    if "feature_set" in raw:
        feature_set = str(raw["feature_set"])
        if feature_set not in FEATURE_SETS:
            raise UserError(
                f"{source}: unknown feature set '{feature_set}' (known: {', '.join(FEATURE_SETS)})"
            )
        features = resolve_feature_set(feature_set)
    else:
        feature_set = "custom"
        features = raw["features"]
        if not isinstance(features, list) or not features:
            raise UserError(f"{source}: 'features' must be a non-empty list of feature names")
        unknown = [name for name in features if name not in ALL_FEATURES]
        if unknown:
            raise UserError(
                f"{source}: unknown feature(s) {', '.join(map(str, unknown))} "
                f"(known: {', '.join(ALL_FEATURES)})"
            )
        twice = given_twice(features)
        if twice:
            raise UserError(f"{source}: feature(s) listed more than once: {', '.join(twice)}")

    model = raw["model"]
    if not isinstance(model, dict) or "type" not in model:
        raise UserError(f"{source}: 'model' must be a mapping with a 'type'")
    _reject_unknown(set(model), MODEL_KEYS, "'model'", source)
    model_type = model["type"]
    if model_type not in task.model_types:
        raise UserError(
            f"{source}: model type '{model_type}' is not available for {task.name} "
            f"(available: {', '.join(task.model_types)})"
        )
    params = model.get("params") or {}
    if not isinstance(params, dict):
        raise UserError(f"{source}: 'model.params' must map parameter names to values")
    try:
        make_estimator(task, model_type, params, seed=0)
    except (ValueError, TypeError) as error:
        raise UserError(f"{source}: {error}") from None
    search = _parse_search(model.get("search"), task, model_type, params, source)

    cv_raw = raw.get("cv") or {}
    if not isinstance(cv_raw, dict):
        raise UserError(f"{source}: 'cv' must be a mapping")
    _reject_unknown(set(cv_raw), CV_KEYS, "'cv'", source)
    for key, value in cv_raw.items():
        # Of its default's type, as written: a whole number, or the interval level's number.
        is_number = isinstance(getattr(CVSettings, key), float)
        if isinstance(value, bool) or not isinstance(value, (int, float) if is_number else int):
            kind = "a number" if is_number else "a whole number"
            raise UserError(f"{source}: cv.{key} must be {kind}, got {value!r}")
    cv = CVSettings(**cv_raw)
    if cv.n_splits < 2 or cv.n_repeats < 1 or cv.n_permutations < 0 or cv.importance_repeats < 0:
        raise UserError(
            f"{source}: cv needs n_splits >= 2, n_repeats >= 1, "
            "n_permutations >= 0 and importance_repeats >= 0"
        )
    if min(cv.large_data_repeats, cv.max_train_rows, cv.max_importance_rows) < 1:
        raise UserError(
            f"{source}: cv needs large_data_repeats, max_train_rows and max_importance_rows >= 1"
        )
    if not 0 <= cv.seed < 2**32:
        raise UserError(f"{source}: cv needs 0 <= seed < 2**32, got {cv.seed}")
    if not 0 < cv.interval_level < 1:
        raise UserError(f"{source}: cv needs 0 < interval_level < 1, got {cv.interval_level}")

    return TrainConfig(
        name=str(raw["name"]),
        task=task,
        feature_set=feature_set,
        features=features,
        model_type=model_type,
        model_params=params,
        search=search,
        cv=cv,
        description=str(raw.get("description", "")),
    )


def _parse_search(
    raw: Any, task: Task, model_type: str, params: dict[str, Any], source: str
) -> dict[str, list[Any]]:
    """`model.search`: {parameter: [candidate, ...]}; every candidate must be settable."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise UserError(f"{source}: 'model.search' must map parameter names to lists of values")
    search = {}
    for name, values in raw.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"{source}: 'model.search.{name}' must be a non-empty list of values")
        if name in params:
            raise UserError(f"{source}: '{name}' is both a fixed parameter and searched")
        for value in values:
            try:
                make_estimator(task, model_type, {**params, name: value}, seed=0)
            except (ValueError, TypeError) as error:
                raise UserError(f"{source}: model.search: {error}") from None
        search[str(name)] = list(values)
    return search


GRID_KEYS = {"description", "grid", "cv"}
GRID_BODY_KEYS = {"feature_sets", *TASKS}


def expand_grid(raw: dict, source: str) -> list[dict]:
    """A grid file: one config per task x model x feature set, named <task>_<set>_<model>."""
    _reject_unknown(set(raw), GRID_KEYS, "the grid file", source)
    grid = raw["grid"]
    if not isinstance(grid, dict) or "feature_sets" not in grid:
        raise UserError(f"{source}: 'grid' must be a mapping with 'feature_sets'")
    _reject_unknown(set(grid), GRID_BODY_KEYS, "'grid'", source)
    if not isinstance(grid["feature_sets"], list) or not grid["feature_sets"]:
        raise UserError(f"{source}: 'grid.feature_sets' must be a non-empty list")
    models = {task: grid.get(task) or {} for task in TASKS}
    for task, by_type in models.items():
        if not isinstance(by_type, dict):
            raise UserError(f"{source}: 'grid.{task}' must map model types to their parameters")
    if not any(models.values()):
        raise UserError(f"{source}: the grid names no model (under {' or '.join(TASKS)})")
    expanded = []
    for task, by_type in models.items():
        for model_type, params in by_type.items():
            for feature_set in grid["feature_sets"]:
                expanded.append({
                    "name": f"{task}_{feature_set}_{model_type}",
                    "description": raw.get("description", ""),
                    "task": task,
                    "feature_set": feature_set,
                    "model": {"type": model_type, "params": params or {}},
                    **({"cv": raw["cv"]} if "cv" in raw else {}),
                })  # fmt: skip
    return expanded


def _read_yaml(path: Path):
    try:
        return yaml.safe_load(read_user_text(path))
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML ({error.__class__.__name__})") from error


def load_config_file(path: Path) -> list[TrainConfig]:
    """Every config a YAML file defines: one, or a grid of them."""
    raw = _read_yaml(path)
    if _is_grid(raw):
        return [parse_config(entry, source=str(path)) for entry in expand_grid(raw, str(path))]
    return [parse_config(raw, source=str(path))]


def _is_grid(raw) -> bool:
    return isinstance(raw, dict) and "grid" in raw


def _experiment(config: TrainConfig) -> tuple:
    """What a config computes; its name and description aside."""
    return (config.task, config.features, config.model_type, config.model_params, config.search,
            config.cv)  # fmt: skip


def all_configs() -> list[TrainConfig]:
    """Every config in ml/configs/, grids expanded, sorted by name. A grid entry that computes
    the same as a named config (e.g. full_regression) is left out: it would train twice."""
    paths = sorted(CONFIGS_DIR.glob("*.yaml"), key=lambda path: _is_grid(_read_yaml(path)))
    configs: list[TrainConfig] = []
    for config in (config for path in paths for config in load_config_file(path)):
        if _experiment(config) not in [_experiment(kept) for kept in configs]:
            configs.append(config)
    return sorted(configs, key=lambda config: config.name)


def shipped_params(task, model_type: str) -> dict[str, Any]:
    """The model parameters of the first shipped config of this task and model type (none:
    the estimator's defaults)."""
    configs = [c for c in all_configs() if c.task == task and c.model_type == model_type]
    return dict(configs[0].model_params) if configs else {}


def default_configs() -> list[TrainConfig]:
    """What `cli.py run` trains unless told otherwise (DEFAULT_RUN)."""
    return [config for name in DEFAULT_RUN for config in load_configs(name)]


def config_names() -> list[str]:
    return [config.name for config in all_configs()]


def load_configs(name_or_path: str | Path) -> list[TrainConfig]:
    """The configs of a YAML file (path), or the one config with that name in ml/configs/."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        return load_config_file(path)
    matches = [config for config in all_configs() if config.name == str(name_or_path)]
    if not matches:
        known = ", ".join(config_names())
        raise UserError(f"config not found: {name_or_path} (known configs: {known})")
    return matches


def load_config(name_or_path: str | Path) -> TrainConfig:
    """The single config with this name, or in this one-config YAML file."""
    configs = load_configs(name_or_path)
    if len(configs) != 1:
        raise UserError(f"{name_or_path} defines {len(configs)} configs, expected one")
    return configs[0]
