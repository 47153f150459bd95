"""Reading portal "Export → CSV" files for :class:`accident_assets.nyc.sources.CsvExportNycSource`:
each file checked strictly against the export layout, the files merged (the newest export wins, see
:mod:`accident_assets.nyc.sources`), split into days and converted to the API's names and shapes.

A logic module (polars): the source imports it where a file is read, so that defining the source
loads no polars.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import itertools
import re
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from accident_assets.nyc.columns import API_COLUMNS
from accident_assets.nyc.sources import (
    EXPORT_FORMATS,
    EXPORT_HEADER,
    ExportFormatError,
    csv_header_to_api,
)

DATE_IN_NAME = re.compile(r"(?<!\d)(\d{8})(?!\d)")


def _check_header(path: str) -> None:
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), [])
    if tuple(header) == EXPORT_HEADER:
        return
    for i, (got, want) in enumerate(zip(header, EXPORT_HEADER, strict=False)):
        if got != want:
            raise ExportFormatError(
                f"{path}: not a portal export: header column {i + 1} is {got!r}, the export "
                f"has {want!r} there (extra columns: "
                f"{[c for c in header if c not in EXPORT_HEADER]}, missing: "
                f"{[c for c in EXPORT_HEADER if c not in header]})"
            )
    raise ExportFormatError(
        f"{path}: not a portal export: {len(header)} header columns, the export has "
        f"{len(EXPORT_HEADER)} (extra: {header[len(EXPORT_HEADER) :]}, "
        f"missing: {list(EXPORT_HEADER[len(header) :])})"
    )


def _check_values(path: str, frame: pl.DataFrame) -> None:
    # Line numbers count the header as line 1 (export rows have no embedded line breaks).
    lines = frame.select(pl.int_range(2, frame.height + 2).alias("_line"), *EXPORT_FORMATS)
    for column, (pattern, looks, empty_ok) in EXPORT_FORMATS.items():
        value = pl.col(column)
        bad = (
            ~value.str.contains(pattern)
            if empty_ok
            else value.is_null() | ~value.str.contains(pattern)
        )
        first = lines.filter(bad.fill_null(False)).head(1)
        if first.height:
            line, got = first["_line"][0], first[column][0]
            raise ExportFormatError(
                f"{path}: column {column!r} line {line}: {got!r} is not {looks}"
            )
    repeated = lines.filter(pl.col("COLLISION_ID").is_duplicated()).head(2)
    if repeated.height:
        raise ExportFormatError(
            f"{path}: column 'COLLISION_ID': {repeated['COLLISION_ID'][0]} appears twice "
            f"(lines {repeated['_line'].to_list()}); ids are unique in an export"
        )


@cache
def _read_export(path: str, mtime_ns: int, size: int) -> pl.DataFrame:
    """One export file, checked, as API-named text columns plus ``_day`` (cached per file state)."""
    _check_header(path)
    frame = pl.read_csv(path, infer_schema=False, missing_utf8_is_empty_string=False)
    _check_values(path, frame)
    frame = frame.rename({c: csv_header_to_api(c) for c in frame.columns})
    day = pl.col("crash_date").str.to_date("%m/%d/%Y", strict=False)
    bad = frame.filter(day.is_null())
    if bad.height:  # the regex allows 02/31/2024
        raise ExportFormatError(
            f"{path}: column 'CRASH DATE': {bad['crash_date'][0]!r} is not a calendar date "
            f"(COLLISION_ID {bad['collision_id'][0]})"
        )
    return frame.with_columns(day.alias("_day"), pl.col("collision_id").cast(pl.Int64).alias("_id"))


def _name_date(path: str) -> dt.date | None:
    dates = []
    for digits in DATE_IN_NAME.findall(Path(path).name):
        with contextlib.suppress(ValueError):  # 8 digits that are no date
            dates.append(dt.datetime.strptime(digits, "%Y%m%d").date())
    return dates[0] if len(dates) == 1 else None


def _oldest_first(frames: dict[str, pl.DataFrame]) -> list[str]:
    """File paths from the oldest export to the newest, by content (see the module docstring)."""
    newest_id = {path: int(frame["_id"].max() or 0) for path, frame in frames.items()}
    ordered = sorted(frames, key=lambda p: (newest_id[p], _name_date(p) or dt.date.min))
    for older, newer in itertools.pairwise(ordered):
        if newest_id[older] != newest_id[newer]:
            continue
        dates = _name_date(older), _name_date(newer)
        if None in dates or dates[0] == dates[1]:
            raise ExportFormatError(
                f"csv_export source: {older} and {newer} end at the same COLLISION_ID "
                f"{newest_id[older]}, so which export is newer cannot be told from their rows, "
                "and their names do not carry two different YYYYMMDD download dates; "
                "keep one of them or name them by download date"
            )
    return ordered


@cache
def combined(states: tuple[tuple[str, int, int], ...]) -> pl.DataFrame:
    frames = {state[0]: _read_export(*state) for state in states}
    ordered = [frames[p] for p in _oldest_first(frames)]
    return pl.concat(ordered, how="diagonal").unique("_id", keep="last", maintain_order=True)


@cache
def by_day(states: tuple[tuple[str, int, int], ...]) -> dict[dt.date, pl.DataFrame]:
    parts = combined(states).partition_by("_day", as_dict=True)
    return {key[0]: part for key, part in parts.items()}


def _location(row: dict[str, Any]) -> dict[str, str] | None:
    # The API's legacy location type: the same point as text fields, no separate parsing needed.
    if row.get("latitude") is None or row.get("longitude") is None:
        return None
    return {
        "latitude": row["latitude"],
        "longitude": row["longitude"],
        "human_address": '{"address": "", "city": "", "state": "", "zip": ""}',
    }


def export_rows_to_api(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Export rows (API-named) to API records: ISO floating timestamps, absent keys for blanks."""
    records = []
    for row in frame.drop("_day", "_id").iter_rows(named=True):
        row["crash_date"] = (
            f"{dt.datetime.strptime(row['crash_date'], '%m/%d/%Y').date()}T00:00:00.000"
        )
        row["location"] = _location(row)
        records.append({k: v for k, v in row.items() if v is not None and v != ""})
    order = {c: i for i, c in enumerate(API_COLUMNS)}
    return [dict(sorted(r.items(), key=lambda kv: order.get(kv[0], len(order)))) for r in records]
