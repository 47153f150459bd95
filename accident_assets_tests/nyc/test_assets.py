"""The NYC group materialized end to end: sample week, empty day, failing day, live-API backend."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from accident_assets import settings
from accident_assets.io_manager import read_partitions, stored_partitions
from accident_assets.nyc.assets import NYC_ASSETS
from accident_assets.nyc.definitions import NYC_CHECKS
from accident_assets.nyc.run import ingest_days
from accident_assets.nyc.sample import sample_day
from accident_assets.nyc.sources import NycSource, SampleNycSource, SocrataNycSource
from accident_assets.resources import shared_resources
from accident_assets_tests.nyc.soql_server import SoqlServer

RAW = dg.AssetKey(["nyc", "raw_crashes"])
CRASHES = dg.AssetKey(["nyc", "crashes"])
FEATURES = dg.AssetKey(["nyc", "features"])
WEEK = [dt.date(2023, 3, 6) + dt.timedelta(days=i) for i in range(7)]


def test_a_sample_week_in_one_run(state_home: Path):
    result = ingest_days(
        WEEK[0], WEEK[-1], source=SampleNycSource(), instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    # One result per check and day (see test_partition_results for what the instance keeps).
    assert sorted((e.check_name, e.partition) for e in evaluations) == sorted(
        (check.name, d.isoformat()) for c in NYC_CHECKS for check in c.check_keys for d in WEEK
    )
    assert all(e.passed for e in evaluations)
    root = settings.storage_root()
    keys = [d.isoformat() for d in WEEK]
    for key in (RAW, CRASHES, FEATURES):
        assert stored_partitions(root, key) == keys
    crashes = read_partitions(root, CRASHES, keys)
    features = read_partitions(root, FEATURES, keys)
    for key in keys:
        assert 180 <= crashes[key].height <= 360
        valid = crashes[key].filter(pl.col("cell").is_not_null())
        assert features[key]["incidents"].sum() == valid["incidents"].sum()
        assert features[key]["date"].unique().to_list() == [dt.date.fromisoformat(key)]
    # Every day's incidents are its own (no weekday signal is asserted on one day: like the
    # city's, the sample's weekday factors are within a day's noise; see test_transforms).
    assert len({features[k]["incidents"].sum() for k in keys}) > 1


def test_a_day_without_crashes_is_refused(state_home: Path):
    day = dt.date(2023, 3, 20)
    source = SampleNycSource(last_day="2023-03-19")  # the source has nothing for the day
    result = ingest_days(
        day, day, source=source, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    assert stored_partitions(settings.storage_root(), FEATURES) == []


def socrata_source(server: SoqlServer) -> NycSource:
    return SocrataNycSource(
        base_url=server.url,
        page_size=100,
        retries=2,
        backoff_factor=0.01,
        read_timeout_s=5,
    )


def test_live_api_backend_over_loopback(state_home: Path):
    day = dt.date(2023, 3, 8)
    with SoqlServer(rows_for_day=sample_day, max_lifetime_s=60) as server:
        server.inject("429", retry_after="0", times=1)
        result = ingest_days(
            day, day, source=socrata_source(server), instance=dg.DagsterInstance.ephemeral()
        )
    assert result.success
    raw = read_partitions(settings.storage_root(), RAW, [day.isoformat()])[day.isoformat()]
    assert raw.height == len(sample_day(day))
    assert raw.schema["location"] == pl.Utf8  # nested values kept, as JSON text
    assert json.loads(raw["location"].drop_nulls()[0])["latitude"]


def test_a_count_mismatch_fails_the_day_and_writes_nothing(state_home: Path):
    day = dt.date(2023, 3, 9)
    with SoqlServer(rows_for_day=sample_day, max_lifetime_s=60) as server:
        server.inject("count_mismatch", target="count", delta=5)
        result = dg.materialize(
            [*NYC_ASSETS, *NYC_CHECKS],
            resources={**shared_resources(), "nyc_source": socrata_source(server)},
            partition_key=day.isoformat(),
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "the API counts" in str(failure.step_failure_data.error)
    assert stored_partitions(settings.storage_root(), RAW) == []


@pytest.mark.slow
def test_cli_job_execute_one_partition(state_home: Path):
    env = {**os.environ, "ACCIDENT_ASSETS_NYC_SOURCE": "sample"}
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "job",
            "execute",
            "-m",
            "accident_assets.definitions",
            "-j",
            "nyc_ingest_job",
            "--tags",
            json.dumps({"dagster/partition": "2023-01-05"}),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert stored_partitions(settings.storage_root(), FEATURES) == ["2023-01-05"]


@pytest.mark.slow
@pytest.mark.real_data
def test_cli_backfill_of_older_days_from_the_manhattan_series(shared_data: Path, state_home: Path):
    """ACCIDENT_ASSETS_NYC_START opens 2022 partitions; a range is one CLI command, one run."""
    env = {
        **os.environ,
        "ACCIDENT_ASSETS_NYC_START": "2022-01-02",
        "ACCIDENT_ASSETS_NYC_SOURCE": "csv_export",
        "ACCIDENT_ASSETS_NYC_CSV": str(shared_data / "nyc_collisions/2022-01_2023-07_manhattan"),
    }
    tags = {
        "dagster/asset_partition_range_start": "2022-01-02",
        "dagster/asset_partition_range_end": "2022-01-15",
    }
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "job",
            "execute",
            "-m",
            "accident_assets.definitions",
            "-j",
            "nyc_ingest_job",
            "--tags",
            json.dumps(tags),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    keys = stored_partitions(settings.storage_root(), CRASHES)
    assert keys == [f"2022-01-{d:02d}" for d in range(2, 16)]
    crashes = pl.concat(read_partitions(settings.storage_root(), CRASHES, keys).values())
    assert set(crashes["borough"].drop_nulls()) == {"MANHATTAN"}
    instance = dg.DagsterInstance.from_config(str(state_home / "dagster"))
    runs = instance.get_runs()
    assert len(runs) == 1  # the whole range in one run


def test_a_day_with_a_bad_value_is_never_stored(state_home: Path):
    day = dt.date(2023, 3, 10)
    bad = [{**r, "crash_time": "noon"} for r in sample_day(day)[:5]]

    with SoqlServer(rows_for_day=lambda d: bad if d == day else [], max_lifetime_s=60) as server:
        result = ingest_days(
            day,
            day,
            source=socrata_source(server),
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "column 'crash_time' is 'noon'" in str(failure.step_failure_data.error)
    assert stored_partitions(settings.storage_root(), CRASHES) == []
