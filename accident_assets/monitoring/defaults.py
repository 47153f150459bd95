"""The drift comparison's defaults: the column threshold, the reference sample's size and seed.

A light module (no polars): the drift assets' descriptions and run config need them when the code
location loads, and so does the logic module (:mod:`accident_assets.monitoring.drift`).
"""

COLUMN_THRESHOLD = 0.1
SAMPLE_SEED = 0
DEFAULT_MAX_REFERENCE_ROWS = 20_000
