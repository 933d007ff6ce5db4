"""Training configs: YAML in ml/configs/, validated at load so typos fail with their names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ml.errors import UserError
from ml.features import ALL_FEATURES, FEATURE_SETS, resolve_feature_set
from ml.pipeline import MODEL_TYPES, make_estimator
from ml.settings import CONFIGS_DIR

TASKS = ("regression", "classification")
TOP_LEVEL_KEYS = {"name", "description", "task", "feature_set", "features", "model", "cv"}
MODEL_KEYS = {"type", "params"}
CV_KEYS = {"n_splits", "n_repeats", "seed"}


@dataclass(frozen=True)
class CVSettings:
    n_splits: int = 5
    n_repeats: int = 5
    seed: int = 42


@dataclass(frozen=True)
class TrainConfig:
    name: str
    task: str
    feature_set: str
    features: list[str]
    model_type: str
    model_params: dict[str, Any] = field(default_factory=dict)
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
    task = raw["task"]
    if task not in TASKS:
        raise UserError(f"{source}: task must be one of {', '.join(TASKS)}, got '{task}'")

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
        features = list(raw["features"] or [])
        unknown = [name for name in features if name not in ALL_FEATURES]
        if unknown or not features:
            raise UserError(
                f"{source}: unknown feature(s) {', '.join(unknown) or '(none given)'} "
                f"(known: {', '.join(ALL_FEATURES)})"
            )

    model = raw["model"]
    if not isinstance(model, dict) or "type" not in model:
        raise UserError(f"{source}: 'model' must be a mapping with a 'type'")
    _reject_unknown(set(model), MODEL_KEYS, "'model'", source)
    model_type = model["type"]
    allowed_types = MODEL_TYPES[task]
    if model_type not in allowed_types:
        raise UserError(
            f"{source}: model type '{model_type}' is not available for {task} "
            f"(available: {', '.join(allowed_types)})"
        )
    params = dict(model.get("params") or {})
    try:
        make_estimator(task, model_type, params, seed=0)
    except (ValueError, TypeError) as error:
        raise UserError(f"{source}: {error}") from None

    cv_raw = raw.get("cv") or {}
    if not isinstance(cv_raw, dict):
        raise UserError(f"{source}: 'cv' must be a mapping")
    _reject_unknown(set(cv_raw), CV_KEYS, "'cv'", source)
    cv = CVSettings(**{key: int(value) for key, value in cv_raw.items()})
    if cv.n_splits < 2 or cv.n_repeats < 1:
        raise UserError(f"{source}: cv needs n_splits >= 2 and n_repeats >= 1")

    return TrainConfig(
        name=str(raw["name"]),
        task=task,
        feature_set=feature_set,
        features=features,
        model_type=model_type,
        model_params=params,
        cv=cv,
        description=str(raw.get("description", "")),
    )


def load_config(name_or_path: str | Path) -> TrainConfig:
    """A config by name (ml/configs/<name>.yaml) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = CONFIGS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(config_names())
        raise UserError(f"config not found: {name_or_path} (known configs: {known})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML ({error.__class__.__name__})") from error
    return parse_config(raw, source=str(path))


def config_names() -> list[str]:
    return sorted(path.stem for path in CONFIGS_DIR.glob("*.yaml"))
