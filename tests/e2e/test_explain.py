"""Why a model predicts what it does (ml/explain.py): SHAP contributions that add up."""

from pathlib import Path

import numpy as np

from ml import warehouse
from ml.explain import contributions, explained_output
from ml.features import feature_matrix, resolve_feature_set
from ml.model_files import load_model
from support.checks import every_model_type_fitted
from support.runs import run_cli


def test_the_champions_contributions_add_up_to_their_predictions(sample_run):
    features = warehouse.read_track_features(sample_run.warehouse)
    champions = warehouse.read_model_versions(sample_run.warehouse).query("is_champion")
    stored = warehouse.read_table(sample_run.warehouse, "ml.prediction_contributions")
    for champion in champions.itertuples():
        rows = stored[stored["run_id"] == champion.run_id]
        model = load_model(Path(champion.model_path), champion.model_name)
        assert set(rows["feature"]) == set(model.feature_names_in_)  # one-hot summed back
        per_track = rows.groupby("track_id").agg(
            total=("contribution", "sum"), base=("base_value", "first"),
            prediction=("prediction", "first"), features=("feature", "count"),
        ).reindex(features["track_id"])  # fmt: skip
        assert (per_track["features"] == len(model.feature_names_in_)).all()  # every track
        np.testing.assert_allclose(per_track["base"] + per_track["total"],
                                   per_track["prediction"], rtol=0, atol=1e-6)  # fmt: skip
        X = feature_matrix(features, list(model.feature_names_in_))
        np.testing.assert_allclose(per_track["prediction"], explained_output(model, X),
                                   rtol=0, atol=1e-9)  # fmt: skip


def test_every_model_type_is_explained_additively(sample_run):
    frame = warehouse.read_track_features(sample_run.warehouse)
    X = feature_matrix(frame, resolve_feature_set("full"))
    for task, model_type, model in every_model_type_fitted(frame):
        rows = contributions(model, X, X)
        totals = rows.groupby("row").agg(total=("contribution", "sum"),
                                         base=("base_value", "first"))  # fmt: skip
        expected = explained_output(model, X)
        np.testing.assert_allclose(totals["base"] + totals["total"], expected, rtol=0,
                                   atol=1e-6, err_msg=f"{task.name} {model_type}")  # fmt: skip
        assert set(rows["feature"]) == set(X.columns)


def test_predict_explains_each_song_for_both_tasks(sample_run, tmp_path):
    songs = tmp_path / "songs.csv"
    songs.write_bytes(b"\r\n".join(sample_run.raw_csv.read_bytes().split(b"\r\n")[:4]) + b"\r\n")
    result = run_cli("predict", "--input", str(songs), "--explain",
                     "--warehouse", str(sample_run.warehouse), env=sample_run.env)  # fmt: skip
    assert result.returncode in (0, 3), result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("row ")]
    scored = int(result.stdout.split("scored ")[1].split(" ")[0])
    assert len([line for line in lines if "log streams" in line]) == scored
    assert len([line for line in lines if "top-decile score" in line]) == scored
    first = lines[0].split(" = base ")[1]
    assert first.count(",") >= 5  # five features and the rest
