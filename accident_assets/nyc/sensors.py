"""A sensor for new NYC days, which also re-ingests the last few days.

Crashes are reported late and geocodes are filled in later (the real 2024-w27 exports show both,
and a crash moving to the previous day), so whenever the source's newest day advances, the
sensor requests one run per new day AND one run for each of the ``reingest_days`` days ending at
the newest day. Run keys are ``<day>@<newest day>``: the same revision is not requested twice,
but a day is ingested again once the source has moved on. The cursor is the newest day seen.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import dagster as dg

from accident_assets.nyc.jobs import nyc_ingest_job
from accident_assets.nyc.partitions import NYC_DAILY, day_of, days_between, key_of
from accident_assets.nyc.sources import NycSource

REINGEST_ENV = "ACCIDENT_ASSETS_NYC_REINGEST_DAYS"
REINGEST_DEFAULT = 3
MAX_NEW_DAYS_PER_TICK = 31


def reingest_days() -> int:
    return int(os.environ.get(REINGEST_ENV, REINGEST_DEFAULT))


@dataclass(frozen=True)
class PlannedRun:
    partition_key: str
    run_key: str
    reason: str  # "new_day" or "reingest"


def plan_runs(
    cursor: str | None,
    newest: dt.date,
    *,
    first_day: dt.date,
    last_day: dt.date,
    reingest: int = REINGEST_DEFAULT,
    max_new_days: int = MAX_NEW_DAYS_PER_TICK,
) -> tuple[list[PlannedRun], dt.date]:
    """Runs to request and the new cursor, given the newest day of the source.

    ``first_day``/``last_day`` bound the partitions that exist; on the first evaluation (no
    cursor) only the re-ingest window is requested, history is a backfill's job.
    """
    seen = day_of(cursor) if cursor else None
    top = min(newest, last_day)
    if seen is not None and top <= seen:
        return [], seen
    window_start = max(first_day, top - dt.timedelta(days=max(reingest, 1) - 1))
    new_start = window_start if seen is None else max(first_day, seen + dt.timedelta(days=1))
    new_days = days_between(new_start, top)[:max_new_days]
    target = new_days[-1] if new_days else top
    window = [d for d in days_between(window_start, target) if d not in new_days]
    if reingest == 0:
        window = []
    runs = [PlannedRun(key_of(d), f"{key_of(d)}@{key_of(target)}", "reingest") for d in window]
    runs += [PlannedRun(key_of(d), f"{key_of(d)}@{key_of(target)}", "new_day") for d in new_days]
    return sorted(runs, key=lambda r: r.partition_key), target


@dg.sensor(
    job=nyc_ingest_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Asks nyc_source for its newest day; one run per new day, plus the last "
        f"{REINGEST_DEFAULT} days again (late reports, filled-in geocodes; ${REINGEST_ENV})."
    ),
)
def nyc_new_days_sensor(context: dg.SensorEvaluationContext, nyc_source: NycSource):
    newest = nyc_source.newest_day()
    if newest is None:
        return dg.SkipReason(f"{nyc_source.describe()} has no data")
    last_key = NYC_DAILY.get_last_partition_key()
    if last_key is None:
        return dg.SkipReason("no NYC partition exists yet")
    runs, cursor = plan_runs(
        context.cursor,
        newest,
        first_day=day_of(NYC_DAILY.get_first_partition_key()),
        last_day=day_of(last_key),
        reingest=reingest_days(),
    )
    if not runs:
        return dg.SkipReason(f"nothing new: newest day {newest}, cursor {context.cursor}")
    context.log.info(f"newest day {newest}: {[f'{r.partition_key} ({r.reason})' for r in runs]}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=r.run_key,
                partition_key=r.partition_key,
                tags={"nyc/sensor_reason": r.reason, "nyc/source_newest_day": key_of(newest)},
            )
            for r in runs
        ],
        cursor=key_of(cursor),
    )
