"""A sensor for new yearly BAAC releases.

ONISR publishes a year's four files once, in the autumn of the following year. The sensor asks
``france_source`` which years it has and requests one ``france_ingest_job`` run per year that is
a valid partition and has no materialized ``france/features`` yet. The run key is the year, so a
year is requested once even if its run fails; a failed year is re-run by hand (or after a fix of
the source) from the UI.
"""

import dagster as dg

from accident_assets.france.jobs import france_ingest_job
from accident_assets.france.partitions import france_yearly_partitions
from accident_assets.france.sources import FranceSource

FEATURES_KEY = dg.AssetKey(["france", "features"])


def new_years(available: list[int], materialized: set[str], valid: set[str]) -> list[str]:
    """Years the source has, that are partitions, and that were never materialized."""
    return sorted(str(y) for y in available if str(y) in valid and str(y) not in materialized)


@dg.sensor(
    job=france_ingest_job,
    minimum_interval_seconds=24 * 3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Asks france_source for the years it has; one ingest run per new yearly release.",
)
def france_new_release_sensor(context: dg.SensorEvaluationContext, france_source: FranceSource):
    available = france_source.available_years()
    materialized = context.instance.get_materialized_partitions(FEATURES_KEY)
    valid = set(france_yearly_partitions.get_partition_keys())
    years = new_years(available, materialized, valid)
    if not years:
        return dg.SkipReason(
            f"no new year: source has {available}, materialized {sorted(materialized)}"
        )
    context.log.info(f"new BAAC releases: {years}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"france-{year}", partition_key=year, tags={"france/release": year}
            )
            for year in years
        ]
    )
