"""Ingest a range of NYC days from Python in ONE in-process run (tests and benchmarks use it;
``accident-assets run-all`` launches ``nyc_ingest_job`` the same way):

    from accident_assets.nyc.run import ingest_days
    ingest_days(date(2023, 1, 1), date(2023, 1, 28))          # sample source, ./var state

A month of sample days takes a few seconds: one run, one step per asset, each step handling
every day of the range (the assets' single-run backfill policy).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from accident_assets.nyc.jobs import range_tags
from accident_assets.nyc.partitions import key_of
from accident_assets.nyc.sources import NycSource


def ingest_job(source: NycSource | None = None) -> dg.JobDefinition:
    """``nyc_ingest_job`` of the code location, bound to ``source`` (by default the settings')."""
    from accident_assets.definitions import build_defs

    defs = build_defs(resources={"nyc_source": source} if source is not None else None)
    return defs.resolve_job_def("nyc_ingest_job")


def ingest_days(
    first: dt.date,
    last: dt.date,
    *,
    source: NycSource | None = None,
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = True,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize nyc/raw_crashes, nyc/crashes, nyc/features (+ checks) for first..last."""
    if last < first:
        raise ValueError(f"ingest_days: last day {last} is before first day {first}")
    return ingest_job(source).execute_in_process(
        instance=instance if instance is not None else dg.DagsterInstance.get(),
        partition_key=key_of(first) if last == first else None,
        tags=range_tags(first, last) if last > first else None,
        raise_on_error=raise_on_error,
        run_config=run_config,
    )
