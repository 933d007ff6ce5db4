"""Reads a registered model's file (skops) with this project's own list of trusted types, never
the one stored beside the model: a tampered file that smuggles in another type is refused.
No MLflow here, so scoring starts in a fraction of a second."""

from __future__ import annotations

from pathlib import Path

import skops.io

from ml.errors import UserError

# Types in our pipelines that skops does not trust by default, found with
# skops.io.get_untrusted_types on every model type in ml/pipeline.py.
TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
]
MODEL_FILE = "model.skops"


def load_model(folder: Path, name: str):
    """The fitted pipeline in `folder`/model.skops; `name` says which model, in errors."""
    try:
        return skops.io.load(folder / MODEL_FILE, trusted=TRUSTED_TYPES)
    except Exception as error:
        raise UserError(f"refusing to load {name}: {error}") from error
