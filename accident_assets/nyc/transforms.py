"""From the day as received to clean crashes: pure functions, used by the assets and tests.

Raw rows keep the Socrata API's names (``crash_date``, ``number_of_persons_injured``...). API rows
omit absent values, so a day's rows can have different keys; the raw table is the union of keys,
every value as text (nested values such as ``location`` as JSON).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from accident_assets.nyc import geo
from accident_assets.nyc.columns import API_COLUMNS
from accident_assets.nyc.features import H3_RESOLUTION_DEFAULT

REQUIRED_RAW_COLUMNS = ["collision_id", "crash_date", "crash_time"]
COUNT_COLUMNS = {
    "number_of_persons_injured": "injured",
    "number_of_persons_killed": "killed",
    "number_of_pedestrians_injured": "pedestrians_injured",
    "number_of_pedestrians_killed": "pedestrians_killed",
    "number_of_cyclist_injured": "cyclists_injured",
    "number_of_cyclist_killed": "cyclists_killed",
    "number_of_motorist_injured": "motorists_injured",
    "number_of_motorist_killed": "motorists_killed",
}
GEO_STATUSES = ["valid", "missing", "zero", "outside_nyc"]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def raw_frame(records: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """The rows as received, every key kept, every value as text (absent keys are null)."""
    rows = [{k: _text(v) for k, v in r.items()} for r in records]
    keys = {k for r in rows for k in r}
    columns = [c for c in API_COLUMNS if c in keys or c in REQUIRED_RAW_COLUMNS]
    columns += sorted(keys - set(columns))
    return pl.DataFrame(
        [[r.get(c) for c in columns] for r in rows],
        schema=dict.fromkeys(columns, pl.Utf8),
        orient="row",
    )


def _numbers(frame: pl.DataFrame, column: str, dtype: pl.DataType, partition: str) -> pl.Expr:
    """Parse a text column; raise naming the partition, column and row on a bad value."""
    if column not in frame.columns:
        return pl.lit(None, dtype=dtype)
    text = pl.col(column).str.strip_chars()
    text = pl.when(text == "").then(None).otherwise(text)
    parsed = text.cast(dtype, strict=False)
    bad = frame.filter(text.is_not_null() & parsed.is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(
            f"nyc/raw_crashes partition {partition}: column {column!r} has the non-number "
            f"{row[column]!r} (collision_id {row.get('collision_id')}; {bad.height} such rows)"
        )
    return parsed


def _column(frame: pl.DataFrame, column: str) -> pl.Expr:
    if column not in frame.columns:
        return pl.lit(None, dtype=pl.Utf8)
    text = pl.col(column).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def clean_crashes(
    raw: pl.DataFrame, day: dt.date, resolution: int = H3_RESOLUTION_DEFAULT
) -> pl.DataFrame:
    """Typed crashes of one day with a geocode status and an H3 cell for valid points.

    Points that are missing, exactly ``0,0`` or outside New York keep their row (they count as
    incidents of the day) but get no cell, so spatial features exclude them.
    """
    partition = day.isoformat()
    missing = [c for c in REQUIRED_RAW_COLUMNS if c not in raw.columns]
    if missing and raw.height:
        raise ValueError(f"nyc/raw_crashes partition {partition}: missing columns {missing}")
    if raw.height == 0:
        raw = pl.DataFrame(schema=dict.fromkeys(API_COLUMNS, pl.Utf8))
    dates = _column(raw, "crash_date").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    wrong = raw.filter(dates.is_null() | (dates != day))
    if wrong.height:
        row = wrong.row(0, named=True)
        raise ValueError(
            f"nyc/raw_crashes partition {partition}: column 'crash_date' is {row['crash_date']!r} "
            f"for collision_id {row['collision_id']} ({wrong.height} rows not on {partition})"
        )
    time_parts = _column(raw, "crash_time").str.extract_groups(r"^(\d{1,2}):(\d{2})")
    hours = time_parts.struct.field("1").cast(pl.Int8, strict=False)
    minutes = time_parts.struct.field("2").cast(pl.Int8, strict=False)
    bad_time = raw.filter(
        hours.is_null() | minutes.is_null() | ~hours.is_between(0, 23) | ~minutes.is_between(0, 59)
    )
    if bad_time.height:
        row = bad_time.row(0, named=True)
        raise ValueError(
            f"nyc/raw_crashes partition {partition}: column 'crash_time' is {row['crash_time']!r} "
            f"for collision_id {row['collision_id']} (expected H:MM)"
        )
    counts = {
        name: _numbers(raw, source, pl.Int32, partition).fill_null(0).alias(name)
        for source, name in COUNT_COLUMNS.items()
    }
    lat = _numbers(raw, "latitude", pl.Float64, partition).alias("latitude")
    lon = _numbers(raw, "longitude", pl.Float64, partition).alias("longitude")
    out = raw.select(
        _numbers(raw, "collision_id", pl.Int64, partition).alias("collision_id"),
        dates.alias("date"),
        hours.alias("hour"),
        minutes.alias("_minute"),
        _column(raw, "borough").str.to_uppercase().alias("borough"),
        _column(raw, "zip_code").alias("zip_code"),
        lat,
        lon,
        *counts.values(),
        _column(raw, "contributing_factor_vehicle_1").alias("contributing_factor_1"),
        _column(raw, "vehicle_type_code1").alias("vehicle_type_1"),
    )
    out = out.with_columns(
        (
            pl.col("date").cast(pl.Datetime("us"))
            + pl.duration(hours=pl.col("hour"), minutes=pl.col("_minute"))
        ).alias("crash_timestamp"),
        pl.when(pl.col("latitude").is_null() | pl.col("longitude").is_null())
        .then(pl.lit("missing"))
        .when((pl.col("latitude") == 0) & (pl.col("longitude") == 0))
        .then(pl.lit("zero"))
        .when(~geo.in_nyc(pl.col("latitude"), pl.col("longitude")))
        .then(pl.lit("outside_nyc"))
        .otherwise(pl.lit("valid"))
        .alias("geo_status"),
        pl.max_horizontal(pl.lit(1, dtype=pl.Int32), pl.col("injured") + pl.col("killed"))
        .cast(pl.Int32)
        .alias("incidents"),
    ).drop("_minute")
    if out.get_column("collision_id").is_null().any():
        raise ValueError(f"nyc/raw_crashes partition {partition}: a row has no collision_id")
    # A repeated id means the download went wrong (a page order that moved between pages repeats
    # rows and skips others): an error, never a silent drop.
    repeated = out.filter(pl.col("collision_id").is_duplicated()).get_column("collision_id")
    if repeated.len():
        examples = repeated.unique().sort().head(5).to_list()
        raise ValueError(
            f"nyc/raw_crashes partition {partition}: column 'collision_id' repeats "
            f"{repeated.n_unique()} id(s), e.g. {examples}; the day is not stored"
        )
    valid = out.get_column("geo_status") == "valid"
    cells = geo.cells_of(
        out.get_column("latitude").to_list(), out.get_column("longitude").to_list(), resolution
    )
    out = out.with_columns(
        pl.when(valid).then(pl.Series("cell", cells, dtype=pl.Utf8)).otherwise(None).alias("cell")
    )
    return out.select(CRASH_COLUMNS).sort("crash_timestamp", "collision_id")


CRASH_COLUMNS = [
    "collision_id",
    "crash_timestamp",
    "date",
    "hour",
    "borough",
    "zip_code",
    "latitude",
    "longitude",
    "geo_status",
    "cell",
    *COUNT_COLUMNS.values(),
    "incidents",
    "contributing_factor_1",
    "vehicle_type_1",
]


def geo_summary(crashes: pl.DataFrame) -> dict[str, int]:
    counts = dict(crashes.get_column("geo_status").value_counts().iter_rows())
    return {status: int(counts.get(status, 0)) for status in GEO_STATUSES}
