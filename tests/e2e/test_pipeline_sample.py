"""The whole pipeline on the bundled synthetic sample, in a temporary warehouse."""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

from ml import warehouse
from ml.raw_file import RAW_COLUMNS
from ml.settings import DBT_PROJECT_DIR, SAMPLE_CSV, Paths
from ml.warehouse import MODEL_VERSION_COLUMNS
from support import checks as check
from support.runs import run_cli


def test_run_says_it_used_the_sample(sample_run):
    assert "SYNTHETIC" in sample_run.result.stdout
    assert sample_run.result.stdout.count("\n") == 1  # one summary line on stdout


def test_the_profile_shows_each_configs_stages_and_the_floor(sample_run):
    assert f"wrote {sample_run.profile}" in sample_run.result.stderr
    lines = sample_run.profile.read_text(encoding="utf-8").splitlines()
    header, *rows = [line.strip("|").split("|") for line in lines if line.startswith("| ")]
    columns = [name.strip() for name in header]
    table = {row[0].strip(" *"): dict(zip(columns[1:], map(float, row[1:]), strict=True))
             for row in rows}  # fmt: skip
    assert list(table) == [*sample_run.config_names, "all"]
    for config in ("experiment_2", "full_regression", "full_classification"):  # tree ensembles
        for stage in ("cross-validation (CPU s)", "final fit (CPU s)", "MLflow logging (wall s)"):
            assert table[config][stage] > 0, (config, stage)
    assert table["full_classification"]["threshold (CPU s)"] > 0
    assert table["full_regression"]["threshold (CPU s)"] == 0
    assert any(line.startswith("- dbt build: ") for line in lines)
    ratio = re.search(r"wall = \*\*([\d.]+)x the floor", "\n".join(lines))
    assert float(ratio.group(1)) > 1


def test_every_raw_row_is_clean_or_rejected(sample_run):
    check.assert_every_raw_row_accounted_for(sample_run, raw_rows=404)
    reasons = dict(check.query(sample_run, """
        select reject_reason, count(*) from audit.rejected_rows group by 1
    """))  # fmt: skip
    assert reasons == {"duplicate_track": 4, "unparseable_number": 1, "implausible_streams": 1}


def test_predictions_runs_metrics_and_correlations(sample_run):
    check.assert_predictions_for_every_feature_row_and_run(sample_run)
    check.assert_prediction_intervals(sample_run)
    check.assert_runs_record_their_dataset(sample_run)
    check.assert_metrics_and_baselines(sample_run)
    check.assert_correlations_match_scipy(sample_run)
    check.assert_importance_and_significance(sample_run)


def test_full_features_beat_the_baseline_on_the_sample(sample_run):
    r2, baseline = check.query(sample_run, """
        select max(value) filter (metric = 'r2'), max(value) filter (metric = 'baseline_r2')
        from ml.run_metrics join ml.runs using (run_id) where config_name = 'full_regression'
    """)[0]  # fmt: skip
    assert r2 > 0.5 > baseline


def test_scoring_sql_computes_the_features_the_build_computed(sample_run):
    """The build's compiled SQL, run in memory on the same file, gives every clean track the
    same features as marts.track_features; only the rules on streams are skipped."""
    from ml.warehouse import read_scoring_sql, read_table, scoring_run

    with scoring_run(read_scoring_sql(sample_run.warehouse), sample_run.raw_csv,
                     "latin-1") as (connection, relations):  # fmt: skip
        scored = {name: connection.execute(f"select * from {relations[name]}").df()
                  for name in ("track_features", "rejected_rows")}  # fmt: skip
    built = read_table(sample_run.warehouse, "marts.track_features")
    same = scored["track_features"].merge(built[["track_id"]], on="track_id")
    pd.testing.assert_frame_equal(
        same.sort_values("track_id", ignore_index=True),
        built.sort_values("track_id", ignore_index=True),
        check_dtype=False,
    )
    built_rejects = read_table(sample_run.warehouse, "audit.rejected_rows")
    kept_now = set(built_rejects["raw_row_number"]) - set(scored["rejected_rows"]["raw_row_number"])
    reasons = built_rejects.set_index("raw_row_number").loc[sorted(kept_now), "reject_reason"]
    assert "implausible_streams" in set(reasons)
    assert set(reasons) <= {"implausible_streams", "duplicate_track"}


