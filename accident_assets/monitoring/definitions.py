"""Monitoring definitions: a ``<task>/drift`` asset (and its check) per training task.

Resources (``asset_storage``, ``parquet_io_manager``, ``mlflow``) come from the merged code
location.
"""

import dagster as dg

from accident_assets.monitoring.assets import MONITORING_ASSETS
from accident_assets.monitoring.sensors import build_drift_retrain_sensor
from accident_assets.training.tasks import TASKS

defs = dg.Definitions(
    assets=MONITORING_ASSETS,
    sensors=[build_drift_retrain_sensor(spec) for spec in TASKS.values()],
)
