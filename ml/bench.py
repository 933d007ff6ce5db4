"""The benchmark: every stage of the pipeline at several sizes, each stage in a process of its
own so its wall time and peak memory (including any child such as dbt) are its own.

Stages per size: generate the CSV, the floor (DuckDB reading the same file into a table),
dbt build, read the feature mart, train one config, write its predictions back, and score
every row with that config's model twice: compiled to a DuckDB macro (ml/sql_model.py) and
with scikit-learn's predict. Beside them, on the same data: the seed's pandas cleaning against
the dbt build, (once) write-back through Arrow against `executemany`, and with the Spark engine
the same dbt build and feature read on local Spark (ml/spark.py).
"""

from __future__ import annotations

import json
import multiprocessing
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000, "10M": 10_000_000}
WRITE_METHOD_ROWS = 100_000
# The scoring stages' model is fitted (untimed, alike in both processes) on this many rows.
SCORING_FIT_ROWS = 10_000


@dataclass(frozen=True)
class StageResult:
    size: str
    stage: str
    rows: int
    seconds: float
    peak_mb: float
    note: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


def parse_sizes(text: str) -> dict[str, int]:
    """'10k,1M' -> {'10k': 10000, '1M': 1000000}."""
    sizes = {}
    for label in (part.strip() for part in text.split(",") if part.strip()):
        if label not in SIZES:
            raise ValueError(f"unknown size '{label}' (known: {', '.join(SIZES)})")
        sizes[label] = SIZES[label]
    if not sizes:
        raise ValueError(f"no size given (known: {', '.join(SIZES)})")
    return sizes


# --- stages: each runs in a child process and returns (seconds, rows, note) ---------------


def stage_generate(csv_path: Path, rows: int) -> tuple[float, int, str]:
    from ml.sample import write_sample

    started = time.perf_counter()
    write_sample(csv_path, rows=rows)
    return time.perf_counter() - started, rows, f"{csv_path.stat().st_size / 1e6:,.0f} MB"


def stage_floor(csv_path: Path, scratch: Path) -> tuple[float, int, str]:

    seconds, rows = time_plain_csv_load(csv_path, scratch / "floor.duckdb")
    return seconds, rows, "create table as select * from read_csv(all_varchar)"


def stage_build(csv_path: Path, warehouse_path: Path) -> tuple[float, int, str]:
    from ml.build import build_warehouse
    from ml.dataset import Dataset, file_sha256

    started = time.perf_counter()
    dataset = Dataset(path=csv_path, sha256=file_sha256(csv_path), is_sample=False)
    result = build_warehouse(warehouse_path, dataset)
    seconds = time.perf_counter() - started
    return seconds, result.counts["raw_rows"], f"{result.passed} models and tests passed"


def stage_build_spark(csv_path: Path, warehouse_path: Path) -> tuple[float, int, str]:
    """`cli.py build --engine spark` as a user meets it: Spark's start-up included."""
    from ml import spark
    from ml.build import build_spark
    from ml.dataset import Dataset, file_sha256
    from ml.settings import resolve_paths

    spark_dir = resolve_paths(warehouse_path).spark_dir
    started = time.perf_counter()
    dataset = Dataset(path=csv_path, sha256=file_sha256(csv_path), is_sample=False)
    result = build_spark(spark_dir, dataset)
    seconds = time.perf_counter() - started
    spark.stop()
    note = f"{result.passed} models and tests passed; local[2], Parquet"
    return seconds, result.counts["raw_rows"], note


def stage_read_features_spark(warehouse_path: Path) -> tuple[float, int, str]:
    from ml import spark
    from ml.settings import resolve_paths

    started = time.perf_counter()
    session = spark.session(resolve_paths(warehouse_path).spark_dir)
    start_up = time.perf_counter() - started
    frame = session.sql("select * from marts.track_features order by track_id").toPandas()
    seconds = time.perf_counter() - started
    spark.stop()
    return seconds, len(frame), f"toPandas(), Spark's start-up ({start_up:.1f} s) included"


