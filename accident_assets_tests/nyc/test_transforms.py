"""Raw rows as received -> clean crashes; the sample generator; partitions configuration."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import polars as pl
import pytest

from accident_assets.checks import validate
from accident_assets.nyc import partitions, schemas
from accident_assets.nyc.sample import sample_day
from accident_assets.nyc.transforms import clean_crashes, geo_summary, raw_frame

DAY = dt.date(2023, 1, 5)


def api_row(cid: int, **values: object) -> dict:
    return {
        "crash_date": "2023-01-05T00:00:00.000",
        "crash_time": "8:05",
        "collision_id": str(cid),
        **values,
    }


ROWS = [
    api_row(
        1,
        latitude="40.7580",
        longitude="-73.9855",
        borough="MANHATTAN",
        number_of_persons_injured="2",
        number_of_persons_killed="1",
    ),
    api_row(2, crash_time="0:32"),  # no geocode at all: keys absent
    api_row(3, latitude="0.0", longitude="0.0", location={"latitude": "0.0", "longitude": "0.0"}),
    api_row(4, latitude="42.65", longitude="-73.75", number_of_persons_injured="0"),  # Albany
    api_row(5, latitude="40.6", longitude="-73.9", extra_new_field="x"),
]


def test_raw_keeps_every_key_as_text():
    raw = raw_frame(ROWS)
    assert raw.height == 5
    assert set(raw.schema.values()) == {pl.Utf8}
    assert {"extra_new_field", "location", "borough"} <= set(raw.columns)
    assert json.loads(raw["location"][2]) == {"latitude": "0.0", "longitude": "0.0"}
    assert validate(schemas.RAW_CRASHES, raw) is None


def test_clean_flags_bad_geocodes_but_counts_them():
    crashes = clean_crashes(raw_frame(ROWS), DAY)
    assert validate(schemas.CRASHES, crashes) is None
    by_id = {r["collision_id"]: r for r in crashes.iter_rows(named=True)}
    assert [by_id[i]["geo_status"] for i in range(1, 6)] == [
        "valid",
        "missing",
        "zero",
        "outside_nyc",
        "valid",
    ]
    assert by_id[1]["cell"] is not None and by_id[3]["cell"] is None
    assert by_id[1]["incidents"] == 3 and by_id[4]["incidents"] == 1  # max(1, injured + killed)
    assert by_id[2]["crash_timestamp"] == dt.datetime(2023, 1, 5, 0, 32)
    assert geo_summary(crashes) == {"valid": 2, "missing": 1, "zero": 1, "outside_nyc": 1}


def test_resolution_is_configurable():
    import h3

    crashes = clean_crashes(raw_frame(ROWS[:1]), DAY, resolution=9)
    assert h3.get_resolution(crashes["cell"][0]) == 9


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (api_row(9, number_of_persons_injured="two"), "column 'number_of_persons_injured'"),
        (api_row(9, latitude="north"), "column 'latitude'"),
        (api_row(9, crash_time="25:00"), "column 'crash_time'"),
        (api_row(9, crash_date="2023-01-06T00:00:00.000"), "column 'crash_date'"),
    ],
)
def test_bad_values_name_partition_column_and_row(row: dict, message: str):
    with pytest.raises(ValueError, match=f"partition 2023-01-05: {message}") as info:
        clean_crashes(raw_frame([row]), DAY)
    assert "9" in str(info.value)


def test_a_repeated_collision_id_is_an_error_never_a_silent_drop():
    with pytest.raises(ValueError, match=r"collision_id' repeats 1 id\(s\), e.g. \[1\]"):
        clean_crashes(raw_frame([ROWS[0], ROWS[0]]), DAY)


def test_empty_day():
    crashes = clean_crashes(raw_frame([]), DAY)
    assert crashes.height == 0
    assert validate(schemas.CRASHES, crashes) is None


def test_sample_is_deterministic_and_realistic():
    """The sample against the real January 2023 (bench/calibrate_nyc_sample.py): 175-294 crashes
    a day (mean 233.7), 6.6 % without a geocode, 1.1 % at 0,0, 34 % without a borough, the
    busiest 20 % of cells with half the crashes, rush hours far above the night's trough."""
    assert sample_day(DAY) == sample_day(DAY)
    assert sample_day(DAY) != sample_day(DAY, seed=8)
    days = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(31)]
    counts = [len(sample_day(d)) for d in days]
    assert 215 < sum(counts) / len(counts) < 255 and min(counts) >= 140 and max(counts) <= 330
    crashes = pl.concat([clean_crashes(raw_frame(sample_day(d)), d) for d in days])
    shares = dict(crashes["geo_status"].value_counts(normalize=True).iter_rows())
    assert 0.05 < shares["missing"] < 0.085 and 0.006 < shares["zero"] < 0.017
    assert "outside_nyc" not in shares
    assert 0.3 < crashes["borough"].is_null().mean() < 0.38
    per_cell = crashes.group_by("cell").len().drop_nulls("cell")["len"].sort(descending=True)
    assert 160 <= per_cell.len() <= 200
    top = per_cell.head(round(0.2 * per_cell.len())).sum() / per_cell.sum()
    assert 0.42 < top < 0.58  # heterogeneous cells, but no few hotspots holding most crashes
    weekdays = crashes.filter(pl.col("date").dt.weekday() <= 5).group_by("hour").len()
    rush, night = (weekdays.filter(pl.col("hour") == h)["len"].item() for h in (17, 4))
    assert rush > 3 * night
    assert 1.08 < crashes["incidents"].mean() < 1.16


def test_sample_weekday_and_season_over_a_year():
    """Weekday and month factors are small next to a day's noise, as in the city, but a year of
    days shows them: Thursdays busier than weekends, June busier than January."""
    year = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    counts = pl.DataFrame({"date": year, "n": [len(sample_day(d)) for d in year]})
    assert 230 < counts["n"].mean() < 300
    by_weekday = dict(counts.group_by(pl.col("date").dt.weekday()).agg(pl.col("n").mean()).rows())
    assert by_weekday[4] > 1.08 * max(by_weekday[6], by_weekday[7])
    by_month = dict(counts.group_by(pl.col("date").dt.month()).agg(pl.col("n").mean()).rows())
    assert by_month[6] > 1.15 * by_month[1]


def test_partition_start_is_configurable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ACCIDENT_ASSETS_NYC_START", "2022-01-02")
    assert partitions.daily_partitions().get_first_partition_key() == "2022-01-02"
    monkeypatch.setenv("ACCIDENT_ASSETS_NYC_START", "Jan 2")
    with pytest.raises(ValueError, match="ACCIDENT_ASSETS_NYC_START"):
        partitions.daily_partitions()
    monkeypatch.delenv("ACCIDENT_ASSETS_NYC_START")
    assert isinstance(partitions.daily_partitions(), dg.DailyPartitionsDefinition)
    assert partitions.daily_partitions().get_first_partition_key() == "2023-01-01"
