"""The NYC ingest job, and a Python way to ingest a range of days in one in-process run."""

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
