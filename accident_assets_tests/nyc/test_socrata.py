"""The live-API client against a loopback SoQL server: pages, retries, faults, completeness."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests

from accident_assets.nyc.socrata import IncompleteDayError, SocrataClient, SocrataError
from accident_assets.nyc.sources import DayStat
from accident_assets_tests.nyc.conftest import busy_day
from accident_assets_tests.nyc.soql_server import SoqlServer

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
    # A generous read timeout: the request count is exact only if no page is retried, and a
    # loaded machine once took over the default 0.5 s to answer one.
    rows = client(soql_server, page_size=500, timeout=(2.0, 10.0)).fetch_day(DAY)
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


def test_truncated_json_is_fetched_again(soql_server: SoqlServer):
    soql_server.inject("truncated", times=2)
    assert len(client(soql_server).fetch_day(DAY)) == 2500
    assert [r.fault for r in soql_server.requests].count("truncated") == 2


def test_persistent_truncation_fails_clearly(soql_server: SoqlServer):
    soql_server.inject("truncated", times=100)
    with pytest.raises(
        SocrataError,
        match=r"day 2023-01-05 rows 0\.\.1000: truncated or invalid JSON .* on 3 attempts",
    ):
        client(soql_server, retries=2).fetch_day(DAY)
    assert [r.fault for r in soql_server.requests].count("truncated") == 3


def test_dropped_connection_mid_body_is_fetched_again(soql_server: SoqlServer):
    soql_server.inject("drop_connection", times=2)
    rows = client(soql_server).fetch_day(DAY)
    assert len(rows) == 2500 == len({r["collision_id"] for r in rows})
    dropped = [r for r in soql_server.requests if r.fault == "drop_connection"]
    assert [r.params["$offset"] for r in dropped] == ["0", "0"]


def test_persistent_dropped_connection_fails_clearly(soql_server: SoqlServer):
    soql_server.inject("drop_connection", times=100)
    with pytest.raises(
        SocrataError, match=r"day 2023-01-05 rows 0\.\.1000: .*body cut off on 3 attempts"
    ):
        client(soql_server, retries=2).fetch_day(DAY)


def test_retry_after_above_the_cap_fails_at_once(soql_server: SoqlServer):
    soql_server.inject("429", times=1, retry_after="3600")
    started = time.monotonic()
    with pytest.raises(SocrataError, match=r"wait 3600 s .*above the cap of 30 s"):
        client(soql_server, max_retry_after_s=30).fetch_day(DAY)
    assert time.monotonic() - started < 5
    assert [r.status for r in soql_server.requests] == [200, 429]  # count, then no retry


def test_retry_after_below_the_cap_is_waited_for(soql_server: SoqlServer):
    soql_server.inject("429", times=1, retry_after="1")
    started = time.monotonic()
    assert len(client(soql_server, max_retry_after_s=1).fetch_day(DAY)) == 2500
    assert time.monotonic() - started >= 1.0


def test_unstable_page_order_is_fetched_again(soql_server: SoqlServer):
    # The first attempt's three pages are cut from fresh random orders: they overlap, and as
    # many rows go missing as come twice, so the total still equals count(*).
    soql_server.inject("shuffle", times=3)
    rows = client(soql_server).fetch_day(DAY)
    assert sorted(int(r["collision_id"]) for r in rows) == sorted(
        int(r["collision_id"])
        for r in soql_server.rows()
        if r["crash_date"].startswith("2023-01-05")
    )
    assert [r.fault for r in soql_server.requests].count("shuffle") == 3
    assert len([r for r in soql_server.requests if r.params.get("$select") == "count(*)"]) == 2


def test_persistently_unstable_pages_are_an_incomplete_day(soql_server: SoqlServer):
    soql_server.inject("shuffle", times=100)
    with pytest.raises(IncompleteDayError) as info:
        client(soql_server, day_attempts=3).fetch_day(DAY)
    message = str(info.value)
    assert message.startswith("day 2023-01-05: ")
    assert (
        "collision_id repeated across pages (e.g. " in message
        and "on each of 3 attempts" in message
    )
    example_ids = message.split("(e.g. ")[1].split(")")[0].split(", ")
    day_ids = {r["collision_id"] for r in soql_server.rows()}
    assert example_ids and set(example_ids) <= day_ids
    assert len(row_requests(soql_server)) == 9  # 3 attempts of 3 pages, then stop


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


WINDOW = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(30)]


def window_server(**kwargs) -> SoqlServer:
    """30 days, day i with i + 1 crashes of which i geocoded, and no crash on 2023-01-10."""
    rows = [r for i, d in enumerate(WINDOW) if d.day != 10 for r in busy_day(d, i + 1, geocoded=i)]
    return SoqlServer.from_records(rows, max_lifetime_s=60, **kwargs)


def stats_requests(server: SoqlServer) -> list:
    return [r for r in server.requests if "$group" in r.params]


def test_day_stats_of_30_days_is_one_request():
    with window_server() as server:
        stats = client(server).day_stats(WINDOW[0], WINDOW[-1])
        assert len(server.requests) == 1 and server.requests[0].params["$group"] == "day"
    assert sorted(stats) == [d for d in WINDOW if d.day != 10]  # the empty day is absent
    assert stats[WINDOW[0]] == DayStat(count=1, geocoded=0, updated_at=stats[WINDOW[0]].updated_at)
    assert (stats[WINDOW[29]].count, stats[WINDOW[29]].geocoded) == (30, 29)
    assert all(s.updated_at for s in stats.values())


def test_day_stats_without_updated_at_asks_once_more_then_remembers():
    with window_server(supports_updated_at=False) as server:
        c = client(server)
        first = c.day_stats(WINDOW[0], WINDOW[-1])
        assert [r.status for r in server.requests] == [400, 200]
        assert ":updated_at" not in server.requests[1].params["$select"]
        second = c.day_stats(WINDOW[0], WINDOW[-1])
        assert [r.status for r in server.requests] == [400, 200, 200]
    assert first == second
    assert (first[WINDOW[29]].count, first[WINDOW[29]].updated_at) == (30, None)


def test_day_stats_see_late_reports_date_corrections_and_geocodes():
    with window_server() as server:
        c = client(server)
        before = c.day_stats(WINDOW[0], WINDOW[-1])
        day_2, day_3 = WINDOW[1], WINDOW[2]
        late = busy_day(day_3, 4)[3]  # a 4th crash of day 3, reported late
        server.upsert([late])
        moved = next(r for r in server.rows() if r["crash_date"].startswith(day_2.isoformat()))
        server.upsert([{**moved, "crash_date": f"{WINDOW[3].isoformat()}T00:00:00.000"}])
        located = next(
            r
            for r in server.rows()
            if r["crash_date"].startswith(WINDOW[5].isoformat()) and "latitude" not in r
        )
        server.upsert([{**located, "latitude": "40.7", "longitude": "-73.9"}])
        after = c.day_stats(WINDOW[0], WINDOW[-1])
    assert after[day_3].count == before[day_3].count + 1
    assert after[day_2].count == before[day_2].count - 1
    assert after[WINDOW[3]].count == before[WINDOW[3]].count + 1
    assert after[WINDOW[5]] != before[WINDOW[5]]
    assert (after[WINDOW[5]].count, after[WINDOW[5]].geocoded) == (6, 6)
    assert after[WINDOW[5]].updated_at > before[WINDOW[5]].updated_at
    unchanged = [d for d in before if d not in (day_2, day_3, WINDOW[3], WINDOW[5])]
    assert all(after[d] == before[d] for d in unchanged)


def test_an_outage_answers_an_empty_day(soql_server: SoqlServer):
    soql_server.inject("empty", target="any", day=DAY, times=2)
    assert client(soql_server).fetch_day(DAY) == []  # count 0 and no rows: looks like no crashes
    assert len(client(soql_server).fetch_day(DAY)) == 2500  # the outage is over
