"""The csv_export source on the real portal exports, and the real revision case."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from accident_assets import settings
from accident_assets.io_manager import read_partitions, stored_partitions
from accident_assets.nyc.run import ingest_days
from accident_assets.nyc.sources import (
    CsvExportNycSource,
    DayStat,
    ExportFormatError,
    csv_header_to_api,
)

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
    source = CsvExportNycSource(path=str(path))
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
    source = CsvExportNycSource(path=str(shared_data / JANUARY))
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
        source = CsvExportNycSource(path=str(shared_data / path))
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
    # Both files in one folder: the later export (by content) wins, nothing duplicated.
    both = CsvExportNycSource(path=str(shared_data / WEEK))
    assert [len(both.fetch_day(d)) for d in (first, day)] == [after[k].height for k in keys]


# -- the strict reader ---------------------------------------------------------------------------


def head_of_january(
    shared_data: Path, tmp_path: Path, edit: Callable[[list[list[str]]], None]
) -> Path:
    """The header and first 50 rows of the real January export, edited as a list of rows (row 0 is
    the header, row i is file line i + 1), written back as the portal writes (LF, minimal quotes)."""
    with open(shared_data / JANUARY / "nyc_crashes_202301.csv", newline="") as f:
        rows = [row for _, row in zip(range(51), csv.reader(f), strict=False)]
    edit(rows)
    out = tmp_path / "edited.csv"
    with open(out, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return out


def set_cell(line: int, column: str, value: str) -> Callable[[list[list[str]]], None]:
    def edit(rows: list[list[str]]) -> None:
        rows[line - 1][rows[0].index(column)] = value

    return edit


def swap_columns(rows: list[list[str]]) -> None:
    for row in rows:
        row[4], row[5] = row[5], row[4]


def drop_last_column(rows: list[list[str]]) -> None:
    for row in rows:
        row.pop()


def repeat_id(rows: list[list[str]]) -> None:
    at = rows[0].index("COLLISION_ID")
    rows[30][at] = rows[7][at]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            set_cell(12, "CRASH DATE", "2023-01-01"),
            r"column 'CRASH DATE' line 12: '2023-01-01' is not MM/DD/YYYY",
        ),
        (set_cell(5, "CRASH DATE", ""), r"column 'CRASH DATE' line 5: None is not MM/DD/YYYY"),
        (
            set_cell(20, "CRASH TIME", "14:38:00"),
            r"column 'CRASH TIME' line 20: '14:38:00' is not H:MM",
        ),
        (set_cell(3, "CRASH TIME", "24:10"), r"column 'CRASH TIME' line 3: '24:10' is not H:MM"),
        (
            set_cell(9, "ZIP CODE", "1121"),
            r"column 'ZIP CODE' line 9: '1121' is not 5 digits or empty",
        ),
        (
            set_cell(40, "COLLISION_ID", "4594563.0"),
            r"column 'COLLISION_ID' line 40: '4594563.0' is not an integer",
        ),
        (repeat_id, r"column 'COLLISION_ID': \d+ appears twice \(lines \[8, 31\]\)"),
        (swap_columns, r"header column 5 is 'LONGITUDE', the export has 'LATITUDE' there"),
        (
            drop_last_column,
            r"28 header columns, the export has 29 .*missing: \['VEHICLE TYPE CODE 5'\]",
        ),
    ],
)
def test_a_file_that_is_not_the_export_layout_is_refused(
    shared_data: Path, tmp_path: Path, edit, message
):
    path = head_of_january(shared_data, tmp_path, edit)
    with pytest.raises(ExportFormatError, match=message) as info:
        CsvExportNycSource(path=str(path)).days()
    assert str(info.value).startswith(f"{path.resolve()}: ")


def test_the_unedited_head_is_accepted(shared_data: Path, tmp_path: Path):
    # The helper itself must not be what breaks the files above.
    path = head_of_january(shared_data, tmp_path, lambda rows: None)
    assert CsvExportNycSource(path=str(path)).frame().height == 50


def test_a_pandas_resave_of_a_real_export_is_refused(shared_data: Path, tmp_path: Path):
    frame = pd.read_csv(shared_data / JANUARY / "nyc_crashes_202301.csv")  # ZIP read as float
    frame["CRASH_DATETIME"] = pd.to_datetime(frame["CRASH DATE"] + " " + frame["CRASH TIME"])
    resaved = tmp_path / "resaved.csv"
    frame.to_csv(resaved)  # adds the unnamed index column ""
    with pytest.raises(ExportFormatError) as info:
        CsvExportNycSource(path=str(resaved)).days()
    message = str(info.value)
    assert message.startswith(f"{resaved.resolve()}: not a portal export: header column 1 is ''")
    assert "extra columns: ['', 'CRASH_DATETIME']" in message
    # Even with the header put right, the ZIPs pandas wrote as floats are refused.
    no_index = tmp_path / "no_index.csv"
    frame.drop(columns="CRASH_DATETIME").to_csv(no_index, index=False)
    with pytest.raises(
        ExportFormatError, match=r"no_index.csv: column 'ZIP CODE' line \d+: '\d{5}\.0'"
    ):
        CsvExportNycSource(path=str(no_index)).days()


# -- folders: the newer export wins, by content ------------------------------------------------


def week_folder(shared_data: Path, tmp_path: Path, names: dict[str, str]) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    for source, name in names.items():
        shutil.copy(shared_data / source, folder / name)
    return folder


def api_frame_of(path: Path) -> pl.DataFrame:
    frame = pl.read_csv(path, infer_schema=False, missing_utf8_is_empty_string=False)
    return frame.rename({c: csv_header_to_api(c) for c in frame.columns}).sort("collision_id")


@pytest.mark.parametrize(
    "names",
    [
        {LATE: "a_export.csv", EARLY: "b_export.csv"},  # the older file sorts last
        {LATE: "crashes_by20240101.csv", EARLY: "crashes_by20991231.csv"},  # misleading dates
    ],
)
def test_in_a_folder_the_newer_export_wins_whatever_the_names(
    shared_data: Path, tmp_path: Path, names: dict[str, str]
):
    source = CsvExportNycSource(path=str(week_folder(shared_data, tmp_path, names)))
    stored = source.frame()
    assert stored.height == 1876 == stored["collision_id"].n_unique()
    assert stored.drop("_day", "_id").sort("collision_id").equals(api_frame_of(shared_data / LATE))
    assert "4765601" in stored["collision_id"].to_list()
    point = stored.filter(pl.col("collision_id") == "4737776").row(0, named=True)
    assert (point["latitude"], point["longitude"]) == ("40.655254", "-73.76568")
    rows = [r for day in source.days() for r in source.fetch_day(day)]
    assert len(rows) == 1876 == len({r["collision_id"] for r in rows})


def test_two_exports_ending_at_the_same_id_need_dates_in_their_names(
    shared_data: Path, tmp_path: Path
):
    folder = week_folder(shared_data, tmp_path, {EARLY: "one.csv"})
    shutil.copy(folder / "one.csv", folder / "two.csv")
    last_id = api_frame_of(folder / "one.csv")["collision_id"].cast(pl.Int64).max()
    with pytest.raises(ExportFormatError, match=f"end at the same COLLISION_ID {last_id}") as info:
        CsvExportNycSource(path=str(folder)).days()
    assert str(folder / "one.csv") in str(info.value) and str(folder / "two.csv") in str(info.value)


def test_same_last_id_ordered_by_the_download_dates_in_the_names(shared_data: Path, tmp_path: Path):
    folder = week_folder(shared_data, tmp_path, {EARLY: "z_by20240916.csv"})
    with open(folder / "z_by20240916.csv", newline="") as f:
        rows = list(csv.reader(f))
    injured = rows[0].index("NUMBER OF PERSONS INJURED")
    rows[1][injured] = "9"  # the later download revised the first crash
    with open(folder / "a_by20241001.csv", "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    stored = CsvExportNycSource(path=str(folder)).frame()
    cid = rows[1][rows[0].index("COLLISION_ID")]
    assert stored.height == 1875
    assert stored.filter(pl.col("collision_id") == cid)["number_of_persons_injured"].to_list() == [
        "9"
    ]


def test_export_day_stats(shared_data: Path):
    early = CsvExportNycSource(path=str(shared_data / EARLY))
    late = CsvExportNycSource(path=str(shared_data / LATE))
    week = (dt.date(2024, 6, 30), dt.date(2024, 7, 7))
    before, after = early.day_stats(*week), late.day_stats(*week)
    assert sorted(after) == [week[0] + dt.timedelta(days=i) for i in range(8)]
    assert sum(s.count for s in after.values()) == 1876
    frame = api_frame_of(shared_data / LATE)
    located = frame.filter(pl.col("latitude").is_not_null())
    assert sum(s.geocoded for s in after.values()) == located.height
    assert all(s.updated_at is None for s in after.values())
    assert (
        after[dt.date(2024, 7, 3)].count == before[dt.date(2024, 7, 3)].count
    )  # +4765601, -4741736
    assert after[dt.date(2024, 7, 2)] == DayStat(
        before[dt.date(2024, 7, 2)].count + 1, after[dt.date(2024, 7, 2)].geocoded
    )
    assert early.day_stats(dt.date(2024, 7, 8), dt.date(2024, 7, 9)) == {}
