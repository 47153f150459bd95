"""The whole training job of each task on sample data of real size: fit time per model, tuning
time, job wall time and peak memory; and the default-fit stage of each task on its own.

Usage::

    .venv/bin/python bench/bench_training.py [--france-accidents 56000] [--nyc-days 28]
        [--trials 4] [--executor in_process|multiprocess] [--tasks france_priority nyc_incidents]
        [--stage-repeats 1] [--no-stage] [--no-job]

Everything happens in a fresh temporary state directory: the France sample years 2021-2022 at
``--france-accidents`` accidents a year (the real files have ~56,000) and ``--nyc-days`` sample NYC
days (about 270 crashes a day, the real citywide volume) are ingested through their lanes, then
each training job runs in its own child process, whose peak resident memory is reported.

The stage (before the job, in its own child process): ``training_set`` and every
``<task>/model_fits/<model>`` (default parameters, baselines included) as the job runs them
(in-process executor, MLflow logging included). Per step: wall time from Dagster's step events,
fit time and MLflow logging time (the run's ``fit_time_s`` and ``log_time_s``) and peak RSS
and CPU seconds (sampled every 20 ms inside the step's window): the CPU figures hardly move when
other processes share the cores, the wall times do. The stage's figure is the sum over the task's
non-baseline models (France: the four SMOTE/encoded pipelines of the reference).
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
from _common import RssSampler, cpu_seconds, load_average, peak_rss_mb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _ingest(france_accidents: int, nyc_days: int) -> dict[str, float]:
    import dagster as dg

    from accident_assets.france.assets import FRANCE_ASSETS
    from accident_assets.france.sources import SampleFranceSource
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
                "france_source": SampleFranceSource(sample_accidents=france_accidents),
            },
            instance=dg.DagsterInstance.get(),
        )
    timings["france_ingest_s"] = time.perf_counter() - started
    if nyc_days == 0:
        return timings
    started = time.perf_counter()
    first = dt.date(2023, 1, 1)
    ingest_days(first, first + dt.timedelta(days=nyc_days - 1), instance=dg.DagsterInstance.get())
    timings["nyc_ingest_s"] = time.perf_counter() - started
    return timings


def _multiprocess_job(task_name: str):
    """The task's job under the multiprocess executor (module level, so Dagster can rebuild it)."""
    import dagster as dg

    from accident_assets.definitions import build_defs
    from accident_assets.training.tasks import TASKS

    spec = TASKS[task_name]
    job = dg.define_asset_job(
        f"{spec.job_name}_multiprocess",
        selection=dg.AssetSelection.groups(spec.group),
        partitions_def=spec.as_of,
        executor_def=dg.multiprocess_executor.configured({"max_concurrent": 2}),
    )
    defs = dg.Definitions.merge(build_defs(), dg.Definitions(jobs=[job]))
    return defs.resolve_job_def(job.name)


def _nyc_multiprocess_job():
    return _multiprocess_job("nyc_incidents")


def _france_multiprocess_job():
    return _multiprocess_job("france_priority")


def _train(
    task_name: str, trials: int, executor: str, training_days: int, queue: multiprocessing.Queue
) -> None:
    import dagster as dg
    import polars as pl

    from accident_assets import settings
    from accident_assets.definitions import build_defs
    from accident_assets.resources import AssetStorage
    from accident_assets.training.factory import run_config
    from accident_assets.training.tasks import TASKS, SplitConfig

    spec = TASKS[task_name]
    config = run_config(spec, n_trials=trials, training_days=training_days)
    instance = dg.DagsterInstance.get()
    as_of = spec.newest_as_of(
        AssetStorage(root=settings.storage_root()).partitions(spec.feature_asset),
        SplitConfig(training_days=training_days),
    )
    started = time.perf_counter()
    if executor == "in_process":
        defs = build_defs()
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
            "cpu_s": cpu_seconds(),
            "peak_rss_mb": peak_rss_mb(),
            "rows": rows,
            "train_rows": ts.train.height,
            "holdout_rows": ts.holdout.height,
            "metric": spec.primary_metric,
        }
    )


