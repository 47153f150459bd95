"""A range of NYC days in ONE run (single-run backfill) leaves per-day results in the instance:
each day's materialization has its own row count and column schema, and each check has one
result per day, read back from the instance's event log as the UI reads it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from accident_assets import settings
from accident_assets.nyc.assets import NYC_ASSETS
from accident_assets.nyc.definitions import NYC_CHECKS
from accident_assets.nyc.ingest import CRASHES, FEATURES, LANE, RAW
from accident_assets.nyc.jobs import range_tags
from accident_assets.nyc.run import ingest_days
from accident_assets.nyc.sample import sample_day
from accident_assets.nyc.sources import SampleNycSource, SocrataNycSource
from accident_assets.resources import AssetStorage, shared_resources
from accident_assets_tests.nyc.soql_server import SoqlServer

DAYS = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(3)]
KEYS = [d.isoformat() for d in DAYS]
CHECK_KEYS = [key for check in NYC_CHECKS for key in check.check_keys]
SUCCEEDED = AssetCheckExecutionRecordStatus.SUCCEEDED
FAILED = AssetCheckExecutionRecordStatus.FAILED


def latest_materialization(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> dg.AssetMaterialization:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{key.to_user_string()} {partition}: no materialization"
    return records[0].asset_materialization


def statuses(
    instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, run_id: str
) -> dict[str | None, list[AssetCheckExecutionRecordStatus]]:
    """Partition -> statuses of the run's executions of the check (PLANNED: never resolved,
    which the UI shows as skipped)."""
    history = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=100)
    found: dict[str | None, list] = {}
    for record in history:
        if record.run_id == run_id:
            found.setdefault(record.partition, []).append(record.status)
    return found


def test_each_day_of_a_range_run_has_its_own_row_count_and_check_results(state_home: Path):
    instance = dg.DagsterInstance.ephemeral()
    result = ingest_days(DAYS[0], DAYS[-1], source=SampleNycSource(), instance=instance)
    assert result.success
    storage = AssetStorage(root=settings.storage_root())
    for key in (RAW, CRASHES, FEATURES):
        counts = {}
        for partition in KEYS:
            metadata = latest_materialization(instance, key, partition).metadata
            counts[partition] = metadata["dagster/row_count"].value
            stored = storage.current(LANE, partition)
            assert counts[partition] == stored.rows[key.to_user_string()]
            assert metadata["version"].value == stored.version
            columns = metadata["dagster/column_schema"].value.columns
            frame = storage.read(key, [partition])[partition]
            assert [c.name for c in columns] == frame.columns
            if key == RAW:  # every raw column carries the data dictionary's meaning
                assert all(c.description and c.description.strip() for c in columns), columns
        # The sample's days differ in size: a range total repeated on each day would not.
        assert len(set(counts.values())) == len(KEYS), counts
    for check_key in CHECK_KEYS:
        found = statuses(instance, check_key, result.run_id)
        assert found == {k: [SUCCEEDED] for k in KEYS}, check_key.to_user_string()


def test_a_range_of_one_day_records_that_day(state_home: Path):
    """A single-run backfill of one day (what the UI and automation send for one partition) is a
    range, not a partition key: every check still has one result, for that day."""
    from accident_assets.nyc.run import ingest_job

    instance = dg.DagsterInstance.ephemeral()
    result = ingest_job(SampleNycSource()).execute_in_process(
        instance=instance, tags=range_tags(DAYS[0], DAYS[0]), raise_on_error=False
    )
    assert result.success
    for check_key in CHECK_KEYS:
        found = statuses(instance, check_key, result.run_id)
        assert found == {KEYS[0]: [SUCCEEDED]}, check_key.to_user_string()


def _break_crashes_of(partition: str) -> None:
    """Store a day whose crashes table breaks the schema (a negative injured count), as a bug
    or a hand edit of the storage would; the day's other tables stay as they were."""
    storage = AssetStorage(root=settings.storage_root())
    commit = storage.current(LANE, partition)
    tables = {key: storage.read(key, [partition])[partition] for key in (RAW, CRASHES, FEATURES)}
    tables[CRASHES] = tables[CRASHES].with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(-1)
        .otherwise(pl.col("injured"))
        .cast(pl.Int32)
        .alias("injured")
    )
    storage.commit(LANE, partition, tables, source=commit.source)


def test_a_broken_day_fails_its_own_checks_only(state_home: Path):
    instance = dg.DagsterInstance.ephemeral()
    assert ingest_days(DAYS[0], DAYS[-1], source=SampleNycSource(), instance=instance).success
    _break_crashes_of(KEYS[1])
    # The checks alone over the range, in one run, as the UI's "Execute checks" on a range.
    result = dg.materialize(
        [*NYC_ASSETS, *NYC_CHECKS],
        selection=dg.AssetSelection.checks(*NYC_CHECKS),
        resources={**shared_resources(), "nyc_source": SampleNycSource()},
        instance=instance,
        tags=range_tags(DAYS[0], DAYS[-1]),
    )
    assert result.success  # the checks are not blocking
    for check_key in CHECK_KEYS:
        found = statuses(instance, check_key, result.run_id)
        if check_key.name == "crashes_schema":
            assert found == {KEYS[0]: [SUCCEEDED], KEYS[1]: [FAILED], KEYS[2]: [SUCCEEDED]}
        else:
            assert found == {k: [SUCCEEDED] for k in KEYS}, check_key.to_user_string()
    [failed] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed.partition == KEYS[1]
    assert failed.metadata["failure_count"].value >= 1
    assert failed.metadata["rows"].value == storage_rows(CRASHES, KEYS[1])


def storage_rows(key: dg.AssetKey, partition: str) -> int:
    return (
        AssetStorage(root=settings.storage_root())
        .current(LANE, partition)
        .rows[key.to_user_string()]
    )


def test_a_geocoding_backlog_warns_on_its_day_only(state_home: Path):
    records = [r for d in DAYS for r in sample_day(d)]
    for row in [r for r in records if r["crash_date"].startswith(KEYS[-1])][20:]:
        for field in ("latitude", "longitude", "location"):
            row.pop(field, None)  # the newest day: most coordinates not filled in yet
    instance = dg.DagsterInstance.ephemeral()
    with SoqlServer.from_records(records, max_lifetime_s=60) as server:
        source = SocrataNycSource(base_url=server.url, page_size=500, retries=1)
        result = ingest_days(DAYS[0], DAYS[-1], source=source, instance=instance)
    assert result.success
    check_key = dg.AssetCheckKey(CRASHES, "geocoded_share")
    found = statuses(instance, check_key, result.run_id)
    assert found == {KEYS[0]: [SUCCEEDED], KEYS[1]: [SUCCEEDED], KEYS[2]: [FAILED]}
    [warning] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "geocoded_share" and not e.passed
    ]
    assert warning.severity == dg.AssetCheckSeverity.WARN and warning.partition == KEYS[2]
    assert "backlog" in warning.metadata["warning"].value
