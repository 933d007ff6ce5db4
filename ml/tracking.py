"""The only module that imports mlflow (and skops). Runs, registered models and champions.

Models are stored in skops format. Loading never trusts the list saved inside the model:
it uses TRUSTED_TYPES from this file, so a tampered artifact that smuggles in another type
is refused.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# MLflow must not try to reach the network (telemetry) from a closed machine.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
import skops.io  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from ml.errors import UserError
from ml.evaluate import CHAMPION_METRIC
from ml.settings import CLASSIFICATION_MODEL_NAME, REGRESSION_MODEL_NAME, Paths

logging.getLogger("mlflow").setLevel(logging.WARNING)

EXPERIMENT_NAME = "spotify-popularity"
CHAMPION_ALIAS = "champion"
MODEL_NAMES = {"regression": REGRESSION_MODEL_NAME, "classification": CLASSIFICATION_MODEL_NAME}

# Types in our pipelines that skops does not trust by default, found with
# skops.io.get_untrusted_types on every model type in ml/pipeline.py.
TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
]


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
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name, tags={**tags, **owner}
    ) as run:
        yield run.info.run_id


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


def log_model(model, task: str, input_example: pd.DataFrame, tags: dict[str, str]) -> str:
    """Log the fitted pipeline as `model`, register it under the task's name; return the version."""
    import sklearn
    from mlflow.models import infer_signature

    prediction = (
        model.predict_proba(input_example)[:, 1] if task == "classification"
        else model.predict(input_example)
    )  # fmt: skip
    # The registry prints "Successfully registered model ..." to stderr; keep the CLI quiet.
    with contextlib.redirect_stderr(io.StringIO()):
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
            registered_model_name=MODEL_NAMES[task],
        )
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(MODEL_NAMES[task], version, key, value)
    return version


def _champion(client: MlflowClient, model_name: str):
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def promote_if_better(task: str, version: str, score: float, dataset_sha256: str) -> bool:
    """Move `champion` to `version` if it beats the champion's CV score on the same dataset.

    A champion trained on different data is not comparable: the new version replaces it.
    """
    client = MlflowClient()
    model_name = MODEL_NAMES[task]
    champion = _champion(client, model_name)
    same_data = champion is not None and champion.tags.get("dataset_sha256") == dataset_sha256
    if same_data and score <= float(champion.tags.get("cv_score", "-inf")):
        return False
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    return True


def load_champion(task: str):
    """The champion pipeline for a task, and its version's tags plus `model_version`."""
    client = MlflowClient()
    model_name = MODEL_NAMES[task]
    champion = _champion(client, model_name)
    if champion is None:
        raise UserError(f"no champion model for {task} yet (run `python cli.py train` first)")
    with tempfile.TemporaryDirectory() as folder:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model_name}@{CHAMPION_ALIAS}", dst_path=folder
        )
        model_file = Path(local) / "model.skops"
        try:
            model = skops.io.load(model_file, trusted=TRUSTED_TYPES)
        except Exception as error:
            raise UserError(
                f"refusing to load {model_name} version {champion.version}: {error}"
            ) from error
    return model, {**champion.tags, "model_version": str(champion.version)}


def list_model_versions(paths: Paths) -> pd.DataFrame:
    """Every registered version of both models, with score, dataset and champion flag; empty
    when no MLflow store exists yet (none is created by asking)."""
    if not (paths.mlflow_dir / "mlflow.db").is_file():
        return pd.DataFrame()
    configure(paths)
    client = MlflowClient()
    rows = []
    for task, model_name in MODEL_NAMES.items():
        champion = _champion(client, model_name)
        for version in client.search_model_versions(f"name = '{model_name}'"):
            rows.append({
                "model": model_name,
                "version": int(version.version),
                "config": version.tags.get("config_name", ""),
                "metric": CHAMPION_METRIC[task],
                "cv_score": float(version.tags.get("cv_score", "nan")),
                "dataset": version.tags.get("dataset_name", ""),
                "is_champion": champion is not None and champion.version == version.version,
                "run_id": version.run_id,
            })  # fmt: skip
    return pd.DataFrame(rows)