def _stage(task_name: str, queue: multiprocessing.Queue) -> None:
    """training_set and the task's default fits, in process, one step at a time."""
    import dagster as dg

    from accident_assets import settings
    from accident_assets.definitions import build_defs
    from accident_assets.resources import AssetStorage
    from accident_assets.training.mlflow_config import configure_mlflow
    from accident_assets.training.tasks import TASKS

    spec = TASKS[task_name]
    keys = [spec.key("training_set"), *(spec.key("model_fits", m) for m in spec.candidates)]
    job = dg.define_asset_job(
        f"{spec.name}_default_fits_stage",
        selection=dg.AssetSelection.assets(*keys),
        partitions_def=spec.as_of,
        executor_def=dg.in_process_executor,
    )
    defs = dg.Definitions.merge(build_defs(), dg.Definitions(jobs=[job]))
    instance = dg.DagsterInstance.get()
    as_of = spec.newest_as_of(
        AssetStorage(root=settings.storage_root()).partitions(spec.feature_asset)
    )
    resolved = defs.resolve_job_def(job.name)
    with RssSampler() as sampler:
        ready_rss = peak_rss_mb()
        started = time.perf_counter()
        result = resolved.execute_in_process(instance=instance, partition_key=as_of)
        wall = time.perf_counter() - started
    cpu = cpu_seconds()
    windows: dict[str, list[float]] = {}
    for record in instance.all_logs(
        result.run_id,
        of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS},
    ):
        windows.setdefault(record.step_key or "", []).append(record.timestamp)
    client = configure_mlflow(None)
    steps = []
    for key in keys:
        step = "__".join(key.path)
        start, end = min(windows[step]), max(windows[step])
        model = key.path[-1] if key.path[-2] == "model_fits" else ""
        fit_s = log_s = float("nan")
        if model:
            fit = result.output_for_node(step)
            run = client.get_run(fit.run_id)
            fit_s = run.data.metrics.get("fit_time_s", float("nan"))
            log_s = run.data.metrics.get("log_time_s", float("nan"))
        steps.append(
            {
                "start": start,
                "step": "/".join(key.path[1:]),
                "model": model,
                "baseline": bool(model) and spec.candidates[model].baseline,
                "wall_s": end - start,
                "fit_s": fit_s,
                "log_s": log_s,
                "peak_rss_mb": sampler.peak_mb(start, end),
                "cpu_s": sampler.cpu_s(start, end),
                "metric": result.output_for_node(step).metrics[spec.primary_metric]
                if model
                else float("nan"),
            }
        )
    queue.put(
        {
            "task": task_name,
            "success": result.success,
            "wall_s": wall,
            "cpu_s": cpu,
            "ready_rss_mb": ready_rss,
            "peak_rss_mb": peak_rss_mb(),
            "steps": steps,
            "metric": spec.primary_metric,
        }
    )


def _print_stage(report: dict) -> None:
    models = [s for s in report["steps"] if s["model"] and not s["baseline"]]
    stage_wall = sum(s["wall_s"] for s in models)
    print(
        f"\n## {report['task']} default-fit stage: {'ok' if report['success'] else 'FAILED'}; "
        f"models (no baselines) {stage_wall:.1f} s as steps, CPU "
        f"{sum(s['cpu_s'] for s in models):.1f} s "
        f"(fit {sum(s['fit_s'] for s in models):.1f} s, MLflow logging "
        f"{sum(s['log_s'] for s in models):.1f} s); whole selection {report['wall_s']:.1f} s, "
        f"process CPU {report['cpu_s']:.1f} s; peak RSS {report['peak_rss_mb']:.0f} MB "
        f"({report['ready_rss_mb']:.0f} MB before the job)\n"
    )
    print(f"| step | {report['metric']} | step s | step CPU s | fit s | log s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for s in sorted(report["steps"], key=lambda s: s["start"]):  # in the order they ran
        name = s["step"] + (" (baseline)" if s["baseline"] else "")
        metric = f"{s['metric']:.4f}" if s["model"] else ""
        fit = f"{s['fit_s']:.2f}" if s["model"] else ""
        log = f"{s['log_s']:.2f}" if s["model"] else ""
        print(
            f"| {name} | {metric} | {s['wall_s']:.2f} | {s['cpu_s']:.2f} | {fit} | {log} "
            f"| {s['peak_rss_mb']:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--france-accidents", type=int, default=56000)
    # 29 days from Sunday 2023-01-01: the newest as-of week 2023-01-23 trains on 22 days.
    parser.add_argument("--nyc-days", type=int, default=29)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument(
        "--training-days", type=int, default=56, help="NYC: days before the holdout week"
    )
    parser.add_argument("--executor", choices=["in_process", "multiprocess"], default="in_process")
    parser.add_argument("--tasks", nargs="+", default=["france_priority", "nyc_incidents"])
    parser.add_argument("--stage-repeats", type=int, default=1)
    parser.add_argument("--no-stage", action="store_true", help="skip the default-fit stage")
    parser.add_argument("--no-job", action="store_true", help="skip the whole training job")
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
    nyc_days = args.nyc_days if "nyc_incidents" in args.tasks else 0
    print(_ingest(args.france_accidents, nyc_days))

    ctx = multiprocessing.get_context("spawn")
    for task in args.tasks if not args.no_stage else []:
        for repeat in range(args.stage_repeats):
            queue = ctx.Queue()
            child = ctx.Process(target=_stage, args=(task, queue))
            child.start()
            child.join()
            if queue.empty():
                sys.exit(f"{task}: the stage child process failed (exit code {child.exitcode})")
            print(f"\nstage run {repeat + 1}/{args.stage_repeats}; load average {load_average()}")
            _print_stage(queue.get())
    for task in args.tasks if not args.no_job else []:
        queue = ctx.Queue()
        child = ctx.Process(
            target=_train, args=(task, args.trials, args.executor, args.training_days, queue)
        )
        child.start()
        child.join()
        if queue.empty():
            sys.exit(f"{task}: the training child process failed (exit code {child.exitcode})")
        report = queue.get()
        print(f"\nload average {load_average()}")
        print(
            f"\n## {task}: job {'succeeded' if report['success'] else 'FAILED'} in "
            f"{report['wall_s']:.1f} s (process CPU {report['cpu_s']:.1f} s), "
            f"peak RSS {report['peak_rss_mb']:.0f} MB, "
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
