"""The live NYC Open Data (Socrata SODA) client: one day per segment, paged, retried, checked.

- One day is ``$where=crash_date >= 'D' AND crash_date < 'D+1'``; pages of ``$limit`` rows at
  increasing ``$offset`` with ``$order=collision_id``.
- A day is complete only when the rows received equal ``$select=count(*)`` for the same
  ``$where`` **and** no ``collision_id`` comes twice. Socrata pages are cut from an order it
  recomputes per request; when that order is not stable, pages overlap and skip rows while the
  total still equals the count (a real day was stored 22 % short that way). A day with duplicates
  is fetched again (``day_attempts`` in all), then :class:`IncompleteDayError` names the day and
  some duplicated ids; a count mismatch raises at once. Never a silently short day.
- :meth:`SocrataClient.day_stats` gets per-day count, geocoded count (``count(latitude)``: rows
  that have a latitude, as Socrata counts) and newest ``:updated_at`` for a whole window in one
  grouped request, so change detection over a 30-day lookback costs one request (two on a server
  that rejects ``:updated_at``: it is asked once without it and remembered).
- Transport (:mod:`accident_assets.http_session`): 429/5xx and connection errors retried with
  backoff, ``Retry-After`` honoured up to ``max_retry_after_s`` and refused above it, bodies cut
  off mid-read re-fetched; here, a body that is not valid JSON is re-fetched too (GET is
  idempotent), each up to ``retries`` times, then a :class:`SocrataError`.
- An app token (``X-App-Token`` header) raises the rate limit; it is never logged or put in URLs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests

from accident_assets.http_session import (
    BACKOFF_MAX_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
    RetryAfterTooLong,
    retrying_session,
)
from accident_assets.nyc.columns import SOCRATA_URL

if TYPE_CHECKING:
    from accident_assets.nyc.sources import DayStat

log = logging.getLogger(__name__)
STATS_SELECT = "date_trunc_ymd(crash_date) AS day, count(*) AS n, count(latitude) AS geocoded"
UPDATED_AT_SELECT = ", max(:updated_at) AS updated_at"


class SocrataError(RuntimeError):
    """The API answered something unusable (after retries)."""


class SocrataQueryError(SocrataError):
    """The API refused the query itself (HTTP 400): retrying the same query cannot help."""


class IncompleteDayError(SocrataError):
    """The rows received for a day disagree with the API's count, or repeat ids."""


def range_where(first: dt.date, last: dt.date) -> str:
    """``first`` to ``last`` inclusive, as a half-open range on the floating timestamp."""
    following = last + dt.timedelta(days=1)
    return (
        f"crash_date >= '{first.isoformat()}T00:00:00' "
        f"AND crash_date < '{following.isoformat()}T00:00:00'"
    )


def day_where(day: dt.date) -> str:
    return range_where(day, day)


