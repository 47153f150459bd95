"""Cell-hour features of NYC crashes: the one module used by training and by serving.

Every model feature is computable from a point and a time (serving has only that): the H3 cell
and its centroid, hour, weekday, month, weekend, US (New York) holiday and cyclic encodings.
``borough`` stays in the tables for grouping but is not a model feature (a point does not give it
without a shapefile). Nothing here is fitted; encoders live in the training pipeline.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import holidays
import polars as pl

from accident_assets.features import cyclic_encoding
from accident_assets.nyc import geo

TARGET = "incidents"
H3_RESOLUTION_DEFAULT = 7
KEY_COLUMNS = ["date", "hour", "cell", "borough"]
CATEGORICAL_FEATURES: list[str] = ["cell"]
NUMERIC_FEATURES: list[str] = [
    "cell_lat",
    "cell_lng",
    "hour",
    "weekday",
    "month",
    "is_weekend",
    "is_holiday",
    "hour_sin",
    "hour_cos",
    "weekday_sin",
    "weekday_cos",
    "month_sin",
    "month_cos",
]
FEATURE_COLUMNS: list[str] = CATEGORICAL_FEATURES + NUMERIC_FEATURES
# Key columns, the target, then the features not already among the keys.
COLUMNS: list[str] = [
    *KEY_COLUMNS,
    TARGET,
    *[c for c in FEATURE_COLUMNS if c not in KEY_COLUMNS],
]
UNKNOWN_BOROUGH = "UNKNOWN"
NYC_TIME_ZONE = "America/New_York"


@cache
def _holiday_dates(year: int) -> frozenset[dt.date]:
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
        pl.col("date").dt.month().cast(pl.Int8).alias("month"),
        (pl.col("date").dt.weekday() >= 6).cast(pl.Int8).alias("is_weekend"),
        pl.col("date").is_in(holiday_dates(years)).cast(pl.Int8).alias("is_holiday"),
    )
    return out.with_columns(
        *cyclic_encoding("hour", 24),
        *cyclic_encoding("weekday", 7),
        *cyclic_encoding("month", 12, offset=1),
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


def prediction_rows(points: pl.DataFrame, resolution: int = H3_RESOLUTION_DEFAULT) -> pl.DataFrame:
    """Feature rows for points: input ``lat``, ``lon``, ``timestamp`` (naive = New York time;
    time-zone-aware timestamps are converted to New York time).

    Returns the input columns plus ``cell``, ``date``, ``hour`` and FEATURE_COLUMNS, in input
    order. Raises ValueError naming the first row that is missing a value or lies outside New York.
    """
    for column in ("lat", "lon", "timestamp"):
        if column not in points.columns:
            raise ValueError(f"prediction points: missing column {column!r}")
    timestamp = pl.col("timestamp")
    zone = getattr(points.schema["timestamp"], "time_zone", None)
    if zone is not None:
        # Crash times are New York wall-clock times; an aware timestamp is converted to them.
        timestamp = timestamp.dt.convert_time_zone(NYC_TIME_ZONE).dt.replace_time_zone(None)
    frame = points.with_columns(
        pl.col("lat").cast(pl.Float64), pl.col("lon").cast(pl.Float64)
    ).with_row_index("_row")
    bad = frame.filter(
        pl.col("lat").is_null()
        | pl.col("lon").is_null()
        | pl.col("timestamp").is_null()
        | ~geo.in_nyc(pl.col("lat"), pl.col("lon"))
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(
            f"prediction points: row {row['_row']} (lat={row['lat']}, lon={row['lon']}, "
            f"timestamp={row['timestamp']}) is missing a value or outside New York "
            f"(lat {geo.LAT_MIN}..{geo.LAT_MAX}, lon {geo.LON_MIN}..{geo.LON_MAX})"
        )
    cells = geo.cells_of(
        frame.get_column("lat").to_list(), frame.get_column("lon").to_list(), resolution
    )
    frame = frame.with_columns(
        pl.Series("cell", cells, dtype=pl.Utf8),
        timestamp.dt.date().alias("date"),
        timestamp.dt.hour().cast(pl.Int8).alias("hour"),
    )
    out = add_feature_columns(frame).sort("_row")
    keep = [*points.columns, "cell", "date", "hour"]
    return out.select(keep + [c for c in FEATURE_COLUMNS if c not in keep])
