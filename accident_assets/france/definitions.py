"""The French lane's definitions: assets, their Pandera checks, the ingest job and the release
sensor. The ``france_source`` resource is bound by :func:`accident_assets.definitions.build_defs`."""

import dagster as dg

from accident_assets.checks import pandera_check
from accident_assets.france import schemas
from accident_assets.france.assets import FRANCE_ASSETS, RAW_SPECS, SPECS
from accident_assets.france.ingest import ACCIDENTS, FEATURES
from accident_assets.france.jobs import france_ingest_job
from accident_assets.france.sensors import france_new_release_sensor

# The same schemas already blocked the commit; as asset checks they show in the UI.
FRANCE_CHECKS = [
    *(pandera_check(spec, schemas.RAW_SCHEMAS[t], blocking=False) for t, spec in RAW_SPECS.items()),
    pandera_check(SPECS[ACCIDENTS], schemas.ACCIDENTS, blocking=False),
    pandera_check(SPECS[FEATURES], schemas.FEATURES, blocking=False),
]


defs = dg.Definitions(
    assets=FRANCE_ASSETS,
    asset_checks=FRANCE_CHECKS,
    jobs=[france_ingest_job],
    sensors=[france_new_release_sensor],
)
