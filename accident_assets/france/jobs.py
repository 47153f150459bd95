"""The France ingest job (its own module so that the sensor and the definitions share it)."""

import dagster as dg

france_ingest_job = dg.define_asset_job(
    "france_ingest_job",
    selection=dg.AssetSelection.groups("france"),
    executor_def=dg.in_process_executor,
    description="BAAC files of a year -> raw tables -> accidents -> features, with checks.",
)
