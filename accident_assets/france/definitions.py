"""The French lane's definitions: assets, their Pandera checks, the ingest job and the release
sensor. The ``france_source`` resource is bound by :func:`accident_assets.definitions.build_defs`.

The schemas are looked up when a check first runs: the schema modules load polars; defining the
lane must not."""

import functools

import dagster as dg

from accident_assets.checks import LazySchema, pandera_check
from accident_assets.france.assets import FRANCE_ASSETS, SPECS
from accident_assets.france.jobs import france_ingest_job
from accident_assets.france.keys import SCHEMA_NAMES
from accident_assets.france.sensors import france_new_release_sensor


def table_schema(key: dg.AssetKey):
    """The Pandera schema the commit of table ``key`` passed."""
    from accident_assets.france.ingest import TABLE_SCHEMAS

    return TABLE_SCHEMAS[key].get()


# The same schemas already blocked the commit; as asset checks they show in the UI.
FRANCE_CHECKS = [
    pandera_check(
        spec,
        LazySchema(SCHEMA_NAMES[key], functools.partial(table_schema, key)),
        blocking=False,
    )
    for key, spec in SPECS.items()
]


defs = dg.Definitions(
    assets=FRANCE_ASSETS,
    asset_checks=FRANCE_CHECKS,
    jobs=[france_ingest_job],
    sensors=[france_new_release_sensor],
)
