"""Validate, then commit: an NYC day is fetched, cleaned and checked in memory, then stored whole.

The three tables of a day (raw, crashes, features) are built from the source's records, pass every
blocking rule below, and only then are committed together (:func:`accident_assets.io_manager.
commit_partition`). A day that fails leaves every stored partition as it was and names the day,
the column and the ids. In a range, the good days are stored and the bad ones are reported
together at the end.

Rules: the Pandera schemas of the three tables; cleaning keeps every row (a duplicate
``collision_id`` is an error, never dropped); the source's count when it gave one; at least
``min_rows`` crashes (New York has hundreds a day: an empty answer is an outage, not a day); and
the shrink guard — a day with markedly fewer rows than its stored version is refused unless the
run accepts the shrink (real revisions remove almost nothing). ``collision_id`` is unique across
days: when a crash moves to another day (a corrected date), the day it left is fetched and
committed again in the same run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl

from accident_assets import checks
from accident_assets.io_manager import Commit
from accident_assets.nyc import schemas
from accident_assets.nyc.features import build_features
from accident_assets.nyc.keys import CRASHES, FEATURES, LANE, RAW
from accident_assets.nyc.partitions import key_of
from accident_assets.nyc.transforms import clean_crashes, geo_summary, raw_frame
from accident_assets.resources import AssetStorage

TABLE_SCHEMAS = {RAW: schemas.RAW_CRASHES, CRASHES: schemas.CRASHES, FEATURES: schemas.FEATURES}
MAX_FAILURES_SHOWN = 5


class DayRejected(ValueError):
    """A day that must not be stored; the message names the day and what is wrong."""


@dataclass(frozen=True)
class IngestPolicy:
    h3_resolution: int
    min_rows: int = 1
    accept_shrink: bool = False
    shrink_tolerance_fraction: float = 0.02
    shrink_tolerance_rows: int = 3


@dataclass(frozen=True)
class DayTables:
    day: dt.date
    raw: pl.DataFrame
    crashes: pl.DataFrame
    features: pl.DataFrame

    @property
    def key(self) -> str:
        return key_of(self.day)

    def tables(self) -> dict[dg.AssetKey, pl.DataFrame]:
        return {RAW: self.raw, CRASHES: self.crashes, FEATURES: self.features}

    def source_stats(self, updated_at: str | None = None) -> dict[str, Any]:
        """What the source said about the day, kept in the commit for change detection."""
        # As the live API counts it (``count(latitude)``), so stored and live agree.
        geocoded = self.raw.filter(_filled(self.raw, "latitude")).height
        return {"count": self.raw.height, "geocoded": geocoded, "updated_at": updated_at}

    def quality(self) -> dict[str, Any]:
        """Geocode shares of the day (the portal geocodes late: a backlog shows here first)."""
        summary = geo_summary(self.crashes)
        total = max(self.crashes.height, 1)
        return {
            "crashes": self.crashes.height,
            "incidents": int(self.crashes.get_column("incidents").sum()),
            **{f"{status}_share": round(n / total, 4) for status, n in summary.items()},
        }


def _filled(frame: pl.DataFrame, column: str) -> pl.Expr:
    if column not in frame.columns:
        return pl.lit(False)
    return pl.col(column).is_not_null() & (pl.col(column).str.strip_chars() != "")


def build_day(records: Iterable[Mapping[str, Any]], day: dt.date, resolution: int) -> DayTables:
    raw = raw_frame(records)
    try:
        crashes = clean_crashes(raw, day, resolution)
    except ValueError as err:
        raise DayRejected(str(err)) from None
    return DayTables(day, raw, crashes, build_features(crashes))


def validate_day(tables: DayTables, stored: Commit | None, policy: IngestPolicy) -> None:
    """Every blocking rule of a day; raises :class:`DayRejected` on the first that fails."""
    key = tables.key
    if tables.raw.height < policy.min_rows:
        raise DayRejected(
            f"nyc partition {key}: the source returned {tables.raw.height} crashes (at least "
            f"{policy.min_rows} expected); not stored — an outage or a wrong query, not a day"
        )
    if tables.crashes.height != tables.raw.height:
        raise DayRejected(
            f"nyc partition {key}: cleaning kept {tables.crashes.height} of "
            f"{tables.raw.height} rows; no row may be dropped"
        )
    for asset_key, frame in tables.tables().items():
        failures = checks.validate(TABLE_SCHEMAS[asset_key], frame)
        if failures is not None:
            raise DayRejected(
                f"{asset_key.to_user_string()} partition {key}: "
                + checks.failure_summary(TABLE_SCHEMAS[asset_key].name, failures)
            )
    if stored is not None and not policy.accept_shrink:
        before = stored.rows.get(RAW.to_user_string(), 0)
        lost = before - tables.raw.height
        if lost > policy.shrink_tolerance_rows and lost > policy.shrink_tolerance_fraction * before:
            raise DayRejected(
                f"nyc partition {key}: the source now has {tables.raw.height} crashes, the stored "
                f"day has {before} ({lost} fewer, beyond {policy.shrink_tolerance_rows} rows and "
                f"{policy.shrink_tolerance_fraction:.0%}); not stored. If the shrink is real, "
                "re-run with accept_shrink: true"
            )


@dataclass
class IngestOutcome:
    committed: dict[str, Commit] = field(default_factory=dict)
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    # Days outside the run that were re-fetched because a crash left them for a day of the run.
    moved_from: dict[str, list[int]] = field(default_factory=dict)
    # Stored columns and dtypes of each committed day's tables (day -> asset key -> column ->
    # dtype), for the tables' column schemas: the raw day's keys vary with what the API sent.
    columns: dict[str, dict[dg.AssetKey, dict[str, pl.DataType]]] = field(default_factory=dict)

    def failure_message(self) -> str:
        lines = [f"{len(self.rejected)} day(s) not stored:"]
        lines += [f"- {key}: {reason}" for key, reason in sorted(self.rejected.items())]
        if self.committed:
            lines.append(f"{len(self.committed)} good day(s) stored: {', '.join(self.committed)}")
        return "\n".join(lines)


def stored_collision_days(store: AssetStorage, exclude: set[str]) -> pl.DataFrame:
    """``collision_id`` -> stored day, over every committed day except ``exclude``."""
    keys = [k for k in store.partitions(CRASHES) if k not in exclude]
    frames = [
        frame.select("collision_id", pl.lit(key).alias("partition"))
        for key, frame in store.read(CRASHES, keys).items()
    ]
    if not frames:
        return pl.DataFrame(schema={"collision_id": pl.Int64, "partition": pl.Utf8})
    return pl.concat(frames)


def ids_on_several_days(index: pl.DataFrame) -> pl.DataFrame:
    """Rows of ``collision_id`` -> partition whose id is stored on more than one day."""
    return index.filter(pl.col("collision_id").is_duplicated()).sort("collision_id", "partition")


def ingest(
    days: list[dt.date],
    fetch: Callable[[dt.date], list[dict[str, Any]]],
    store: AssetStorage,
    policy: IngestPolicy,
    *,
    updated_at: Mapping[dt.date, str | None] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> IngestOutcome:
    """Fetch, build and validate every day, then commit the good ones (each all-or-nothing)."""
    outcome = IngestOutcome()
    good: dict[str, DayTables] = {}
    for day in days:
        key = key_of(day)
        try:
            tables = build_day(fetch(day), day, policy.h3_resolution)
            validate_day(tables, store.current(LANE, key), policy)
        except DayRejected as err:
            outcome.rejected[key] = str(err)
            log(f"nyc {key}: REJECTED, nothing stored: {err}")
            continue
        except Exception as err:  # the source failed for this day: the others still count
            outcome.rejected[key] = f"{type(err).__name__}: {err}"
            log(f"nyc {key}: source failed, nothing stored: {err}")
            continue
        good[key] = tables

    moved = _moved_crashes(good, store)
    for old_key, ids in sorted(moved.items()):
        day = dt.date.fromisoformat(old_key)
        log(
            f"nyc {old_key}: {len(ids)} crash(es) moved to another day (e.g. {ids[:3]}); re-fetched"
        )
        try:
            tables = build_day(fetch(day), day, policy.h3_resolution)
            # The day lost the moved crashes: that shrink is expected, not a fault.
            validate_day(tables, store.current(LANE, old_key), policy)
            still_there = set(ids) & set(tables.crashes.get_column("collision_id").to_list())
            if still_there:
                raise DayRejected(
                    f"nyc partition {old_key}: collision_id {sorted(still_there)[:5]} is on "
                    f"{old_key} and on another day at the source; collision_id must be unique"
                )
        except Exception as err:
            for key in _days_holding(good, ids):
                outcome.rejected[key] = f"crash(es) {ids[:5]} also stored on {old_key}: {err}"
                good.pop(key, None)
            continue
        good[old_key] = tables
        outcome.moved_from[old_key] = ids

    for key, tables in sorted(good.items()):
        stamp = (updated_at or {}).get(tables.day)
        outcome.committed[key] = store.commit(
            LANE, key, tables.tables(), tables.source_stats(stamp)
        )
        outcome.quality[key] = tables.quality()
        outcome.columns[key] = {k: dict(frame.schema) for k, frame in tables.tables().items()}
        log(
            f"nyc {key}: {tables.raw.height} crashes, {tables.features.height} cell-hours, "
            f"geocoded {outcome.quality[key]['valid_share']:.0%} "
            f"(version {outcome.committed[key].version[:8]})"
        )
    return outcome


def _moved_crashes(good: dict[str, DayTables], store: AssetStorage) -> dict[str, list[int]]:
    """Stored days (outside ``good``) that hold a collision_id one of the good days now has."""
    if not good:
        return {}
    new = pl.concat(
        t.crashes.select("collision_id", pl.lit(k).alias("new_partition")) for k, t in good.items()
    )
    duplicated = new.filter(pl.col("collision_id").is_duplicated())
    if duplicated.height:
        # Two days of the same run claim a crash: the source itself is inconsistent.
        row = duplicated.sort("collision_id").row(0, named=True)
        raise DayRejected(
            f"nyc: collision_id {row['collision_id']} is on several days of the run: "
            f"{sorted(duplicated.filter(pl.col('collision_id') == row['collision_id'])['new_partition'])}"
        )
    stored = stored_collision_days(store, exclude=set(good))
    hits = stored.join(new, on="collision_id")
    return {
        key: sorted(group.get_column("collision_id").to_list())
        for (key,), group in hits.group_by("partition")
    }


def _days_holding(good: dict[str, DayTables], ids: list[int]) -> list[str]:
    wanted = set(ids)
    return [
        key
        for key, t in good.items()
        if wanted & set(t.crashes.get_column("collision_id").to_list())
    ]
