from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from accident_assets_tests.nyc.soql_server import SoqlServer


def busy_day(day: dt.date, n: int, geocoded: int | None = None) -> list[dict]:
    """A synthetic day of ``n`` API rows, ids shuffled so ordering matters and unique across days
    (as ``collision_id`` is); the first ``geocoded`` rows (default all) have coordinates."""
    base = day.toordinal() * 1_000_000
    ids = [base + (i * 7919) % 100_003 + 1 for i in range(n)]
    geocoded = n if geocoded is None else geocoded
    return [
        {
            "crash_date": f"{day.isoformat()}T00:00:00.000",
            "crash_time": f"{i % 24}:{i % 60:02d}",
            "collision_id": str(cid),
            **({"latitude": "40.7580", "longitude": "-73.9855"} if i < geocoded else {}),
            "number_of_persons_injured": str(i % 3),
            "number_of_persons_killed": "0",
        }
        for i, cid in enumerate(ids)
    ]


@pytest.fixture
def soql_server() -> Iterator[SoqlServer]:
    """A loopback SoQL server with 2,500 crashes on 2023-01-05 and 3 on 2023-01-06."""
    rows = busy_day(dt.date(2023, 1, 5), 2500) + busy_day(dt.date(2023, 1, 6), 3)
    with SoqlServer.from_records(rows, max_lifetime_s=60) as server:
        yield server
