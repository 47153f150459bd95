"""Where the yearly BAAC files come from: one resource (key ``france_source``), four backends.

- ``sample`` (offline default): the deterministic generator of :mod:`accident_assets.france.sample`
  writes the requested year under ``<state>/sources/france_sample/`` on first use.
- ``local``: a folder holding ``caracteristiques-2021.csv``, ``lieux-2021.csv``...
- ``s3``: a bucket and prefix through ``dagster_aws`` ``S3Resource``, the French reference's
  layout being ``<prefix>/caracteristiques-2021.csv``.
- ``http``: the data.gouv.fr files. Their names differ by year (``carcteristiques-2022.csv``,
  ``caract-2023.csv``) and they live under dated paths, so the names are configuration
  (``file_names``: ``"<table>-<year>"`` -> file name relative to ``base_url``, or a full URL),
  never code; unmapped files fall back to ``<table>-<year>.csv``.

Every backend returns the raw bytes of one (year, table) file — the reader parses them — and
lists the years it can serve (for the new-release sensor). The backend is the resource's config,
or ``ACCIDENT_ASSETS_FRANCE_SOURCE`` (+ ``ACCIDENT_ASSETS_FRANCE_FOLDER``, ``..._BUCKET``,
``..._PREFIX``, ``..._BASE_URL``) when the definitions are loaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import dagster as dg
import requests
from dagster_aws.s3 import S3Resource

from accident_assets import settings
from accident_assets.france import sample
from accident_assets.france.reader import TABLES, default_filename
from accident_assets.http_session import retrying_session

SOURCE_ENV = "ACCIDENT_ASSETS_FRANCE_SOURCE"
FOLDER_ENV = "ACCIDENT_ASSETS_FRANCE_FOLDER"
BUCKET_ENV = "ACCIDENT_ASSETS_FRANCE_BUCKET"
PREFIX_ENV = "ACCIDENT_ASSETS_FRANCE_PREFIX"
BASE_URL_ENV = "ACCIDENT_ASSETS_FRANCE_BASE_URL"

# The official names that do not follow "<table>-<year>.csv".
OFFICIAL_FILE_NAMES: dict[str, str] = {
    "caracteristiques-2022": "carcteristiques-2022.csv",
    "caracteristiques-2023": "caract-2023.csv",
}
_YEAR_FILE = re.compile(r"^(caracteristiques|carcteristiques|caract)-(\d{4})\.csv$")


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

    def filename(self, table: str, year: int | str) -> str:
        key = f"{table}-{year}"
        if self.backend == "http":
            return (
                self.file_names.get(key)
                or OFFICIAL_FILE_NAMES.get(key)
                or default_filename(table, year)
            )
        return self.file_names.get(key) or default_filename(table, year)

    def describe(self, table: str, year: int | str) -> str:
        name = self.filename(table, year)
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
        name = self.filename(table, year)
        where = f"BAAC {table} {year}: {self.describe(table, year)} ({self.backend} source)"
        if self.backend == "sample":
            if int(year) not in self.sample_years:
                raise FranceSourceError(f"{where}: the sample has years {self.sample_years} only")
            folder = sample.ensure_sample(
                self._sample_folder(), [int(year)], self.sample_accidents, self.sample_seed
            )
            return _read_local(folder / name, where)
        if self.backend == "local":
            if not self.folder:
                raise ValueError("france_source backend 'local' needs `folder`")
            return _read_local(Path(self.folder) / name, where)
        if self.backend == "s3":
            return self._fetch_s3(name, where)
        return self._fetch_http(name, where)

    def available_years(self) -> list[int]:
        """Years whose caracteristiques file the source has (the sensor's view of releases)."""
        if self.backend == "sample":
            return sorted(int(y) for y in self.sample_years)
        if self.backend == "local":
            return _years_of(p.name for p in Path(self.folder).glob("*.csv"))
        if self.backend == "s3":
            client = self._s3_client()
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._s3_key("")
            )
            names = [
                o["Key"].rsplit("/", 1)[-1] for page in pages for o in page.get("Contents", [])
            ]
            return _years_of(names)
        years = {
            int(k.rsplit("-", 1)[1])
            for k in [*self.file_names, *OFFICIAL_FILE_NAMES]
            if k.startswith("caracteristiques-")
        }
        return sorted(years)

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


def _years_of(names) -> list[int]:
    return sorted({int(m.group(2)) for n in names if (m := _YEAR_FILE.match(n))})


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
