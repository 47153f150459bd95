"""Daily partitions of the NYC lane.

The default start (2023-01-01) is the NYC reference's earliest training date; set
``ACCIDENT_ASSETS_NYC_START`` (``YYYY-MM-DD``) before the code location loads to ingest older
days, e.g. ``2022-01-02`` for the real Manhattan series. It is the one setting read when this
module is imported: every NYC asset is defined over these partitions.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from accident_assets.settings import get_settings

DATE_FORMAT = "%Y-%m-%d"


def start_date() -> str:
    return get_settings().nyc_start.strftime(DATE_FORMAT)


def daily_partitions() -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start_date(), fmt=DATE_FORMAT)


def forecast_partitions() -> dg.DailyPartitionsDefinition:
    """NYC_DAILY's days plus today and tomorrow: a forecast is made before its day exists.

    Dagster's ``end_offset=1`` adds only the current (still open) day; tomorrow needs 2.
    Same start, format and time zone as :data:`NYC_DAILY`, so the two map day to day.
    """
    return dg.DailyPartitionsDefinition(start_date=start_date(), fmt=DATE_FORMAT, end_offset=2)


def day_of(partition_key: str) -> dt.date:
    try:
        return dt.datetime.strptime(partition_key, DATE_FORMAT).date()
    except ValueError as err:
        raise ValueError(f"NYC partition key {partition_key!r} is not YYYY-MM-DD") from err


def key_of(day: dt.date) -> str:
    return day.strftime(DATE_FORMAT)


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


NYC_DAILY = daily_partitions()
NYC_FORECAST_DAILY = forecast_partitions()
