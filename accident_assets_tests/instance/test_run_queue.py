"""The run queue's limits under a real `dagster dev` (webserver and daemon), on sqlite and on
Postgres: four NYC ingest days and a duplicate training request launched at once, as a sensor
burst or a backfill would, and the limits read back from the runs' start and end times."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
import pytest

from accident_assets import instance
from accident_assets.training.tasks import FRANCE
from accident_assets_tests.dagster_dev import DagsterDev, running_dagster_dev

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

INGEST_DAYS = [dt.date(2023, 1, 2) + dt.timedelta(days=k) for k in range(4)]
ACTIVE = {"STARTING", "STARTED", "CANCELING"}


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals that are open at one instant (an end before a start at a tie)."""
    edges = sorted(
        [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
        key=lambda edge: (edge[0], edge[1]),
    )
    open_now = most = 0
    for _, step in edges:
        open_now += step
        most = max(most, open_now)
    return most


def test_max_overlap():
    assert max_overlap([]) == 0
    assert max_overlap([(0, 1), (1, 2), (2, 3)]) == 1
    assert max_overlap([(0, 3), (1, 2), (1.5, 4), (5, 6)]) == 3


def _prepare_france(home: Path) -> None:
    """The French features the training reads, ingested beforehand in this process."""
    from accident_assets_tests.training.lanes import ingest_france

    ingest_france(years=("2021", "2022"), accidents=1500)
    assert (home / "storage").is_dir()


def _launch_burst(dev: DagsterDev) -> tuple[list[str], list[str]]:
    from accident_assets_tests.training.lanes import quick_run_config

    training_config = quick_run_config(FRANCE, n_trials=1).to_config_dict()
    ingest = [dev.launch("nyc_ingest_job", day.isoformat()) for day in INGEST_DAYS]
    training = [dev.launch(FRANCE.job_name, "2022", training_config) for _ in range(2)]
    return ingest, training


def _watch(dev: DagsterDev, ingest: list[str], training: list[str]) -> dict[str, int]:
    """Polls every run until all are done; the most of each kind seen active at one poll."""
    seen = {"ingest": 0, "training": 0}
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        statuses = {run: dev.run_times(run)["status"] for run in ingest + training}
        seen["ingest"] = max(seen["ingest"], sum(statuses[r] in ACTIVE for r in ingest))
        seen["training"] = max(seen["training"], sum(statuses[r] in ACTIVE for r in training))
        if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in statuses.values()):
            return seen
        time.sleep(0.25)
    raise AssertionError(f"runs still not finished after 420 s: {statuses}")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_run_queue_limits_hold(backend: str, state_home: Path, request: pytest.FixtureRequest):
    env = {}
    if backend == "postgres":
        db = request.getfixturevalue("postgres_home")
        env["MLFLOW_TRACKING_URI"] = db.tracking_uri
    else:
        instance.ensure_dagster_home()
    from accident_assets.definitions import build_defs

    limits = instance.pool_limits(build_defs())
    assert limits[instance.INGEST_POOL] == 2 and limits[instance.training_pool(FRANCE.name)] == 1
    with dg.DagsterInstance.get() as dagster_instance:
        assert instance.apply_pool_limits(dagster_instance, limits) == limits
        storage_class = type(dagster_instance.run_storage).__name__
    assert ("Postgres" in storage_class) == (backend == "postgres"), storage_class
    _prepare_france(state_home)

    with running_dagster_dev(state_home.parent, env=env) as dev:
        ingest, training = _launch_burst(dev)
        seen = _watch(dev, ingest, training)
        times = {run: dev.run_times(run) for run in ingest + training}
        failed = {run: dev.run_errors(run) for run, t in times.items() if t["status"] != "SUCCESS"}
        assert not failed, failed

    def spans(runs: list[str]) -> list[tuple[float, float]]:
        return [(times[r]["startTime"], times[r]["endTime"]) for r in runs]

    # Two ingest runs at a time, never more, though all four were queued at once.
    assert max_overlap(spans(ingest)) == instance.INGEST_RUN_LIMIT, times
    assert seen["ingest"] <= instance.INGEST_RUN_LIMIT, seen
    # The duplicate training waited in the queue for the first to end.
    first, second = sorted(training, key=lambda r: times[r]["startTime"])
    assert times[second]["creationTime"] < times[first]["endTime"], times
    assert times[second]["startTime"] >= times[first]["endTime"], times
    assert seen["training"] == 1, seen
