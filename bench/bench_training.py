"""The whole training job of each task on sample data of real size: fit time per model, tuning
time, job wall time and peak memory.

Usage::

    .venv/bin/python bench/bench_training.py [--france-accidents 56000] [--nyc-days 28]
        [--trials 4] [--executor in_process|multiprocess] [--tasks france_priority nyc_incidents]

Everything happens in a fresh temporary state directory: the France sample years 2021-2022 at
``--france-accidents`` accidents a year (the real files have ~56,000) and ``--nyc-days`` sample NYC
days (about 270 crashes a day, the real citywide volume) are ingested through their lanes, then
each training job runs in its own child process, whose peak resident memory is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _common import peak_rss_mb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _ingest(france_accidents: int, nyc_days: int) -> dict[str, float]:
    import dagster as dg

    from accident_assets.france.assets import FRANCE_ASSETS
    from accident_assets.france.sources import FranceSource
    from accident_assets.nyc.run import ingest_days
    from accident_assets.resources import shared_resources

    timings = {}
    started = time.perf_counter()
    for year in ("2021", "2022"):
        dg.materialize(
            FRANCE_ASSETS,
            partition_key=year,
            resources={
                **shared_resources(),
                "france_source": FranceSource(sample_accidents=france_accidents),
            },
            instance=dg.DagsterInstance.get(),
        )
    timings["france_ingest_s"] = time.perf_counter() - started
    started = time.perf_counter()
    first = dt.date(2023, 1, 1)
    ingest_days(first, first + dt.timedelta(days=nyc_days - 1), instance=dg.DagsterInstance.get())
    timings["nyc_ingest_s"] = time.perf_counter() - started
    return timings


def _multiprocess_job(task_name: str):
    """The task's job under the multiprocess executor (module level, so Dagster can rebuild it)."""
    import dagster as dg

    from accident_assets.resources import shared_resources
    from accident_assets.training import definitions as training
    from accident_assets.training.tasks import TASKS

    spec = TASKS[task_name]
    job = dg.define_asset_job(
        f"{spec.job_name}_multiprocess",
        selection=dg.AssetSelection.groups(spec.group),
        partitions_def=spec.as_of,
        executor_def=dg.multiprocess_executor.configured({"max_concurrent": 2}),
    )
    defs = dg.Definitions.merge(
        training.defs, dg.Definitions(jobs=[job], resources=shared_resources())
    )
    return defs.resolve_job_def(job.name)


def _nyc_multiprocess_job():
    return _multiprocess_job("nyc_incidents")


def _france_multiprocess_job():
    return _multiprocess_job("france_priority")


def _train(task_name: str, trials: int, executor: str, queue: multiprocessing.Queue) -> None:
    import dagster as dg
    import polars as pl

    from accident_assets import settings
    from accident_assets.resources import AssetStorage, shared_resources
    from accident_assets.training import definitions as training
    from accident_assets.training.factory import run_config
    from accident_assets.training.tasks import TASKS

    spec = TASKS[task_name]
    config = run_config(spec, n_trials=trials)
    instance = dg.DagsterInstance.get()
    as_of = spec.newest_as_of(
        AssetStorage(root=settings.storage_root()).partitions(spec.feature_asset)
    )
    started = time.perf_counter()
    if executor == "in_process":
        defs = dg.Definitions.merge(training.defs, dg.Definitions(resources=shared_resources()))
        result = defs.resolve_job_def(spec.job_name).execute_in_process(
            instance=instance, run_config=config, partition_key=as_of
        )
        ok = result.success
    else:
        target = _nyc_multiprocess_job if task_name == "nyc_incidents" else _france_multiprocess_job
        with dg.execute_job(
            dg.reconstructable(target),
            instance=instance,
            run_config=config.to_config_dict(),
            tags={"dagster/partition": as_of},
        ) as result:
            ok = result.success
    wall = time.perf_counter() - started
    storage = Path(os.environ["ACCIDENT_ASSETS_HOME"]) / "storage" / task_name
    comparison = pl.read_parquet(storage / "model_comparison" / f"{as_of}.parquet")
    rows = comparison.select(
        "model", "variant", spec.primary_metric, "fit_time_s", "tuning_time_s", "trials"
    ).rows()
    import pickle

    ts = pickle.loads(
        (
            Path(os.environ["ACCIDENT_ASSETS_HOME"])
            / "objects"
            / task_name
            / "training_set"
            / f"{as_of}.pkl"
        ).read_bytes()
    )
    queue.put(
        {
            "task": task_name,
            "success": ok,
            "wall_s": wall,
            "peak_rss_mb": peak_rss_mb(),
            "rows": rows,
            "train_rows": ts.train.height,
            "holdout_rows": ts.holdout.height,
            "metric": spec.primary_metric,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--france-accidents", type=int, default=56000)
    # 29 days from Sunday 2023-01-01: the newest as-of week 2023-01-23 trains on 22 days.
    parser.add_argument("--nyc-days", type=int, default=29)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--executor", choices=["in_process", "multiprocess"], default="in_process")
    parser.add_argument("--tasks", nargs="+", default=["france_priority", "nyc_incidents"])
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench_training_"))
    os.environ["ACCIDENT_ASSETS_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    (home / "dagster").mkdir(parents=True)
    print(
        f"machine: {platform.platform()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; python {platform.python_version()}"
    )
    print(f"state: {home}; executor {args.executor}; trials {args.trials}")
    print(_ingest(args.france_accidents, args.nyc_days))

    ctx = multiprocessing.get_context("spawn")
    for task in args.tasks:
        queue = ctx.Queue()
        child = ctx.Process(target=_train, args=(task, args.trials, args.executor, queue))
        child.start()
        child.join()
        if queue.empty():
            sys.exit(f"{task}: the training child process failed (exit code {child.exitcode})")
        report = queue.get()
        print(
            f"\n## {task}: job {'succeeded' if report['success'] else 'FAILED'} in "
            f"{report['wall_s']:.1f} s, peak RSS {report['peak_rss_mb']:.0f} MB, "
            f"train {report['train_rows']} rows, holdout {report['holdout_rows']} rows\n"
        )
        print(f"| model | variant | {report['metric']} | fit s | tuning s | trials |")
        print("|---|---|---|---|---|---|")
        for model, variant, metric, fit, tuning, trials in report["rows"]:
            tuning_s = f"{tuning:.1f}" if tuning is not None else ""
            print(
                f"| {model} | {variant} | {metric:.4f} | {fit:.2f} | {tuning_s} | {trials or ''} |"
            )


if __name__ == "__main__":
    main()
