"""Validate, then commit: each fault that once stored a wrong NYC day, against the loopback SoQL
server, asserting that the stored bytes of the good day are unchanged where the run must fail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from upath import UPath

from accident_assets import settings
from accident_assets.io_manager import read_partitions, stored_partitions
from accident_assets.nyc.ingest import CRASHES, FEATURES, RAW
from accident_assets.nyc.run import ingest_days
from accident_assets.nyc.sample import sample_day
from accident_assets.nyc.soql_server import SoqlServer
from accident_assets.nyc.sources import NycSource

DAY = dt.date(2023, 3, 8)


class City:
    """The live dataset: rows by collision_id, editable between requests (late reports, moved
    crashes, outages)."""

    def __init__(self, days: list[dt.date]) -> None:
        self.rows = {r["collision_id"]: dict(r) for d in days for r in sample_day(d)}
        self.outage: set[dt.date] = set()

    def rows_for_day(self, day: dt.date) -> list[dict]:
        if day in self.outage:
            return []
        return [r for r in self.rows.values() if r["crash_date"].startswith(day.isoformat())]

    def newest(self) -> dt.date | None:
        return max(dt.date.fromisoformat(r["crash_date"][:10]) for r in self.rows.values())

    def ids(self, day: dt.date) -> list[str]:
        return [r["collision_id"] for r in self.rows_for_day(day)]

    def move(self, collision_id: str, day: dt.date) -> None:
        self.rows[collision_id]["crash_date"] = f"{day.isoformat()}T00:00:00.000"


def live_source(server: SoqlServer) -> NycSource:
    return NycSource(
        backend="socrata", base_url=server.url, retries=1, backoff_factor=0.01, read_timeout_s=5
    )


def snapshot() -> dict[str, bytes]:
    """Every stored file (manifests and tables), byte for byte."""
    root = UPath(settings.storage_root())
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def run(days: list[dt.date], server: SoqlServer, **config) -> dg.ExecuteInProcessResult:
    return ingest_days(
        days[0],
        days[-1],
        source=live_source(server),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config={"ops": {"nyc_days": {"config": config}}} if config else None,
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[tuple[dg.AssetKey, str]]:
    return {
        (e.asset_key, e.partition)
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(str(e.step_failure_data.error) for e in result.get_step_failure_events())


def stored(key: dg.AssetKey, day: dt.date) -> pl.DataFrame:
    return read_partitions(settings.storage_root(), key, [day.isoformat()])[day.isoformat()]


@pytest.fixture
def city() -> City:
    return City([DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)])


@pytest.fixture
def server(city: City):
    with SoqlServer(rows_for_day=city.rows_for_day, newest=city.newest, max_lifetime_s=60) as s:
        yield s


def test_repeated_rows_are_refused_and_the_stored_day_is_unchanged(
    state_home: Path, city: City, server: SoqlServer
):
    assert run([DAY], server).success
    before = snapshot()
    # What a page order that moves between pages gives: a row twice, another one missing, the
    # total still equal to count(*).
    ids = city.ids(DAY)
    duplicate = dict(city.rows[ids[0]], collision_id=ids[1])
    city.rows[ids[1]] = duplicate
    city.rows["999999991"] = dict(duplicate)
    result = run([DAY], server)
    assert not result.success
    assert str(DAY) in failure_text(result) and ids[1] in failure_text(result)
    assert snapshot() == before


def test_an_empty_answer_never_wipes_a_stored_day(state_home: Path, city: City, server: SoqlServer):
    assert run([DAY], server).success
    before = snapshot()
    city.outage.add(DAY)
    result = run([DAY], server)
    assert not result.success
    assert "returned 0 crashes" in failure_text(result)
    assert snapshot() == before
    assert stored(RAW, DAY).height == len(sample_day(DAY))


def test_shrink_guard_refuses_a_markedly_smaller_day_unless_accepted(
    state_home: Path, city: City, server: SoqlServer
):
    assert run([DAY], server).success
    before = snapshot()
    for collision_id in city.ids(DAY)[:40]:
        del city.rows[collision_id]
    result = run([DAY], server)
    assert not result.success
    assert "40 fewer" in failure_text(result) and "accept_shrink" in failure_text(result)
    assert snapshot() == before
    assert run([DAY], server, accept_shrink=True).success
    assert stored(CRASHES, DAY).height == len(sample_day(DAY)) - 40


def test_rows_of_another_day_or_a_bad_count_fail_before_anything_is_written(
    state_home: Path, city: City, server: SoqlServer
):
    assert run([DAY], server).success
    before = snapshot()
    ids = city.ids(DAY)
    city.rows[ids[0]]["number_of_persons_injured"] = "N/A"
    result = run([DAY], server)
    assert not result.success
    assert "number_of_persons_injured" in failure_text(result) and ids[0] in failure_text(result)
    assert snapshot() == before

    city.rows[ids[0]]["number_of_persons_injured"] = "0"
    server.rows_for_day = lambda d: (
        city.rows_for_day(d) + (city.rows_for_day(d + dt.timedelta(days=1))[:2] if d == DAY else [])
    )
    result = run([DAY], server)
    assert not result.success
    assert "column 'crash_date'" in failure_text(result)
    assert snapshot() == before


def test_a_moved_crash_is_stored_on_its_new_day_only(
    state_home: Path, city: City, server: SoqlServer
):
    days = [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)]
    assert run(days, server).success
    moved = city.ids(DAY)[0]
    city.move(moved, days[2])  # the date was corrected: 03-08 -> 03-09
    result = run([days[2]], server)  # only the new day is re-ingested...
    assert result.success
    # ...and the day the crash left is re-fetched and committed in the same run.
    assert int(moved) not in stored(CRASHES, DAY)["collision_id"].to_list()
    assert int(moved) in stored(CRASHES, days[2])["collision_id"].to_list()
    everything = pl.concat(
        read_partitions(settings.storage_root(), CRASHES, [d.isoformat() for d in days]).values()
    )
    assert everything["collision_id"].is_unique().all()
    [check] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "collision_id_on_one_day"
    ]
    assert check.passed
    reported = materialized(result)
    assert (CRASHES, DAY.isoformat()) in reported


def test_a_range_stores_the_good_days_and_fails_naming_the_bad_ones(
    state_home: Path, city: City, server: SoqlServer
):
    days = [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)]
    city.outage.add(DAY)
    result = run(days, server)
    assert not result.success
    message = failure_text(result)
    assert "1 day(s) not stored" in message and f"- {DAY}" in message
    keys = [days[0].isoformat(), days[2].isoformat()]
    for key in (RAW, CRASHES, FEATURES):
        assert stored_partitions(settings.storage_root(), key) == keys
    reported = materialized(result)
    assert reported == {(k, p) for k in (RAW, CRASHES, FEATURES) for p in keys}


def test_refetching_an_unchanged_day_keeps_its_version(state_home: Path, server: SoqlServer):
    assert run([DAY], server).success
    before = snapshot()
    assert run([DAY], server).success
    assert snapshot() == before


def test_a_geocoding_backlog_warns(state_home: Path):
    days = [DAY + dt.timedelta(days=i) for i in range(5)]
    city = City(days)
    for collision_id in city.ids(days[-1])[20:]:  # the newest day: most coordinates missing
        city.rows[collision_id].pop("latitude", None)
        city.rows[collision_id].pop("longitude", None)
        city.rows[collision_id].pop("location", None)
    with SoqlServer(
        rows_for_day=city.rows_for_day, newest=city.newest, max_lifetime_s=60
    ) as server:
        result = run(days, server)
    assert result.success
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "geocoded_share"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert days[-1].isoformat() in check.metadata["warnings"].value
    assert "backlog" in check.metadata["warnings"].value
