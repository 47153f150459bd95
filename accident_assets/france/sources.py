"""Where the yearly BAAC files come from: the ``france_source`` resource, one class per backend.

- :class:`SampleFranceSource` (offline default): the deterministic generator of
  :mod:`accident_assets.france.sample` writes the requested year under
  ``<state>/sources/france_sample/`` on first use (canonical names, ``caracteristiques-2021.csv``...).
- :class:`LocalFranceSource`: a folder holding a year's four files under any name the year's layout
  accepts (:mod:`accident_assets.france.layouts`: the official ``caract-2024.csv`` or the canonical
  ``caracteristiques-2024.csv``...); the first that exists is read.
- :class:`S3FranceSource`: a bucket and prefix (the French reference's layout is
  ``<prefix>/caracteristiques-2021.csv``), same name lookup as the folder; boto3 finds credentials
  and ``AWS_ENDPOINT_URL`` the usual way.
- :class:`HttpFranceSource`: the data.gouv.fr files under their official names
  (``carcteristiques-2022.csv``, ``caract-2023.csv``...) below ``base_url``.

``file_names`` (``"<table>-<year>"`` -> a file name relative to the folder, prefix or
``base_url``, or a full URL for http) overrides the layout for any backend but the sample: the
data.gouv.fr files live under dated paths, which are configuration, not code.

Every backend returns the raw bytes of one (year, table) file — the reader parses them — and
lists the complete releases it has, each file with a fingerprint (size and mtime / ETag), for the
new-release sensor. The code location binds the backend its settings name
(:func:`source_from_settings`).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, ClassVar

from accident_assets import settings as settings_module
from accident_assets.france import layouts
from accident_assets.france.keys import SAMPLE_ACCIDENTS, SAMPLE_SEED, SAMPLE_YEARS
from accident_assets.france.layouts import TABLES
from accident_assets.resources import SourceResource
from accident_assets.settings import Settings


class FranceSourceError(FileNotFoundError):
    """A yearly file is not available from the source; the message names year, table and place."""


class FranceSource(SourceResource):
    """The four BAAC files of a year, as bytes: the interface every backend implements.

    ``file_names`` maps ``"<table>-<year>"`` to a file name for any backend but the sample.
    """

    bind: ClassVar[str] = (
        "SampleFranceSource, LocalFranceSource, S3FranceSource or HttpFranceSource"
    )
    backend: ClassVar[str] = ""
    file_names: dict[str, str] = {}  # noqa: RUF012  (pydantic copies defaults)

    def candidates(self, table: str, year: int | str) -> tuple[str, ...]:
        """The file names tried for (table, year), in order."""
        override = self.file_names.get(f"{table}-{year}")
        if override:
            return (override,)
        return self._layout_names(table, year)

    def filename(self, table: str, year: int | str) -> str:
        """The name that is (or would be) read: the first accepted one that exists."""
        names = self.candidates(table, year)
        if len(names) > 1:
            present = self._listing()
            return next((n for n in names if n in present), names[0])
        return names[0]

    def describe(self, table: str, year: int | str) -> str:
        return self._location(self.filename(table, year))

    def fetch(self, year: int | str, table: str) -> bytes:
        """Raw bytes of one published file; FranceSourceError when the source does not have it."""
        if table not in TABLES:
            raise ValueError(f"unknown BAAC table {table!r}; expected one of {', '.join(TABLES)}")
        names = self.candidates(table, year)
        for name in names:  # the layout's accepted names, official first
            where = f"BAAC {table} {year}: {self._location(name)} ({self.backend} source)"
            try:
                return self._read(name, where)
            except FranceSourceError:
                if len(names) == 1:
                    raise
        tried = ", ".join(self._location(n) for n in names)
        raise FranceSourceError(
            f"BAAC {table} {year}: no file under any accepted name ({self.backend} source); "
            f"tried {tried}"
        )

    def releases(self) -> dict[int, dict[str, str]]:
        """Complete releases: year -> {table: "<file name> <fingerprint>"} for years whose four
        files are all present. The fingerprint (size and mtime, S3 ETag, HTTP ETag or
        Last-Modified) changes when a file is replaced, so a fixed release is new to the sensor."""
        listing = self._listing()
        found: dict[int, dict[str, str]] = {}
        for year in sorted(self._years(listing)):
            files = {}
            for table in TABLES:
                name = next((n for n in self.candidates(table, year) if n in listing), None)
                if name is not None:
                    files[table] = f"{name} {listing[name]}"
            if len(files) == len(TABLES):
                found[year] = files
        return found

    def available_years(self) -> list[int]:
        """Years whose four files the source has (the sensor's view of releases)."""
        return sorted(self.releases())

    # --- what each backend implements ---------------------------------------------------------

    def _layout_names(self, table: str, year: int | str) -> tuple[str, ...]:
        return layouts.layout(year).accepted(table)

    def _years(self, listing: dict[str, str]) -> set[int]:
        years = {found[1] for n in listing if (found := layouts.year_of_filename(n))}
        return years | {int(k.rsplit("-", 1)[1]) for k in self.file_names}

    def _location(self, name: str) -> str:
        raise NotImplementedError(f"{type(self).__name__} does not implement _location")

    def _read(self, name: str, where: str) -> bytes:
        raise NotImplementedError(f"{type(self).__name__} does not implement _read")

    def _listing(self) -> dict[str, str]:
        """File name -> fingerprint of every file the source has."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _listing")


class SampleFranceSource(FranceSource):
    """The offline generator: ``sample_years`` of ``sample_accidents`` accidents each."""

    backend: ClassVar[str] = "sample"
    sample_folder: str = ""
    sample_years: list[int] = list(SAMPLE_YEARS)  # noqa: RUF012
    sample_accidents: int = SAMPLE_ACCIDENTS
    sample_seed: int = SAMPLE_SEED

    def candidates(self, table: str, year: int | str) -> tuple[str, ...]:
        return (layouts.canonical_name(table, year),)

    def fetch(self, year: int | str, table: str) -> bytes:
        if table not in TABLES:
            raise ValueError(f"unknown BAAC table {table!r}; expected one of {', '.join(TABLES)}")
        name = layouts.canonical_name(table, year)
        where = f"BAAC {table} {year}: {self._location(name)} (sample source)"
        if int(year) not in self.sample_years:
            raise FranceSourceError(f"{where}: the sample has years {self.sample_years} only")
        from accident_assets.france import sample

        folder = sample.ensure_sample(
            self._folder(), [int(year)], self.sample_accidents, self.sample_seed
        )
        return _read_local(folder / name, where)

    def releases(self) -> dict[int, dict[str, str]]:
        return {
            int(y): {
                t: f"{layouts.canonical_name(t, y)} sample:{self.sample_accidents}:{self.sample_seed}"
                for t in TABLES
            }
            for y in self.sample_years
        }

    def _folder(self) -> Path:
        if self.sample_folder:
            return Path(self.sample_folder)
        return settings_module.sources_root() / "france_sample"

    def _location(self, name: str) -> str:
        return str(self._folder() / name)


class LocalFranceSource(FranceSource):
    """A folder of yearly files, under the names each year's layout accepts."""

    backend: ClassVar[str] = "local"
    folder: str

    def _check(self) -> Path:
        if not self.folder:
            raise ValueError(
                "france_source local needs `folder` (or ACCIDENT_ASSETS_FRANCE_FOLDER)"
            )
        return Path(self.folder)

    def _location(self, name: str) -> str:
        return str(Path(self.folder) / name)

    def _read(self, name: str, where: str) -> bytes:
        return _read_local(self._check() / name, where)

    def _listing(self) -> dict[str, str]:
        return {
            p.name: f"{p.stat().st_size}:{p.stat().st_mtime_ns}"
            for p in self._check().iterdir()
            if p.is_file()
        }


class S3FranceSource(FranceSource):
    """Objects ``<prefix>/<file name>`` of a bucket."""

    backend: ClassVar[str] = "s3"
    bucket: str
    prefix: str = "accidents"
    region_name: str = ""
    endpoint_url: str = ""  # empty: boto3's own lookup (AWS_ENDPOINT_URL, then AWS)

    def _key(self, name: str) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/{name}" if prefix else name

    def _client(self) -> Any:
        import boto3  # only this backend needs it, and it is a fifth of the code location's import

        if not self.bucket:
            raise ValueError("france_source s3 needs `bucket` (or ACCIDENT_ASSETS_FRANCE_BUCKET)")
        return boto3.client(
            "s3", region_name=self.region_name or None, endpoint_url=self.endpoint_url or None
        )

    def _location(self, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(name)}"

    def _read(self, name: str, where: str) -> bytes:
        client = self._client()
        try:
            return client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()
        except client.exceptions.NoSuchKey:
            raise FranceSourceError(f"{where}: no such object") from None

    def _listing(self) -> dict[str, str]:
        pages = (
            self._client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=self._key(""))
        )
        return {
            o["Key"][len(self._key("")) :]: f"{o['Size']}:{o.get('ETag', '').strip(chr(34))}"
            for page in pages
            for o in page.get("Contents", [])
        }