def predict_songs(sample_run, folder: Path, rows: list[str], to_file: bool = True):
    """`cli.py predict` of raw-format `rows` (under the raw header): (result, output CSV), the
    predictions written to that file or, without `to_file`, printed."""
    songs, out = folder / "songs.csv", folder / "scored.csv"
    songs.write_text("\r\n".join([",".join(RAW_COLUMNS), *rows]) + "\r\n", encoding="latin-1")
    output = ["--output", str(out)] if to_file else []
    result = run_cli("predict", "--input", str(songs), *output,
                     "--warehouse", str(sample_run.warehouse), env=sample_run.env)  # fmt: skip
    return result, out


def test_predict_scores_good_rows_and_reports_bad_ones(sample_run, tmp_path: Path):
    result, out = predict_songs(sample_run, tmp_path, [
        'Big Hit,"A, B",2,2023,5,1,9000,50,,300,100,"1,200",10,500,120,C,Major,70,50,60,10,0,10,5',
        "Small Song,Nobody,1,2023,5,1,40,0,,1,0,2,0,,95,,Minor,40,30,35,60,0,12,4",
        "Broken,Nobody,1,2023,5,1,40,0,,1,0,2,0,,95,C,Minor,140,30,35,60,0,12,4",
    ])  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "rejected row 3: out_of_range (danceability_pct=140)" in result.stderr
    assert "scored 2 row(s)" in result.stdout
    import pandas as pd

    scored = pd.read_csv(out)
    assert scored["track_name"].tolist() == ["Big Hit", "Small Song"]
    big, small = scored["predicted_log_streams"].tolist()
    assert big > small  # 9,000 playlists vs 40
    assert scored["top_decile_probability"].between(0, 1).all()
    # The regression champion's interval, around the prediction, in log streams and streams.
    assert (scored["predicted_log_streams_lower"] < scored["predicted_log_streams"]).all()
    assert (scored["predicted_log_streams"] < scored["predicted_log_streams_upper"]).all()
    upper = np.exp(scored["predicted_log_streams_upper"])
    np.testing.assert_allclose(scored["predicted_streams_upper"], upper, rtol=1e-12)
    assert "streams intervals calibrated to hold 90% of true values" in result.stdout


def test_predict_with_every_row_rejected_prints_why_and_no_table(sample_run, tmp_path: Path):
    broken = "Broken,Nobody,1,2023,5,1,40,0,,1,0,2,0,,95,C,Minor,140,30,35,60,0,12,4"
    result, _ = predict_songs(sample_run, tmp_path, [broken], to_file=False)
    assert result.returncode == 3, result.stderr
    assert "rejected row 1: out_of_range (danceability_pct=140)" in result.stderr
    assert result.stdout.startswith("scored 0 row(s), rejected 1;"), result.stdout


def test_predict_scores_as_the_champion_models_do(sample_run, monkeypatch):
    """Predictions come from the champions' SQL macros, the version's (few rows) or the
    champion's nested CASE (many rows; forced here): on every row of the sample, equal to the
    fitted models' own to 1e-9, and labelled by the classifier's decision threshold."""
    from ml import predict
    from ml.features import feature_matrix
    from ml.model_files import load_model
    from ml.tasks import TASKS

    scorer = predict.load_scorer(Paths(sample_run.warehouse, sample_run.mlflow_dir))
    models = {task: load_model(Path(row["model_path"]), row["model_name"])
              for task, row in scorer.champions.items()}  # fmt: skip
    by_versions, _ = predict.scoring_features(sample_run.raw_csv, scorer, lambda message: None)
    X = {task: feature_matrix(by_versions, list(model.feature_names_in_))
         for task, model in models.items()}  # fmt: skip
    monkeypatch.setattr(predict, "VERSION_MACRO_ROWS", 0)
    by_champions = predict.score_csv(sample_run.raw_csv, scorer, lambda message: None).predictions
    for macros, scored in [("versions", by_versions), ("champions", by_champions)]:
        for task, column in [("regression", "predicted_log_streams"),
                             ("classification", "top_decile_probability")]:  # fmt: skip
            np.testing.assert_allclose(scored[column], TASKS[task].predict(models[task], X[task]),
                                       rtol=0, atol=1e-9, err_msg=f"{task}, {macros}")  # fmt: skip
    expected = models["classification"].predict(X["classification"]).astype(bool)
    assert (by_champions["is_predicted_top_decile"] == expected).all()


