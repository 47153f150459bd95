"""`accident-assets`: the main job, i.e. the whole asset graph on the offline sample data.

The graph mixes yearly (France), daily (NYC) and unpartitioned (training) assets, which no single
Dagster run can cover, so ``run-all`` launches the runs a user would launch from the UI, in order,
against the persistent instance in ``$DAGSTER_HOME``: the UI shows every one of them afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import typer
from tqdm import tqdm

from accident_assets import instance, settings
from accident_assets.postgres import (
    DATABASES,
    DEFAULT_PORT,
    LocalPostgres,
    PostgresError,
    attach_instance,
)

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


@app.callback()
def _commands() -> None:
    """Keeps `run-all` a named subcommand (typer flattens a lone command)."""


FRANCE_SAMPLE_YEARS = ["2021", "2022"]
NYC_SAMPLE_START = dt.date(2023, 1, 1)
# Weekly as-of partitions judged in the NYC backtest (the last is the newest, the rest backtests).
NYC_BACKTEST_WEEKS = 4


postgres_app = typer.Typer(
    no_args_is_help=True,
    help="A Postgres of the project's own under <home>/postgres, for the Dagster instance and MLflow.",
)
app.add_typer(postgres_app, name="postgres")


def _instance() -> dg.DagsterInstance:
    os.environ.setdefault("DAGSTER_HOME", str(instance.ensure_dagster_home()))
    return dg.DagsterInstance.get()


@app.command("init")
def init() -> None:
    """Create the state directory and a dagster.yaml with run monitoring and the run concurrency
    pools (if there is none), and set the pools' limits in the instance."""
    from accident_assets.definitions import build_defs

    with _instance() as dagster_instance:
        limits = instance.apply_pool_limits(dagster_instance, instance.pool_limits(build_defs()))
    typer.echo(f"DAGSTER_HOME: {os.environ['DAGSTER_HOME']}")
    typer.echo(f"Runs at a time, per pool: {limits}")


def _local_postgres(port: int) -> LocalPostgres:
    return LocalPostgres(settings.state_home() / "postgres" / "data", port=port)


def _env_file() -> Path:
    """The MLflow store for make's targets (the Makefile includes it when it exists)."""
    return settings.state_home() / "postgres" / "env.mk"


PORT_OPTION = typer.Option(DEFAULT_PORT, help="loopback port of the server")


@postgres_app.command("start")
def postgres_start(port: int = PORT_OPTION) -> None:
    """Start the server (creating it and its databases the first time), point DAGSTER_HOME's
    dagster.yaml at it, and write the MLFLOW_TRACKING_URI that make's targets use."""
    server = _local_postgres(port)
    server.start()
    server.create_databases(("mlflow",))  # attach_instance creates the instance's own
    config = attach_instance(
        server, settings.dagster_home(), origin="accident-assets postgres start"
    )
    # `?=`: an MLFLOW_TRACKING_URI the user exported still wins.
    _env_file().write_text(f"export MLFLOW_TRACKING_URI ?= {server.url('mlflow')}\n")
    typer.echo(f"Postgres on {server.host}:{port}, data in {server.data_dir}")
    typer.echo(f"Dagster instance: {config}")
    typer.echo(f"MLflow store: {server.url('mlflow')} (make's targets read {_env_file()})")
    typer.echo(f"In a shell: export MLFLOW_TRACKING_URI={server.url('mlflow')}")
    init()


@postgres_app.command("stop")
def postgres_stop(
    sqlite: bool = typer.Option(
        False, "--sqlite", help="also point the instance and MLflow back at the local sqlite files"
    ),
) -> None:
    """Stop the server; its data stays for the next start."""
    server = _local_postgres(DEFAULT_PORT)  # the data directory names the server, not the port
    if server.running():
        server.stop()
        typer.echo("Postgres stopped")
    else:
        typer.echo(f"Postgres is not running (data: {server.data_dir})")
    if sqlite:
        _env_file().unlink(missing_ok=True)
        config = instance.detach_instance(settings.dagster_home())
        typer.echo(f"{config} and MLflow are on the local sqlite files again")
        init()


@postgres_app.command("status")
def postgres_status() -> None:
    """Whether the server runs, and the URLs of its databases."""
    server = _local_postgres(DEFAULT_PORT)
    if not server.running():
        typer.echo(f"Postgres is not running (data: {server.data_dir})")
        raise typer.Exit(code=1)
    running = dataclasses.replace(server, port=server.running_port() or server.port)
    typer.echo(f"Postgres is running on {running.host}:{running.port}")
    for database in DATABASES:
        typer.echo(f"  {database}: {running.url(database)}")


def _job(name: str) -> dg.JobDefinition:
    with warnings.catch_warnings():
        # The preview/beta features used (partitioned checks, backfill policies) are chosen on
        # purpose; their warnings would repeat on every run of the main command.
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        from accident_assets.definitions import build_defs

        return build_defs().resolve_job_def(name)


