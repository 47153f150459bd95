"""One way to build a ``requests`` session that retries transient failures (the France ``http``
source and the NYC Socrata client both use it).

urllib3's ``Retry`` does the work: connect and read errors and 429/5xx answers are retried with
exponential backoff, ``Retry-After`` is honoured, and a status still failing after the last retry
raises ``requests.exceptions.RetryError`` instead of returning the error response.
"""

from __future__ import annotations

from collections.abc import Mapping

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)
# Caps the exponential backoff between retries, not the wait a server asks for in Retry-After.
BACKOFF_MAX_SECONDS = 60


def retrying_session(
    retries: int, backoff_factor: float, headers: Mapping[str, str] | None = None
) -> requests.Session:
    """A session whose GETs are retried up to ``retries`` times; use it as a context manager."""
    retry = Retry(
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
        raise_on_status=True,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(headers or {})
    return session