def test_predict_without_a_champions_scoring_macro_says_to_retrain(sample_run, tmp_path):
    warehouse_copy = tmp_path / "spotify.duckdb"
    shutil.copy(sample_run.warehouse, warehouse_copy)
    with duckdb.connect(str(warehouse_copy)) as connection:
        (version,) = connection.execute(
            "select version from ml.model_versions where is_champion and task = 'regression'"
        ).fetchone()
        connection.execute(f"drop macro ml.predict_log_streams_v{version}")
    result = run_cli("predict", "--input", str(sample_run.raw_csv),
                     "--warehouse", str(warehouse_copy), env=sample_run.env)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {warehouse_copy} holds no macro ml.predict_log_streams_v{version} (trained "
        "before scoring macros were kept): retrain, `python cli.py train`"
    )


def test_models_lists_one_champion_per_task(sample_run):
    result = run_cli("models", "--warehouse", str(sample_run.warehouse), env=sample_run.env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()[1:]
    assert len(lines) == len(sample_run.config_names)
    assert sum(line.split()[-2] == "True" for line in lines) == 2


def test_the_warehouse_registry_equals_mlflows(sample_run):
    """ml.model_versions, which the report and the app read, mirrors the MLflow registry."""
    from ml import tracking  # imports MLflow

    def normalised(versions: pd.DataFrame) -> pd.DataFrame:
        frame = versions[MODEL_VERSION_COLUMNS].sort_values(["model_name", "version"])
        frame = frame.astype({"version": "int64", "cv_score": "float64",
                              "decision_threshold": "float64", "is_champion": "bool"})  # fmt: skip
        for column in ("registered_at", "promoted_at"):
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
        return frame.reset_index(drop=True)

    registry = tracking.list_model_versions(Paths(sample_run.warehouse, sample_run.mlflow_dir))
    mirrored = warehouse.read_model_versions(sample_run.warehouse)
    assert len(registry) == len(sample_run.config_names)  # one version per trained config
    pd.testing.assert_frame_equal(normalised(mirrored), normalised(registry))
    assert normalised(mirrored)["is_champion"].sum() == 2


def test_sql_prints_a_table(sample_run):
    result = run_cli("sql", "select count(*) as tracks from marts.tracks",
                     "--warehouse", str(sample_run.warehouse), env=sample_run.env)  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.split() == ["tracks", "398"]


def test_plain_dbt_build_passes_afterwards_and_keeps_the_scoring_sql(sample_run):
    env = {**sample_run.env, "SPOTIFY_WAREHOUSE": str(sample_run.warehouse),
           "SPOTIFY_RAW_CSV": str(sample_run.raw_csv)}  # fmt: skip
    scoring_sql = "select model, relation, materialization, sql from ml.scoring_sql order by model"
    kept_by_cli_build = check.query(sample_run, scoring_sql)
    with duckdb.connect(str(sample_run.warehouse)) as connection:
        connection.execute("delete from ml.scoring_sql")
    result = subprocess.run(
        [str(Path(os.sys.executable).parent / "dbt"), "build"],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    for unit_test in ("test_base_spotify__tracks_parses_numbers_and_keeps_bad_text",
                      "test_int_tracks_validated_applies_rules_in_order"):  # fmt: skip
        assert re.search(rf"PASS .*{unit_test}", result.stdout), (
            unit_test
        )  # `cli.py build` skips them
    runs = check.scalar(sample_run, "select count(*) from ml.runs")
    assert runs == len(sample_run.config_names)  # dbt leaves what training wrote alone
    # ...and keeps the SQL `cli.py predict` runs again (on-run-end hook), as `cli.py build` does.
    assert check.query(sample_run, scoring_sql) == kept_by_cli_build


def test_the_ml_source_tests_pass_after_training_and_catch_an_orphan_row(sample_run, tmp_path):
    """`dbt test --select source:ml` checks what training wrote (a plain build leaves it out):
    with one orphan row planted, every test passes but the one that finds exactly that row."""
    warehouse = tmp_path / "spotify.duckdb"
    shutil.copy(sample_run.warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("insert into ml.run_metrics values ('no-such-run', 'r2', 0, 0, 5)")
    env = {**sample_run.env, "SPOTIFY_WAREHOUSE": str(warehouse),
           "SPOTIFY_RAW_CSV": str(sample_run.raw_csv)}  # fmt: skip
    result = subprocess.run(
        [str(Path(os.sys.executable).parent / "dbt"), "test", "--select", "source:ml"],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip
    declared = yaml.safe_load((DBT_PROJECT_DIR / "models/ml/_ml__sources.yml").read_text())
    tests = [test for table in declared["sources"][0]["tables"] for column in table["columns"]
             for test in column.get("data_tests", [])]  # fmt: skip
    assert result.returncode == 1
    assert re.findall(r" FAIL (\d+) (source_\S+)", result.stdout) == [
        ("1", "source_relationships_ml_run_metrics_run_id__run_id__source_ml_runs_")
    ]
    assert len(re.findall(r" PASS source_", result.stdout)) == len(tests) - 1 >= 14


def test_same_config_and_data_give_identical_metrics_and_keep_the_champion(sample_run, tmp_path):
    warehouse = tmp_path / "spotify.duckdb"
    shutil.copy(sample_run.warehouse, warehouse)
    shutil.copytree(sample_run.mlflow_dir, tmp_path / "mlflow")
    env = {**sample_run.env, "SPOTIFY_MLFLOW_DIR": str(tmp_path / "mlflow")}
    result = run_cli("train", "--config", "full_regression", "--cv-repeats", "1",
                     "--warehouse", str(warehouse), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "champion" not in result.stderr.splitlines()[-1]  # a tie does not move the alias
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        metrics = connection.execute("""
            select r.run_id, m.metric, m.value, m.std
            from ml.run_metrics m join ml.runs r using (run_id)
            where r.config_name = 'full_regression' order by r.created_at, m.metric
        """).fetchall()  # fmt: skip
    first, second = metrics[: len(metrics) // 2], metrics[len(metrics) // 2 :]
    assert first[0][0] != second[0][0]
    assert [row[1:] for row in first] == [row[1:] for row in second]


def test_a_champion_saved_in_an_older_format_is_replaced_even_by_a_weaker_model(
    sample_run, tmp_path
):
    """Classifiers saved before thresholds travelled inside the model cannot be served: the
    next training of the task replaces such a champion instead of comparing scores."""
    warehouse = tmp_path / "spotify.duckdb"
    shutil.copy(sample_run.warehouse, warehouse)
    shutil.copytree(sample_run.mlflow_dir, tmp_path / "mlflow")
    env = {**sample_run.env, "SPOTIFY_MLFLOW_DIR": str(tmp_path / "mlflow")}
    with sqlite3.connect(tmp_path / "mlflow" / "mlflow.db") as store:
        store.execute("delete from model_version_tags where key = 'model_format'")
    result = run_cli("train", "--config", "classification_audio_logistic_regression",
                     "--cv-repeats", "1", "--permutations", "3", "--warehouse", str(warehouse),
                     env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        "classification_audio_logistic_regression v2 is now the classification champion"
    )
    versions = check.query_path(warehouse, """
        select config_name, cv_score, is_champion from ml.model_versions
        where task = 'classification' order by version
    """)  # fmt: skip
    (old, _, was_champion), (new, new_score, is_champion) = versions
    assert (old, was_champion, new, is_champion) == (
        "full_classification",
        False,
        "classification_audio_logistic_regression",
        True,
    )
    assert new_score < versions[0][1]  # a weaker score, yet it replaced the old format


def test_a_tampered_model_artifact_is_refused(sample_run, tmp_path):
    """Scoring runs the champions' SQL macros; an explanation loads their model files."""
    import os as untrusted_module

    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    smuggled = FunctionTransformer(func=untrusted_module.getcwd)  # a type nobody trusted
    tampered = tmp_path / "tampered.skops"
    skops.io.dump(smuggled, tampered)
    artifacts = {path: path.read_bytes() for path in sample_run.mlflow_dir.rglob("model.skops")}
    assert artifacts
    songs = tmp_path / "one.csv"
    songs.write_bytes(SAMPLE_CSV.read_bytes()[:2000].rsplit(b"\r\n", 1)[0] + b"\r\n")
    try:
        for path in artifacts:
            path.write_bytes(tampered.read_bytes())
        result = run_cli("predict", "--input", str(songs), "--explain",
                         "--warehouse", str(sample_run.warehouse), env=sample_run.env)  # fmt: skip
    finally:
        for path, original in artifacts.items():
            path.write_bytes(original)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: refusing to load spotify-") and "getcwd" in last


def test_a_training_killed_midway_leaves_the_tables_whole_and_its_run_failed(sample_run, tmp_path):
    warehouse = tmp_path / "spotify.duckdb"
    shutil.copy(sample_run.warehouse, warehouse)
    shutil.copytree(sample_run.mlflow_dir, tmp_path / "mlflow")
    env = {**sample_run.env, "SPOTIFY_MLFLOW_DIR": str(tmp_path / "mlflow")}
    store = tmp_path / "mlflow" / "mlflow.db"
    runs_before = check.query_path(warehouse, "select count(*) from ml.runs")[0][0]
    training = subprocess.Popen(
        [os.sys.executable, "cli.py", "train", "--config", "experiment_2", "--cv-repeats", "1",
         "--warehouse", str(warehouse)],
        cwd=DBT_PROJECT_DIR.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not running_runs(store):
        time.sleep(0.1)
    assert running_runs(store), "the training never reached its MLflow run"
    helpers = descendants(training.pid)  # the job pool's server and workers
    training.send_signal(signal.SIGKILL)
    training.wait()
    killed = running_runs(store)
    assert killed
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in helpers):
        time.sleep(0.2)
    assert not [pid for pid in helpers if Path(f"/proc/{pid}").exists()], "workers outlived it"

    result = run_cli("models", "--warehouse", str(warehouse), env=env)
    assert result.returncode == 0
    with sqlite3.connect(store) as connection:
        statuses = dict(connection.execute("select run_uuid, status from runs").fetchall())
    assert all(statuses[run_id] == "FAILED" for run_id in killed)
    runs_after = check.query_path(warehouse, "select count(*) from ml.runs")[0][0]
    assert runs_after in (runs_before, runs_before + 1)  # without the new run, or with all of it
    incomplete = check.query_path(warehouse, """
        select count(*) from ml.runs r
        where (select count(*) from ml.predictions p where p.run_id = r.run_id)
           != (select count(*) from marts.track_features)
    """)[0][0]  # fmt: skip
    orphans = check.query_path(warehouse, """
        select count(*) from ml.predictions p anti join ml.runs r using (run_id)
    """)[0][0]  # fmt: skip
    assert incomplete == 0 and orphans == 0


def descendants(pid: int) -> list[int]:
    """Every living process below `pid` (Linux /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def running_runs(store: Path) -> list[str]:
    with sqlite3.connect(store) as connection:
        rows = connection.execute("select run_uuid from runs where status = 'RUNNING'").fetchall()
    return [run_id for (run_id,) in rows]


def test_compare_gives_a_corrected_p_value_over_the_runs_shared_folds(sample_run):
    folds = check.scalar(sample_run, """
        select count(*) from ml.fold_scores join ml.runs using (run_id)
        where config_name = 'full_regression' and metric = 'r2'""")  # fmt: skip
    assert folds == 5  # one repeat of 5-fold CV
    result = run_cli("compare", "full_regression", "experiment_2",
                     "--warehouse", str(sample_run.warehouse), env=sample_run.env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("| r")
             or line.startswith("| mae ")]  # fmt: skip
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in lines}
    assert sorted(rows) == ["mae", "r2", "rmse"]
    corrected, naive = float(rows["r2"][5]), float(rows["r2"][6].strip(" |"))
    assert 0 <= naive <= corrected <= 1
    refused = run_cli("compare", "full_regression", "full_classification",
                      "--warehouse", str(sample_run.warehouse), env=sample_run.env)  # fmt: skip
    assert refused.returncode != 0
    assert "full_regression is regression and full_classification classification" in refused.stderr


def test_a_song_unlike_the_training_data_is_flagged_with_its_features(sample_run, tmp_path):
    ranges = warehouse.read_sql(sample_run.warehouse, """
        select r.feature, r.low, r.high from ml.training_ranges r
        join ml.model_versions v on v.run_id = r.run_id and v.is_champion
        where r.feature = 'in_spotify_playlists'""")  # fmt: skip
    assert len(ranges) == 2 and (ranges["high"] < 10_000_000).all()
    result, out = predict_songs(sample_run, tmp_path, [
        'Far Out,Nobody,1,2023,5,1,10000000,50,,300,100,"1,200",10,500,120,C,Major,70,50,60,10,'
        "0,10,5",
    ])  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 scored row(s) lie outside what the champions saw in training" in result.stderr
    flags = pd.read_csv(out)["outside_training_range"].iloc[0].split("; ")
    assert "in_spotify_playlists (above the 99th percentile)" in flags
