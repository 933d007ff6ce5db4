"""Command line for the Spotify popularity pipeline: build, train, run, predict, report, app...

Heavy libraries are imported inside the commands, so `--help` answers at once.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import BrokenExecutor
from pathlib import Path

import click

from ml.errors import UserError, given_twice, read_user_text
from ml.settings import BENCH_FILE, MAX_REJECTED_SHARE, REPORT_FILE, nearest_existing

EXIT_USER_ERROR = 1
EXIT_ROWS_REJECTED = 3


class Progress:
    """Progress on stderr: every step on a terminal (one updating line), steps only in logs."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.is_terminal = sys.stderr.isatty()

    def __call__(self, message: str, transient: bool = False) -> None:
        elapsed = f"[{time.monotonic() - self.started:6.1f}s]"
        if self.is_terminal:
            click.echo(f"\r\033[K{elapsed} {message}", err=True, nl=not transient)
        elif not transient:
            click.echo(f"{elapsed} {message}", err=True)

    def step(self, message: str) -> None:
        self(message)

    def detail(self, message: str) -> None:
        self(message, transient=True)


class CleanErrors(click.Group):
    """User errors, and a worker process killed outright, end as one line on stderr and exit
    code 1; --debug shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (UserError, BrokenExecutor) as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            killed = "a worker process was killed before its job ended (out of memory?)"
            click.echo(f"error: {killed if isinstance(error, BrokenExecutor) else error}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def _writable(ctx: click.Context, param: click.Parameter, path: Path | None) -> Path | None:
    """An output path the user named, checked before any work: the nearest of its folders that
    exists must be a folder this user may write in (the missing ones are made on writing)."""
    if path is None:
        return None
    folder = nearest_existing(path.parent if param.type.file_okay else path)
    if not folder.is_dir():
        raise click.BadParameter(f"{folder} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise click.BadParameter(f"no permission to write in {folder}")
    return path


def _folder_made(path: Path) -> Path:
    """An output file the user named (checked by `_writable`), once its folders exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