class SocrataClient:
    def __init__(
        self,
        base_url: str = SOCRATA_URL,
        *,
        app_token: str | None = None,
        page_size: int = 1000,
        timeout: tuple[float, float] = (10.0, 60.0),
        retries: int = 5,
        backoff_factor: float = 1.0,
        max_retry_after_s: int = MAX_RETRY_AFTER_SECONDS,
        day_attempts: int = 3,
        on_page: Callable[[str], None] | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if day_attempts < 1:
            raise ValueError("day_attempts must be at least 1")
        self.base_url = base_url
        self.page_size = page_size
        self.timeout = timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.day_attempts = day_attempts
        headers = {"Accept": "application/json"}
        if app_token:
            headers["X-App-Token"] = app_token
        self.session = retrying_session(
            retries, backoff_factor, headers, max_retry_after_s=max_retry_after_s
        )
        self.on_page = on_page or log.debug
        # None until a grouped query tells whether the server knows the system field.
        self.updated_at_supported: bool | None = None

    def __repr__(self) -> str:  # never shows the token
        return f"SocrataClient({self.base_url!r}, page_size={self.page_size})"

    def get(self, params: dict[str, str], what: str) -> list[dict[str, Any]]:
        """One query's JSON array; an invalid body is fetched again up to ``retries`` times."""
        for attempt in range(self.retries + 1):
            response = self._response(params, what)
            try:
                body = response.json()
            except ValueError as err:
                if attempt < self.retries:
                    self.on_page(f"{what}: invalid JSON ({err}); asking again")
                    time.sleep(min(BACKOFF_MAX_SECONDS, self.backoff_factor * 2**attempt))
                    continue
                raise SocrataError(
                    f"{what}: truncated or invalid JSON from {self.base_url} "
                    f"({len(response.content)} bytes) on {attempt + 1} attempts: {err}"
                ) from err
            if not isinstance(body, list):
                raise SocrataError(
                    f"{what}: expected a JSON array from {self.base_url}, got {type(body).__name__}"
                )
            return body
        raise AssertionError("unreachable")

    def _response(self, params: dict[str, str], what: str) -> requests.Response:
        try:
            response = self.session.get(self.base_url, params=params, timeout=self.timeout)
        except RetryAfterTooLong as err:
            raise SocrataError(f"{what}: {err}") from None
        except requests.exceptions.RetryError as err:
            raise SocrataError(f"{what}: gave up after retries on {self.base_url}: {err}") from err
        except requests.exceptions.RequestException as err:
            raise SocrataError(f"{what}: request to {self.base_url} failed: {err}") from err
        if response.status_code == 400:
            raise SocrataQueryError(
                f"{what}: {self.base_url} refused the query (HTTP 400): {response.text[:300]}"
            )
        try:
            response.raise_for_status()
        except requests.exceptions.HTTPError as err:
            raise SocrataError(f"{what}: {err}") from err
        return response

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

    def _pages(self, day: dt.date) -> list[dict[str, Any]]:
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
                return rows
            offset += self.page_size

    def fetch_day(self, day: dt.date) -> list[dict[str, Any]]:
        for attempt in range(1, self.day_attempts + 1):
            expected = self.count_day(day)
            rows = self._pages(day)
            ids = Counter(str(r.get("collision_id")) for r in rows)
            if "None" in ids:
                raise SocrataError(f"day {day}: {ids['None']} rows have no collision_id")
            repeated = sorted((cid for cid, n in ids.items() if n > 1), key=int)
            if repeated:
                message = (
                    f"day {day}: {len(repeated)} collision_id repeated across pages "
                    f"(e.g. {', '.join(repeated[:5])}) in {len(rows)} rows"
                )
                if attempt < self.day_attempts:
                    self.on_page(f"{message}; the paging order was not stable, fetching again")
                    continue
                raise IncompleteDayError(
                    f"{message}, on each of {self.day_attempts} attempts: the server's paging "
                    "order is not stable, so rows were skipped; the day is not written (re-run it)"
                )
            if len(rows) != expected:
                raise IncompleteDayError(
                    f"day {day}: received {len(rows)} rows but the API counts {expected}; "
                    "the day is not written (re-run it)"
                )
            return rows
        raise AssertionError("unreachable")

    def day_stats(self, first: dt.date, last: dt.date) -> dict[dt.date, DayStat]:
        """Per-day statistics of ``first``..``last`` (inclusive) in one grouped request; days
        without rows are absent."""
        from accident_assets.nyc.sources import DayStat  # sources imports this module

        if last < first:
            return {}
        days = (last - first).days + 1
        what = f"day stats {first}..{last}"
        params = {
            "$where": range_where(first, last),
            "$group": "day",
            "$order": "day",
            "$limit": str(days + 1),
        }
        rows: list[dict[str, Any]] | None = None
        if self.updated_at_supported is not False:
            try:
                rows = self.get({"$select": STATS_SELECT + UPDATED_AT_SELECT, **params}, what)
                self.updated_at_supported = True
            except SocrataQueryError as err:
                self.on_page(f"{what}: no :updated_at on this server ({err}); counts only")
                self.updated_at_supported = False
        if rows is None:
            rows = self.get({"$select": STATS_SELECT, **params}, what)
        if len(rows) > days:
            raise SocrataError(f"{what}: {len(rows)} groups for {days} days: {rows[:3]!r}")
        stats: dict[dt.date, DayStat] = {}
        for row in rows:
            try:
                day = dt.date.fromisoformat(str(row["day"])[:10])
                stats[day] = DayStat(
                    count=int(row.get("n", 0)),
                    geocoded=int(row.get("geocoded", 0)),
                    updated_at=row.get("updated_at") or None,
                )
            except (KeyError, ValueError) as err:
                raise SocrataError(f"{what}: unreadable group {row!r}: {err}") from err
        return stats

    def newest_day(self) -> dt.date | None:
        value = self._single_value({"$select": "max(crash_date)"}, "newest crash_date")
        if not value:
            return None
        try:
            return dt.date.fromisoformat(str(value)[:10])
        except ValueError as err:
            raise SocrataError(f"newest crash_date: not a date: {json.dumps(value)}") from err
