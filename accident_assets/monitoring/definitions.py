"""Monitoring definitions: a ``<task>/drift`` asset (and its check) per training task.

Resources (``asset_storage``, ``parquet_io_manager``, ``mlflow``) come from the merged code
location.
"""

import dagster as dg

from accident_assets.monitoring.assets import MONITORING_ASSETS

defs = dg.Definitions(assets=MONITORING_ASSETS)
