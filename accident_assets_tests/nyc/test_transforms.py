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
    assert sample_day(DAY) == sample_day(DAY)
    assert sample_day(DAY) != sample_day(DAY, seed=8)
    days = [dt.date(2023, 5, 1) + dt.timedelta(days=i) for i in range(14)]
    counts = [len(sample_day(d)) for d in days]
    assert min(counts) >= 180 and max(counts) <= 350
    crashes = pl.concat([clean_crashes(raw_frame(sample_day(d)), d) for d in days])
    share = crashes["geo_status"].value_counts(normalize=True)
    shares = dict(share.iter_rows())
    assert 0.03 < shares["missing"] < 0.1 and 0.003 < shares["zero"] < 0.04
    assert 0.25 < crashes["borough"].is_null().mean() < 0.4
    by_hour = crashes.group_by("hour").len()
    rush, night = (by_hour.filter(pl.col("hour") == h)["len"].item() for h in (17, 4))
    assert rush > 2 * night


def test_partition_start_is_configurable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(partitions.START_ENV, "2022-01-02")
    assert partitions.daily_partitions().get_first_partition_key() == "2022-01-02"
    monkeypatch.setenv(partitions.START_ENV, "Jan 2")
    with pytest.raises(ValueError, match="ACCIDENT_ASSETS_NYC_START"):
        partitions.daily_partitions()
    monkeypatch.delenv(partitions.START_ENV)
    assert isinstance(partitions.daily_partitions(), dg.DailyPartitionsDefinition)
    assert partitions.daily_partitions().get_first_partition_key() == "2023-01-01"
