"""Raw BAAC files -> typed tables -> accidents -> features, for one year at real size.

Usage: ``.venv/bin/python bench/bench_france.py [--accidents 56000] [--repeats 3] [--folder DIR]``

Writes a synthetic year in the published format (in a child process) (or reads ``--folder`` with real files), then
times each stage and reports rows per second and peak memory (resident set size).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import psutil
from _common import peak_rss_mb
from tqdm import tqdm

from accident_assets.france import sample
from accident_assets.france.features import FEATURE_COLUMNS, build_features
from accident_assets.france.reader import TABLES, read_table
from accident_assets.france.transforms import merge_accidents


def run_once(folder: Path, year: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    data = {t: (folder / f"{t}-{year}.csv").read_bytes() for t in TABLES}
    timings["read_bytes"] = time.perf_counter() - start
    t0 = time.perf_counter()
    tables = {t: read_table(data[t], t, year) for t in TABLES}
    timings["parse"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    accidents = merge_accidents(*tables.values(), year)
    timings["merge"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    features = build_features(accidents)
    timings["features"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - start
    timings["accidents"] = accidents.height
    timings["input_rows"] = sum(f.height for f in tables.values())
    timings["users"] = tables["usagers"].height
    timings["bytes"] = sum(len(d) for d in data.values())
    assert features.width == len(FEATURE_COLUMNS) + 3
    return timings


def run_dagster(folder: Path, year: int) -> tuple[float, int]:
    """The France group through Dagster (in-process, Parquet writes, the six Pandera checks)."""
    import dagster as dg

    from accident_assets.france.assets import FRANCE_ASSETS
    from accident_assets.france.definitions import FRANCE_CHECKS
    from accident_assets.france.sources import LocalFranceSource
    from accident_assets.resources import shared_resources

    with tempfile.TemporaryDirectory(prefix="bench_france_home_") as home:
        os.environ["ACCIDENT_ASSETS_HOME"] = home
        start = time.perf_counter()
        result = dg.materialize(
            [*FRANCE_ASSETS, *FRANCE_CHECKS],
            partition_key=str(year),
            resources={
                **shared_resources(),
                "france_source": LocalFranceSource(folder=str(folder)),
            },
            instance=dg.DagsterInstance.ephemeral(),
        )
        elapsed = time.perf_counter() - start
        checks = result.get_asset_check_evaluations()
        assert result.success and all(c.passed for c in checks)
        return elapsed, len(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accidents", type=int, default=56_000)
    parser.add_argument("--year", type=int, default=2021)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, help="a folder with the four real files of --year")
    parser.add_argument(
        "--dagster", action="store_true", help="also time the group through Dagster"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_france_") as tmp:
        folder = args.folder
        if folder is None:
            folder = Path(tmp)
            t0 = time.perf_counter()
            # In a child process, so that the peak memory below is the pipeline's alone.
            child = multiprocessing.get_context("spawn").Process(
                target=sample.write_year, args=(folder, args.year, args.accidents)
            )
            child.start()
            child.join()
            if child.exitcode != 0:
                raise SystemExit(f"sample generation failed ({child.exitcode})")
            print(
                f"generated {args.accidents:,} accidents for {args.year} in {time.perf_counter() - t0:.2f} s"
            )
        baseline_mb = psutil.Process().memory_info().rss / 2**20
        runs = [
            run_once(folder, args.year)
            for _ in tqdm(range(args.repeats), desc="raw -> features", unit="run")
        ]
        # Read before the Dagster run, which adds its own imports and instance.
        peak_mb = peak_rss_mb()
        dagster_run = run_dagster(folder, args.year) if args.dagster else None

    best = min(runs, key=lambda r: r["total"])
    median_total = statistics.median(r["total"] for r in runs)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, Python {platform.python_version()}"
    )
    print(
        f"input: {best['accidents']:,.0f} accidents, {best['users']:,.0f} users, {best['input_rows']:,.0f} rows in 4 files, {best['bytes'] / 2**20:.1f} MiB"
    )
    for stage in ("read_bytes", "parse", "merge", "features"):
        print(f"  {stage:<10} {best[stage]:7.3f} s")
    print(f"total (best of {len(runs)}): {best['total']:.3f} s, median {median_total:.3f} s")
    print(
        f"throughput: {best['accidents'] / best['total']:,.0f} accidents/s, {best['input_rows'] / best['total']:,.0f} input rows/s"
    )
    if dagster_run:
        seconds, checks = dagster_run
        print(
            f"through Dagster (materialize in-process, Parquet writes, {checks} Pandera checks): "
            f"{seconds:.2f} s, {best['accidents'] / seconds:,.0f} accidents/s"
        )
    print(
        f"peak memory of raw -> features: max RSS {peak_mb:,.0f} MiB (after imports, before reading: {baseline_mb:,.0f} MiB)"
    )


if __name__ == "__main__":
    main()