warehouse_option = click.option(
    "--warehouse",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="DuckDB file [default: env SPOTIFY_WAREHOUSE, else warehouse/spotify.duckdb].",
)
raw_option = click.option(
    "--raw",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Raw Kaggle CSV [default: env SPOTIFY_RAW_CSV, else warehouse/raw/spotify-2023.csv, "
    "else the bundled sample].",
)


@click.group(cls=CleanErrors)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Predict song popularity from the Kaggle "Top Spotify Songs 2023" data with dbt + DuckDB,
    scikit-learn and MLflow."""
    ctx.obj = {"debug": debug or os.environ.get("SPOTIFY_DEBUG") == "1"}


def _build(raw: Path | None, warehouse: Path | None, progress: Progress, strict: bool,
           max_rejected_share: float, engine: str = "duckdb"):  # fmt: skip
    from ml.build import build_spark, build_warehouse
    from ml.dataset import resolve_raw_csv
    from ml.settings import resolve_paths

    if engine == "spark" and strict:
        raise UserError("--strict needs the DuckDB engine: Spark replaces its tables in place")
    paths = resolve_paths(warehouse)
    dataset = resolve_raw_csv(raw)
    if dataset.is_sample:
        click.secho(
            "NOTE: no raw file found (--raw, SPOTIFY_RAW_CSV, warehouse/raw/spotify-2023.csv): "
            "using the bundled SYNTHETIC sample. See README, 'Getting the real data'.",
            err=True,
            fg="yellow",
            bold=True,
        )
    if engine == "spark":
        result = build_spark(paths.spark_dir, dataset, progress.step, progress.detail,
                             max_rejected_share)  # fmt: skip
    else:
        result = build_warehouse(paths.warehouse, dataset, progress.step, progress.detail,
                                 max_rejected_share, strict)  # fmt: skip
    return paths, dataset, result


def _warn(warning: str | None) -> None:
    if warning:
        click.secho(f"warning: {warning}", err=True, fg="yellow", bold=True)


def _built_in(paths, engine: str) -> str:
    """Where the engine keeps its tables, as the CLI names it."""
    return str(paths.spark_dir) if engine == "spark" else paths.warehouse.name


strict_option = click.option(
    "--strict", is_flag=True, envvar="SPOTIFY_STRICT",
    help="Fail (and keep the previous warehouse) when more rows are rejected than "
    "--max-rejected-share [env SPOTIFY_STRICT].",
)  # fmt: skip
engine_option = click.option(
    "--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
    help="Where dbt builds: the DuckDB file, or Spark (tables in warehouse/spark/, beside the "
    "DuckDB file; needs requirements-spark.txt and Java).",
)  # fmt: skip
max_rejected_option = click.option(
    "--max-rejected-share", type=click.FloatRange(0, 1), default=MAX_REJECTED_SHARE,
    show_default=True,
    envvar="SPOTIFY_MAX_REJECTED_SHARE",
    help="Share of rejected rows above which the build ends with a warning "
    "[env SPOTIFY_MAX_REJECTED_SHARE].",
)  # fmt: skip


@cli.command()
@raw_option
@strict_option
@max_rejected_option
@engine_option
@warehouse_option
def build(raw: Path | None, strict: bool, max_rejected_share: float, engine: str,
          warehouse: Path | None) -> None:  # fmt: skip
    """Build and test the warehouse with dbt (staging, marts, audit)."""
    progress = Progress()
    paths, dataset, result = _build(raw, warehouse, progress, strict, max_rejected_share, engine)
    counts = result.counts
    click.echo(
        f"built {_built_in(paths, engine)} from {dataset.name}: {counts['raw_rows']} raw rows = "
        f"{counts['clean_rows']} clean + {counts['rejected_rows']} rejected; "
        f"{result.passed} dbt nodes passed"
    )
    _warn(result.warning)


cv_repeats_option = click.option(
    "--cv-repeats",
    type=click.IntRange(min=1),
    default=None,
    help="Override every config's cross-validation repeats (e.g. 1 for a quick run).",
)
permutations_option = click.option(
    "--permutations",
    type=click.IntRange(min=0),
    default=None,
    help="Override the label permutations of the audio-only significance test (0 skips it).",
)
config_option = click.option(
    "--config",
    "config_refs",
    multiple=True,
    metavar="NAME|PATH",
    help="Config name (see ml/configs/) or path to a YAML file; repeatable.",
)


def _select_configs(
    config_refs: tuple[str, ...], every: bool, cv_repeats: int | None, permutations: int | None
) -> list:
    """The configs named (with `every`, all of them; else the default run's), with the
    command-line overrides applied."""
    from dataclasses import replace

    from ml.config import all_configs, default_configs, load_configs

    if config_refs and every:
        raise UserError("give --config or --all, not both")
    configs = [c for ref in config_refs for c in load_configs(ref)]
    twice = given_twice([config.name for config in configs])
    if twice:
        raise UserError(f"config given more than once: {', '.join(twice)}")
    configs = configs or (all_configs() if every else default_configs())
    overrides = {"n_repeats": cv_repeats, "n_permutations": permutations}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    return [replace(config, cv=replace(config.cv, **overrides)) for config in configs]


def _best_by_task(results: list) -> str:
    from ml.tasks import TASKS

    best = []
    for task in TASKS.values():
        scored = [result for result in results if result.task is task]
        if scored:
            top = max(scored, key=lambda result: result.score)
            best.append(f"best {task.name}: {top.config_name} {top.score_name} {top.score:.3f}")
    return "; ".join(best)


@cli.command()
@config_option
@click.option("--all", "train_all", is_flag=True, help="Train every config in ml/configs/.")
@cv_repeats_option
@permutations_option
@engine_option
@warehouse_option
def train(
    config_refs: tuple[str, ...],
    train_all: bool,
    cv_repeats: int | None,
    permutations: int | None,
    engine: str,
    warehouse: Path | None,
) -> None:
    """Train, cross-validate and log models; write predictions to schema ml."""
    from ml.config import config_names
    from ml.settings import resolve_paths

    if not config_refs and not train_all:
        raise UserError("name at least one --config, or use --all "
                        f"(configs: {', '.join(config_names())})")  # fmt: skip
    configs = _select_configs(config_refs, train_all, cv_repeats, permutations)
    paths = resolve_paths(warehouse)
    results = _train(configs, paths, Progress().step, engine)
    click.echo(f"trained {len(results)} config(s) into {_built_in(paths, engine)}; "
               f"{_best_by_task(results)}")  # fmt: skip


def _train(configs: list, paths, step, engine: str, clock=None) -> list:
    """Train on the engine's tables: DuckDB (ml/train.py) or Spark (ml/spark_train.py)."""
    if engine == "spark":
        from ml import spark_train

        return spark_train.train_configs(configs, paths, step)
    from ml.train import train_configs

    return train_configs(configs, paths, step, clock)


@cli.command()
@raw_option
@strict_option
@max_rejected_option
@config_option
@click.option(
    "--all", "train_all", is_flag=True,
    help="Train every config in ml/configs/ (the whole results table), not the default eight.",
)  # fmt: skip
@cv_repeats_option
@permutations_option
@click.option(
    "--profile", "profile_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
    callback=_writable,
    help="Write where the time went (dbt build, each config's fits, logging, plots, "
    "write-back; wall time against the floor) as Markdown to this file.",
)  # fmt: skip
@engine_option
@warehouse_option
def run(
    raw: Path | None,
    strict: bool,
    max_rejected_share: float,
    config_refs: tuple[str, ...],
    train_all: bool,
    cv_repeats: int | None,
    permutations: int | None,
    profile_out: Path | None,
    engine: str,
    warehouse: Path | None,
) -> None:
    """Build the warehouse with dbt, then train the default configs (or --all, or those named)."""
    from ml.profile import Clock

    if engine == "spark" and profile_out is not None:
        raise UserError("--profile measures the DuckDB engine's stages; leave it out with Spark")
    configs = _select_configs(config_refs, train_all, cv_repeats, permutations)
    progress = Progress()
    clock = Clock()
    with clock.measure("", "dbt build"):
        paths, dataset, built = _build(raw, warehouse, progress, strict, max_rejected_share,
                                       engine)  # fmt: skip
    counts = built.counts
    results = _train(configs, paths, progress.step, engine, clock)
    if profile_out is not None:
        title = (f"Where `cli.py run{' --all' if train_all else ''}` spent its time "
                 f"({len(configs)} config{'' if len(configs) == 1 else 's'})")  # fmt: skip
        heading = _measurement_heading(title, dataset)
        _folder_made(profile_out).write_text(clock.markdown(heading), encoding="utf-8")
        click.echo(f"wrote {profile_out}", err=True)
    sample_note = " (SYNTHETIC SAMPLE)" if dataset.is_sample else ""
    click.echo(
        f"run complete on {dataset.name}{sample_note}: {counts['clean_rows']} clean + "
        f"{counts['rejected_rows']} rejected rows; {len(results)} config(s) trained; "
        f"{_best_by_task(results)}"
    )
    _warn(built.warning)


out_file_option = click.option(
    "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    callback=_writable, help="Markdown file to write [default: print only].",
)  # fmt: skip


def _emit(text: str, out_file: Path | None) -> None:
    """Print a Markdown document, and write it to `out_file` when one is given."""
    click.echo(text)
    if out_file is not None:
        _folder_made(out_file).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out_file}", err=True)


def _measurement_heading(title: str, dataset) -> list[str]:
    """A measurement file's first lines: what, on which machine, when, at which commit, data."""
    from ml.bench import measured_on

    return [f"# {title}", "", measured_on(f"{dataset.name} (sha256 {dataset.sha256[:12]}…)")]


def _predictions_text(predictions, interval_level: float) -> str:
    """Scored songs as a terminal table, rounded (--output writes every column in full)."""
    import pandas as pd

    intervals = zip(predictions["predicted_streams_lower"],
                    predictions["predicted_streams_upper"], strict=True)  # fmt: skip
    return pd.DataFrame(
        {
            "raw row": predictions["raw_row_number"],
            "track": predictions["track_name"].str.slice(0, 30),
            "predicted streams": predictions["predicted_streams"].map("{:,.0f}".format),
            f"{interval_level:.0%} interval": [
                f"{low:,.0f} to {high:,.0f}" for low, high in intervals
            ],
            "top 10 % probability": predictions["top_decile_probability"].map("{:.3f}".format),
            "top 10 %": predictions["is_predicted_top_decile"].map({True: "yes", False: "no"}),
            "outside training range": predictions["outside_training_range"],
        }
    ).to_string(index=False)


def _explanation_text(scored, top: int = 5) -> str:
    """Per scored song and task: the model's output as its base value plus the `top` largest
    contributions (and the rest summed)."""
    names = scored.predictions.set_index("raw_row_number")["track_name"]
    lines = []
    for (row, task), group in scored.contributions.groupby(["raw_row_number", "task"], sort=True):
        ranked = group.reindex(group["contribution"].abs().sort_values(ascending=False).index)
        shown = ", ".join(
            f"{r.feature} {r.contribution:+.3f}" for r in ranked.head(top).itertuples()
        )
        rest = ranked["contribution"].iloc[top:].sum()
        output = "log streams" if task == "regression" else "top-decile score"
        first = ranked.iloc[0]
        lines.append(f"row {row} ({names[row]}), {output} {first['prediction']:.3f} = base "
                     f"{first['base_value']:.3f} + {shown}, others {rest:+.3f}")  # fmt: skip
    return "\n".join(lines)


@cli.command()
@click.option(
    "--input",
    "input_csv",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV of new songs in the raw Kaggle file's columns (streams may be blank).",
)
@click.option(
    "--output",
    "output_csv",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=_writable,
    help="Write predictions here [default: print them].",
)
@click.option("--explain", is_flag=True,
              help="Also print each song's largest SHAP contributions (seconds more).")  # fmt: skip
@warehouse_option
def predict(
    input_csv: Path, output_csv: Path | None, explain: bool, warehouse: Path | None
) -> None:
    """Score new songs with the champion models. Exit code 3 if any row was rejected."""
    from ml.predict import load_scorer, score_csv
    from ml.settings import resolve_paths

    if output_csv is not None and output_csv.resolve() == input_csv.resolve():
        raise UserError(f"--output {output_csv} would overwrite the songs of --input")
    scorer = load_scorer(resolve_paths(warehouse))
    scored = score_csv(input_csv.resolve(), scorer, Progress().step, explain=explain)
    for row in scored.rejected.itertuples():
        click.echo(f"rejected row {row.raw_row_number}: {row.reject_reason} "
                   f"({row.rejected_field}={row.rejected_value})", err=True)  # fmt: skip
    if output_csv is not None:
        scored.predictions.to_csv(_folder_made(output_csv), index=False)
    elif len(scored.predictions):  # with every row rejected, the lines above say why
        click.echo(_predictions_text(scored.predictions, scored.interval_level))
    if scored.contributions is not None:
        click.echo(_explanation_text(scored))
    flagged = int((scored.predictions["outside_training_range"] != "").sum())
    if flagged:
        click.echo(f"{flagged} scored row(s) lie outside what the champions saw in training "
                   "(column outside_training_range): trust them less", err=True)  # fmt: skip
    destination = f" to {output_csv}" if output_csv else ""
    click.echo(f"scored {len(scored.predictions)} row(s){destination}, rejected "
               f"{len(scored.rejected)}; models: {scored.model_versions['regression']}, "
               f"{scored.model_versions['classification']}; streams intervals calibrated to "
               f"hold {scored.interval_level:.0%} of true values")  # fmt: skip
    if len(scored.rejected):
        sys.exit(EXIT_ROWS_REJECTED)


@cli.command()
@click.argument("query")
@click.option("--max-rows", default=50, show_default=True, type=click.IntRange(min=1),
              help="Rows to print (the rest are counted, not fetched).")  # fmt: skip
@warehouse_option
def sql(query: str, max_rows: int, warehouse: Path | None) -> None:
    """Run a read-only SQL QUERY (or the query in a .sql file, e.g. docs/queries/*.sql) on the
    warehouse and print the result."""
    from ml.settings import resolve_paths
    from ml.warehouse import preview_query

    if query.endswith(".sql"):
        if not Path(query).is_file():
            raise UserError(f"{query}: no such query file")
        query = read_user_text(Path(query))
    if not query.strip():
        raise UserError("the query is empty")
    shown, total = preview_query(resolve_paths(warehouse).warehouse, query, max_rows)
    if shown.empty:  # its column names, not pandas' "Empty DataFrame"
        click.echo("  ".join(map(str, shown.columns)))
    else:
        click.echo(shown.to_string(index=False, max_cols=30))
    more = f" (the first {len(shown)} shown; --max-rows)" if total > len(shown) else ""
    click.echo(f"{total} row(s){more}", err=True)


@cli.command("compare")
@click.argument("config_a")
@click.argument("config_b")
@out_file_option
@warehouse_option
def compare_configs(
    config_a: str, config_b: str, out_file: Path | None, warehouse: Path | None
) -> None:
    """Is CONFIG_A really better than CONFIG_B? Their newest runs on the warehouse's data,
    fold by fold: mean difference, 95 % interval, corrected resampled t-test p-value."""
    from ml.settings import resolve_paths
    from ml.summaries import comparison_markdown

    _emit(comparison_markdown(resolve_paths(warehouse).warehouse, config_a, config_b), out_file)


@cli.command()
@out_file_option
@warehouse_option
def results(out_file: Path | None, warehouse: Path | None) -> None:
    """Every config's newest run on the warehouse's data, as Markdown tables: mean ± std over
    the outer folds of each metric, the reference model's score, the audio p-value, champions."""
    from ml.settings import resolve_paths
    from ml.summaries import results_document

    _emit(results_document(resolve_paths(warehouse).warehouse), out_file)


@cli.command()
@warehouse_option
def models(warehouse: Path | None) -> None:
    """List registered model versions, their CV scores and which one is champion."""
    from ml import tracking
    from ml.settings import resolve_paths

    versions = tracking.list_model_versions(resolve_paths(warehouse))
    if versions.empty:
        raise UserError("no registered models yet (run `python cli.py train --all`)")
    shown = ["model_name", "version", "config_name", "cv_score", "decision_threshold",
             "is_champion", "run_id"]  # fmt: skip
    click.echo(versions[shown].to_string(index=False))
    click.echo(f"{len(versions)} model version(s)", err=True)


def _file_or_folder(default_name: str):
    """An --out callback: the path names the file when it ends like `default_name` and is not
    a folder, else the folder `default_name` goes in; checked as `_writable`."""
    suffix = Path(default_name).suffix

    def callback(ctx: click.Context, param: click.Parameter, path: Path | None) -> Path | None:
        if path is None:
            return None
        is_file = path.suffix == suffix and not path.is_dir()
        return _writable(ctx, param, path if is_file else path / default_name)

    return callback


@cli.command()
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path),
    default=None,
    callback=_file_or_folder(REPORT_FILE),
    help=f"The .html file to write, or a folder for {REPORT_FILE} [default: "
    f"warehouse/reports/{REPORT_FILE}, beside the DuckDB file].",
)
@warehouse_option
def report(out_file: Path | None, warehouse: Path | None) -> None:
    """Write one self-contained HTML report: dataset, correlations, experiments, plots."""
    from ml.report import write_report
    from ml.settings import resolve_paths

    progress = Progress()
    target = write_report(resolve_paths(warehouse), out_file, progress=progress.detail)
    click.echo(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB); open it in a browser")


