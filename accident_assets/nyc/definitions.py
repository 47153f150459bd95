"""The NYC lane's definitions: assets, their checks, the ingest job, the new-day sensor and the
``nyc_source`` resource (``sample`` unless ``ACCIDENT_ASSETS_NYC_SOURCE`` says otherwise)."""

import dagster as dg

from accident_assets.checks import pandera_check
from accident_assets.nyc import schemas
from accident_assets.nyc.assets import NYC_ASSETS, crashes, features, raw_crashes
from accident_assets.nyc.jobs import nyc_ingest_job
from accident_assets.nyc.sensors import nyc_new_days_sensor
from accident_assets.nyc.sources import source_from_env

NYC_CHECKS = [
    pandera_check(raw_crashes, schemas.RAW_CRASHES, blocking=True),
    pandera_check(crashes, schemas.CRASHES, blocking=True),
    pandera_check(features, schemas.FEATURES, blocking=False),
]

defs = dg.Definitions(
    assets=NYC_ASSETS,
    asset_checks=NYC_CHECKS,
    jobs=[nyc_ingest_job],
    sensors=[nyc_new_days_sensor],
    resources={"nyc_source": source_from_env()},
)
