"""The asset keys of the French lane, the names of their Pandera schemas and the offline
sample's defaults.

A light module (no polars): the asset, check and sensor definitions need them when the code
location loads, and so do the logic modules (:mod:`accident_assets.france.ingest`,
:mod:`accident_assets.france.schemas`).
"""

import dagster as dg

from accident_assets.france.layouts import TABLES

LANE = "france"
RAW_KEYS = {table: dg.AssetKey([LANE, f"raw_{table}"]) for table in TABLES}
ACCIDENTS = dg.AssetKey([LANE, "accidents"])
FEATURES = dg.AssetKey([LANE, "features"])
SCHEMA_NAMES = {
    **{RAW_KEYS[t]: f"france_raw_{t}" for t in TABLES},
    ACCIDENTS: "france_accidents",
    FEATURES: "france_features",
}

# The offline sample (``france.sample``): its years, accidents a year and seed.
SAMPLE_YEARS = (2021, 2022)
SAMPLE_ACCIDENTS = 4_000
SAMPLE_SEED = 20210