def _check_can_listen(address: str, port: int) -> None:
    """One line now if the app could not listen there: Streamlit would only log it."""
    import socket

    try:
        family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Streamlit's does
            probe.bind((address, port))
    except OSError as error:
        raise UserError(f"cannot listen on {address}:{port}: {error.strerror} "
                        "(another --port or --address?)") from None  # fmt: skip


@cli.command()
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--address",
    default="localhost",
    show_default=True,
    help="Interface to listen on (0.0.0.0 shares the app with your network).",
)
@warehouse_option
def app(port: int, address: str, warehouse: Path | None) -> None:
    """Start the Streamlit app on the warehouse (read-only; build and train may run meanwhile)."""
    from ml.settings import APP_SCRIPT, MLFLOW_DIR_ENV, PROJECT_ROOT, WAREHOUSE_ENV, resolve_paths

    paths = resolve_paths(warehouse)
    if not paths.warehouse.is_file():
        raise UserError(f"warehouse not found: {paths.warehouse} (run `python cli.py build` first)")
    _check_can_listen(address, port)
    env = {
        **os.environ,
        WAREHOUSE_ENV: str(paths.warehouse),
        MLFLOW_DIR_ENV: str(paths.mlflow_dir),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
        "--server.port", str(port), "--server.address", address, "--server.headless", "true",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        # Streamlit collects garbage after every rerun: 0.2 s per prediction with the models
        # loaded, more than the scoring itself.
        "--runner.postScriptGC", "false",
    ]  # fmt: skip
    click.echo(f"app: http://{address}:{port} on {paths.warehouse} (Ctrl-C stops it)", err=True)
    # Become the Streamlit server (same pid): a signal to this command reaches the server.
    os.execve(sys.executable, command, env)


