"""The champion's forecast of a day, made before the day, and its accuracy once the day is in.

- ``nyc_incidents/forecast`` (:data:`NYC_FORECAST_DAILY`: NYC_DAILY's days plus today and
  tomorrow): expected incidents for every cell-hour of the day over the champion's cell universe
  (the cells of the stored days it was trained on). Every model feature is a calendar or cell
  feature, so nothing of the day itself is read: the day's features need not exist yet.
- ``nyc_incidents/forecast_accuracy`` (NYC_DAILY): the stored forecast of the day against the
  day's ingested features, zeros included over the forecast's cells; one row of metrics per day
  (:data:`accident_assets.nyc_forecast.frames.ACCURACY_SCHEMA`), read by the performance history.

Both skip (nothing is materialized) when there is no champion, as the batch predictions do.

The serving code (MLflow, the champion's pipeline), the frames (polars,
:mod:`accident_assets.nyc_forecast.frames`) and the maps (matplotlib) are imported by the steps:
defining these assets loads none of them.
"""

# No `from __future__ import annotations`: Dagster reads the steps' annotations as objects.
import datetime as dt
from collections.abc import Iterator

import dagster as dg

from accident_assets.nyc import keys as nyc_keys
from accident_assets.nyc.columns import NYC_TIME_ZONE
from accident_assets.nyc.partitions import NYC_DAILY, NYC_FORECAST_DAILY, day_of, key_of
from accident_assets.nyc_forecast.store import FORECAST_PATH
from accident_assets.ownership import ownership
from accident_assets.resources import AssetStorage
from accident_assets.training.plots import as_markdown

TASK = "nyc_incidents"
GROUP = "nyc_incidents_forecast"
FORECAST = dg.AssetKey(list(FORECAST_PATH))
ACCURACY = dg.AssetKey([TASK, "forecast_accuracy"])
CHAMPION = dg.AssetKey([TASK, "champion"])
NYC_FEATURES = nyc_keys.FEATURES


@dg.asset(
    key=FORECAST,
    group_name=GROUP,
    partitions_def=NYC_FORECAST_DAILY,
    deps=[CHAMPION],
    io_manager_key="parquet_io_manager",
    output_required=False,
    kinds={"polars", "mlflow"},
    **ownership(TASK, "forecast"),
    description=(
        "The champion's expected incidents for every cell-hour of the day (cells: its training "
        "universe), from calendar and cell features only: made before the day's data exists."
    ),
)
def nyc_forecast(
    context: dg.AssetExecutionContext, asset_storage: AssetStorage
) -> Iterator[dg.Output]:
    from accident_assets.nyc import maps
    from accident_assets.nyc_forecast.frames import cell_totals, forecast_frame
    from accident_assets.serving import assets as serving
    from accident_assets.serving import batch

    partition = context.partition_key
    model = serving.champion_or_skip(context, TASK, "forecast")
    if model is None:
        return
    frame = forecast_frame(model, batch.champion_features(asset_storage, model), day_of(partition))
    expected = float(frame.get_column("expected_incidents").sum())
    cells = frame.get_column("cell").n_unique()
    context.log.info(
        f"{FORECAST.to_user_string()} {partition}: {expected:.2f} expected incidents over "
        f"{cells} cells (champion v{model.version})"
    )
    png = maps.hexagon_map(
        [(f"Expected incidents {partition}", cell_totals(frame, "expected_incidents"))],
        label="expected incidents (day)",
    )
    yield dg.Output(
        frame,
        metadata={
            "forecast_date": partition,
            "expected_incidents": round(expected, 3),
            "cells": cells,
            "model_version": str(model.version),
            "model_uri": model.uri,
            "map": as_markdown(f"Expected incidents {partition}", png),
        },
    )


def _stored_day(storage: AssetStorage, key: dg.AssetKey, partition: str, hint: str):
    if partition not in storage.partitions(key):
        raise dg.Failure(f"{key.to_user_string()}: nothing stored for {partition}; {hint}")
    return storage.read(key, [partition])[partition]


@dg.asset(
    key=ACCURACY,
    group_name=GROUP,
    partitions_def=NYC_DAILY,
    deps=[FORECAST, NYC_FEATURES],
    io_manager_key="parquet_io_manager",
    kinds={"polars"},
    **ownership(TASK, "forecast_accuracy"),
    description=(
        "The day's stored forecast against the day's incidents (zeros included over the "
        "forecast's cells): Poisson deviance, RMSE, MAE, share of the incidents in the top 1 % "
        "and 5 % of forecast cell-hours, totals and the model version; one row."
    ),
)
def nyc_forecast_accuracy(context: dg.AssetExecutionContext, asset_storage: AssetStorage):
    from accident_assets.nyc import features as nf
    from accident_assets.nyc import maps
    from accident_assets.nyc_forecast.frames import (
        ACCURACY_SCHEMA,
        accuracy_row,
        cell_totals,
        scored_day,
    )

    partition = context.partition_key
    day = day_of(partition)
    forecast = _stored_day(
        asset_storage,
        FORECAST,
        partition,
        f"no forecast of that day to assess (materialize {FORECAST.to_user_string()} "
        f"{partition} before the day)",
    )
    features = _stored_day(
        asset_storage, NYC_FEATURES, partition, "ingest the day before assessing its forecast"
    )
    versions = forecast.get_column("model_version").unique().sort().to_list()
    scored = scored_day(forecast, features, day)
    row = accuracy_row(scored, day, ",".join(str(v) for v in versions))
    outside = int(features.get_column(nf.TARGET).sum()) - int(row["incidents"][0])
    metrics = {name: float(row[name][0]) for name in list(ACCURACY_SCHEMA)[2:]}
    context.log.info(f"{ACCURACY.to_user_string()} {partition}: {metrics}")
    png = maps.hexagon_map(
        [
            (f"Forecast {partition}", cell_totals(scored, "expected_incidents")),
            (f"Actual {partition}", cell_totals(scored, nf.TARGET)),
        ],
        label="incidents (day)",
    )
    return dg.Output(
        row,
        metadata={
            **{name: round(value, 6) for name, value in metrics.items()},
            "model_version": row["model_version"][0],
            "cells": scored.get_column("cell").n_unique(),
            "incidents_outside_forecast_cells": outside,
            "map": as_markdown(f"Forecast vs actual {partition}", png),
        },
    )


nyc_forecast_job = dg.define_asset_job(
    "nyc_forecast_job",
    selection=dg.AssetSelection.assets(FORECAST),
    partitions_def=NYC_FORECAST_DAILY,
    executor_def=dg.in_process_executor,  # one step: a process of its own would only add startup
    description="The champion's forecast of one day (the schedule asks for tomorrow).",
)


def tomorrow_key(scheduled: dt.datetime) -> str:
    """The key of the day after ``scheduled`` (a UTC time), in New York."""
    from zoneinfo import ZoneInfo

    local = scheduled.astimezone(ZoneInfo(NYC_TIME_ZONE)).date()
    return key_of(local + dt.timedelta(days=1))


@dg.schedule(
    name="nyc_forecast_schedule",
    job=nyc_forecast_job,
    cron_schedule="0 18 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every day at 18:00 UTC, the forecast of tomorrow (New York) with the champion.",
)
def nyc_forecast_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    key = tomorrow_key(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"nyc_forecast_{key}", partition_key=key)


FORECAST_ASSETS = [nyc_forecast, nyc_forecast_accuracy]
