"""Change detection, evaluated with build_sensor_context on a real instance and real storage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from accident_assets import settings
from accident_assets.io_manager import read_partitions, stored_partitions
from accident_assets.nyc.ingest import CRASHES, RAW
from accident_assets.nyc.run import ingest_job
from accident_assets.nyc.sample import sample_day
from accident_assets.nyc.sensors import (
    change_reason,
    changed_days,
    lookback_window,
    nyc_new_days_sensor,
    run_key,
)
from accident_assets.nyc.sources import (
    CsvExportNycSource,
    DayStat,
    NycSource,
    SampleNycSource,
    SocrataNycSource,
)
from accident_assets.resources import AssetStorage
from accident_assets_tests.nyc.soql_server import SoqlServer

D = dt.date


def evaluate(instance: dg.DagsterInstance, source: NycSource):
    context = dg.build_sensor_context(
        instance=instance,
        resources={
            "nyc_source": source,
            "asset_storage": AssetStorage(root=settings.storage_root()),
        },
    )
    return nyc_new_days_sensor(context)


def execute(instance: dg.DagsterInstance, source: NycSource, request: dg.RunRequest) -> None:
    result = ingest_job(source).execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags
    )
    assert result.success


def requested_days(request: dg.RunRequest) -> tuple[str, str]:
    if request.partition_key:
        return request.partition_key, request.partition_key
    return (
        request.tags["dagster/asset_partition_range_start"],
        request.tags["dagster/asset_partition_range_end"],
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_change_reasons():
    stored = {"count": 10, "geocoded": 8, "updated_at": "t1"}
    assert change_reason(DayStat(10, 8, "t1"), stored) is None
    assert change_reason(DayStat(12, 8, "t1"), stored) == "count 10 -> 12"
    assert change_reason(DayStat(10, 9, "t1"), stored) == "geocoded 8 -> 9"
    assert change_reason(DayStat(10, 8, "t2"), stored) == "updated t1 -> t2"
    assert change_reason(DayStat(10, 8, None), stored) is None  # a server without :updated_at
    assert change_reason(None, stored) == "count 10 -> 0"  # an outage: the shrink guard decides
    assert change_reason(DayStat(5, 5, None), None) == "new day, 5 crashes"
    assert change_reason(None, None) is None


def test_window_respects_the_partitions_and_keys_follow_the_state():
    window = lookback_window(D(2023, 1, 10), D(2023, 1, 1), D(2023, 3, 1), 30)
    assert window[0] == D(2023, 1, 1) and window[-1] == D(2023, 1, 10)
    assert len(lookback_window(D(2023, 3, 1), D(2023, 1, 1), D(2023, 3, 1), 30)) == 30
    live = {D(2023, 1, 5): DayStat(3, 3, None)}
    changes = changed_days(live, {}, window)
    assert changes == {D(2023, 1, 5): "new day, 3 crashes"}
    later = {D(2023, 1, 5): DayStat(4, 3, None)}
    assert run_key(changes, live) != run_key(changes, later)


def test_new_days_then_nothing_changed(instance, state_home: Path):
    source = SampleNycSource(last_day="2023-01-10")
    request = evaluate(instance, source)
    assert requested_days(request) == ("2023-01-01", "2023-01-10")
    execute(instance, source, request)
    assert len(stored_partitions(settings.storage_root(), CRASHES)) == 10
    skip = evaluate(instance, source)
    assert isinstance(skip, dg.SkipReason) and "nothing changed" in skip.skip_message


def test_late_reports_are_caught_whenever_they_arrive(instance, state_home: Path):
    """Rows held back by the source come in days later: the day is re-ingested then, in one run
    with the other changed days, and a live API answers 'nothing changed' in two requests."""
    days = [D(2023, 1, 1) + dt.timedelta(days=i) for i in range(10)]
    held = {d: sample_day(d)[-30:] for d in days[-3:]}
    first_seen = [r for d in days for r in (sample_day(d)[:-30] if d in held else sample_day(d))]
    with SoqlServer.from_records(first_seen, max_lifetime_s=60) as server:
        source = SocrataNycSource(base_url=server.url, retries=1, backoff_factor=0.01)
        execute(instance, source, evaluate(instance, source))
        before = len(server.requests)
        assert isinstance(evaluate(instance, source), dg.SkipReason)
        assert len(server.requests) - before <= 2

        server.upsert(held[days[-3]])  # the oldest held-back day is complete at last
        request = evaluate(instance, source)
        assert requested_days(request) == (days[-3].isoformat(),) * 2
        execute(instance, source, request)
    stored = read_partitions(settings.storage_root(), RAW, [days[-3].isoformat()])
    assert stored[days[-3].isoformat()].height == len(sample_day(days[-3]))


@pytest.mark.real_data
def test_the_real_revision_pair_through_change_detection(
    shared_data: Path, state_home: Path, instance
):
    """The same week exported in 2024-09 and in 2025-02: ingested from the older file, then the
    newer one; the changed days are re-ingested and what is stored is exactly the newer file."""
    week = shared_data / "nyc_collisions/2024-w27"
    older = CsvExportNycSource(path=str(week / "nyccrashes_2024w0630_by20240916.csv"))
    newer = CsvExportNycSource(path=str(week / "nyccrashes_2024w0630_by20250212.csv"))
    first = evaluate(instance, older)
    assert requested_days(first) == ("2024-06-30", "2024-07-07")
    execute(instance, older, first)

    second = evaluate(instance, newer)
    assert isinstance(second, dg.RunRequest)
    changed = second.tags["nyc/changed_days"].split(",")
    assert "2024-07-03" in changed  # the late-reported crash 4765601
    execute(instance, newer, second)
    assert isinstance(evaluate(instance, newer), dg.SkipReason)

    keys = stored_partitions(settings.storage_root(), CRASHES)
    crashes = pl.concat(read_partitions(settings.storage_root(), CRASHES, keys).values())
    export = pl.read_csv(week / "nyccrashes_2024w0630_by20250212.csv", infer_schema=False)
    assert crashes.height == export.height == 1876
    assert crashes["collision_id"].is_unique().all()
    assert set(crashes["collision_id"]) == set(export["COLLISION_ID"].cast(pl.Int64))
    backfilled = crashes.filter(pl.col("collision_id") == 4737776).row(0, named=True)
    assert backfilled["latitude"] == pytest.approx(40.655254)
