"""Serving's Dagster definitions: the batch prediction assets (the API and CLI live outside)."""

import dagster as dg

from accident_assets.serving.assets import SERVING_ASSETS

defs = dg.Definitions(assets=SERVING_ASSETS)
