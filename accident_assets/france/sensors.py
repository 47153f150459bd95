"""A sensor for new yearly BAAC releases.

ONISR publishes a year's four files once, in the autumn of the following year. The sensor asks
``france_source`` for its complete releases (years whose four files are all there) and requests
one ``france_ingest_job`` run per year that is a valid partition and has no materialized
``france/features`` yet. A year with three files of four is not offered: ingesting it would fail.

The run key is the year plus a hash of its four files' fingerprints (name, size, mtime or ETag):
Dagster requests a run key once, so an unchanged year whose run failed is not requested again
and again, but the same year is offered anew as soon as one of its files is replaced (a fixed
or republished file).
"""

import hashlib

import dagster as dg

from accident_assets.france.jobs import france_ingest_job
from accident_assets.france.partitions import france_yearly_partitions
from accident_assets.france.sources import FranceSource

FEATURES_KEY = dg.AssetKey(["france", "features"])


def new_years(available: list[int], materialized: set[str], valid: set[str]) -> list[str]:
    """Years the source has, that are partitions, and that were never materialized."""
    return sorted(str(y) for y in available if str(y) in valid and str(y) not in materialized)


def release_run_key(year: int | str, files: dict[str, str]) -> str:
    """``france-<year>-<12 hex>``: changes whenever one file's fingerprint changes."""
    digest = hashlib.sha256("\n".join(f"{t}={files[t]}" for t in sorted(files)).encode())
    return f"france-{year}-{digest.hexdigest()[:12]}"


@dg.sensor(
    job=france_ingest_job,
    minimum_interval_seconds=24 * 3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Asks france_source for its complete yearly releases; one ingest run per new one "
    "(again when its files change).",
)
def france_new_release_sensor(context: dg.SensorEvaluationContext, france_source: FranceSource):
    releases = france_source.releases()
    materialized = context.instance.get_materialized_partitions(FEATURES_KEY)
    valid = set(france_yearly_partitions.get_partition_keys())
    years = new_years(sorted(releases), materialized, valid)
    if not years:
        return dg.SkipReason(
            f"no new year: source has complete releases {sorted(releases)}, "
            f"materialized {sorted(materialized)}"
        )
    context.log.info(f"new BAAC releases: {years}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=release_run_key(year, releases[int(year)]),
                partition_key=year,
                tags={"france/release": year},
            )
            for year in years
        ]
    )
