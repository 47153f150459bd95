"""The code location: each domain's definitions, merged, with the shared resources."""

import dagster as dg

from accident_assets.france import definitions as france
from accident_assets.monitoring import definitions as monitoring
from accident_assets.nyc import definitions as nyc
from accident_assets.nyc_forecast import definitions as nyc_forecast
from accident_assets.resources import shared_resources
from accident_assets.serving import definitions as serving
from accident_assets.training import definitions as training

defs = dg.Definitions.merge(
    france.defs,
    nyc.defs,
    training.defs,
    serving.defs,
    monitoring.defs,
    nyc_forecast.defs,
    dg.Definitions(resources=shared_resources()),
)
