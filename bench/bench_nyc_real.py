"""Rolling-origin backtest of ``nyc_incidents`` on REAL NYC exports, through the same assets.

Usage::

    .venv/bin/python bench/bench_nyc_real.py [--datasets january manhattan 2024w27] [--weeks 4]
        [--trials 2] [--training-days 56]

For each dataset of ``../shared/data/nyc_collisions/`` (the January 2023 citywide export; the
566-day Manhattan series 2022-01-02..2023-07-21), the NYC lane ingests every day through its
``csv_export`` source into a fresh state directory, then ONE run of ``nyc_training_job`` covers
the newest ``--weeks`` weekly as-of partitions the days allow (each trained on the
``--training-days`` before its week and judged on the week). Per week, every model's RMSE and
Poisson deviance (the lane's primary metric) against the best baseline of that week (``zero``,
``global_mean``, ``cell_mean``, ``shrunk_rate``), RMSE and hotspot capture@1 %/5 %; then the
backtest summary of ``nyc_incidents/performance_history``: mean ± spread per model over the weeks,
with the mean captures. The 2024 week has 8 days: one as-of week, trained on the day before it.
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

# name: (file, first day, last day, fewest training days a week may have)
DATASETS = {
    "january": ("2023-01/nyc_crashes_202301.csv", dt.date(2023, 1, 1), dt.date(2023, 1, 31), 7),
    "manhattan": (
        "2022-01_2023-07_manhattan/Motor_Vehicle_Collisions_-_Crashes.csv",
        dt.date(2022, 1, 2),
        dt.date(2023, 7, 21),
        7,
    ),
    # 8 days: one as-of week (2024-07-01) with the single day before it to train on.
    "2024w27": (
        "2024-w27/nyccrashes_2024w0630_by20250212.csv",
        dt.date(2024, 6, 30),
        dt.date(2024, 7, 7),
        1,
    ),
}


def run(dataset: str, weeks: int, trials: int, training_days: int, shared: Path) -> None:
    relative, first, last, min_days = DATASETS[dataset]
    home = Path(tempfile.mkdtemp(prefix=f"bench_nyc_real_{dataset}_"))
    os.environ["ACCIDENT_ASSETS_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    (home / "dagster").mkdir(parents=True)

    import dagster as dg
    import polars as pl

    from accident_assets.definitions import build_defs
    from accident_assets.nyc.partitions import days_between, key_of
    from accident_assets.nyc.run import ingest_days
    from accident_assets.nyc.sources import CsvExportNycSource
    from accident_assets.training import history
    from accident_assets.training.factory import op_name, run_config
    from accident_assets.training.tasks import NYC, SplitConfig

    instance = dg.DagsterInstance.get()
    source = CsvExportNycSource(path=str(shared / "nyc_collisions" / relative))
    started = time.perf_counter()
    ingest_days(first, last, source=source, instance=instance)
    print(
        f"\n# {dataset}: {relative}, {first}..{last}, ingested in {time.perf_counter() - started:.0f} s"
    )
    stored = [key_of(d) for d in days_between(first, last)]
    split = SplitConfig(training_days=training_days, min_training_days=min_days)
    chosen = NYC.backtest_as_of(stored, weeks, split)
    if not chosen:
        raise SystemExit(f"{dataset}: no complete as-of week in these days")
    oldest, newest, count = chosen[0], chosen[-1], len(chosen)
    defs = build_defs()
    started = time.perf_counter()
    result = defs.resolve_job_def(NYC.job_name).execute_in_process(
        instance=instance,
        run_config=run_config(
            NYC, n_trials=trials, training_days=training_days, min_training_days=min_days
        ),
        tags={
            "dagster/asset_partition_range_start": oldest,
            "dagster/asset_partition_range_end": newest,
        },
    )
    elapsed = time.perf_counter() - started
    sets = result.output_for_node(op_name(NYC.key("training_set")))
    comparisons = result.output_for_node(op_name(NYC.key("model_comparison")))
    if count == 1:
        sets, comparisons = {oldest: sets}, {oldest: comparisons}
    print(
        f"\n{count} weekly as-of partitions {oldest}..{newest} in one run: {elapsed:.0f} s "
        f"({elapsed / count:.0f} s per week), {trials} trial(s) per tuned model\n"
    )
    for week in sorted(comparisons):
        ts, comparison = sets[week], comparisons[week]
        base = comparison.filter(pl.col("baseline")).row(0, named=True)
        print(
            f"\n## {dataset}, week {week} ({ts.split}); train {ts.train.height} cell-hours, "
            f"holdout {ts.holdout.height} (mean {ts.holdout['incidents'].mean():.3f} incidents), "
            f"{len(set(ts.train['cell']))} cells; best baseline: {base['model']}\n"
        )
        print(
            "| model | variant | Poisson deviance | vs best baseline | RMSE | capture@1 % | "
            "capture@5 % | fit s | tuning s |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for row in comparison.iter_rows(named=True):
            print(
                f"| {row['model']} | {row['variant']} | {row['poisson_deviance']:.4f} | "
                f"{row['vs_best_baseline']:+.2%} | {row['rmse']:.4f} | "
                f"{row['capture_1pct']:.3f} | {row['capture_5pct']:.3f} | "
                f"{row['fit_time_s']:.1f} | {row['tuning_time_s'] or 0:.0f} |"
            )
    frame = result.output_for_node(op_name(NYC.key("performance_history")))
    summary = history.backtest_summary(NYC, frame)
    captures = (
        pl.concat(
            [
                c.select("model", "variant", "capture_1pct", "capture_5pct")
                for c in comparisons.values()
            ]
        )
        .group_by("model", "variant")
        .agg(pl.col("capture_1pct").mean(), pl.col("capture_5pct").mean())
    )
    summary = summary.join(captures, on=["model", "variant"], how="left")
    print(f"\n## {dataset}: backtest over {count} weeks (Poisson deviance, mean ± spread)\n")
    print(
        "| model | variant | baseline | weeks | mean | spread | gain vs best baseline (mean ± spread) | "
        "weeks beating it | capture@1 % | capture@5 % |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in summary.iter_rows(named=True):
        gain = row["mean_vs_best_baseline"]
        print(
            f"| {row['model']} | {row['variant']} | {'yes' if row['baseline'] else ''} | "
            f"{row['partitions']} | {row['mean']:.4f} | {row['spread']:.4f} | "
            f"{gain:+.2%} ± {row['spread_vs_best_baseline']:.2%} | "
            f"{row['partitions_beating_best_baseline']} | {row['capture_1pct']:.3f} | "
            f"{row['capture_5pct']:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--training-days", type=int, default=56)
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
        f"trials per tuned model {args.trials}, training window {args.training_days} days"
    )
    for dataset in args.datasets:
        run(dataset, args.weeks, args.trials, args.training_days, shared)


if __name__ == "__main__":
    main()
