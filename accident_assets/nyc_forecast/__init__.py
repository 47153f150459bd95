"""The NYC forecast: tomorrow's expected incidents per cell-hour, and how good yesterday's was.

A domain of its own (``definitions.defs``: two daily-partitioned assets, their job and schedule,
group ``nyc_incidents_forecast``): its partitions run ahead of the data (a forecast's day has no
features yet) and it is not part of the training job. ``store`` reads a stored forecast without
Dagster or polars, for the API.
"""
