"""Where NYC crash days come from: one resource key (``nyc_source``), one class per backend.

- :class:`SocrataNycSource`: the live API (production), see :mod:`accident_assets.nyc.socrata`.
- :class:`CsvExportNycSource`: portal "Export → CSV" files (one file, or a folder of them),
  checked strictly against the export layout, split into days and converted to the API's names
  and shapes, so every backend feeds the same raw table.
- :class:`SampleNycSource`: the offline default, :mod:`accident_assets.nyc.sample`.

Each backend is its own ``ConfigurableResource`` with only its own fields, so run config can tune
the bound backend (``{"page_size": 50}``) but never switch it, and a field of another backend is
a config error. Assets and sensors annotate ``nyc_source: NycSource`` (the shared interface):

- ``fetch_day(day)``: the API-shaped records of a day;
- ``newest_day()``: the newest day with data (for the new-days sensor);
- ``day_stats(first, last)``: :class:`DayStat` per day of the window (days without rows may be
  absent: count 0), for change detection;
- ``describe()``: one line for logs and metadata.

The backend is chosen when the definitions load, by :func:`source_from_env`:
``ACCIDENT_ASSETS_NYC_SOURCE`` (``sample``/``socrata``/``csv_export``), ``ACCIDENT_ASSETS_NYC_CSV``
(folder or file) and ``ACCIDENT_ASSETS_NYC_SOCRATA_URL``; the app token is read from the
environment variable named by ``app_token_env`` (default ``NYC_SOCRATA_APP_TOKEN``) when the
client is first used, and never logged.

Export folders: several exports of overlapping periods are merged by ``COLLISION_ID``, the row of
the **newest export** winning. Which export is newer is decided by content, not by file name
order: the file with the larger maximum ``COLLISION_ID`` (ids are issued increasingly, so a later
download holds later reports). Two files with the same maximum id are ordered by the 8-digit
``YYYYMMDD`` download date in their names when both have one; otherwise the folder is refused,
naming both files.

Export files are read by :mod:`accident_assets.nyc.export` (polars), imported where a file is
read: defining the sources must not load polars.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import PrivateAttr

from accident_assets.nyc.columns import SOCRATA_URL
from accident_assets.resources import SourceResource
from accident_assets.settings import Settings

if TYPE_CHECKING:
    import polars as pl

    # The Socrata client brings requests: imported when a client is built.
    from accident_assets.nyc.socrata import SocrataClient


TOKEN_ENV_DEFAULT = "NYC_SOCRATA_APP_TOKEN"

EXPORT_HEADER: tuple[str, ...] = (
    "CRASH DATE",
    "CRASH TIME",
    "BOROUGH",
    "ZIP CODE",
    "LATITUDE",
    "LONGITUDE",
    "LOCATION",
    "ON STREET NAME",
    "CROSS STREET NAME",
    "OFF STREET NAME",
    "NUMBER OF PERSONS INJURED",
    "NUMBER OF PERSONS KILLED",
    "NUMBER OF PEDESTRIANS INJURED",
    "NUMBER OF PEDESTRIANS KILLED",
    "NUMBER OF CYCLIST INJURED",
    "NUMBER OF CYCLIST KILLED",
    "NUMBER OF MOTORIST INJURED",
    "NUMBER OF MOTORIST KILLED",
    *(f"CONTRIBUTING FACTOR VEHICLE {i}" for i in range(1, 6)),
    "COLLISION_ID",
    *(f"VEHICLE TYPE CODE {i}" for i in range(1, 6)),
)
# Value formats of the export, per column; empty cells are null and allowed except where noted.
EXPORT_FORMATS: dict[str, tuple[str, str, bool]] = {
    # column: (regex, what it should look like, empty allowed)
    "CRASH DATE": (r"^(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])/\d{4}$", "MM/DD/YYYY", False),
    "CRASH TIME": (r"^([0-9]|1[0-9]|2[0-3]):[0-5]\d$", "H:MM", False),
    "ZIP CODE": (r"^\d{5}$", "5 digits or empty", True),
    "COLLISION_ID": (r"^\d+$", "an integer", False),
}


class ExportFormatError(ValueError):
    """A file is not a portal "Export → CSV" file; the message names file, column, line."""


@dataclass(frozen=True)
class DayStat:
    """What change detection compares per day: rows, rows with a latitude (``count(latitude)``,
    the same in every backend and in each stored day's commit), and the newest
    ``:updated_at`` of the day's rows (None where the backend has no such field)."""

    count: int
    geocoded: int
    updated_at: str | None = None


class NycSource(SourceResource):
    """The NYC crash source bound under ``nyc_source``: the interface every backend implements.
    Bind a subclass; this class itself has no data."""

    bind: ClassVar[str] = "SampleNycSource, SocrataNycSource or CsvExportNycSource"

    def fetch_day(self, day: dt.date) -> list[dict[str, Any]]:
        raise NotImplementedError(f"{type(self).__name__} does not implement fetch_day")

    def newest_day(self) -> dt.date | None:
        raise NotImplementedError(f"{type(self).__name__} does not implement newest_day")

    def day_stats(self, first: dt.date, last: dt.date) -> dict[dt.date, DayStat]:
        raise NotImplementedError(f"{type(self).__name__} does not implement day_stats")

    def describe(self) -> str:
        return type(self).__name__


def _stats_of(rows: list[dict[str, Any]]) -> DayStat:
    # Rows with a latitude, as Socrata's count(latitude): one definition for every backend.
    geocoded = sum(bool(r.get("latitude")) for r in rows)
    return DayStat(count=len(rows), geocoded=geocoded)


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


class SampleNycSource(NycSource):
    """The deterministic synthetic city: every day up to yesterday (or ``last_day``)."""

    seed: int = 7
    last_day: str = ""  # ISO date; empty: yesterday (UTC)

    def newest_day(self) -> dt.date | None:
        if self.last_day:
            return dt.date.fromisoformat(self.last_day)
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)

    def fetch_day(self, day: dt.date) -> list[dict[str, Any]]:
        newest = self.newest_day()
        if newest is not None and day > newest:
            return []
        # imported here: defining the source must not load numpy, h3 and holidays
        from accident_assets.nyc import sample

        return sample.sample_day(day, self.seed)

    def day_stats(self, first: dt.date, last: dt.date) -> dict[dt.date, DayStat]:
        stats = {day: _stats_of(self.fetch_day(day)) for day in _days(first, last)}
        return {day: stat for day, stat in stats.items() if stat.count}

    def describe(self) -> str:
        return f"sample seed {self.seed}" + (f" until {self.last_day}" if self.last_day else "")


