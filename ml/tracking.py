"""The only module that imports mlflow. Runs, registered models and champions.

Models are stored in skops format with ml.model_files.TRUSTED_TYPES; they are read back by
ml.model_files with that list, never the one saved beside the model.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import socket
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

# MLflow must not try to reach the network (telemetry) from a closed machine.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from ml.settings import Paths
from ml.tasks import TASKS, Task
from ml.warehouse import MODEL_VERSION_COLUMNS

logging.getLogger("mlflow").setLevel(logging.WARNING)

EXPERIMENT_NAME = "spotify-popularity"
CHAMPION_ALIAS = "champion"
# How a registered model is served; a champion of another format is replaced, not compared.
# "2": a classifier carries its decision threshold (FixedThresholdClassifier); "3": a
# regressor's run keeps its prediction intervals (ml.prediction_intervals).
MODEL_FORMAT = "3"


@functools.cache
def configure(paths: Paths) -> str:
    """Point MLflow at the sqlite store and return the experiment id (created if needed).
    Once per process and store: abandoned runs are looked for when a command starts."""
    paths.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(paths.tracking_uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        return mlflow.create_experiment(
            EXPERIMENT_NAME, artifact_location=paths.artifact_location.as_uri()
        )
    fail_abandoned_runs(experiment.experiment_id)
    return experiment.experiment_id


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_abandoned_runs(experiment_id: str) -> list[str]:
    """Mark FAILED the runs still RUNNING whose training process (on this host) is gone,
    e.g. killed with SIGKILL, which no handler can catch. Returns their run ids."""
    client = MlflowClient()
    abandoned = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'"):
        tags = run.data.tags
        pid = tags.get("process_id", "")
        on_this_host = tags.get("hostname") == socket.gethostname()
        if on_this_host and pid.isdigit() and not _process_is_alive(int(pid)):
            client.set_terminated(run.info.run_id, status="FAILED")
            abandoned.append(run.info.run_id)
    return abandoned


@contextmanager
def training_run(experiment_id: str, run_name: str, tags: dict[str, str]) -> Iterator[str]:
    """An MLflow run; it ends FINISHED, or FAILED if the body raises (or on Ctrl-C). A run whose
    process is killed outright is marked FAILED by the next command (fail_abandoned_runs)."""
    owner = {"process_id": str(os.getpid()), "hostname": socket.gethostname()}
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags={**tags, **owner})
    try:
        yield run.info.run_id
    except BaseException as error:
        # A Ctrl-C inside one of MLflow's own writes leaves sqlite's lock with a cursor that
        # only the traceback's frames still hold: ending the run then waited 20 s and failed.
        traceback.clear_frames(error.__traceback__)
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


def log_params(params: dict[str, Any]) -> None:
    mlflow.log_params({key: str(value)[:500] for key, value in params.items()})


def log_metrics(metrics: pd.DataFrame) -> None:
    values = {}
    for row in metrics.itertuples():
        values[row.metric] = row.value
        if pd.notna(row.std):
            values[f"{row.metric}_std"] = row.std
    mlflow.log_metrics(values)


def log_dict(data: Any, file_name: str) -> None:
    mlflow.log_dict(data, file_name)


def log_artifacts(folder: Path, artifact_path: str) -> None:
    mlflow.log_artifacts(str(folder), artifact_path=artifact_path)


def log_model(model, task: Task, input_example: pd.DataFrame, tags: dict[str, str]) -> str:
    """Log the fitted pipeline as `model`, register it under the task's name with `tags`;
    return the version."""
    import sklearn
    import skops
    from mlflow.models import infer_signature

    # skops.io imports every scikit-learn estimator (~2.5 s): only where a model is logged.
    from ml.model_files import TRUSTED_TYPES

    prediction = task.predict(model, input_example)
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(input_example, prediction),
        input_example=input_example,
        pip_requirements=[
            f"scikit-learn=={sklearn.__version__}",
            f"skops=={skops.__version__}",
            f"pandas=={pd.__version__}",
        ],
        serialization_format="skops",
        # MLflow loads the saved file back with this list: a type outside it fails the log.
        skops_trusted_types=TRUSTED_TYPES,
    )
    # The registry prints "Successfully registered model ..." to stderr; keep the CLI quiet.
    # The tags go in with the version, in one write (not one write each).
    with contextlib.redirect_stderr(io.StringIO()):
        registered = mlflow.register_model(
            info.model_uri, task.registered_model, tags={**tags, "model_format": MODEL_FORMAT}
        )
    return str(registered.version)


def _champion(client: MlflowClient, model_name: str):
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def promote_if_better(task: Task, version: str, score: float, dataset_sha256: str) -> bool:
    """Move `champion` to `version` if it beats the champion's CV score on the same dataset.

    A champion trained on different data, or saved in an older format, is not comparable: the
    new version replaces it.
    """
    client = MlflowClient()
    model_name = task.registered_model
    champion = _champion(client, model_name)
    comparable = champion is not None and (
        champion.tags.get("dataset_sha256") == dataset_sha256
        and champion.tags.get("model_format") == MODEL_FORMAT
    )
    if comparable and score <= float(champion.tags.get("cv_score", "-inf")):
        return False
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    promoted_at = datetime.now(UTC).replace(tzinfo=None).isoformat()
    client.set_model_version_tag(model_name, version, "promoted_at", promoted_at)
    return True


def list_model_versions(paths: Paths) -> pd.DataFrame:
    """Every registered version of both models (the columns of ml.model_versions): score,
    data, threshold, champion flag and the folder of its model file. Empty when no MLflow
    store exists yet (none is created by asking)."""
    if not (paths.mlflow_dir / "mlflow.db").is_file():
        return pd.DataFrame(columns=MODEL_VERSION_COLUMNS)
    configure(paths)
    client = MlflowClient()
    rows = []
    for task in TASKS.values():
        model_name = task.registered_model
        champion = _champion(client, model_name)
        for version in client.search_model_versions(f"name = '{model_name}'"):
            tags = version.tags
            artifacts = client.get_logged_model(version.source.removeprefix("models:/"))
            rows.append({
                "model_name": model_name,
                "version": int(version.version),
                "task": task.name,
                "config_name": tags.get("config_name", ""),
                "run_id": version.run_id,
                "dataset_sha256": tags.get("dataset_sha256", ""),
                "cv_score": float(tags.get("cv_score", "nan")),
                "decision_threshold": float(tags["decision_threshold"])
                if tags.get("decision_threshold") else None,
                "is_champion": champion is not None and champion.version == version.version,
                "registered_at": pd.Timestamp(version.creation_timestamp, unit="ms"),
                "promoted_at": pd.Timestamp(tags["promoted_at"]) if "promoted_at" in tags else None,
                "model_path": str(_local_path(artifacts.artifact_location)),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=MODEL_VERSION_COLUMNS)


def _local_path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))
