"""Model quality of ``nyc_incidents`` on REAL NYC exports, trained through the same assets.

Usage::

    .venv/bin/python bench/bench_nyc_real.py [--datasets january manhattan] [--holdouts 7 28]
        [--trials 2]

For each dataset of ``../shared/data/nyc_collisions/`` (the January 2023 citywide export; the
566-day Manhattan series 2022-01-02..2023-07-21), the NYC lane ingests every day through its
``csv_export`` source into a fresh state directory, then ``nyc_training_job`` runs once per
holdout window (the last N days held out), and the RMSE and Poisson deviance of every model are
compared with the best simple baseline of that holdout (the lowest RMSE among ``zero``,
``global_mean``, ``cell_mean`` and ``shrunk_rate``; see ``training/models.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATASETS = {
    "january": ("2023-01/nyc_crashes_202301.csv", dt.date(2023, 1, 1), dt.date(2023, 1, 31)),
    "manhattan": (
        "2022-01_2023-07_manhattan/Motor_Vehicle_Collisions_-_Crashes.csv",
        dt.date(2022, 1, 2),
        dt.date(2023, 7, 21),
    ),
}


def run(dataset: str, holdouts: list[int], trials: int, shared: Path) -> None:
    relative, first, last = DATASETS[dataset]
    home = Path(tempfile.mkdtemp(prefix=f"bench_nyc_real_{dataset}_"))
    os.environ["ACCIDENT_ASSETS_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    (home / "dagster").mkdir(parents=True)

    import dagster as dg
    import polars as pl

    from accident_assets.nyc.run import ingest_days
    from accident_assets.nyc.sources import CsvExportNycSource
    from accident_assets.resources import shared_resources
    from accident_assets.training import definitions as training
    from accident_assets.training.factory import op_name, run_config
    from accident_assets.training.models import baseline_names
    from accident_assets.training.tasks import NYC

    instance = dg.DagsterInstance.get()
    source = CsvExportNycSource(path=str(shared / "nyc_collisions" / relative))
    started = time.perf_counter()
    ingest_days(first, last, source=source, instance=instance)
    print(
        f"\n# {dataset}: {relative}, {first}..{last}, ingested in {time.perf_counter() - started:.0f} s"
    )

    defs = dg.Definitions.merge(training.defs, dg.Definitions(resources=shared_resources()))
    job = defs.resolve_job_def(NYC.job_name)
    for days in holdouts:
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance, run_config=run_config(NYC, n_trials=trials, validation_days=days)
        )
        ts = result.output_for_node(op_name(NYC.key("training_set")))
        comparison: pl.DataFrame = result.output_for_node(op_name(NYC.key("model_comparison")))
        baselines = comparison.filter(pl.col("model").is_in(baseline_names(NYC.candidates)))
        base = baselines.sort("rmse").row(0, named=True)
        print(
            f"\n## {dataset}, last {days} days held out ({ts.split}); train {ts.train.height} "
            f"cell-hours, holdout {ts.holdout.height} (mean {ts.holdout['incidents'].mean():.3f} "
            f"incidents), {len(set(ts.train['cell']))} cells; job {time.perf_counter() - started:.0f} s; "
            f"baseline: {base['model']}\n"
        )
        print(
            "| model | variant | RMSE | vs baseline | Poisson deviance | vs baseline | MAE | fit s |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for row in comparison.iter_rows(named=True):
            print(
                f"| {row['model']} | {row['variant']} | {row['rmse']:.4f} | "
                f"{row['rmse'] / base['rmse'] - 1:+.1%} | {row['poisson_deviance']:.4f} | "
                f"{row['poisson_deviance'] / base['poisson_deviance'] - 1:+.1%} | "
                f"{row['mae']:.4f} | {row['fit_time_s']:.1f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--holdouts", nargs="+", type=int, default=[7, 28])
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args()

    from accident_assets import settings

    shared = settings.shared_data_dir()
    if not (shared / "nyc_collisions").is_dir():
        sys.exit(f"real data folder {shared / 'nyc_collisions'} is absent")
    # The daily partitions must start on the first day of the oldest dataset; set before the NYC
    # lane is imported.
    os.environ.setdefault("ACCIDENT_ASSETS_NYC_START", "2022-01-02")
    print(
        f"machine: {platform.platform()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; python {platform.python_version()}; "
        f"trials per tuned model {args.trials}"
    )
    for dataset in args.datasets:
        run(dataset, args.holdouts, args.trials, shared)


if __name__ == "__main__":
    main()
