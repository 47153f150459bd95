"""The NYC lane: raw day as received -> clean crashes -> cell-hour features (daily partitions).

The three tables of a day are one unit: a single step fetches the day, builds the three tables
in memory, validates them (:mod:`accident_assets.nyc.ingest`) and commits them together, so a
failure at any point leaves the stored day as it was. A run over a range of days (single-run
backfill) stores every good day and fails at the end naming the bad ones; the stored days are
reported as materialized partitions.

The step imports the logic it runs in its body: the logic modules load polars; defining the lane
must not.
"""

from typing import TYPE_CHECKING

import dagster as dg

from accident_assets.checks import column_schema, markdown_table
from accident_assets.instance import INGEST_POOL
from accident_assets.nyc.keys import CRASHES, FEATURES, RAW
from accident_assets.nyc.partitions import NYC_DAILY, day_of
from accident_assets.nyc.sources import NycSource
from accident_assets.ownership import lane_ownership
from accident_assets.resources import AssetStorage
from accident_assets.settings import get_settings

if TYPE_CHECKING:
    from accident_assets.nyc.ingest import IngestOutcome, IngestPolicy

GROUP = "nyc"


def default_resolution() -> int:
    return get_settings().nyc_h3_resolution


class IngestConfig(dg.Config):
    h3_resolution: int = default_resolution()
    min_rows: int = 1
    accept_shrink: bool = False
    shrink_tolerance_fraction: float = 0.02
    shrink_tolerance_rows: int = 3

    def policy(self) -> "IngestPolicy":
        from accident_assets.nyc.ingest import IngestPolicy

        return IngestPolicy(
            h3_resolution=self.h3_resolution,
            min_rows=self.min_rows,
            accept_shrink=self.accept_shrink,
            shrink_tolerance_fraction=self.shrink_tolerance_fraction,
            shrink_tolerance_rows=self.shrink_tolerance_rows,
        )


DESCRIPTIONS = {
    RAW: "The crashes of one day as the source returned them: every key, values as text.",
    CRASHES: (
        "Typed crashes: timestamp, borough, geocode status (missing / zero / outside_nyc rows are "
        "kept and counted, but get no cell), injuries, incidents = max(1, injured + killed), H3 cell."
    ),
    FEATURES: (
        "Incidents per (H3 cell, hour) of the day, with the model's calendar and centroid "
        "features; only cell-hours with incidents (training fills the zeros)."
    ),
}
UPSTREAM = {RAW: [], CRASHES: [RAW], FEATURES: [CRASHES]}
STAGES = {RAW: "raw", CRASHES: "clean", FEATURES: "features"}
SPECS = [
    dg.AssetSpec(
        key,
        group_name=GROUP,
        partitions_def=NYC_DAILY,
        description=DESCRIPTIONS[key],
        deps=UPSTREAM[key],
        kinds={"polars", "parquet"},
        **lane_ownership(GROUP, STAGES[key]),
    ).with_io_manager_key("parquet_io_manager")
    for key in (RAW, CRASHES, FEATURES)
]


def _metadata(outcome: "IngestOutcome", key: dg.AssetKey, partition: str) -> dict:
    """What one day's materialization of ``key`` records: its own row count, version and
    column schema (with the columns' documented meanings), never the range's."""
    from accident_assets.nyc import schemas

    commit = outcome.committed[partition]
    metadata: dict = {
        "dagster/row_count": commit.rows[key.to_user_string()],
        "version": commit.version,
        "dagster/column_schema": column_schema(
            outcome.columns[partition][key], schemas.COLUMN_DESCRIPTIONS[key.path[-1]]
        ),
    }
    if key == CRASHES:
        metadata["geocode_quality"] = dg.MetadataValue.json(outcome.quality[partition])
    if partition in outcome.moved_from:
        metadata["refetched_for_moved_crashes"] = dg.MetadataValue.json(
            outcome.moved_from[partition]
        )
    return metadata


@dg.multi_asset(
    specs=SPECS,
    name="nyc_days",
    partitions_def=NYC_DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=False,
    pool=INGEST_POOL,
)
def nyc_days(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    nyc_source: NycSource,
    asset_storage: AssetStorage,
):
    """Fetch each day of the run, validate its three tables in memory, commit the good days."""
    from accident_assets.nyc.ingest import ingest

    days = [day_of(k) for k in context.partition_keys]
    stats = nyc_source.day_stats(days[0], days[-1])
    context.log.info(f"nyc: {len(days)} day(s) {days[0]}..{days[-1]} from {nyc_source.describe()}")
    outcome = ingest(
        days,
        nyc_source.fetch_day,
        asset_storage,
        config.policy(),
        updated_at={day: stat.updated_at for day, stat in stats.items()},
        log=context.log.info,
    )
    in_run = set(context.partition_keys)
    for partition in sorted(outcome.committed):
        for key in (RAW, CRASHES, FEATURES):
            metadata = _metadata(outcome, key, partition)
            if partition in in_run and not outcome.rejected:
                # Lands on this day's materialization only (Dagster builds one event per
                # partition of the step's outputs, each with its partition-scoped metadata).
                context.add_asset_metadata(metadata, asset_key=key, partition_key=partition)
            else:
                # No output will be recorded for it: a good day of a failing range, or a day
                # outside the run that a crash moved away from.
                yield dg.AssetMaterialization(key, partition=partition, metadata=metadata)
    if outcome.rejected:
        raise dg.Failure(
            description=outcome.failure_message(),
            metadata={"rejected": dg.MetadataValue.json(outcome.rejected)},
        )
    # A preview of the last day only, on that day's materialization (one read, not one a day).
    last = max(in_run)
    frame = asset_storage.read(FEATURES, [last])[last]
    context.add_asset_metadata(
        {"preview": dg.MetadataValue.md(markdown_table(frame.head(10)))},
        asset_key=FEATURES,
        partition_key=last,
    )
    for key in (RAW, CRASHES, FEATURES):
        yield dg.MaterializeResult(asset_key=key)


NYC_ASSETS = [nyc_days]
