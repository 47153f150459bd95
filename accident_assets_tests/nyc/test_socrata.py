"""The live-API client against a loopback SoQL server: pages, retries, faults, completeness."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests

from accident_assets.nyc.socrata import IncompleteDayError, SocrataClient, SocrataError
from accident_assets.nyc.soql_server import SoqlServer

DAY = dt.date(2023, 1, 5)


def client(server: SoqlServer, **kwargs) -> SocrataClient:
    options = {"page_size": 1000, "timeout": (2.0, 0.5), "retries": 3, "backoff_factor": 0.01}
    return SocrataClient(server.url, **{**options, **kwargs})


def row_requests(server: SoqlServer) -> list:
    return [r for r in server.requests if "$offset" in r.params]


def test_a_busy_day_is_paged_without_loss_or_duplicates(soql_server: SoqlServer):
    rows = client(soql_server).fetch_day(DAY)
    ids = [int(r["collision_id"]) for r in rows]
    assert len(ids) == 2500 == len(set(ids))
    assert ids == sorted(ids)  # stable $order
    assert [r.params["$offset"] for r in row_requests(soql_server)] == ["0", "1000", "2000"]
    assert {r.params["$order"] for r in row_requests(soql_server)} == {"collision_id"}


def test_page_size_dividing_the_day_exactly(soql_server: SoqlServer):
    rows = client(soql_server, page_size=500).fetch_day(DAY)
    assert len(rows) == 2500
    assert len(row_requests(soql_server)) == 6  # the last page is empty


def test_small_and_empty_days(soql_server: SoqlServer):
    assert len(client(soql_server).fetch_day(dt.date(2023, 1, 6))) == 3
    assert client(soql_server).fetch_day(dt.date(2023, 1, 7)) == []


def test_429_with_retry_after_is_retried(soql_server: SoqlServer):
    # One second is a hundred times the client's own first backoff (0.01 s): only honouring
    # Retry-After makes the day take that long.
    soql_server.inject("429", times=1, retry_after="1")
    started = time.monotonic()
    assert len(client(soql_server).fetch_day(DAY)) == 2500
    assert time.monotonic() - started >= 1.0
    [throttled] = [r for r in soql_server.requests if r.status == 429]
    after = soql_server.requests[soql_server.requests.index(throttled) + 1 :]
    assert [r.status for r in after if r.params == throttled.params] == [200]


def test_500_is_retried_with_backoff(soql_server: SoqlServer):
    soql_server.inject("500", times=2, target="any")
    assert len(client(soql_server).fetch_day(DAY)) == 2500
    assert [r.status for r in soql_server.requests].count(500) == 2


def test_persistent_500_fails_clearly(soql_server: SoqlServer):
    soql_server.inject("500", times=100, target="rows")
    with pytest.raises(SocrataError, match=r"day 2023-01-05 rows 0\.\.1000: gave up after retries"):
        client(soql_server, retries=2).fetch_day(DAY)


def test_slow_response_times_out_and_is_retried(soql_server: SoqlServer):
    # The page answers after 1.5 s and the client's read timeout is 0.5 s: it must give up on that
    # request and ask for the same page again (without a timeout it would wait and ask once).
    soql_server.inject("slow", times=1, delay_s=1.5)
    assert len(client(soql_server).fetch_day(DAY)) == 2500
    [slow] = [r for r in soql_server.requests if r.fault == "slow"]
    assert slow.params["$offset"] == "0"
    assert len([r for r in row_requests(soql_server) if r.params == slow.params]) >= 2


def test_truncated_json_is_a_clear_error(soql_server: SoqlServer):
    soql_server.inject("truncated", times=1)
    with pytest.raises(SocrataError, match="truncated or invalid JSON"):
        client(soql_server).fetch_day(DAY)


@pytest.mark.parametrize("delta", [1, -1])
def test_count_mismatch_is_never_a_silently_short_day(soql_server: SoqlServer, delta: int):
    soql_server.inject("count_mismatch", target="count", delta=delta)
    with pytest.raises(IncompleteDayError, match="received 2500 rows but the API counts"):
        client(soql_server).fetch_day(DAY)


def test_newest_day(soql_server: SoqlServer):
    assert client(soql_server).newest_day() == dt.date(2023, 1, 6)


def test_app_token_is_a_header_never_in_urls_or_errors(soql_server: SoqlServer):
    secret = "s3cr3t-token"
    soql_server.inject("500", times=100, target="rows")
    c = client(soql_server, app_token=secret, retries=1)
    with pytest.raises(SocrataError) as info:
        c.fetch_day(DAY)
    assert soql_server.requests[0].headers["x-app-token"] == secret
    assert secret not in str(info.value) and secret not in repr(c)
    assert all(secret not in str(r.params) for r in soql_server.requests)


def test_server_stops_by_itself():
    server = SoqlServer(rows_for_day=lambda day: [], max_lifetime_s=0.2).start()
    url = server.url
    time.sleep(0.6)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=1)
