"""The code location: each domain's definitions, merged, with the shared resources."""

import dagster as dg

from accident_assets.france.definitions import defs as france_defs
from accident_assets.nyc.definitions import defs as nyc_defs
from accident_assets.resources import shared_resources
from accident_assets.serving.definitions import defs as serving_defs
from accident_assets.training.definitions import defs as training_defs

defs = dg.Definitions.merge(
    france_defs,
    nyc_defs,
    training_defs,
    serving_defs,
    dg.Definitions(resources=shared_resources()),
)
