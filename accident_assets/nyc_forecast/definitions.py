"""The NYC forecast's definitions: the forecast and accuracy assets, the forecast job and its
daily schedule (stopped by default). Resources (``asset_storage``, ``parquet_io_manager``) are
the shared ones of the code location."""

import dagster as dg

from accident_assets.nyc_forecast.assets import (
    FORECAST_ASSETS,
    nyc_forecast_job,
    nyc_forecast_schedule,
)

defs = dg.Definitions(
    assets=FORECAST_ASSETS, jobs=[nyc_forecast_job], schedules=[nyc_forecast_schedule]
)