@cli.command("make-sample")
@click.option(
    "--rows",
    default=None,
    type=int,
    help="Data rows, at least 30; 10 million and more work [default: 404, the bundled sample].",
)
@click.option("--seed", default=None, type=int, help="Random seed [default: 2023].")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=_writable,
    help="Where to write [default: warehouse/sample/spotify-2023-sample.csv].",
)
def make_sample(rows: int | None, seed: int | None, out_path: Path | None) -> None:
    """Generate synthetic songs in the raw file's format, quirks included.

    With no options it rewrites the bundled sample byte for byte. Any size is generated by
    DuckDB in constant memory, e.g. `make-sample --rows 10000000 --out big.csv`.
    """
    from ml.sample import DEFAULT_ROWS, DEFAULT_SEED, write_sample
    from ml.settings import SAMPLE_CSV

    target = out_path or SAMPLE_CSV
    rows = DEFAULT_ROWS if rows is None else rows
    seed = DEFAULT_SEED if seed is None else seed
    written = write_sample(target, rows, seed, Progress().step)
    click.echo(f"wrote {written} data rows to {target}")


@cli.command()
@click.option(
    "--sizes",
    default="10k,100k,1M,10M",
    show_default=True,
    help="Comma-separated row counts to run, from 10k, 100k, 1M, 10M.",
)
@click.option(
    "--config",
    "config_name",
    default="full_regression",
    show_default=True,
    help="The config the train and scoring stages run.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path),
    default=None,
    callback=_file_or_folder(BENCH_FILE),
    help=f"The Markdown file to write, its JSON beside it, or a folder for {BENCH_FILE} "
    f"[default: warehouse/bench/{BENCH_FILE}].",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Scratch space for the generated files (10M rows need ~4 GB) [default: system temp].",
)
@click.option(
    "--write-rows",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows for the Arrow vs executemany write-back comparison.",
)
@click.option(
    "--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
    help="spark: also time the dbt build, the feature read, training and the write-back "
    "on local Spark, beside DuckDB's.",
)  # fmt: skip
def bench(
    sizes: str, config_name: str, out_file: Path | None, work_dir: Path | None, write_rows: int,
    engine: str,
) -> None:  # fmt: skip
    """Time every stage (generate, dbt build, read, train, write-back, scoring in SQL and in
    scikit-learn) at several sizes, against the floor (DuckDB loading the same CSV) and the
    seed's pandas cleaning; with --engine spark, build, read, train and write-back on Spark."""
    from ml.bench import parse_sizes, run_benchmark, write_reports
    from ml.config import load_config
    from ml.settings import WAREHOUSE_DIR

    try:
        chosen = parse_sizes(sizes)
    except ValueError as error:
        raise UserError(str(error)) from None
    load_config(config_name)
    progress = Progress()
    results = run_benchmark(chosen, config_name, work_dir, write_rows, progress=progress.step,
                            spark=engine == "spark")  # fmt: skip
    markdown, json_path = write_reports(results, out_file or WAREHOUSE_DIR / "bench" / BENCH_FILE)
    click.echo(markdown.read_text(encoding="utf-8"))
    click.echo(f"wrote {markdown} and {json_path}")


