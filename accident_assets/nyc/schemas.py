"""Pandera schemas of the three NYC tables, run as partitioned asset checks."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from accident_assets.nyc.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from accident_assets.nyc.transforms import COUNT_COLUMNS, GEO_STATUSES

BOROUGHS = ["BRONX", "BROOKLYN", "MANHATTAN", "QUEENS", "STATEN ISLAND"]

# The day as received: the API's keys vary, so only the keys every row has are required; every
# value is text. A day with no rows is valid (it still has the required columns).
RAW_CRASHES = pa.DataFrameSchema(
    name="nyc_raw_crashes",
    columns={
        "collision_id": pa.Column(pl.Utf8, pa.Check.str_matches(r"^\d+$"), unique=True),
        "crash_date": pa.Column(pl.Utf8, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}T")),
        "crash_time": pa.Column(pl.Utf8, pa.Check.str_matches(r"^\d{1,2}:\d{2}")),
        ".*": pa.Column(pl.Utf8, nullable=True, regex=True, required=False),
    },
    strict=False,
)


def _cell_iff_valid(data: pa.PolarsData) -> pl.LazyFrame:
    frame = data.lazyframe
    return frame.select(
        (pl.col("cell").is_not_null() == (pl.col("geo_status") == "valid")).alias("cell_iff_valid")
    )


def _incidents_rule(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(
        (pl.col("incidents") == pl.max_horizontal(1, pl.col("injured") + pl.col("killed"))).alias(
            "incidents_rule"
        )
    )


CRASHES = pa.DataFrameSchema(
    name="nyc_crashes",
    columns={
        "collision_id": pa.Column(pl.Int64, unique=True),
        "crash_timestamp": pa.Column(pl.Datetime("us")),
        "date": pa.Column(pl.Date),
        "hour": pa.Column(pl.Int8, pa.Check.in_range(0, 23)),
        "borough": pa.Column(pl.Utf8, pa.Check.isin(BOROUGHS), nullable=True),
        "zip_code": pa.Column(pl.Utf8, nullable=True),
        "latitude": pa.Column(pl.Float64, nullable=True),
        "longitude": pa.Column(pl.Float64, nullable=True),
        "geo_status": pa.Column(pl.Utf8, pa.Check.isin(GEO_STATUSES)),
        "cell": pa.Column(pl.Utf8, nullable=True),
        **{name: pa.Column(pl.Int32, pa.Check.ge(0)) for name in COUNT_COLUMNS.values()},
        "incidents": pa.Column(pl.Int32, pa.Check.ge(1)),
        "contributing_factor_1": pa.Column(pl.Utf8, nullable=True),
        "vehicle_type_1": pa.Column(pl.Utf8, nullable=True),
    },
    checks=[pa.Check(_cell_iff_valid), pa.Check(_incidents_rule)],
    strict=True,
)

_numeric_dtypes = {
    "cell_lat": pl.Float64,
    "cell_lng": pl.Float64,
    "hour": pl.Int8,
    "weekday": pl.Int8,
    "is_weekend": pl.Int8,
    "is_holiday": pl.Int8,
}
FEATURES = pa.DataFrameSchema(
    name="nyc_features",
    columns={
        "date": pa.Column(pl.Date),
        "hour": pa.Column(pl.Int8, pa.Check.in_range(0, 23)),
        "cell": pa.Column(pl.Utf8, pa.Check.str_matches(r"^[0-9a-f]{15}$")),
        "borough": pa.Column(pl.Utf8, pa.Check.isin([*BOROUGHS, "UNKNOWN"])),
        "incidents": pa.Column(pl.Int32, pa.Check.ge(1)),
        **{
            name: pa.Column(_numeric_dtypes.get(name, pl.Float64))
            for name in NUMERIC_FEATURES
            if name not in ("hour",)
        },
        "weekday": pa.Column(pl.Int8, pa.Check.in_range(0, 6)),
    },
    unique=["date", "hour", "cell"],
    strict=True,
)
assert set(CATEGORICAL_FEATURES) <= set(FEATURES.columns)