def stage_train_spark(warehouse_path: Path, config_name: str) -> tuple[float, int, str]:
    """What `cli.py train --engine spark` computes for one config (tracking and write-back
    apart): Spark's start-up, the read of every row's targets and of the feature rows the fits
    read, the fits as in the train stage, and every row's out-of-fold prediction in Spark."""
    from ml import spark
    from ml.config import load_config
    from ml.features import ID_COLUMN, target_vector
    from ml.settings import resolve_paths
    from ml.spark_train import fit_config, read_rows, read_training_inputs
    from ml.train import rows_read
    from ml.workers import JobPool

    config = load_config(config_name)
    spark_dir = resolve_paths(warehouse_path).spark_dir
    started = time.perf_counter()
    inputs = read_training_inputs(spark_dir)
    positions = rows_read(config, target_vector(inputs.features, config.task))
    rows = read_rows(spark_dir, inputs.features[ID_COLUMN].to_numpy(), positions)
    fitted = fit_config(spark_dir, config, inputs, rows, JobPool())
    seconds = time.perf_counter() - started
    spark.stop()
    n_rows = len(inputs.features)
    return seconds, n_rows, (f"{config_name}: {fitted.plan.describe(n_rows)}; the driver read "
                             f"the features of {len(positions):,} rows")  # fmt: skip


def stage_write_back_spark(warehouse_path: Path) -> tuple[float, int, str]:
    """The write-back stage's rows appended to the Spark table ml.predictions (Parquet)."""
    from ml import spark
    from ml.settings import resolve_paths
    from ml.spark_train import write_run

    spark_dir = resolve_paths(warehouse_path).spark_dir
    labels = spark.read_sql(spark_dir, "select track_id, log_streams from marts.track_features")
    predictions = _prediction_rows(labels["track_id"], labels["log_streams"].to_numpy(float))
    started = time.perf_counter()
    write_run(spark_dir, {"ml.predictions": predictions})
    seconds = time.perf_counter() - started
    spark.stop()
    return seconds, len(predictions), "createDataFrame via Arrow, appended as Parquet"


def stage_pandas(csv_path: Path) -> tuple[float, int, str]:
    from ml.pandas_baseline import clean_and_featurize

    started = time.perf_counter()
    frame = clean_and_featurize(csv_path)
    return time.perf_counter() - started, len(frame), "seed-style pandas, no rejects, no tests"


def stage_read_features(warehouse_path: Path) -> tuple[float, int, str]:
    from ml import warehouse

    started = time.perf_counter()
    frame = warehouse.read_track_features(warehouse_path)
    return time.perf_counter() - started, len(frame), "Arrow-backed .df()"


def stage_train(warehouse_path: Path, config_name: str) -> tuple[float, int, str]:
    """What `cli.py train` computes for one config (tracking and write-back are timed apart)."""
    from ml import warehouse
    from ml.config import load_config
    from ml.features import feature_matrix, target_vector
    from ml.train import fit_and_evaluate

    config = load_config(config_name)
    frame = warehouse.read_track_features(warehouse_path)
    X, y = feature_matrix(frame, config.features), target_vector(frame, config.task)
    started = time.perf_counter()
    fitted = fit_and_evaluate(config, X, y)
    return time.perf_counter() - started, len(X), f"{config_name}: {fitted.plan.describe(len(X))}"


def stage_write_back(warehouse_path: Path) -> tuple[float, int, str]:
    from ml import warehouse

    features = warehouse.read_sql(
        warehouse_path, "select track_id, log_streams from marts.track_features"
    )
    predictions = _prediction_rows(features["track_id"], features["log_streams"].to_numpy(float))
    started = time.perf_counter()
    warehouse.append_rows(warehouse_path, "ml.predictions", predictions)
    seconds = time.perf_counter() - started
    return seconds, len(predictions), "one transaction, from a DataFrame via Arrow"