@cli.command("macro-limits")
@out_file_option
@warehouse_option
def macro_limits(out_file: Path | None, warehouse: Path | None) -> None:
    """Measure what each model type costs as a DuckDB macro on the warehouse's rows: SQL and
    catalog size, time to open a file holding it, to bind it, to score every row."""
    import tempfile

    from ml import warehouse as store
    from ml.bench import macros_markdown, measure_macros
    from ml.dataset import Dataset
    from ml.settings import resolve_paths

    path = resolve_paths(warehouse).warehouse
    built = store.read_table(path, "audit.build_dataset").iloc[0]
    dataset = Dataset(Path(built["dataset_path"]), built["dataset_sha256"], is_sample=False)
    with tempfile.TemporaryDirectory(prefix="spotify-macros-") as scratch:
        limits = measure_macros(path, Path(scratch))
    heading = _measurement_heading("What a model costs as a DuckDB macro", dataset)
    _emit(macros_markdown(limits, heading), out_file)


@cli.command()
@raw_option
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(min=1),
              help="Times each measurement runs (in alternation with its floor).")  # fmt: skip
@out_file_option
@warehouse_option
def latency(raw: Path | None, repeats: int, out_file: Path | None, warehouse: Path | None) -> None:
    """Time a build and predictions (10 songs, the whole file, one song in a running process)
    next to their floors, on a copy of a trained warehouse."""
    from ml.dataset import resolve_raw_csv
    from ml.latency import markdown, measure
    from ml.predict import load_scorer
    from ml.settings import resolve_paths

    paths = resolve_paths(warehouse)
    load_scorer(paths)  # a trained warehouse, or a one-line error now
    dataset = resolve_raw_csv(raw)
    seconds = measure(paths, dataset.path, repeats, Progress().step)
    heading = _measurement_heading("How long a build and a prediction take", dataset)
    _emit(markdown(seconds, heading), out_file)


if __name__ == "__main__":
    from ml.quick_exit import run_then_exit

    run_then_exit(cli)
