"""Cell-hour features of NYC crashes: the one module used by training and by serving.

Every model feature is computable from a point and a time (serving has only that): the H3 cell
and its centroid, hour, weekday, weekend, US (New York) holiday and cyclic encodings. No month: the
lane trains on weeks before the holdout (56 days by default), so a month seen in training says
when the data came from rather than anything seasonal, and trees learnt a geocoding backlog
through it (issue 13: 0.044 incidents per cell-hour for July, 0.007 for August, same cell).
``borough`` stays in the tables for grouping but is not a model feature (a point does not give it
without a shapefile). Nothing here is fitted; encoders live in the training pipeline. ``h3`` and
``holidays`` are imported by the functions that use them: defining the assets must not load them.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cache
from typing import Any

import polars as pl

from accident_assets.features import cyclic_encoding
from accident_assets.nyc import geo

# Re-exported (``X as X``): code that builds or scores the table reads the names from here.
from accident_assets.nyc.feature_names import CATEGORICAL_FEATURES as CATEGORICAL_FEATURES
from accident_assets.nyc.feature_names import COLUMNS as COLUMNS
from accident_assets.nyc.feature_names import FEATURE_COLUMNS as FEATURE_COLUMNS
from accident_assets.nyc.feature_names import KEY_COLUMNS as KEY_COLUMNS
from accident_assets.nyc.feature_names import NUMERIC_FEATURES as NUMERIC_FEATURES
from accident_assets.nyc.feature_names import TARGET as TARGET

H3_RESOLUTION_DEFAULT = 7
UNKNOWN_BOROUGH = "UNKNOWN"


@cache
def _holiday_dates(year: int) -> frozenset[dt.date]:
    import holidays

    return frozenset(holidays.country_holidays("US", subdiv="NY", years=year).keys())


def holiday_dates(years: set[int]) -> list[dt.date]:
    return sorted(d for y in years for d in _holiday_dates(y))


def add_feature_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the calendar and centroid features to rows keyed by ``cell``, ``date``, ``hour``."""
    years = set(frame.get_column("date").dt.year().unique().drop_nulls().to_list())
    centroids = geo.cell_centroids(frame.get_column("cell").drop_nulls().to_list())
    out = frame.drop([c for c in ("cell_lat", "cell_lng") if c in frame.columns]).join(
        centroids, on="cell", how="left"
    )
    out = out.with_columns(
        pl.col("hour").cast(pl.Int8),
        (pl.col("date").dt.weekday() - 1).cast(pl.Int8).alias("weekday"),
        (pl.col("date").dt.weekday() >= 6).cast(pl.Int8).alias("is_weekend"),
        pl.col("date").is_in(holiday_dates(years)).cast(pl.Int8).alias("is_holiday"),
    )
    return out.with_columns(
        *cyclic_encoding("hour", 24),
        *cyclic_encoding("weekday", 7),
    )


def build_features(crashes: pl.DataFrame) -> pl.DataFrame:
    """Incidents per (cell, hour) of the crashes with a valid geocode, plus FEATURE_COLUMNS.

    ``crashes`` has the ``nyc/crashes`` columns. A cell's borough is the one its crashes report
    most often that day (30 % of crashes report none).
    """
    valid = crashes.filter(pl.col("cell").is_not_null())
    grouped = (
        valid.group_by("date", "hour", "cell")
        .agg(
            pl.col("incidents").sum().cast(pl.Int32),
            pl.col("borough").drop_nulls().mode().sort().first().alias("borough"),
        )
        .with_columns(pl.col("borough").fill_null(UNKNOWN_BOROUGH))
    )
    return _finish(grouped)


def _finish(frame: pl.DataFrame) -> pl.DataFrame:
    out = add_feature_columns(frame.with_columns(pl.col("incidents").cast(pl.Int32)))
    return out.select(COLUMNS).sort("date", "hour", "cell")


def cell_universe(features: pl.DataFrame) -> list[str]:
    """The fixed cell universe: every cell that had an incident in ``features``, sorted."""
    return sorted(features.get_column("cell").drop_nulls().unique().to_list())


def cell_boroughs(features: pl.DataFrame) -> pl.DataFrame:
    """Each cell's most frequent known borough (``UNKNOWN`` when none is known)."""
    known = features.filter(pl.col("borough") != UNKNOWN_BOROUGH)
    return (
        known.group_by("cell", "borough")
        .agg(pl.col("incidents").sum().alias("n"))
        .sort(["cell", "n", "borough"], descending=[False, True, False])
        .group_by("cell", maintain_order=True)
        .first()
        .select("cell", "borough")
    )


def fill_zero_cell_hours(
    features: pl.DataFrame, cells: list[str], dates: list[dt.date]
) -> pl.DataFrame:
    """The full grid cells × dates × 24 hours; ``incidents`` is 0 where nothing happened.

    Rows of ``features`` outside the grid (cells not in ``cells``) are dropped.
    """
    grid = (
        pl.DataFrame({"cell": sorted(set(cells))}, schema={"cell": pl.Utf8})
        .join(pl.DataFrame({"date": sorted(set(dates))}, schema={"date": pl.Date}), how="cross")
        .join(pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8}), how="cross")
    )
    observed = features.select(
        pl.col("date"), pl.col("hour").cast(pl.Int8), pl.col("cell"), pl.col(TARGET)
    )
    filled = grid.join(observed, on=["cell", "date", "hour"], how="left").with_columns(
        pl.col(TARGET).fill_null(0).cast(pl.Int32)
    )
    boroughs = cell_boroughs(features)
    filled = filled.join(boroughs, on="cell", how="left").with_columns(
        pl.col("borough").fill_null(UNKNOWN_BOROUGH)
    )
    return _finish(filled)


def _cyclic(name: str, value: int, period: int, offset: int = 0) -> dict[str, float]:
    angle = (float(value) - offset) * (2 * math.pi / period)
    return {f"{name}_sin": math.sin(angle), f"{name}_cos": math.cos(angle)}


def point_row(lat: float, lon: float, local_time: dt.datetime, resolution: int) -> dict[str, Any]:
    """One point (a New York wall-clock time) -> its ``cell``, ``date``, ``hour`` and
    FEATURE_COLUMNS, in plain Python: serving's path, held equal to :func:`add_feature_columns`
    (training's) by a test. The point is already checked to lie in New York."""
    import h3

    cell = h3.latlng_to_cell(lat, lon, resolution)
    cell_lat, cell_lng = h3.cell_to_latlng(cell)
    date, hour = local_time.date(), local_time.hour
    weekday = date.weekday()
    return {
        "cell": cell,
        "date": date,
        "cell_lat": cell_lat,
        "cell_lng": cell_lng,
        "hour": hour,
        "weekday": weekday,
        "is_weekend": int(weekday >= 5),
        "is_holiday": int(date in _holiday_dates(date.year)),
        **_cyclic("hour", hour, 24),
        **_cyclic("weekday", weekday, 7),
    }


# The pipeline's input types, as training passes them (polars Int8 -> int8, Utf8 -> object); numpy
# dtype names, not numpy's classes, so that importing the features does not load numpy.
POINT_DTYPES: dict[str, Any] = {
    "cell": object,
    "cell_lat": "float64",
    "cell_lng": "float64",
    **{c: "int8" for c in ("hour", "weekday", "is_weekend", "is_holiday")},
    **{f"{c}_{f}": "float64" for c in ("hour", "weekday") for f in ("sin", "cos")},
}
assert list(POINT_DTYPES) == FEATURE_COLUMNS