def _scoring_model(warehouse_path: Path, config_name: str):
    """(task, the config's pipeline fitted on the first SCORING_FIT_ROWS rows by track_id)."""
    from ml import warehouse
    from ml.config import load_config
    from ml.features import feature_matrix, target_vector
    from ml.pipeline import make_pipeline_for

    config = load_config(config_name)
    frame = warehouse.read_sql(
        warehouse_path,
        f"select * from {warehouse.FEATURES_TABLE} order by track_id limit {SCORING_FIT_ROWS}",
    )
    model = make_pipeline_for(config.task, config.model_type, config.model_params,
                              config.features, config.cv.seed)  # fmt: skip
    model.fit(feature_matrix(frame, config.features), target_vector(frame, config.task))
    return config.task, model


def stage_score_sql(
    warehouse_path: Path, config_name: str, over_trees: bool = False
) -> tuple[float, int, str]:
    """Every row of track_features scored by the model compiled to a macro, into a table: as a
    champion's macro (a nested CASE) or, `over_trees`, as a registered version's (its trees in
    ml.model_trees), whose note compares its scores with the champion form's."""
    from ml.sql_model import compile_model, compile_over_trees

    _, model = _scoring_model(warehouse_path, config_name)
    table = "main.bench_version_scores" if over_trees else "main.bench_scores"
    with duckdb.connect(str(warehouse_path)) as connection:
        if over_trees:
            body, trees = compile_over_trees(model, config_name, "bench", 1)
            connection.execute("delete from ml.model_trees where model_name = 'bench'")
            connection.register("trees", trees)
            connection.execute("insert into ml.model_trees select * from trees")
            note = f"{len(trees)} trees in ml.model_trees, into a table"
        else:
            body = compile_model(model, config_name)
            note = f"macro of {len(body) / 1e6:.2f} MB, bind included, into a table"
        started = time.perf_counter()
        connection.execute(f"create temp macro score(t) as {body}")
        connection.execute(
            f"create or replace table {table} as "
            "select track_id, score(t) as score from marts.track_features t"
        )
        seconds = time.perf_counter() - started
        rows = connection.execute(f"select count(*) from {table}").fetchone()[0]
        if over_trees:
            difference = connection.execute(
                "select max(abs(v.score - c.score)) from main.bench_version_scores v "
                "join main.bench_scores c using (track_id)"
            ).fetchone()[0]
            note += f"; largest difference from the champion form: {difference:.1e}"
    return seconds, rows, note


def stage_score_sklearn(warehouse_path: Path, config_name: str) -> tuple[float, int, str]:
    """The same rows read into pandas and scored by scikit-learn; the note compares the
    scores with the SQL stage's."""
    from ml import warehouse
    from ml.features import feature_matrix

    task, model = _scoring_model(warehouse_path, config_name)
    features = list(model.feature_names_in_)
    started = time.perf_counter()
    frame = warehouse.read_sql(
        warehouse_path, f"select track_id, {', '.join(features)} from {warehouse.FEATURES_TABLE}"
    )
    scores = task.predict(model, feature_matrix(frame, features))
    seconds = time.perf_counter() - started
    by_sql = warehouse.read_sql(warehouse_path, "select track_id, score from main.bench_scores")
    compared = frame[["track_id"]].assign(sklearn=scores).merge(by_sql, on="track_id")
    difference = (compared["sklearn"] - compared["score"]).abs().max()
    return seconds, len(frame), f"read + predict; largest difference from the SQL: {difference:.1e}"


def stage_write_method(scratch: Path, method: str, rows: int) -> tuple[float, int, str]:
    from ml import warehouse

    ids = pd.Series(np.random.default_rng(0).integers(0, 2**60, rows))  # like hashed track ids
    predictions = _prediction_rows(ids, np.full(rows, 18.0))
    path = scratch / f"write-{method}.duckdb"
    started = time.perf_counter()
    warehouse.append_rows(path, "ml.predictions", predictions, method=method)
    return time.perf_counter() - started, len(predictions), f"same {rows:,} rows"


