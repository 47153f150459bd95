import datetime as dt

import h3
import polars as pl
import pytest

from accident_assets.checks import validate
from accident_assets.nyc import features as feat
from accident_assets.nyc import schemas
from accident_assets.nyc.sample import sample_day
from accident_assets.nyc.transforms import clean_crashes, raw_frame

DAY = dt.date(2023, 1, 2)  # a Monday and a New York holiday (New Year's Day observed)


@pytest.fixture(scope="module")
def day_features() -> pl.DataFrame:
    return feat.build_features(clean_crashes(raw_frame(sample_day(DAY)), DAY))


def test_contract_constants():
    assert feat.TARGET == "incidents"
    assert feat.H3_RESOLUTION_DEFAULT == 7
    assert feat.FEATURE_COLUMNS == feat.CATEGORICAL_FEATURES + feat.NUMERIC_FEATURES
    assert "borough" not in feat.FEATURE_COLUMNS


def test_features_schema_and_calendar(day_features: pl.DataFrame):
    assert validate(schemas.FEATURES, day_features) is None
    assert day_features.columns[:5] == ["date", "hour", "cell", "borough", "incidents"]
    assert set(feat.FEATURE_COLUMNS) <= set(day_features.columns)
    row = day_features.row(0, named=True)
    assert (row["weekday"], row["month"], row["is_weekend"], row["is_holiday"]) == (0, 1, 0, 1)


def test_incidents_sum_to_geocoded_crashes():
    crashes = clean_crashes(raw_frame(sample_day(DAY)), DAY)
    features = feat.build_features(crashes)
    valid = crashes.filter(pl.col("geo_status") == "valid")
    assert features["incidents"].sum() == valid["incidents"].sum()
    assert crashes.height > valid.height  # bad geocodes are kept in crashes, not in features


def test_fill_zero_cell_hours_is_the_full_grid(day_features: pl.DataFrame):
    other = dt.date(2023, 1, 3)
    both = pl.concat(
        [day_features, feat.build_features(clean_crashes(raw_frame(sample_day(other)), other))]
    )
    cells = feat.cell_universe(both)
    assert cells == sorted(set(both["cell"]))
    grid = feat.fill_zero_cell_hours(both, cells, [DAY, other])
    assert grid.height == len(cells) * 2 * 24
    assert grid["incidents"].sum() == both["incidents"].sum()
    assert grid.select(feat.FEATURE_COLUMNS).null_count().sum_horizontal().item() == 0
    assert grid.filter(pl.col("incidents") == 0).height > 0


def test_prediction_rows_match_training_features(day_features: pl.DataFrame):
    row = day_features.row(0, named=True)

    lat, lon = h3.cell_to_latlng(row["cell"])
    points = pl.DataFrame(
        {"lat": [lat], "lon": [lon], "timestamp": [dt.datetime(2023, 1, 2, row["hour"], 30)]}
    )
    out = feat.prediction_rows(points, 7)
    assert out.select(feat.FEATURE_COLUMNS).row(0) == pl.DataFrame([row]).select(
        feat.FEATURE_COLUMNS
    ).row(0)


def test_prediction_rows_rejects_points_outside_new_york():
    points = pl.DataFrame(
        {
            "lat": [40.75, 48.85],
            "lon": [-73.98, 2.35],
            "timestamp": [dt.datetime(2024, 5, 1, 8), dt.datetime(2024, 5, 1, 9)],
        }
    )
    with pytest.raises(ValueError, match=r"row 1 .*outside New York"):
        feat.prediction_rows(points, 7)


def test_prediction_rows_converts_aware_timestamps_and_accepts_no_points():
    utc = pl.DataFrame(
        {"lat": [40.75], "lon": [-73.98], "timestamp": [dt.datetime(2024, 7, 4, 2, 30)]}
    ).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
    row = feat.prediction_rows(utc).row(0, named=True)
    assert (row["date"], row["hour"], row["is_holiday"]) == (dt.date(2024, 7, 3), 22, 0)
    empty = pl.DataFrame(schema={"lat": pl.Float64, "lon": pl.Float64, "timestamp": pl.Datetime})
    out = feat.prediction_rows(empty)
    assert out.height == 0 and set(feat.FEATURE_COLUMNS) <= set(out.columns)
