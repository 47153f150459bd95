"""Monitoring definitions: a ``<task>/drift`` asset (and its check) per training task.

Resources (``asset_storage``, ``parquet_io_manager``, ``mlflow``) come from the merged code
location; ``mlflow`` is also bound here so these definitions run on their own.
"""

import dagster as dg

from accident_assets.monitoring.assets import MONITORING_ASSETS
from accident_assets.training.tracking import MlflowTracking

defs = dg.Definitions(assets=MONITORING_ASSETS, resources={"mlflow": MlflowTracking()})
