"""The live NYC Open Data (Socrata SODA) client: one day per segment, paged, retried, checked.

- One day is ``$where=crash_date >= 'D' AND crash_date < 'D+1'``; pages of ``$limit`` rows at
  increasing ``$offset`` with ``$order=collision_id`` (unique, so pages neither overlap nor skip).
- 429 and 5xx answers and read/connect errors are retried by urllib3's ``Retry`` (exponential
  backoff, ``Retry-After`` honoured); timeouts are explicit.
- The day is complete only when the rows received equal ``$select=count(*)`` for the same
  ``$where``; anything else raises :class:`IncompleteDayError`, never a silently short day.
- An app token (``X-App-Token`` header) raises the rate limit; it is never logged or put in URLs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

import requests

from accident_assets.http_session import retrying_session

DEFAULT_URL = "https://data.cityofnewyork.us/resource/h9gi-nx95.json"
log = logging.getLogger(__name__)


class SocrataError(RuntimeError):
    """The API answered something unusable (after retries)."""


class IncompleteDayError(SocrataError):
    """The rows received for a day disagree with the API's count for that day."""


def day_where(day: dt.date) -> str:
    following = day + dt.timedelta(days=1)
    return f"crash_date >= '{day.isoformat()}T00:00:00' AND crash_date < '{following.isoformat()}T00:00:00'"


class SocrataClient:
    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        app_token: str | None = None,
        page_size: int = 1000,
        timeout: tuple[float, float] = (10.0, 60.0),
        retries: int = 5,
        backoff_factor: float = 1.0,
        on_page: Callable[[str], None] | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.base_url = base_url
        self.page_size = page_size
        self.timeout = timeout
        headers = {"Accept": "application/json"}
        if app_token:
            headers["X-App-Token"] = app_token
        self.session = retrying_session(retries, backoff_factor, headers)
        self.on_page = on_page or log.debug

    def __repr__(self) -> str:  # never shows the token
        return f"SocrataClient({self.base_url!r}, page_size={self.page_size})"

    def get(self, params: dict[str, str], what: str) -> list[dict[str, Any]]:
        try:
            response = self.session.get(self.base_url, params=params, timeout=self.timeout)
            response.raise_for_status()
        except requests.exceptions.RetryError as err:
            raise SocrataError(f"{what}: gave up after retries on {self.base_url}: {err}") from err
        except requests.exceptions.RequestException as err:
            raise SocrataError(f"{what}: request to {self.base_url} failed: {err}") from err
        try:
            body = response.json()
        except (ValueError, requests.exceptions.RequestException) as err:
            raise SocrataError(
                f"{what}: truncated or invalid JSON from {self.base_url} "
                f"({len(response.content)} bytes): {err}"
            ) from err
        if not isinstance(body, list):
            raise SocrataError(
                f"{what}: expected a JSON array from {self.base_url}, got {type(body).__name__}"
            )
        return body

    def _single_value(self, params: dict[str, str], what: str) -> str | None:
        rows = self.get(params, what)
        if len(rows) != 1 or len(rows[0]) > 1:
            raise SocrataError(f"{what}: expected one row with one value, got {rows!r}")
        return next(iter(rows[0].values()), None)

    def count_day(self, day: dt.date) -> int:
        value = self._single_value(
            {"$select": "count(*)", "$where": day_where(day)}, f"count of {day}"
        )
        try:
            return int(value or 0)
        except ValueError as err:
            raise SocrataError(f"count of {day}: not a number: {value!r}") from err

    def fetch_day(self, day: dt.date) -> list[dict[str, Any]]:
        expected = self.count_day(day)
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.get(
                {
                    "$where": day_where(day),
                    "$order": "collision_id",
                    "$limit": str(self.page_size),
                    "$offset": str(offset),
                },
                f"day {day} rows {offset}..{offset + self.page_size}",
            )
            rows.extend(page)
            self.on_page(f"day {day}: page at offset {offset}: {len(page)} rows")
            if len(page) < self.page_size:
                break
            offset += self.page_size
        if len(rows) != expected:
            raise IncompleteDayError(
                f"day {day}: received {len(rows)} rows but the API counts {expected}; "
                "the day is not written (re-run it)"
            )
        return rows

    def newest_day(self) -> dt.date | None:
        value = self._single_value({"$select": "max(crash_date)"}, "newest crash_date")
        if not value:
            return None
        try:
            return dt.date.fromisoformat(str(value)[:10])
        except ValueError as err:
            raise SocrataError(f"newest crash_date: not a date: {json.dumps(value)}") from err
