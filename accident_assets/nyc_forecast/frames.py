"""The frames of the NYC forecast (:mod:`accident_assets.nyc_forecast.assets`): a day's expected
incidents over the champion's cells, and the day's accuracy once its incidents are in.

A logic module (polars): the steps import it in their bodies, so that defining the assets loads
no polars.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from accident_assets.nyc import features as nf
from accident_assets.serving import batch
from accident_assets.training.metrics import regression_metrics

if TYPE_CHECKING:
    from accident_assets.serving import models

FORECAST_COLUMNS = [
    "date",
    "hour",
    "cell",
    "borough",
    "expected_incidents",
    "model_version",
    "model_uri",
]
ACCURACY_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "model_version": pl.Utf8(),
    "poisson_deviance": pl.Float64(),
    "rmse": pl.Float64(),
    "mae": pl.Float64(),
    "capture_1pct": pl.Float64(),
    "capture_5pct": pl.Float64(),
    "incidents": pl.Float64(),
    "expected_incidents": pl.Float64(),
}


def forecast_frame(model: models.ServedModel, history: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """Expected incidents of every cell-hour of ``day``, and the model used.

    ``history`` (the champion's stored feature days) gives the cells and each cell's borough. Its
    rows of ``day``, if any (a backfilled forecast of a day the champion was trained on), are left
    out: a cell seen only that day would be known from the day's own incidents, and the forecast
    is the same before and after the day is ingested.
    """
    earlier = history.filter(pl.col("date") != day)
    cells = nf.cell_universe(earlier)
    return batch.nyc_predictions_frame(model, earlier, day, cells).select(FORECAST_COLUMNS)


def cell_totals(frame: pl.DataFrame, column: str) -> dict[str, float]:
    """``column`` summed over the day, per cell."""
    totals = frame.group_by("cell").agg(pl.col(column).sum())
    return dict(zip(totals["cell"].to_list(), map(float, totals[column].to_list()), strict=True))


def scored_day(forecast: pl.DataFrame, features: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """The forecast's cell-hours with the day's observed ``incidents`` (0 where none were)."""
    cells = forecast.get_column("cell").unique().to_list()
    actual = nf.fill_zero_cell_hours(features, cells, [day]).select("cell", "hour", nf.TARGET)
    return (
        forecast.select("cell", pl.col("hour").cast(pl.Int8), "expected_incidents")
        .join(actual, on=["cell", "hour"], how="left")
        .with_columns(pl.col(nf.TARGET).fill_null(0))
        .sort("cell", "hour")
    )


def accuracy_row(scored: pl.DataFrame, day: dt.date, model_version: str) -> pl.DataFrame:
    """One row: the day, the model, the metrics and the actual and expected totals."""
    import numpy as np

    y = scored.get_column(nf.TARGET).to_numpy().astype(float)
    predicted = scored.get_column("expected_incidents").to_numpy().astype(float)
    metrics = regression_metrics(y, predicted)
    row = {
        "date": day,
        "model_version": model_version,
        "poisson_deviance": metrics["poisson_deviance"],
        "rmse": metrics["rmse"],
        "mae": metrics["mae"],
        "capture_1pct": metrics["capture_1pct"],
        "capture_5pct": metrics["capture_5pct"],
        "incidents": float(np.sum(y)),
        "expected_incidents": float(np.sum(predicted)),
    }
    return pl.DataFrame([row], schema=ACCURACY_SCHEMA)