def _prediction_rows(track_ids: pd.Series, log_streams: np.ndarray) -> pd.DataFrame:
    """ml.predictions rows as a regression run writes them (predicted = actual here, with
    an interval around it)."""
    from ml.config import load_config
    from ml.train import prediction_frame
    from ml.warehouse import PREDICTION_COLUMNS

    config = load_config("full_regression")
    run_id = f"bench-{time.time_ns()}"
    bounds = (log_streams - 0.7, log_streams + 0.7)
    frame = prediction_frame(run_id, config, track_ids, log_streams, log_streams, None, bounds)
    return frame[PREDICTION_COLUMNS]


# --- running a stage in its own process -------------------------------------------------


def _child(connection, function: Callable, args: tuple) -> None:
    try:
        seconds, rows, note = function(*args)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        connection.send(("ok", seconds, rows, note, max(own, children) / 1024))
    except BaseException as error:  # reported to the parent, which raises it
        connection.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        connection.close()


def run_stage(function: Callable, *args) -> tuple[float, int, str, float]:
    """(seconds, rows, note, peak MB) of `function(*args)` run in a fresh process, forked from
    a server that imported the stages' modules once (each stage times only its own work)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["ml.bench", "ml.build", "ml.train", "ml.sql_model"])
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, function, args))
    process.start()
    sender.close()
    outcome = receiver.recv()
    process.join()
    if outcome[0] == "error":
        raise RuntimeError(f"{function.__name__} failed: {outcome[1]}")
    _, seconds, rows, note, peak_mb = outcome
    return seconds, rows, note, peak_mb


# --- the whole benchmark --------------------------------------------------------------


def run_benchmark(
    sizes: dict[str, int],
    config_name: str,
    work_dir: Path | None = None,
    write_method_rows: int = WRITE_METHOD_ROWS,
    progress=print,
    spark: bool = False,
) -> list[StageResult]:
    """Every stage at every size; with `spark`, also the build, the feature read, training and
    the write-back on Spark."""
    results: list[StageResult] = []

    def measure(size: str, stage: str, function: Callable, *args) -> StageResult:
        progress(f"{size}: {stage}")
        seconds, rows, note, peak_mb = run_stage(function, *args)
        result = StageResult(size, stage, rows, seconds, round(peak_mb), note)
        progress(
            f"{size}: {stage} {seconds:,.1f} s, {result.rows_per_second:,.0f} rows/s, "
            f"peak {peak_mb:,.0f} MB"
        )
        results.append(result)
        return result

    with tempfile.TemporaryDirectory(dir=work_dir, prefix="spotify-bench-") as scratch_name:
        scratch = Path(scratch_name)
        for size, rows in sizes.items():
            csv_path = scratch / f"spotify-{size}.csv"
            warehouse_path = scratch / f"bench-{size}.duckdb"
            measure(size, "generate", stage_generate, csv_path, rows)
            measure(size, "floor: DuckDB load", stage_floor, csv_path, scratch)
            measure(size, "dbt build", stage_build, csv_path, warehouse_path)
            measure(size, "pandas clean (seed way)", stage_pandas, csv_path)
            measure(size, "read features", stage_read_features, warehouse_path)
            measure(size, "train", stage_train, warehouse_path, config_name)
            measure(size, "write-back", stage_write_back, warehouse_path)
            measure(size, "score: SQL macro", stage_score_sql, warehouse_path, config_name)
            measure(size, "score: SQL version macro", stage_score_sql, warehouse_path,
                    config_name, True)  # fmt: skip
            measure(size, "score: scikit-learn", stage_score_sklearn, warehouse_path, config_name)
            if spark:
                measure(size, "dbt build (Spark)", stage_build_spark, csv_path, warehouse_path)
                measure(size, "read features (Spark)", stage_read_features_spark, warehouse_path)
                measure(size, "train (Spark)", stage_train_spark, warehouse_path, config_name)
                measure(size, "write-back (Spark)", stage_write_back_spark, warehouse_path)
            for leftover in (csv_path, warehouse_path, scratch / "floor.duckdb"):
                leftover.unlink(missing_ok=True)
        label = f"{write_method_rows:,}"
        for method in ("arrow", "executemany"):
            measure(
                label, f"write-back via {method}", stage_write_method, scratch, method,
                write_method_rows,
            )  # fmt: skip
    return results


def measure_macros(warehouse_path: Path, scratch: Path) -> pd.DataFrame:
    """What a compiled model costs in DuckDB, per task and model type (the first shipped config's
    parameters, every feature, fitted on every row of track_features): the macro's tree nodes
    and SQL; then, for the champion's macro (a nested CASE) and for a registered version's (its
    trees in ml.model_trees), alone in a DuckDB file: the file's size, how long opening it
    takes (every connection pays it), binding the macro (once per query) and scoring every row."""
    from ml import warehouse
    from ml.config import shipped_params
    from ml.features import feature_matrix, resolve_feature_set
    from ml.pipeline import make_pipeline_for
    from ml.sql_model import compile_model, compile_over_trees
    from ml.tasks import TASKS

    frame = warehouse.read_track_features(warehouse_path)
    features = resolve_feature_set("full")
    X = feature_matrix(frame, features)
    rows = []
    for task in TASKS.values():
        y = frame[task.target].to_numpy(dtype=task.target_dtype)
        for model_type in task.model_types:
            model = make_pipeline_for(task, model_type, shipped_params(task, model_type),
                                      features, seed=42).fit(X, y)  # fmt: skip
            body = compile_model(model, model_type)
            row = {"task": task.name, "model_type": model_type,
                   "tree_nodes": _tree_nodes(model[-1]), "sql_mb": len(body) / 1e6,
                   "rows": len(frame)}  # fmt: skip
            path = scratch / f"macro-{task.name}-{model_type}.duckdb"
            row |= _macro_costs(path, warehouse_path, body, trees=None)
            versioned = compile_over_trees(model, model_type, model_type, 1)
            row |= {f"version_{key}": value for key, value in
                    _macro_costs(path, warehouse_path, *versioned).items()}  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows)


def _macro_costs(path: Path, warehouse_path: Path, body: str, trees: pd.DataFrame | None) -> dict:
    """A macro alone in a DuckDB file, with its trees if any: the file's size, the seconds to
    open it, to bind the macro (scoring one row) and to score every row of track_features."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema ml")
        if trees is not None:
            connection.register("trees", trees)
            connection.execute("create table ml.model_trees as select * from trees")
        connection.execute(f"create macro ml.score(t) as {body}")
    opened = time.perf_counter()
    with duckdb.connect(str(path), read_only=True) as connection:
        open_seconds = time.perf_counter() - opened
        connection.execute(f"attach '{warehouse_path}' as built (read_only)")
        started = time.perf_counter()
        connection.execute("select ml.score(t) from built.marts.track_features t limit 1")
        bind_seconds = time.perf_counter() - started
        started = time.perf_counter()
        connection.execute("select sum(ml.score(t)) from built.marts.track_features t")
        score_seconds = time.perf_counter() - started
    size_mb = path.stat().st_size / 1e6
    path.unlink()
    return {"file_mb": size_mb, "open_s": open_seconds, "bind_s": bind_seconds,
            "score_all_rows_s": score_seconds}  # fmt: skip


