"""Benchmark of the NYC lane: ingest + clean + features, one day and a month.

    .venv/bin/python bench/bench_nyc.py    # prints a markdown section for docs/benchmarks.md

Each scenario runs in a fresh spawned process (peak RSS is that process's high-water mark,
imports included; ``baseline`` is imports plus one warm-up day) with its own temporary
state directory. ``pure`` scenarios call the functions the assets call; ``dagster`` scenarios
materialize the NYC group in-process (ephemeral instance), so their excess over ``pure`` is
Dagster's cost per run and per partition.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from _common import peak_rss_mb

REPEATS = 3
JANUARY = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(31)]


def _pure(days: list[dt.date], fetch) -> int:
    from accident_assets.nyc.features import build_features
    from accident_assets.nyc.transforms import clean_crashes, raw_frame

    rows = 0
    for day in days:
        crashes = clean_crashes(raw_frame(fetch(day)), day)
        build_features(crashes)
        rows += crashes.height
    return rows


def scenario(name: str) -> dict:
    home = tempfile.mkdtemp(prefix="bench_nyc_")
    os.environ["ACCIDENT_ASSETS_HOME"] = home
    os.environ["DAGSTER_HOME"] = str(Path(home) / "dagster")
    import warnings

    warnings.filterwarnings("ignore")
    import logging

    import dagster as dg

    logging.getLogger("dagster").setLevel(logging.WARNING)
    from accident_assets import settings
    from accident_assets.nyc.run import ingest_days
    from accident_assets.nyc.sample import sample_day
    from accident_assets.nyc.socrata import SocrataClient
    from accident_assets.nyc.sources import CsvExportNycSource, NycSource, SampleNycSource
    from accident_assets_tests.nyc.soql_server import SoqlServer

    csv_dir = settings.shared_data_dir() / "nyc_collisions" / "2023-01"
    if "csv_export" in name and not csv_dir.is_dir():
        return {"name": name, "skipped": f"{csv_dir} absent"}
    # Warm-up: caches of h3, holidays and the sample's places, as a long-lived process has them.
    _pure([dt.date(2023, 3, 1)], sample_day)
    partitions = 31
    if name == "baseline":
        partitions = 1

        def work() -> int:
            return 0
    elif name == "pure sample, 1 day":
        partitions = 1

        def work() -> int:
            return _pure(JANUARY[:1], sample_day)
    elif name == "pure sample, 31 days":

        def work() -> int:
            return _pure(JANUARY, sample_day)
    elif name == "pure csv_export Jan 2023 (real), 31 days":
        source = CsvExportNycSource(path=str(csv_dir))

        def work() -> int:
            return _pure(JANUARY, source.fetch_day)
    elif name == "pure socrata over loopback (sample rows), 31 days":

        def work() -> int:
            with SoqlServer(rows_for_day=sample_day, max_lifetime_s=300) as server:
                client = SocrataClient(server.url, page_size=100)
                return _pure(JANUARY, client.fetch_day)
    elif name.startswith("dagster"):
        from accident_assets.io_manager import read_partitions, stored_partitions

        source: NycSource = SampleNycSource()
        if "csv_export" in name:
            source = CsvExportNycSource(path=str(csv_dir))
        instance = dg.DagsterInstance.ephemeral()
        # Warm-up: loads Dagster's machinery once, as a long-lived process would have.
        ingest_days(
            dt.date(2023, 3, 1), dt.date(2023, 3, 1), source=SampleNycSource(), instance=instance
        )
        days = (
            JANUARY[:1]
            if name.endswith(", 1 day")
            else JANUARY[:7]
            if "per day" in name
            else JANUARY
        )
        partitions = len(days)

        def work() -> int:
            if "per day" in name or len(days) == 1:
                for day in days:
                    ingest_days(day, day, source=source, instance=instance)
            else:
                ingest_days(days[0], days[-1], source=source, instance=instance)
            key = dg.AssetKey(["nyc", "crashes"])
            root = settings.storage_root()
            keys = [d.isoformat() for d in days]
            assert stored_partitions(root, key)[: len(keys)] == keys
            return sum(f.height for f in read_partitions(root, key, keys).values())
    else:
        raise ValueError(name)
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        rows = work()
        timings.append(time.perf_counter() - start)
    seconds = min(timings)
    return {
        "name": name,
        "partitions": partitions,
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds if seconds and rows else 0.0,
        "s_per_partition": seconds / partitions,
        "peak_mb": peak_rss_mb(),
    }


SCENARIOS = [
    "baseline",
    "pure sample, 1 day",
    "pure sample, 31 days",
    "pure csv_export Jan 2023 (real), 31 days",
    "pure socrata over loopback (sample rows), 31 days",
    "dagster sample, 1 day",
    "dagster sample, 7 days, one run per day",
    "dagster sample, 31 days, one run (single-run backfill)",
    "dagster csv_export Jan 2023 (real), 31 days, one run",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    ctx = mp.get_context("spawn")
    results = []
    for name in SCENARIOS:
        with ctx.Pool(1) as pool:
            result = pool.apply(scenario, (name,))
        results.append(result)
        print(result, file=sys.stderr)
    lines = [
        "| scenario | partitions | rows | seconds | rows/s | s per partition | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['name']} | skipped: {r['skipped']} ||||||")
            continue
        lines.append(
            f"| {r['name']} | {r['partitions']} | {r['rows']:,} | {r['seconds']:.2f} | "
            f"{r['rows_per_s']:,.0f} | {r['s_per_partition']:.3f} | {r['peak_mb']:.0f} |"
        )
    by = {r["name"]: r for r in results if "skipped" not in r}
    pure_day = by["pure sample, 31 days"]["s_per_partition"]
    per_run = by["dagster sample, 7 days, one run per day"]["s_per_partition"]
    single = by["dagster sample, 31 days, one run (single-run backfill)"]["s_per_partition"]
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    report = "\n".join(
        [
            "## NYC lane: ingest + clean + features",
            "",
            "Command: `.venv/bin/python bench/bench_nyc.py`",
            f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
            "",
            *lines,
            "",
            f"Per-partition overhead: one Dagster run per day costs {per_run:.3f} s a day against "
            f"{pure_day:.3f} s of actual work, i.e. {per_run - pure_day:.3f} s of run overhead per "
            f"partition; a single run over 31 days costs {single:.3f} s a day "
            f"({single - pure_day:.3f} s overhead per partition). Hence the single-run backfill "
            "policy: a month is one command and one run.",
            "",
            "",
        ]
    )
    print(report)


if __name__ == "__main__":
    main()
