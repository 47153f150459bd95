"""Checks of the NYC lane that look across days: one day per crash, and the geocoding backlog.

The checks import polars and the logic they run in their bodies: defining the lane must not load
polars.
"""

import statistics
from collections.abc import Iterator, Mapping, Sequence

import dagster as dg

from accident_assets.checks import per_partition_results
from accident_assets.nyc.keys import CRASHES, LANE
from accident_assets.nyc.partitions import NYC_DAILY
from accident_assets.resources import AssetStorage

TRAILING_DAYS = 28
# A day geocoded at less than half the trailing median is a backlog, not a quiet day.
GEOCODE_WARN_RATIO = 0.5


def geocode_warning(
    partition: str, share: float, trailing: list[float], ratio: float = GEOCODE_WARN_RATIO
) -> str | None:
    if not trailing:
        return None
    median = statistics.median(trailing)
    if share < ratio * median:
        return (
            f"nyc {partition}: {share:.0%} of crashes geocoded, against a median of {median:.0%} "
            f"over the {len(trailing)} stored days before it: a geocoding backlog (the portal "
            "fills coordinates in later); the change detection re-ingests the day when they come"
        )
    return None


def geocoded_share(source: dict) -> float:
    return source.get("geocoded", 0) / max(source.get("count", 0), 1)


def stored_geocoded_shares(storage: AssetStorage, partitions: Sequence[str]) -> dict[str, float]:
    """The geocoded share of each stored day (from its commit's source counts, as the live API
    counts them); days without a commit are left out."""
    return {
        key: round(geocoded_share(commit.source), 4)
        for key in partitions
        if (commit := storage.current(LANE, key)) is not None
    }


def incomplete_days(shares: Mapping[str, float], ratio: float) -> list[str]:
    """Days geocoded at less than ``ratio`` times the median share of ``shares``: their cells
    miss a part of their incidents, so their counts are too low for training or judging."""
    if not shares:
        return []
    median = statistics.median(shares.values())
    return sorted(k for k, share in shares.items() if share < ratio * median)


@dg.asset_check(
    asset=CRASHES,
    name="collision_id_on_one_day",
    partitions_def=NYC_DAILY,
    blocking=False,
    description="Every collision_id of the day is stored on this day only, over all stored days.",
)
def collision_id_on_one_day(
    context: dg.AssetCheckExecutionContext, asset_storage: AssetStorage
) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.Output]:
    import polars as pl

    from accident_assets.nyc.ingest import ids_on_several_days, stored_collision_days

    index = stored_collision_days(asset_storage, exclude=set())
    repeated = ids_on_several_days(index)
    results = {}
    for partition in context.partition_keys:
        ids = repeated.filter(pl.col("partition") == partition).get_column("collision_id")
        # Both days of each repeated id, so the result names where else it is stored.
        examples = repeated.filter(pl.col("collision_id").is_in(ids.head(10).implode()))
        results[partition] = dg.AssetCheckResult(
            passed=ids.len() == 0,
            metadata={
                "stored_crashes": index.filter(pl.col("partition") == partition).height,
                "ids_on_several_days": ids.n_unique(),
                "examples": dg.MetadataValue.json(examples.to_dicts()),
            },
        )
    yield from per_partition_results(context, results)


@dg.asset_check(
    asset=CRASHES,
    name="geocoded_share",
    partitions_def=NYC_DAILY,
    blocking=False,
    description=(
        f"WARN when a day's geocoded share is below {GEOCODE_WARN_RATIO:.0%} of the median of "
        f"the {TRAILING_DAYS} stored days before it."
    ),
)
def geocoded_share_check(
    context: dg.AssetCheckExecutionContext, asset_storage: AssetStorage
) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.Output]:
    stored = asset_storage.partitions(CRASHES)
    first, last = min(context.partition_keys), max(context.partition_keys)
    earlier = [k for k in stored if k < first][-TRAILING_DAYS:]
    wanted = earlier + [k for k in stored if first <= k <= last]
    share_of = stored_geocoded_shares(asset_storage, wanted)
    results = {}
    for partition in context.partition_keys:
        if partition not in share_of:
            results[partition] = dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"warning": f"nyc {partition}: nothing stored for the day"},
            )
            continue
        trailing = [share_of[k] for k in share_of if k < partition][-TRAILING_DAYS:]
        warning = geocode_warning(partition, share_of[partition], trailing)
        metadata: dict[str, dg.RawMetadataValue] = {
            "geocoded_share": share_of[partition],
            "trailing_days": len(trailing),
            "warning": warning or "",
        }
        if trailing:
            metadata["trailing_median"] = statistics.median(trailing)
        results[partition] = dg.AssetCheckResult(
            passed=warning is None, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
        )
    yield from per_partition_results(context, results)


NYC_LANE_CHECKS = [collision_id_on_one_day, geocoded_share_check]