# Per-partition and per-model progress is logged at INFO; Dagster's DEBUG events (every input,
# output and hook) would bury it under a thousand lines. The UI keeps the full event log.
CONSOLE_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _execute(name: str, dagster_instance: dg.DagsterInstance, **kwargs) -> None:
    result = _job(name).execute_in_process(
        instance=dagster_instance, raise_on_error=False, run_config=CONSOLE_INFO, **kwargs
    )
    if not result.success:
        typer.echo(
            f"{name} {kwargs or ''} failed: see run {result.run_id} in the Dagster UI", err=True
        )
        raise typer.Exit(code=1)


@app.command("run-all")
def run_all(
    nyc_days: int = typer.Option(
        36, help="sample days of NYC crashes to ingest, from 2023-01-01 (36: 4 weeks to backtest)"
    ),
) -> None:
    """Ingest both lanes on the sample data, train every model, crown a champion per task, and
    backtest the NYC lane over its newest weekly as-of partitions."""
    dagster_instance = _instance()
    last_day = NYC_SAMPLE_START + dt.timedelta(days=nyc_days - 1)
    from accident_assets.nyc.partitions import days_between, key_of
    from accident_assets.training.tasks import NYC

    stored = [key_of(d) for d in days_between(NYC_SAMPLE_START, last_day)]
    weeks = NYC.backtest_as_of(stored, NYC_BACKTEST_WEEKS)
    if not weeks:
        raise typer.BadParameter(f"{NYC_SAMPLE_START}..{last_day} holds no complete as-of week")
    first_week, newest_week = weeks[0], weeks[-1]
    steps: list[tuple[str, Callable[[], None]]] = [
        *[
            (
                f"france_ingest_job {year}",
                lambda y=year: _execute("france_ingest_job", dagster_instance, partition_key=y),
            )
            for year in FRANCE_SAMPLE_YEARS
        ],
        (
            f"nyc_ingest_job {NYC_SAMPLE_START}..{last_day}",
            lambda: _execute(
                "nyc_ingest_job",
                dagster_instance,
                tags={
                    "dagster/asset_partition_range_start": NYC_SAMPLE_START.isoformat(),
                    "dagster/asset_partition_range_end": last_day.isoformat(),
                },
            ),
        ),
        (
            f"france_training_job {FRANCE_SAMPLE_YEARS[-1]}",
            lambda: _execute(
                "france_training_job", dagster_instance, partition_key=FRANCE_SAMPLE_YEARS[-1]
            ),
        ),
        (
            f"nyc_training_job {first_week}...{newest_week}",
            lambda: _execute(
                "nyc_training_job",
                dagster_instance,
                tags={
                    "dagster/asset_partition_range_start": first_week,
                    "dagster/asset_partition_range_end": newest_week,
                },
            ),
        ),
    ]
    started = time.monotonic()
    with tqdm(steps, unit="run", desc="accident_assets") as bar:
        for label, step in bar:
            bar.set_postfix_str(label)
            step()
    typer.echo(_summary(time.monotonic() - started))


def _summary(seconds: float) -> str:
    from accident_assets.training.mlflow_config import configure_mlflow

    client = configure_mlflow()
    lines = [f"\nDone in {seconds:.0f} s. Champions:"]
    for task in ("france_priority", "nyc_incidents"):
        version = client.get_model_version_by_alias(task, "champion")
        metrics = client.get_run(version.run_id).data.metrics
        shown = ", ".join(
            f"{k}={int(v)}" if float(v).is_integer() else f"{k}={v:.4g}"
            for k, v in sorted(metrics.items())
        )
        as_of = (version.tags or {}).get("as_of", "?")
        lines.append(f"  {task}: version {version.version}, as of {as_of} ({shown})")
    lines += _backtest_lines()
    lines += [
        "",
        "Where to look:",
        "  Dagster UI:   make dev        -> http://127.0.0.1:3000 (runs, asset metadata, checks, plots)",
        "  MLflow UI:    make mlflow-ui  -> http://127.0.0.1:5000/#/experiments?workflowType=machine_learning",
        f"  Comparisons:  {settings.storage_root()}/<task>/model_comparison/<as-of>.parquet",
        f"  History:      {settings.storage_root()}/<task>/performance_history.parquet",
        "  Predictions:  make api, or .venv/bin/predict --task france_priority examples/france_flat_record.json",
    ]
    return "\n".join(lines)


def _backtest_lines() -> list[str]:
    """The NYC backtest from its performance history: mean ± spread per model, best first."""
    from upath import UPath

    from accident_assets.io_manager import read_parquet
    from accident_assets.training import history
    from accident_assets.training.tasks import NYC

    # Through the IO managers' reader, so it reads wherever they wrote (a folder, s3://...).
    frame = read_parquet(UPath(settings.storage_root()) / NYC.name / "performance_history.parquet")
    summary = history.backtest_summary(NYC, frame)
    weeks = sorted(frame["as_of"].unique())
    lines = [
        "",
        f"NYC backtest over {len(weeks)} weekly as-of partitions ({weeks[0]}..{weeks[-1]}), "
        f"{NYC.primary_metric} mean ± spread, gain against the best baseline of each week:",
    ]
    return lines + [f"  {line}" for line in history.summary_lines(NYC, summary)]


def main() -> None:
    try:
        app()
    except PostgresError as err:
        # A missing package or a server that would not start: the message says which, and how
        # to fix it; a traceback would bury it.
        typer.echo(f"postgres: {err}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
