"""One way to build a ``requests`` session that retries transient failures (the France ``http``
source and the NYC Socrata client both use it).

- Status and connection level: urllib3's ``Retry`` (subclassed as :class:`CappedRetry`) retries
  connect and read errors and 429/5xx answers with exponential backoff and honours
  ``Retry-After``, but only up to ``max_retry_after_s``: a server asking for a longer wait fails at
  once with :class:`RetryAfterTooLong` (naming the wait and the cap) instead of sleeping an hour.
  A status still failing after the last retry raises ``requests.exceptions.RetryError``.
- Body level: urllib3 does not retry a body cut off after the headers (requests reads bodies
  itself), so :class:`RetryingSession` re-sends a GET whose body fails mid-read
  (``ChunkedEncodingError``, ``ConnectionError``), up to the same retry count, then raises
  :class:`BodyReadError`. GET is idempotent; other methods are never replayed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)
# Caps the exponential backoff between retries, not the wait a server asks for in Retry-After.
BACKOFF_MAX_SECONDS = 60
MAX_RETRY_AFTER_SECONDS = 120


class _RetryAfterAboveCap(urllib3.exceptions.HTTPError):
    # An urllib3 error that is neither OSError nor ProtocolError, so requests' adapter re-raises
    # it unchanged (it wraps those two in ConnectionError) and RetryingSession can translate it.
    pass


class RetryAfterTooLong(requests.exceptions.RetryError):
    """The server asked to wait longer than the configured cap; nothing was retried."""


class BodyReadError(requests.exceptions.ConnectionError):
    """The response body kept being cut off after the headers, on every attempt."""


class CappedRetry(Retry):
    """``Retry`` that refuses (instead of clamping, as urllib3's ``retry_after_max`` does) a
    ``Retry-After`` above ``retry_after_max``; the cap rides in urllib3's own field, so the copies
    ``Retry.new`` makes keep it."""

    def parse_retry_after(self, retry_after: str) -> float:
        seconds = Retry(retry_after_max=sys.maxsize).parse_retry_after(retry_after)
        if seconds > self.retry_after_max:
            raise _RetryAfterAboveCap(
                f"the server asks to wait {seconds:.0f} s (Retry-After: {retry_after.strip()}), "
                f"above the cap of {self.retry_after_max} s (max_retry_after_s); not waiting"
            )
        return seconds


class RetryingSession(requests.Session):
    def __init__(self, body_retries: int, backoff_factor: float) -> None:
        super().__init__()
        self.body_retries = body_retries
        self.backoff_factor = backoff_factor

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> Any:  # type: ignore[override]
        stream = kwargs.pop("stream", False)
        if stream or method != "GET":
            return self._send_once(method, url, stream=stream, **kwargs)
        for attempt in range(self.body_retries + 1):
            # Headers first (urllib3 retries statuses and connection errors up to here), then the
            # body, whose failures are this loop's to retry.
            response = self._send_once(method, url, stream=True, **kwargs)
            try:
                response.content  # noqa: B018  (reads and caches the body)
                return response
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ConnectionError,
            ) as err:
                response.close()
                if attempt == self.body_retries:
                    raise BodyReadError(
                        f"GET {response.url}: body cut off on {attempt + 1} attempts: {err}"
                    ) from err
                time.sleep(min(BACKOFF_MAX_SECONDS, self.backoff_factor * 2**attempt))
        raise AssertionError("unreachable")

    def _send_once(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().request(method, url, **kwargs)
        except _RetryAfterAboveCap as err:
            raise RetryAfterTooLong(f"{method!s} {url!s}: {err}") from None


def retrying_session(
    retries: int,
    backoff_factor: float,
    headers: Mapping[str, str] | None = None,
    *,
    max_retry_after_s: int = MAX_RETRY_AFTER_SECONDS,
) -> RetryingSession:
    """A session whose GETs are retried up to ``retries`` times; use it as a context manager."""
    retry = CappedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        status_forcelist=RETRY_STATUSES,
        # Only idempotent requests are replayed; both callers only GET.
        allowed_methods=frozenset({"GET"}),
        backoff_factor=backoff_factor,
        backoff_max=BACKOFF_MAX_SECONDS,
        respect_retry_after_header=True,
        retry_after_max=max_retry_after_s,
        raise_on_status=True,
    )
    session = RetryingSession(retries, backoff_factor)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(headers or {})
    return session
