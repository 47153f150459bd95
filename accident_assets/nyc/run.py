"""Ingest a range of NYC days from Python in ONE in-process run (tests and benchmarks use it;
``accident-assets run-all`` launches ``nyc_ingest_job`` instead, as a user would from the UI).

    from accident_assets.nyc.run import ingest_days
    ingest_days(date(2023, 1, 1), date(2023, 1, 28))          # sample source, ./var state

A month of sample days takes a few seconds: one run, one step per asset, each step handling
every day of the range (the assets' single-run backfill policy).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from accident_assets.nyc.assets import NYC_ASSETS
from accident_assets.nyc.definitions import NYC_CHECKS
from accident_assets.nyc.jobs import nyc_ingest_job, range_tags
from accident_assets.nyc.partitions import key_of
from accident_assets.nyc.sources import NycSource, source_from_env
from accident_assets.resources import shared_resources


def ingest_job(source: NycSource) -> dg.JobDefinition:
    """``nyc_ingest_job`` bound to ``source``, e.g. to run what a sensor requested."""
    return dg.Definitions(
        assets=NYC_ASSETS,
        asset_checks=NYC_CHECKS,
        jobs=[nyc_ingest_job],
        resources={**shared_resources(), "nyc_source": source},
    ).resolve_job_def("nyc_ingest_job")


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
    resources = {**shared_resources(), "nyc_source": source or source_from_env()}
    return dg.materialize(
        [*NYC_ASSETS, *NYC_CHECKS],
        resources=resources,
        instance=instance if instance is not None else dg.DagsterInstance.get(),
        partition_key=key_of(first) if last == first else None,
        tags=range_tags(first, last) if last > first else None,
        raise_on_error=raise_on_error,
        run_config=run_config,
    )
