"""Where the yearly BAAC files come from: one resource (key ``france_source``), four backends.

- ``sample`` (offline default): the deterministic generator of :mod:`accident_assets.france.sample`
  writes the requested year under ``<state>/sources/france_sample/`` on first use (canonical
  names, ``caracteristiques-2021.csv``...).
- ``local``: a folder holding a year's four files under any name the year's layout accepts
  (:mod:`accident_assets.france.layouts`: the official ``caract-2024.csv`` or the canonical
  ``caracteristiques-2024.csv``...); the first that exists is read.
- ``s3``: a bucket and prefix through ``dagster_aws`` ``S3Resource`` (the French reference's layout
  is ``<prefix>/caracteristiques-2021.csv``), same name lookup as ``local``.
- ``http``: the data.gouv.fr files under their official names (``carcteristiques-2022.csv``,
  ``caract-2023.csv``...) below ``base_url``.

``file_names`` (``"<table>-<year>"`` -> a file name relative to the folder, prefix or
``base_url``, or a full URL for http) overrides the layout for any backend but the sample: the
data.gouv.fr files live under dated paths, which are configuration, not code.

Every backend returns the raw bytes of one (year, table) file — the reader parses them — and
lists the complete releases it has, each file with a fingerprint (size and mtime / ETag), for the
new-release sensor. The backend is the resource's config, or ``ACCIDENT_ASSETS_FRANCE_SOURCE``
(+ ``ACCIDENT_ASSETS_FRANCE_FOLDER``, ``..._BUCKET``, ``..._PREFIX``, ``..._BASE_URL``) when the
definitions are loaded.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Literal

import dagster as dg
import requests
from dagster_aws.s3 import S3Resource

from accident_assets import settings
from accident_assets.france import layouts, sample
from accident_assets.france.reader import TABLES, default_filename
from accident_assets.http_session import retrying_session

SOURCE_ENV = "ACCIDENT_ASSETS_FRANCE_SOURCE"
FOLDER_ENV = "ACCIDENT_ASSETS_FRANCE_FOLDER"
BUCKET_ENV = "ACCIDENT_ASSETS_FRANCE_BUCKET"
PREFIX_ENV = "ACCIDENT_ASSETS_FRANCE_PREFIX"
BASE_URL_ENV = "ACCIDENT_ASSETS_FRANCE_BASE_URL"


class FranceSourceError(FileNotFoundError):
    """A yearly file is not available from the source; the message names year, table and place."""


class FranceSource(dg.ConfigurableResource):
    """The four BAAC files of a year, as bytes, from the configured backend.

    Each backend reads its own fields: ``folder`` (local); ``s3``, ``bucket``, ``prefix`` (s3);
    ``base_url``, ``timeout_seconds`` (http); ``sample_*`` (sample). ``file_names`` maps
    ``"<table>-<year>"`` to a file name for any backend but the sample.
    """

    backend: Literal["sample", "local", "s3", "http"] = "sample"
    folder: str = ""
    s3: S3Resource | None = None
    bucket: str = ""
    prefix: str = "accidents"
    base_url: str = ""
    file_names: dict[str, str] = {}  # noqa: RUF012  (pydantic copies defaults)
    timeout_seconds: float = 60.0
    sample_folder: str = ""
    sample_years: list[int] = list(sample.DEFAULT_YEARS)  # noqa: RUF012
    sample_accidents: int = sample.DEFAULT_ACCIDENTS
    sample_seed: int = sample.SEED

    def candidates(self, table: str, year: int | str) -> tuple[str, ...]:
        """The file names tried for (table, year), in order."""
        override = self.file_names.get(f"{table}-{year}")
        if override:
            return (override,)
        if self.backend == "sample":
            return (default_filename(table, year),)
        if self.backend == "http":
            return (layouts.layout(year).official(table),)
        return layouts.layout(year).accepted(table)

    def filename(self, table: str, year: int | str) -> str:
        """The name that is (or would be) read: for local/s3 the first accepted one that exists."""
        names = self.candidates(table, year)
        if self.backend in ("local", "s3") and len(names) > 1:
            present = self._listing()
            return next((n for n in names if n in present), names[0])
        return names[0]

    def describe(self, table: str, year: int | str) -> str:
        return self._location(self.filename(table, year))

    def _location(self, name: str) -> str:
        if self.backend == "local":
            return str(Path(self.folder) / name)
        if self.backend == "s3":
            return f"s3://{self.bucket}/{self._s3_key(name)}"
        if self.backend == "http":
            return self._url(name)
        return str(self._sample_folder() / name)

    def fetch(self, year: int | str, table: str) -> bytes:
        """Raw bytes of one published file; FranceSourceError when the source does not have it."""
        if table not in TABLES:
            raise ValueError(f"unknown BAAC table {table!r}; expected one of {', '.join(TABLES)}")
        names = self.candidates(table, year)
        where = f"BAAC {table} {year}: {self._location(names[0])} ({self.backend} source)"
        if self.backend == "sample":
            if int(year) not in self.sample_years:
                raise FranceSourceError(f"{where}: the sample has years {self.sample_years} only")
            folder = sample.ensure_sample(
                self._sample_folder(), [int(year)], self.sample_accidents, self.sample_seed
            )
            return _read_local(folder / names[0], where)
        if self.backend == "http":
            return self._fetch_http(names[0], where)
        if self.backend == "local" and not self.folder:
            raise ValueError("france_source backend 'local' needs `folder`")
        for name in names:  # the layout's accepted names, official first
            where = f"BAAC {table} {year}: {self._location(name)} ({self.backend} source)"
            try:
                if self.backend == "local":
                    return _read_local(Path(self.folder) / name, where)
                return self._fetch_s3(name, where)
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
        if self.backend == "sample":
            return {
                int(y): {
                    t: f"{default_filename(t, y)} sample:{self.sample_accidents}:{self.sample_seed}"
                    for t in TABLES
                }
                for y in self.sample_years
            }
        if self.backend == "http":
            listing = self._http_listing()
            years = self._http_years()
        else:
            listing = self._listing()
            years = {found[1] for n in listing if (found := layouts.year_of_filename(n))}
            years |= {int(k.rsplit("-", 1)[1]) for k in self.file_names}
        found: dict[int, dict[str, str]] = {}
        for year in sorted(years):
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

    def _listing(self) -> dict[str, str]:
        """File name -> fingerprint, for the local folder or the S3 prefix."""
        if self.backend == "local":
            if not self.folder:
                raise ValueError("france_source backend 'local' needs `folder`")
            return {
                p.name: f"{p.stat().st_size}:{p.stat().st_mtime_ns}"
                for p in Path(self.folder).iterdir()
                if p.is_file()
            }
        client = self._s3_client()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._s3_key("")
        )
        return {
            o["Key"][len(self._s3_key("")) :]: f"{o['Size']}:{o.get('ETag', '').strip(chr(34))}"
            for page in pages
            for o in page.get("Contents", [])
        }

    def _http_years(self) -> set[int]:
        # A web server cannot be listed: probe every partition year up to the current one.
        years = set(range(layouts.FIRST_YEAR, dt.date.today().year + 1))
        return years | {int(k.rsplit("-", 1)[1]) for k in self.file_names}

    def _http_listing(self) -> dict[str, str]:
        listing = {}
        with retrying_session(retries=2, backoff_factor=0.5) as session:
            for year in sorted(self._http_years()):
                for table in TABLES:
                    name = self.candidates(table, year)[0]
                    try:
                        head = session.head(
                            self._url(name), timeout=self.timeout_seconds, allow_redirects=True
                        )
                    except requests.RequestException:
                        continue
                    if head.status_code == 200:
                        tag = head.headers.get("ETag") or head.headers.get("Last-Modified", "")
                        listing[name] = f"{head.headers.get('Content-Length', '?')}:{tag}"
        return listing

    # --- backends ---------------------------------------------------------------------------

    def _sample_folder(self) -> Path:
        return (
            Path(self.sample_folder)
            if self.sample_folder
            else settings.sources_root() / "france_sample"
        )

    def _s3_key(self, name: str) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/{name}" if prefix else name

    def _s3_client(self):
        if not self.bucket:
            raise ValueError("france_source backend 's3' needs `bucket`")
        return (self.s3 or S3Resource()).get_client()

    def _fetch_s3(self, name: str, where: str) -> bytes:
        client = self._s3_client()
        try:
            return client.get_object(Bucket=self.bucket, Key=self._s3_key(name))["Body"].read()
        except client.exceptions.NoSuchKey:
            raise FranceSourceError(f"{where}: no such object") from None

    def _url(self, name: str) -> str:
        if re.match(r"^https?://", name):
            return name
        if not self.base_url:
            raise ValueError(
                f"france_source backend 'http' needs `base_url` (or a full URL for {name})"
            )
        return f"{self.base_url.rstrip('/')}/{name}"

    def _fetch_http(self, name: str, where: str) -> bytes:
        with retrying_session(retries=3, backoff_factor=0.5) as session:
            try:
                response = session.get(self._url(name), timeout=self.timeout_seconds)
            except requests.RequestException as err:
                raise FranceSourceError(f"{where}: {err}") from None
        if response.status_code == 404:
            raise FranceSourceError(
                f"{where}: HTTP 404 (file not published, or mapping `file_names` out of date)"
            )
        if response.status_code != 200:
            raise FranceSourceError(f"{where}: HTTP {response.status_code}")
        return response.content


def _read_local(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FranceSourceError(f"{where}: file not found") from None


def source_from_env() -> FranceSource:
    """The resource the code location binds to ``france_source`` (``sample`` by default)."""
    backend = os.environ.get(SOURCE_ENV, "sample")
    if backend not in ("sample", "local", "s3", "http"):
        raise ValueError(f"{SOURCE_ENV}={backend!r}: expected sample, local, s3 or http")
    return FranceSource(
        backend=backend,  # type: ignore[arg-type]
        folder=os.environ.get(FOLDER_ENV, ""),
        bucket=os.environ.get(BUCKET_ENV, ""),
        prefix=os.environ.get(PREFIX_ENV, "accidents"),
        base_url=os.environ.get(BASE_URL_ENV, ""),
    )
