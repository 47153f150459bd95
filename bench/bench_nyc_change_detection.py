"""Benchmark of NYC change detection against the loopback SoQL server (sample crashes).

    .venv/bin/python bench/bench_nyc_change_detection.py   # prints a section for docs/benchmarks.md

Scenarios, each with its request count and wall time:
- a 31-day range ingested in one run (validate, then commit every day);
- the sensor over a 30-day lookback when nothing changed (target: at most 2 requests);
- the sensor after late reports arrived for 3 days, and the run it asks for.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

from _common import peak_rss_mb

DAYS = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(31)]
HELD_BACK = 30  # crashes per day reported late on the last three days


def main() -> None:
    home = tempfile.mkdtemp(prefix="bench_nyc_cd_")
    os.environ["ACCIDENT_ASSETS_HOME"] = home
    os.environ["DAGSTER_HOME"] = str(Path(home) / "dagster")
    warnings.filterwarnings("ignore")
    logging.getLogger("dagster").setLevel(logging.WARNING)
    import dagster as dg

    from accident_assets import settings
    from accident_assets.nyc.run import ingest_job
    from accident_assets.nyc.sample import sample_day
    from accident_assets.nyc.sensors import nyc_new_days_sensor
    from accident_assets.nyc.sources import SocrataNycSource
    from accident_assets.resources import AssetStorage
    from accident_assets_tests.nyc.soql_server import SoqlServer

    late = {d: sample_day(d)[-HELD_BACK:] for d in DAYS[-3:]}
    first_seen = [r for d in DAYS for r in sample_day(d) if r not in late.get(d, [])]
    rows: list[str] = []
    with (
        dg.instance_for_test() as instance,
        SoqlServer.from_records(first_seen, max_lifetime_s=600) as server,
    ):
        source = SocrataNycSource(base_url=server.url)
        job = ingest_job(source)

        def evaluate():
            context = dg.build_sensor_context(
                instance=instance,
                resources={
                    "nyc_source": source,
                    "asset_storage": AssetStorage(root=settings.storage_root()),
                },
            )
            return nyc_new_days_sensor(context)

        def measured(label: str, action):
            before, started = len(server.requests), time.perf_counter()
            result = action()
            rows.append(
                f"| {label} | {len(server.requests) - before} | {time.perf_counter() - started:.2f} |"
            )
            return result

        def execute(request):
            result = job.execute_in_process(
                instance=instance, partition_key=request.partition_key, tags=request.tags
            )
            assert result.success
            return result

        request = measured("sensor, nothing stored yet (31 days new)", evaluate)
        measured("31-day range in one run (fetch, validate, commit)", lambda: execute(request))
        skip = measured("sensor, 30-day lookback, nothing changed", evaluate)
        assert isinstance(skip, dg.SkipReason), skip
        for held in late.values():
            server.upsert(held)
        request = measured("sensor, late reports on 3 days", evaluate)
        measured(
            f"run over the changed days ({request.tags.get('nyc/changed_days')})",
            lambda: execute(request),
        )

    print("## NYC change detection (loopback SoQL server, sample crashes)\n")
    print(
        f"`.venv/bin/python bench/bench_nyc_change_detection.py` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; "
        f"peak RSS {peak_rss_mb():.0f} MB.\n"
    )
    print("| step | requests | wall time (s) |\n|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
