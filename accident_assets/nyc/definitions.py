"""The NYC lane's definitions: the day-ingest multi-asset, its checks, the ingest job and the
change-detection sensor. The ``nyc_source`` resource is bound by
:func:`accident_assets.definitions.build_defs`."""

import dagster as dg

from accident_assets.checks import pandera_check
from accident_assets.nyc import schemas
from accident_assets.nyc.assets import NYC_ASSETS, SPECS
from accident_assets.nyc.checks import NYC_LANE_CHECKS
from accident_assets.nyc.jobs import nyc_ingest_job
from accident_assets.nyc.sensors import nyc_new_days_sensor

raw_spec, crashes_spec, features_spec = SPECS
NYC_CHECKS = [
    pandera_check(raw_spec, schemas.RAW_CRASHES, blocking=False),
    pandera_check(crashes_spec, schemas.CRASHES, blocking=False),
    pandera_check(features_spec, schemas.FEATURES, blocking=False),
    *NYC_LANE_CHECKS,
]

defs = dg.Definitions(
    assets=NYC_ASSETS,
    asset_checks=NYC_CHECKS,
    jobs=[nyc_ingest_job],
    sensors=[nyc_new_days_sensor],
)
