"""The asset keys of the NYC lane and the names of their Pandera schemas.

A light module (no polars): the asset, check and sensor definitions need them when the code
location loads, and so do the logic modules (:mod:`accident_assets.nyc.ingest`,
:mod:`accident_assets.nyc.schemas`).
"""

import dagster as dg

LANE = "nyc"
RAW = dg.AssetKey([LANE, "raw_crashes"])
CRASHES = dg.AssetKey([LANE, "crashes"])
FEATURES = dg.AssetKey([LANE, "features"])
SCHEMA_NAMES = {RAW: "nyc_raw_crashes", CRASHES: "nyc_crashes", FEATURES: "nyc_features"}