class HttpFranceSource(FranceSource):
    """The official files below ``base_url`` (or full URLs in ``file_names``)."""

    backend: ClassVar[str] = "http"
    base_url: str = ""
    timeout_seconds: float = 60.0

    def _layout_names(self, table: str, year: int | str) -> tuple[str, ...]:
        return (layouts.layout(year).official(table),)

    def _location(self, name: str) -> str:
        if re.match(r"^https?://", name):
            return name
        if not self.base_url:
            raise ValueError(
                f"france_source http needs `base_url` (or a full URL for {name} in `file_names`)"
            )
        return f"{self.base_url.rstrip('/')}/{name}"

    def _read(self, name: str, where: str) -> bytes:
        # imported here: defining the source must not load requests
        import requests

        from accident_assets.http_session import retrying_session

        with retrying_session(retries=3, backoff_factor=0.5) as session:
            try:
                response = session.get(self._location(name), timeout=self.timeout_seconds)
            except requests.RequestException as err:
                raise FranceSourceError(f"{where}: {err}") from None
        if response.status_code == 404:
            raise FranceSourceError(
                f"{where}: HTTP 404 (file not published, or mapping `file_names` out of date)"
            )
        if response.status_code != 200:
            raise FranceSourceError(f"{where}: HTTP {response.status_code}")
        return response.content

    def _years(self, listing: dict[str, str]) -> set[int]:
        # A web server cannot be listed: probe every partition year up to the current one.
        years = set(range(layouts.FIRST_YEAR, dt.date.today().year + 1))
        return years | {int(k.rsplit("-", 1)[1]) for k in self.file_names}

    def _listing(self) -> dict[str, str]:
        import requests

        from accident_assets.http_session import retrying_session

        listing = {}
        with retrying_session(retries=2, backoff_factor=0.5) as session:
            for year in sorted(self._years({})):
                for table in TABLES:
                    name = self.candidates(table, year)[0]
                    try:
                        head = session.head(
                            self._location(name),
                            timeout=self.timeout_seconds,
                            allow_redirects=True,
                        )
                    except requests.RequestException:
                        continue
                    if head.status_code == 200:
                        tag = head.headers.get("ETag") or head.headers.get("Last-Modified", "")
                        listing[name] = f"{head.headers.get('Content-Length', '?')}:{tag}"
        return listing


def _read_local(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FranceSourceError(f"{where}: file not found") from None


def source_from_settings(settings: Settings) -> FranceSource:
    """The backend ``ACCIDENT_ASSETS_FRANCE_SOURCE`` names, with its settings."""
    if settings.france_source == "local":
        return LocalFranceSource(folder=settings.france_folder)
    if settings.france_source == "s3":
        return S3FranceSource(bucket=settings.france_bucket, prefix=settings.france_prefix)
    if settings.france_source == "http":
        return HttpFranceSource(base_url=settings.france_base_url)
    return SampleFranceSource(sample_folder=str(settings.sources_root / "france_sample"))
