"""The new-day sensor, evaluated with build_sensor_context on a real instance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from accident_assets.nyc import definitions as nyc
from accident_assets.nyc.assets import NYC_ASSETS
from accident_assets.nyc.jobs import nyc_ingest_job
from accident_assets.nyc.sensors import nyc_new_days_sensor, plan_runs
from accident_assets.nyc.sources import CsvExportNycSource, NycSource, SampleNycSource
from accident_assets.resources import shared_resources

D = dt.date


def evaluate(instance: dg.DagsterInstance, source: NycSource, cursor: str | None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"nyc_source": source}
    )
    return nyc_new_days_sensor(context)


def sample_until(day: str) -> NycSource:
    return SampleNycSource(last_day=day)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_first_evaluation_requests_the_reingest_window(instance):
    result = evaluate(instance, sample_until("2023-01-10"), None)
    assert [r.partition_key for r in result.run_requests] == [
        "2023-01-08",
        "2023-01-09",
        "2023-01-10",
    ]
    assert result.cursor == "2023-01-10"


def test_nothing_new_is_a_skip(instance):
    result = evaluate(instance, sample_until("2023-01-10"), "2023-01-10")
    assert isinstance(result, dg.SkipReason)
    assert "nothing new" in result.skip_message


def test_new_days_and_late_reingest_with_fresh_run_keys(instance):
    before = evaluate(instance, sample_until("2023-01-10"), None)
    after = evaluate(instance, sample_until("2023-01-12"), before.cursor)
    runs = {r.partition_key: r for r in after.run_requests}
    assert sorted(runs) == ["2023-01-10", "2023-01-11", "2023-01-12"]
    assert runs["2023-01-11"].tags["nyc/sensor_reason"] == "new_day"
    assert runs["2023-01-10"].tags["nyc/sensor_reason"] == "reingest"
    # The revised day gets a new run key, so it is ingested again.
    old_key = next(r.run_key for r in before.run_requests if r.partition_key == "2023-01-10")
    assert runs["2023-01-10"].run_key != old_key
    assert after.cursor == "2023-01-12"


def test_plan_caps_a_long_gap_and_respects_the_partition_start():
    runs, cursor = plan_runs(
        "2023-01-01", D(2023, 6, 1), first_day=D(2023, 1, 1), last_day=D(2024, 1, 1), max_new_days=5
    )
    assert [r.partition_key for r in runs][-5:] == [f"2023-01-0{i}" for i in range(2, 7)]
    assert cursor == D(2023, 1, 6)  # the rest comes at the next tick
    runs, _ = plan_runs(None, D(2023, 1, 1), first_day=D(2023, 1, 1), last_day=D(2024, 1, 1))
    assert [r.partition_key for r in runs] == ["2023-01-01"]
    runs, _ = plan_runs(
        "2023-01-02", D(2023, 1, 5), first_day=D(2023, 1, 1), last_day=D(2023, 1, 4)
    )
    assert [r.partition_key for r in runs] == ["2023-01-02", "2023-01-03", "2023-01-04"]


@pytest.mark.real_data
def test_late_reports_are_picked_up_by_running_the_requests(
    shared_data: Path, state_home: Path, instance
):
    """Ingested through 07-06 from the first export; the later export's newest day 07-07 makes
    the sensor re-ingest 07-05 and 07-06 as well, and the runs it asks for succeed."""
    week = shared_data / "nyc_collisions/2024-w27"
    source = CsvExportNycSource(path=str(week / "nyccrashes_2024w0630_by20250212.csv"))
    result = evaluate(instance, source, "2024-07-06")
    assert [(r.partition_key, r.tags["nyc/sensor_reason"]) for r in result.run_requests] == [
        ("2024-07-05", "reingest"),
        ("2024-07-06", "reingest"),
        ("2024-07-07", "new_day"),
    ]
    job = dg.Definitions(
        assets=NYC_ASSETS,
        asset_checks=nyc.NYC_CHECKS,
        jobs=[nyc_ingest_job],
        resources={**shared_resources(), "nyc_source": source},
    ).resolve_job_def("nyc_ingest_job")
    for request in result.run_requests:
        run = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags
        )
        assert run.success
    assert evaluate(instance, source, result.cursor).skip_message.startswith("nothing new")
