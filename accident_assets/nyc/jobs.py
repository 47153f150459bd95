"""The NYC ingest job.

One day::

    dg launch --job nyc_ingest_job --partition 2023-01-05

A month, one command and ONE run (the assets' single-run backfill policy: each step handles every
day of the range; the good days are stored and the run fails at the end naming the bad ones)::

    dg launch --job nyc_ingest_job --partition-range 2023-02-01...2023-02-28

From the UI, a backfill of the ``nyc`` group over a range launches the same single run. From
Python: :func:`accident_assets.nyc.run.ingest_days`.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from accident_assets.nyc.partitions import NYC_DAILY, key_of

nyc_ingest_job = dg.define_asset_job(
    "nyc_ingest_job",
    selection=dg.AssetSelection.groups("nyc"),
    partitions_def=NYC_DAILY,
    executor_def=dg.in_process_executor,
    description="raw_crashes -> crashes -> features of the NYC lane, one day or a range of days per run.",
)


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    """Run tags of a single run over the days first..last (what a single-run backfill uses)."""
    return {
        "dagster/asset_partition_range_start": key_of(first),
        "dagster/asset_partition_range_end": key_of(last),
    }
