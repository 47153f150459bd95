"""The shared retrying session (France ``http`` source, NYC Socrata client) against a loopback
server: statuses, Retry-After cap, bodies cut off mid-read."""

from __future__ import annotations

import datetime as dt
import email.utils
import time

import pytest
import requests

from accident_assets.http_session import (
    RETRY_STATUSES,
    BodyReadError,
    RetryAfterTooLong,
    retrying_session,
)
from accident_assets_tests.nyc.soql_server import SoqlServer

ROWS = [{"crash_date": "2023-01-05T00:00:00.000", "collision_id": str(i)} for i in range(1, 300)]
COUNT = {
    "$select": "count(*)",
    "$where": "crash_date >= '2023-01-05T00:00:00' AND crash_date < '2023-01-06T00:00:00'",
}
PAGE = {"$where": COUNT["$where"], "$order": "collision_id", "$limit": "1000", "$offset": "0"}


@pytest.fixture
def server():
    with SoqlServer.from_records(ROWS, max_lifetime_s=30) as s:
        yield s


def test_retrying_session_retries_gets_on_transient_statuses_and_keeps_headers():
    with retrying_session(3, 0.5, {"X-App-Token": "t"}, max_retry_after_s=7) as session:
        retry = session.get_adapter("https://example.org").max_retries
        assert session.headers["X-App-Token"] == "t"
    assert (retry.total, retry.connect, retry.read, retry.status) == (3, 3, 3, 3)
    assert set(retry.status_forcelist) == set(RETRY_STATUSES)
    assert retry.allowed_methods == frozenset({"GET"})
    assert retry.respect_retry_after_header
    assert retry.new(total=1).retry_after_max == 7  # urllib3's copies keep the cap


def test_a_retry_after_above_the_cap_is_refused_without_waiting(server: SoqlServer):
    server.inject("429", target="count", retry_after="7200")
    started = time.monotonic()
    with (
        retrying_session(3, 0.01, max_retry_after_s=60) as session,
        pytest.raises(
            RetryAfterTooLong, match=r"wait 7200 s \(Retry-After: 7200\), above the cap of 60 s"
        ),
    ):
        session.get(server.url, params=COUNT, timeout=5)
    assert time.monotonic() - started < 5
    # A RequestException, so the France source's handler names it like any transport failure.
    assert issubclass(RetryAfterTooLong, requests.RequestException)


def test_a_retry_after_date_is_capped_too(server: SoqlServer):
    later = email.utils.format_datetime(
        dt.datetime.now(dt.UTC) + dt.timedelta(hours=2), usegmt=True
    )
    server.inject("429", target="count", retry_after=later)
    with (
        retrying_session(3, 0.01) as session,
        pytest.raises(RetryAfterTooLong, match="cap of 120 s"),
    ):
        session.get(server.url, params=COUNT, timeout=5)


def test_a_retry_after_within_the_cap_is_honoured(server: SoqlServer):
    server.inject("429", target="count", retry_after="1")
    started = time.monotonic()
    with retrying_session(3, 0.01, max_retry_after_s=1) as session:
        assert session.get(server.url, params=COUNT, timeout=5).json() == [{"count": "299"}]
    assert time.monotonic() - started >= 1.0


def test_a_body_cut_off_mid_read_is_fetched_again(server: SoqlServer):
    server.inject("drop_connection", times=2)
    with retrying_session(2, 0.01) as session:
        assert len(session.get(server.url, params=PAGE, timeout=5).json()) == 299
    assert [r.fault for r in server.requests] == ["drop_connection", "drop_connection", None]


def test_a_body_always_cut_off_fails_after_the_retries(server: SoqlServer):
    server.inject("drop_connection", times=100)
    with (
        retrying_session(2, 0.01) as session,
        pytest.raises(BodyReadError, match="body cut off on 3 attempts"),
    ):
        session.get(server.url, params=PAGE, timeout=5)
    assert len(server.requests) == 3
