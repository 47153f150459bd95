"""As-of partitions of the training lanes: what one retrain may read, and which one is the newest.

Every asset of a task's training lane shares one partitions definition, so one partition is one
retrain "as of" a point in time, stored next to the others (history, backtests):

- France, the holdout year: partition ``Y`` trains on the stored years before ``Y`` and is judged
  on ``Y``; with no earlier year stored, ``Y`` is split at random (stratified) as before.
- NYC, weekly (ISO weeks, keyed by their Monday): partition ``W`` trains on the stored days of the
  ``training_days`` before ``W`` and is judged on the 7 days of ``W``, which must all be stored.

Only the newest as-of partition may move the registry's ``champion`` alias; any other is a
backtest. These functions are pure so that the sensor, the assets and the tests share them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from accident_assets.france.partitions import france_yearly_partitions
from accident_assets.nyc.partitions import DATE_FORMAT, day_of, key_of, start_date

HOLDOUT_DAYS = 7
# The lineage of an NYC as-of week: its own days and this many weeks before it. Training reads at
# most ``training_days`` before the week (config, 56 by default), so this bounds the default.
NYC_LINEAGE_WEEKS = 8


class WindowError(ValueError):
    """An as-of partition that the stored feature partitions cannot train and judge."""


@dataclass(frozen=True)
class AsOfWindow:
    """The feature partitions one as-of partition reads: training rows and holdout rows."""

    as_of: str
    train: tuple[str, ...]
    holdout: tuple[str, ...]

    @property
    def partitions(self) -> tuple[str, ...]:
        return tuple(sorted({*self.train, *self.holdout}))

    def without(self, left_out: Sequence[str], min_training: int, task: str) -> AsOfWindow:
        """The window without the ``left_out`` partitions (e.g. days with a geocoding backlog);
        it must keep a holdout partition and ``min_training`` training partitions."""
        gone = set(left_out)
        train = tuple(k for k in self.train if k not in gone)
        holdout = tuple(k for k in self.holdout if k not in gone)
        if not holdout:
            raise WindowError(
                f"{task} as-of {self.as_of}: every holdout partition was left out "
                f"({', '.join(sorted(gone))})"
            )
        if self.train and len(train) < max(1, min_training):
            raise WindowError(
                f"{task} as-of {self.as_of}: {len(train)} training partition(s) left after "
                f"leaving out {', '.join(sorted(gone))}; need {max(1, min_training)}"
            )
        return AsOfWindow(self.as_of, train, holdout)


# ---------------------------------------------------------------------------------------------
# France: the holdout year

FRANCE_AS_OF = france_yearly_partitions
# Year Y reads Y and every year before it (there are fewer than 50 BAAC years since 2019).
FRANCE_FEATURE_MAPPING = dg.TimeWindowPartitionMapping(
    start_offset=-50, allow_nonexistent_upstream_partitions=True
)


def france_window(
    as_of: str, stored: Sequence[str], training_days: int = 0, min_training: int = 0
) -> AsOfWindow:
    """Years before ``as_of`` for training, ``as_of`` itself as the holdout."""
    # Every earlier year is used (the day counts are NYC's); one signature for both tasks.
    del training_days, min_training
    if as_of not in stored:
        raise WindowError(
            f"france_priority as-of {as_of}: france/features {as_of} is not stored "
            f"(stored: {', '.join(sorted(stored)) or 'none'})"
        )
    return AsOfWindow(as_of, tuple(y for y in sorted(stored) if y < as_of), (as_of,))


def france_newest(
    stored: Sequence[str], training_days: int = 0, min_training: int = 0
) -> str | None:
    del training_days, min_training
    return max(stored) if stored else None


# ---------------------------------------------------------------------------------------------
# NYC: weekly


def nyc_weekly_partitions() -> dg.WeeklyPartitionsDefinition:
    return dg.WeeklyPartitionsDefinition(start_date=start_date(), day_offset=1, fmt=DATE_FORMAT)


NYC_AS_OF = nyc_weekly_partitions()
NYC_FEATURE_MAPPING = dg.TimeWindowPartitionMapping(
    start_offset=-NYC_LINEAGE_WEEKS, allow_nonexistent_upstream_partitions=True
)


def nyc_window(
    as_of: str, stored: Sequence[str], training_days: int, min_training: int = 1
) -> AsOfWindow:
    """The 7 days of week ``as_of`` held out, the stored days of the ``training_days`` before it
    for training (at least ``min_training`` of them)."""
    first = day_of(as_of)
    if first.weekday() != 0:
        raise WindowError(f"nyc_incidents as-of {as_of}: not a Monday (weeks start on Monday)")
    stored_set = set(stored)
    holdout = [key_of(first + dt.timedelta(days=i)) for i in range(HOLDOUT_DAYS)]
    missing = [k for k in holdout if k not in stored_set]
    if missing:
        raise WindowError(
            f"nyc_incidents as-of {as_of}: the holdout week {holdout[0]}..{holdout[-1]} misses "
            f"nyc/features day(s) {', '.join(missing)}"
        )
    since = key_of(first - dt.timedelta(days=training_days))
    train = tuple(k for k in sorted(stored_set) if since <= k < as_of)
    if len(train) < max(1, min_training):
        raise WindowError(
            f"nyc_incidents as-of {as_of}: {len(train)} stored nyc/features day(s) in the "
            f"{training_days} days before {as_of}, need {max(1, min_training)}"
        )
    return AsOfWindow(as_of, train, tuple(holdout))


def nyc_newest(stored: Sequence[str], training_days: int, min_training: int = 1) -> str | None:
    """The latest week that can be trained and judged: all 7 days stored, enough days before."""
    if not stored:
        return None
    last = day_of(max(stored))
    monday = last - dt.timedelta(days=last.weekday())
    first = day_of(min(stored))
    while monday >= first:
        try:
            return nyc_window(key_of(monday), stored, training_days, min_training).as_of
        except WindowError:
            monday -= dt.timedelta(days=7)
    return None