def _tree_nodes(estimator) -> int:
    if hasattr(estimator, "_predictors"):  # histogram gradient boosting
        return sum(len(predictor.nodes) for (predictor,) in estimator._predictors)
    trees = np.ravel(getattr(estimator, "estimators_", []))
    return sum(tree.tree_.node_count for tree in trees)


def macros_markdown(limits: pd.DataFrame, heading: list[str]) -> str:
    lines = [
        *heading,
        "",
        "Each model type with its first shipped config's parameters on every feature, fitted on "
        f"all {limits['rows'].iloc[0]:,} rows and compiled to a macro alone in a DuckDB file: "
        "as a champion's macro (a nested CASE, `ml.predict_log_streams(t)`) and as a registered "
        "version's (its trees in `ml.model_trees`, `ml.predict_log_streams_v<N>(t)`). Bind s is "
        "the time of a query scoring one row.",
        "",
        "| task | model | tree nodes | SQL MB | champion: file MB | open s | bind s | "
        "score all rows s | version: file MB | open s | bind s | score all rows s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in limits.itertuples():
        lines.append(
            f"| {row.task} | {row.model_type} | {row.tree_nodes:,} | {row.sql_mb:.2f} | "
            f"{row.file_mb:.2f} | {row.open_s:.3f} | {row.bind_s:.2f} | "
            f"{row.score_all_rows_s:.2f} | {row.version_file_mb:.2f} | {row.version_open_s:.3f} | "
            f"{row.version_bind_s:.2f} | {row.version_score_all_rows_s:.2f} |"
        )
    return "\n".join(lines) + "\n"


def measured_on(data: str) -> str:
    """The line a measurement file starts with: the machine, date, commit and data."""
    from datetime import date

    from ml.train import git_commit

    return (f"Machine: {machine_description()}. Date: {date.today()}. "
            f"Commit: {(git_commit() or 'unknown')[:7]}. Data: {data}.")  # fmt: skip


def machine_description() -> str:
    cpus = multiprocessing.cpu_count()
    memory_gb = _total_memory_gb()
    return f"{platform.processor() or platform.machine()}, {cpus} CPUs, {memory_gb:.0f} GB RAM"


def _total_memory_gb() -> float:
    try:
        with open("/proc/meminfo") as handle:
            kilobytes = int(handle.readline().split()[1])
        return kilobytes / 1024**2
    except (OSError, ValueError, IndexError):
        return float("nan")


def to_markdown(results: list[StageResult], measured: str) -> str:
    """The stage table under `measured` (measured_on's line)."""
    lines = [
        measured,
        "",
        "| rows | stage | wall s | rows/s | peak MB | x floor | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    floors = {result.size: result.seconds for result in results if result.stage.startswith("floor")}
    for result in results:
        floor = floors.get(result.size)
        ratio = f"{result.seconds / floor:.1f}" if floor and result.stage != "generate" else ""
        lines.append(
            f"| {result.size} | {result.stage} | {result.seconds:,.2f} | "
            f"{result.rows_per_second:,.0f} | {result.peak_mb:,.0f} | {ratio} | {result.note} |"
        )
    return "\n".join(lines) + "\n"


def write_reports(results: list[StageResult], markdown_path: Path) -> tuple[Path, Path]:
    """The table as Markdown to `markdown_path`, and as JSON beside it."""
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    json_path = markdown_path.with_suffix(".json")
    measured = measured_on("synthetic rows from `cli.py make-sample` (seed 2023)")
    markdown_path.write_text(to_markdown(results, measured), encoding="utf-8")
    records = [{**asdict(result), "rows_per_second": result.rows_per_second} for result in results]
    json_path.write_text(
        json.dumps({"measured_on": measured, "results": records}, indent=2), encoding="utf-8"
    )
    return markdown_path, json_path


def time_plain_csv_load(csv_path: Path, scratch_db: Path, encoding: str = "latin-1"):
    """The floor for a build: seconds DuckDB needs to load the CSV, all text, into a table
    (nothing parsed, checked or derived). Returns (seconds, rows)."""
    source = str(csv_path).replace("'", "''")
    scratch_db.unlink(missing_ok=True)
    connection = duckdb.connect(str(scratch_db))
    try:
        connection.execute("set enable_progress_bar = false")
        started = time.perf_counter()
        connection.execute(
            f"create table raw_load as select * from read_csv('{source}', all_varchar = true, "
            f"header = true, encoding = '{encoding}')"
        )
        seconds = time.perf_counter() - started
        rows = connection.execute("select count(*) from raw_load").fetchone()[0]
    finally:
        connection.close()
        scratch_db.unlink(missing_ok=True)
    return seconds, rows
