"""The NYC lane's definitions: the day-ingest multi-asset, its checks, the ingest job and the
change-detection sensor. The ``nyc_source`` resource is bound by
:func:`accident_assets.definitions.build_defs`.

The schemas are looked up when a check first runs: the schema modules load polars; defining the
lane must not."""

import functools

import dagster as dg

from accident_assets.checks import LazySchema, pandera_check
from accident_assets.nyc.assets import NYC_ASSETS, SPECS
from accident_assets.nyc.checks import NYC_LANE_CHECKS
from accident_assets.nyc.jobs import nyc_ingest_job
from accident_assets.nyc.keys import SCHEMA_NAMES
from accident_assets.nyc.sensors import nyc_new_days_sensor


def table_schema(key: dg.AssetKey):
    """The Pandera schema the commit of table ``key`` passed."""
    from accident_assets.nyc.ingest import TABLE_SCHEMAS

    return TABLE_SCHEMAS[key].get()


NYC_CHECKS = [
    *(
        pandera_check(
            spec,
            LazySchema(SCHEMA_NAMES[spec.key], functools.partial(table_schema, spec.key)),
            blocking=False,
        )
        for spec in SPECS
    ),
    *NYC_LANE_CHECKS,
]

defs = dg.Definitions(
    assets=NYC_ASSETS,
    asset_checks=NYC_CHECKS,
    jobs=[nyc_ingest_job],
    sensors=[nyc_new_days_sensor],
)
