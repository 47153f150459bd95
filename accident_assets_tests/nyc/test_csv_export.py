"""The csv_export source on the real portal exports, and the real revision case."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from accident_assets import settings
from accident_assets.io_manager import read_partitions, stored_partitions
from accident_assets.nyc.run import ingest_days
from accident_assets.nyc.sources import CsvExportSource, NycSource, csv_header_to_api

pytestmark = pytest.mark.real_data
JANUARY = "nyc_collisions/2023-01"
WEEK = "nyc_collisions/2024-w27"
EARLY = f"{WEEK}/nyccrashes_2024w0630_by20240916.csv"
LATE = f"{WEEK}/nyccrashes_2024w0630_by20250212.csv"
CRASHES = dg.AssetKey(["nyc", "crashes"])


def test_header_names_follow_the_api():
    assert csv_header_to_api("NUMBER OF PERSONS INJURED") == "number_of_persons_injured"
    assert csv_header_to_api("VEHICLE TYPE CODE 1") == "vehicle_type_code1"
    assert csv_header_to_api("VEHICLE TYPE CODE 3") == "vehicle_type_code_3"
    assert csv_header_to_api("COLLISION_ID") == "collision_id"


def test_january_2023_splits_into_31_days_without_loss(shared_data: Path):
    path = shared_data / JANUARY
    source = CsvExportSource(path)
    days = source.days()
    assert days == [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(31)]
    rows = [r for day in days for r in source.fetch_day(day)]
    assert len(rows) == 7244
    ids = pl.read_csv(next(path.glob("*.csv")), infer_schema=False)["COLLISION_ID"]
    assert sorted(r["collision_id"] for r in rows) == sorted(ids.to_list())
    first = source.fetch_day(dt.date(2023, 1, 1))[0]
    assert first["crash_date"] == "2023-01-01T00:00:00.000"
    assert "borough" not in first or first["borough"]  # blanks are absent keys, as in the API
    with_point = next(r for r in rows if "latitude" in r)
    assert with_point["location"]["latitude"] == with_point["latitude"]
    assert source.newest_day() == dt.date(2023, 1, 31)


def test_january_2023_through_the_assets(shared_data: Path, state_home: Path):
    source = NycSource(backend="csv_export", csv_path=str(shared_data / JANUARY))
    result = ingest_days(
        dt.date(2023, 1, 1),
        dt.date(2023, 1, 31),
        source=source,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    root = settings.storage_root()
    keys = stored_partitions(root, CRASHES)
    assert len(keys) == 31
    crashes = pl.concat(read_partitions(root, CRASHES, keys).values())
    assert crashes.height == 7244 == crashes["collision_id"].n_unique()
    raw = pl.concat(
        read_partitions(root, dg.AssetKey(["nyc", "raw_crashes"]), keys).values(), how="diagonal"
    )
    assert raw.height == 7244


def test_a_later_export_revises_a_day(shared_data: Path, state_home: Path):
    """The later export adds crash 4765601 on 2024-07-03, fills in geocodes, and (found in the
    real files) moves crash 4741736 from 07-03 to 07-02: re-ingesting the days around a revision
    (what the sensor does) keeps every crash exactly once."""
    first, day = dt.date(2024, 7, 2), dt.date(2024, 7, 3)
    keys = [first.isoformat(), day.isoformat()]
    root = settings.storage_root()
    instance = dg.DagsterInstance.ephemeral()

    def materialize(path: str) -> dict[str, pl.DataFrame]:
        source = NycSource(backend="csv_export", csv_path=str(shared_data / path))
        assert ingest_days(first, day, source=source, instance=instance).success
        return read_partitions(root, CRASHES, keys)

    before = materialize(EARLY)
    after = materialize(LATE)
    assert 4765601 not in before[keys[1]]["collision_id"].to_list()
    assert 4765601 in after[keys[1]]["collision_id"].to_list()
    assert 4741736 in before[keys[1]]["collision_id"].to_list()
    assert 4741736 in after[keys[0]]["collision_id"].to_list()
    assert 4741736 not in after[keys[1]]["collision_id"].to_list()
    before_all, after_all = pl.concat(before.values()), pl.concat(after.values())
    assert after_all.height == before_all.height + 1 == after_all["collision_id"].n_unique()

    joined = before_all.join(after_all, on="collision_id", suffix="_late")
    filled = joined.filter(
        (pl.col("geo_status") != "valid") & (pl.col("geo_status_late") == "valid")
    )
    assert filled.height > 0  # geocodes filled in later
    assert filled["cell_late"].null_count() == 0
    late_rows = pl.read_csv(shared_data / LATE, infer_schema=False).filter(
        pl.col("COLLISION_ID").is_in([str(i) for i in filled["collision_id"]])
    )
    assert sorted(late_rows["LATITUDE"].cast(pl.Float64).to_list()) == sorted(
        filled["latitude_late"].to_list()
    )
    # Both files in one folder: the later file (sorted by name) wins, nothing duplicated.
    both = CsvExportSource(shared_data / WEEK)
    assert [len(both.fetch_day(d)) for d in (first, day)] == [after[k].height for k in keys]
