import datetime as dt

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
    assert (row["weekday"], row["is_weekend"], row["is_holiday"]) == (0, 0, 1)
    assert "month" not in feat.FEATURE_COLUMNS  # a window of weeks has no seasonal month signal


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


def test_point_rows_are_the_training_features_of_their_cell_hour():
    """Serving's plain-Python row of a point == training's polars features of its cell-hour, for
    points all over the city and hours all over a year (holidays and weekends included)."""
    import numpy as np
    from polars.testing import assert_frame_equal

    rng = np.random.default_rng(3)
    start = dt.datetime(2023, 1, 1)
    times = [start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 365 * 24, 600)]
    lats, lons = rng.uniform(40.5, 40.9, 600), rng.uniform(-74.25, -73.7, 600)
    served = pl.DataFrame(
        [feat.point_row(a, o, t, 7) for a, o, t in zip(lats, lons, times, strict=True)]
    )
    keys = served.select("cell", "date", pl.col("hour").cast(pl.Int8))
    trained = feat.add_feature_columns(keys).select(feat.FEATURE_COLUMNS)
    served = served.select(feat.FEATURE_COLUMNS).with_columns(
        pl.col(c).cast(trained.schema[c]) for c in feat.FEATURE_COLUMNS
    )
    assert_frame_equal(served, trained, rel_tol=1e-12, abs_tol=1e-12)
    assert served["is_holiday"].sum() > 0 and served["is_weekend"].sum() > 0
    assert list(feat.POINT_DTYPES) == feat.FEATURE_COLUMNS


def test_point_row_of_an_aware_timestamp_is_new_york_time():
    from accident_assets.serving.predict import local_time

    utc = dt.datetime(2024, 7, 4, 2, 30, tzinfo=dt.UTC)
    row = feat.point_row(40.75, -73.98, local_time(utc), 7)
    assert (row["date"], row["hour"], row["is_holiday"]) == (dt.date(2024, 7, 3), 22, 0)