class SocrataNycSource(NycSource):
    """The live Socrata API (``h9gi-nx95``), or any server speaking its SoQL subset."""

    base_url: str = SOCRATA_URL
    app_token_env: str = TOKEN_ENV_DEFAULT
    page_size: int = 1000
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    retries: int = 5
    backoff_factor: float = 1.0
    max_retry_after_s: int = 120
    day_attempts: int = 3
    # One client per resource instance: it keeps its session and what it learnt about the server.
    _client: SocrataClient | None = PrivateAttr(default=None)

    def client(self) -> SocrataClient:
        if self._client is None:
            from accident_assets.nyc import socrata

            self._client = socrata.SocrataClient(
                self.base_url,
                app_token=os.environ.get(self.app_token_env) or None,
                page_size=self.page_size,
                timeout=(self.connect_timeout_s, self.read_timeout_s),
                retries=self.retries,
                backoff_factor=self.backoff_factor,
                max_retry_after_s=self.max_retry_after_s,
                day_attempts=self.day_attempts,
            )
        return self._client

    def fetch_day(self, day: dt.date) -> list[dict[str, Any]]:
        return self.client().fetch_day(day)

    def newest_day(self) -> dt.date | None:
        return self.client().newest_day()

    def day_stats(self, first: dt.date, last: dt.date) -> dict[dt.date, DayStat]:
        return self.client().day_stats(first, last)

    def describe(self) -> str:
        return f"socrata {self.base_url}"


# -- portal exports ------------------------------------------------------------------------------


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


class CsvExportNycSource(NycSource):
    """Portal "Export → CSV" files: ``path`` is one file or a folder of them."""

    path: str

    def _states(self) -> tuple[tuple[str, int, int], ...]:
        if not self.path:
            raise ValueError("nyc_source csv_export needs a path (or ACCIDENT_ASSETS_NYC_CSV)")
        states = []
        for f in _files(Path(self.path)):
            stat = f.stat()
            states.append((str(f.resolve()), stat.st_mtime_ns, stat.st_size))
        return tuple(states)

    def frame(self) -> pl.DataFrame:
        """Every stored row (API-named text columns, plus ``_day`` and ``_id``)."""
        from accident_assets.nyc import export

        return export.combined(self._states())

    def by_day(self) -> dict[dt.date, pl.DataFrame]:
        from accident_assets.nyc import export

        return export.by_day(self._states())

    def days(self) -> list[dt.date]:
        return sorted(self.by_day())

    def fetch_day(self, day: dt.date) -> list[dict[str, Any]]:
        from accident_assets.nyc import export

        frame = self.by_day().get(day)
        return [] if frame is None else export.export_rows_to_api(frame)

    def newest_day(self) -> dt.date | None:
        return max(self.by_day(), default=None)

    def day_stats(self, first: dt.date, last: dt.date) -> dict[dt.date, DayStat]:
        stats = {}
        for day, frame in self.by_day().items():
            if first <= day <= last:
                located = frame.get_column("latitude").is_not_null().sum()
                stats[day] = DayStat(count=frame.height, geocoded=int(located))
        return dict(sorted(stats.items()))

    def describe(self) -> str:
        return f"csv_export {self.path}"


def source_from_settings(settings: Settings) -> NycSource:
    """The backend ``ACCIDENT_ASSETS_NYC_SOURCE`` names, with its settings."""
    if settings.nyc_source == "socrata":
        return SocrataNycSource(base_url=settings.nyc_socrata_url or SOCRATA_URL)
    if settings.nyc_source == "csv_export":
        if not settings.nyc_csv:
            raise ValueError(
                "ACCIDENT_ASSETS_NYC_SOURCE=csv_export needs ACCIDENT_ASSETS_NYC_CSV "
                "(an export file or folder)"
            )
        return CsvExportNycSource(path=settings.nyc_csv)
    return SampleNycSource()
