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
from accident_assets.nyc.ingest import (
    CRASHES,
    FEATURES,
    RAW,
    IngestPolicy,
    ids_on_several_days,
    ingest,
    stored_collision_days,
)
from accident_assets.nyc.run import ingest_days
from accident_assets.nyc.sample import sample_day
from accident_assets.nyc.sources import NycSource, SocrataNycSource
from accident_assets.resources import AssetStorage
from accident_assets_tests.nyc.soql_server import SoqlServer

DAY = dt.date(2023, 3, 8)


def day_rows(server: SoqlServer, day: dt.date) -> list[dict]:
    return [r for r in server.rows() if r["crash_date"].startswith(day.isoformat())]


def ids(server: SoqlServer, day: dt.date) -> list[str]:
    return sorted(r["collision_id"] for r in day_rows(server, day))


def live_source(server: SoqlServer) -> NycSource:
    # Pages of 50 rows: a day takes several pages, so an unstable page order shows.
    return SocrataNycSource(
        base_url=server.url, page_size=50, retries=1, backoff_factor=0.01, read_timeout_s=5
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


WEEK = [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)]


@pytest.fixture
def server():
    records = [r for d in WEEK for r in sample_day(d)]
    with SoqlServer.from_records(records, max_lifetime_s=60) as s:
        yield s


def test_unstable_page_order_is_refused_and_the_stored_day_is_unchanged(
    state_home: Path, server: SoqlServer
):
    assert run([DAY], server).success
    before = snapshot()
    # Pages cut from a fresh order each time repeat rows and skip others while the total still
    # equals count(*); the client re-fetches, then gives up naming the day.
    server.inject("shuffle", times=100, day=DAY)
    result = run([DAY], server)
    assert not result.success
    assert f"day {DAY}" in failure_text(result) and "repeat" in failure_text(result)
    assert snapshot() == before


def test_an_empty_answer_never_wipes_a_stored_day(state_home: Path, server: SoqlServer):
    assert run([DAY], server).success
    before = snapshot()
    server.inject("empty", target="any", day=DAY, times=100)
    result = run([DAY], server)
    assert not result.success
    assert "returned 0 crashes" in failure_text(result)
    assert snapshot() == before
    assert stored(RAW, DAY).height == len(sample_day(DAY))


def test_shrink_guard_refuses_a_markedly_smaller_day_unless_accepted(
    state_home: Path, server: SoqlServer
):
    assert run([DAY], server).success
    before = snapshot()
    server.delete(ids(server, DAY)[:40])
    result = run([DAY], server)
    assert not result.success
    assert "40 fewer" in failure_text(result) and "accept_shrink" in failure_text(result)
    assert snapshot() == before
    assert run([DAY], server, accept_shrink=True).success
    assert stored(CRASHES, DAY).height == len(sample_day(DAY)) - 40


def test_a_count_that_is_not_a_number_fails_before_anything_is_written(
    state_home: Path, server: SoqlServer
):
    assert run([DAY], server).success
    before = snapshot()
    row = day_rows(server, DAY)[0]
    server.upsert([{**row, "number_of_persons_injured": "N/A"}])
    result = run([DAY], server)
    assert not result.success
    assert "number_of_persons_injured" in failure_text(result)
    assert row["collision_id"] in failure_text(result)
    assert snapshot() == before


def test_rows_of_another_day_are_refused(state_home: Path):
    """A source that mixes the next day's rows into a day (the pure core, real storage)."""
    storage = AssetStorage(root=settings.storage_root())
    policy = IngestPolicy(h3_resolution=7)
    assert ingest([DAY], sample_day, storage, policy).committed
    before = snapshot()
    mixed = sample_day(DAY) + sample_day(DAY + dt.timedelta(days=1))[:2]
    outcome = ingest([DAY], lambda _day: mixed, storage, policy)
    assert not outcome.committed
    assert "column 'crash_date'" in outcome.rejected[DAY.isoformat()]
    assert snapshot() == before


def test_a_moved_crash_is_stored_on_its_new_day_only(state_home: Path, server: SoqlServer):
    assert run(WEEK, server).success
    row = day_rows(server, DAY)[0]
    moved = row["collision_id"]
    # The date was corrected: 03-08 -> 03-09.
    server.upsert([{**row, "crash_date": f"{WEEK[2].isoformat()}T00:00:00.000"}])
    result = run([WEEK[2]], server)  # only the new day is re-ingested...
    assert result.success
    # ...and the day the crash left is re-fetched and committed in the same run.
    assert int(moved) not in stored(CRASHES, DAY)["collision_id"].to_list()
    assert int(moved) in stored(CRASHES, WEEK[2])["collision_id"].to_list()
    keys = [d.isoformat() for d in WEEK]
    everything = pl.concat(read_partitions(settings.storage_root(), CRASHES, keys).values())
    assert everything["collision_id"].is_unique().all()
    [check] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "collision_id_on_one_day"
    ]
    assert check.passed
    assert (CRASHES, DAY.isoformat()) in materialized(result)


def test_a_range_stores_the_good_days_and_fails_naming_the_bad_ones(
    state_home: Path, server: SoqlServer
):
    server.inject("empty", target="any", day=DAY, times=100)
    result = run(WEEK, server)
    assert not result.success
    message = failure_text(result)
    assert "1 day(s) not stored" in message and f"- {DAY}" in message
    keys = [WEEK[0].isoformat(), WEEK[2].isoformat()]
    for key in (RAW, CRASHES, FEATURES):
        assert stored_partitions(settings.storage_root(), key) == keys
    assert materialized(result) == {(k, p) for k in (RAW, CRASHES, FEATURES) for p in keys}


def test_refetching_an_unchanged_day_keeps_its_version(state_home: Path, server: SoqlServer):
    assert run([DAY], server).success
    before = snapshot()
    assert run([DAY], server).success
    assert snapshot() == before


def test_the_cross_day_check_finds_a_crash_stored_on_two_days(state_home: Path):
    """What the old per-day uniqueness let through: the same crash on two stored days."""
    storage = AssetStorage(root=settings.storage_root())
    policy = IngestPolicy(h3_resolution=7)
    ingest(WEEK[:2], sample_day, storage, policy)
    assert ids_on_several_days(stored_collision_days(storage, exclude=set())).height == 0
    crashes = stored(CRASHES, WEEK[1])
    twice = pl.concat([stored(CRASHES, WEEK[0]), crashes.head(1)])
    storage.commit("nyc", WEEK[0].isoformat(), {CRASHES: twice})
    repeated = ids_on_several_days(stored_collision_days(storage, exclude=set()))
    assert repeated["collision_id"].unique().to_list() == [crashes["collision_id"][0]]
    assert repeated["partition"].to_list() == [WEEK[0].isoformat(), WEEK[1].isoformat()]
