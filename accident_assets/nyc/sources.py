"""Where NYC crash days come from: one resource (key ``nyc_source``), three backends.

- ``socrata``: the live API (production), see :mod:`accident_assets.nyc.socrata`.
- ``csv_export``: portal "Export → CSV" files (a folder, or one file), split into days and
  converted to the API's names and shapes, so every backend feeds the same raw table.
- ``sample``: the offline default, :mod:`accident_assets.nyc.sample`.

Every backend answers two questions: the rows of a day, and the newest day that has data (for the
sensor). Choose the backend with the resource config, or with ``ACCIDENT_ASSETS_NYC_SOURCE``
(``sample``/``socrata``/``csv_export``), ``ACCIDENT_ASSETS_NYC_CSV`` (folder or file) and
``ACCIDENT_ASSETS_NYC_SOCRATA_URL`` at load time; the app token is read from the environment
variable named by ``app_token_env`` (default ``NYC_SOCRATA_APP_TOKEN``) when a day is fetched.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

import dagster as dg
import polars as pl

from accident_assets.nyc import sample, socrata
from accident_assets.nyc.transforms import API_COLUMNS

SOURCE_ENV = "ACCIDENT_ASSETS_NYC_SOURCE"
CSV_ENV = "ACCIDENT_ASSETS_NYC_CSV"
URL_ENV = "ACCIDENT_ASSETS_NYC_SOCRATA_URL"
TOKEN_ENV_DEFAULT = "NYC_SOCRATA_APP_TOKEN"


@dataclass(frozen=True)
class DayStat:
    count: int
    geocoded: int
    updated_at: str | None


class DaySource(Protocol):
    def fetch_day(self, day: dt.date) -> list[dict[str, Any]]: ...

    def newest_day(self) -> dt.date | None: ...


class SampleSource:
    def __init__(self, seed: int = 7, last_day: dt.date | None = None) -> None:
        self.seed = seed
        self.last_day = last_day

    def fetch_day(self, day: dt.date) -> list[dict[str, Any]]:
        if self.last_day is not None and day > self.last_day:
            return []
        return sample.sample_day(day, self.seed)

    def newest_day(self) -> dt.date | None:
        # The synthetic city reports every day up to yesterday, unless told otherwise.
        return self.last_day or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))


def csv_header_to_api(name: str) -> str:
    """``NUMBER OF PERSONS INJURED`` -> ``number_of_persons_injured``; the API spells the first
    two vehicle type codes without an underscore (``vehicle_type_code1``)."""
    api = name.strip().lower().replace(" ", "_")
    if api in ("vehicle_type_code_1", "vehicle_type_code_2"):
        api = api.replace("code_", "code")
    return api


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"csv_export source: {path} is neither a file nor a folder")
    files = sorted(path.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"csv_export source: no *.csv file in {path}")
    return files


@cache
def _read_export(path: str, mtime_ns: int, size: int) -> pl.DataFrame:
    """One export file as API-named text columns plus a ``_day`` column (cached per file state)."""
    frame = pl.read_csv(path, infer_schema=False, missing_utf8_is_empty_string=False)
    for needed in ("CRASH DATE", "CRASH TIME", "COLLISION_ID"):
        if needed not in frame.columns:
            raise ValueError(f"csv_export source: {path} has no column {needed!r}")
    frame = frame.rename({c: csv_header_to_api(c) for c in frame.columns})
    day = pl.col("crash_date").str.to_date("%m/%d/%Y", strict=False)
    bad = frame.filter(day.is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(
            f"csv_export source: {path}: 'CRASH DATE' {row['crash_date']!r} is not MM/DD/YYYY "
            f"(COLLISION_ID {row['collision_id']})"
        )
    return frame.with_columns(day.alias("_day"))


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
    for row in frame.drop("_day").iter_rows(named=True):
        row["crash_date"] = (
            f"{dt.datetime.strptime(row['crash_date'], '%m/%d/%Y').date()}T00:00:00.000"
        )
        row["location"] = _location(row)
        records.append({k: v for k, v in row.items() if v is not None and v != ""})
    order = {c: i for i, c in enumerate(API_COLUMNS)}
    return [dict(sorted(r.items(), key=lambda kv: order.get(kv[0], len(order)))) for r in records]


class CsvExportSource:
    """Portal exports; when several files hold the same COLLISION_ID, the file that sorts last
    (name the files by download date) wins, so a later export revises an earlier one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _states(self) -> tuple[tuple[str, int, int], ...]:
        states = []
        for f in _files(self.path):
            stat = f.stat()
            states.append((str(f.resolve()), stat.st_mtime_ns, stat.st_size))
        return tuple(states)

    def frame(self) -> pl.DataFrame:
        return _combined(self._states())

    def fetch_day(self, day: dt.date) -> list[dict[str, Any]]:
        frame = _by_day(self._states()).get(day)
        return [] if frame is None else export_rows_to_api(frame)

    def days(self) -> list[dt.date]:
        return sorted(_by_day(self._states()))

    def newest_day(self) -> dt.date | None:
        return max(_by_day(self._states()), default=None)


@cache
def _combined(states: tuple[tuple[str, int, int], ...]) -> pl.DataFrame:
    frame = pl.concat([_read_export(*state) for state in states], how="diagonal")
    return frame.unique("collision_id", keep="last", maintain_order=True)


@cache
def _by_day(states: tuple[tuple[str, int, int], ...]) -> dict[dt.date, pl.DataFrame]:
    parts = _combined(states).partition_by("_day", as_dict=True)
    return {key[0]: part for key, part in parts.items()}


class NycSource(dg.ConfigurableResource):
    """The active NYC crash source (resource key ``nyc_source``)."""

    backend: Literal["sample", "socrata", "csv_export"] = "sample"
    base_url: str = socrata.DEFAULT_URL
    app_token_env: str = TOKEN_ENV_DEFAULT
    page_size: int = 1000
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    retries: int = 5
    backoff_factor: float = 1.0
    csv_path: str = ""
    sample_seed: int = 7
    sample_last_day: str = ""

    def source(self) -> DaySource:
        if self.backend == "sample":
            last = dt.date.fromisoformat(self.sample_last_day) if self.sample_last_day else None
            return SampleSource(self.sample_seed, last)
        if self.backend == "csv_export":
            if not self.csv_path:
                raise ValueError(f"nyc_source csv_export needs csv_path (or {CSV_ENV})")
            return CsvExportSource(self.csv_path)
        return socrata.SocrataClient(
            self.base_url,
            app_token=os.environ.get(self.app_token_env) or None,
            page_size=self.page_size,
            timeout=(self.connect_timeout_s, self.read_timeout_s),
            retries=self.retries,
            backoff_factor=self.backoff_factor,
        )

    def fetch_day(self, day: dt.date) -> list[dict[str, Any]]:
        return self.source().fetch_day(day)

    def day_stats(self, first: dt.date, last: dt.date) -> dict[dt.date, DayStat]:
        out = {}
        for i in range((last - first).days + 1):
            day = first + dt.timedelta(days=i)
            rows = self.fetch_day(day)
            if rows:
                geo = sum(1 for r in rows if r.get("latitude") and r.get("longitude"))
                out[day] = DayStat(len(rows), geo, None)
        return out

    def newest_day(self) -> dt.date | None:
        return self.source().newest_day()

    def describe(self) -> str:
        if self.backend == "csv_export":
            return f"csv_export {self.csv_path}"
        if self.backend == "socrata":
            return f"socrata {self.base_url}"
        return f"sample seed {self.sample_seed}"


def source_from_env() -> NycSource:
    backend = os.environ.get(SOURCE_ENV, "sample")
    if backend not in ("sample", "socrata", "csv_export"):
        raise ValueError(f"{SOURCE_ENV}={backend!r}: expected sample, socrata or csv_export")
    return NycSource(
        backend=backend,  # type: ignore[arg-type]
        csv_path=os.environ.get(CSV_ENV, ""),
        base_url=os.environ.get(URL_ENV, socrata.DEFAULT_URL),
    )
