"""The NYC lane: raw day as received -> clean crashes -> cell-hour features (daily partitions).

The three tables of a day are one unit: a single step fetches the day, builds the three tables
in memory, validates them (:mod:`accident_assets.nyc.ingest`) and commits them together, so a
failure at any point leaves the stored day as it was. A run over a range of days (single-run
backfill) stores every good day and fails at the end naming the bad ones; the stored days are
reported as materialized partitions.
"""

import dagster as dg

from accident_assets.checks import markdown_table
from accident_assets.nyc.ingest import CRASHES, FEATURES, RAW, IngestOutcome, IngestPolicy, ingest
from accident_assets.nyc.partitions import NYC_DAILY, day_of
from accident_assets.nyc.sources import NycSource
from accident_assets.resources import AssetStorage
from accident_assets.settings import get_settings

GROUP = "nyc"


def default_resolution() -> int:
    return get_settings().nyc_h3_resolution


class IngestConfig(dg.Config):
    h3_resolution: int = default_resolution()
    min_rows: int = 1
    accept_shrink: bool = False
    shrink_tolerance_fraction: float = 0.02
    shrink_tolerance_rows: int = 3

    def policy(self) -> IngestPolicy:
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
SPECS = [
    dg.AssetSpec(
        key,
        group_name=GROUP,
        partitions_def=NYC_DAILY,
        description=DESCRIPTIONS[key],
        deps=UPSTREAM[key],
        kinds={"polars", "parquet"},
    ).with_io_manager_key("parquet_io_manager")
    for key in (RAW, CRASHES, FEATURES)
]


def _metadata(outcome: IngestOutcome, key: dg.AssetKey, partition: str | None = None) -> dict:
    name = key.to_user_string()
    keys = [partition] if partition else sorted(outcome.committed)
    rows = {k: outcome.committed[k].rows[name] for k in keys}
    metadata: dict = {
        "dagster/row_count": sum(rows.values()),
        "rows_per_partition": dg.MetadataValue.json(rows),
        "versions": dg.MetadataValue.json({k: outcome.committed[k].version for k in keys}),
    }
    if key == CRASHES:
        metadata["geocode_quality"] = dg.MetadataValue.json({k: outcome.quality[k] for k in keys})
    if outcome.moved_from:
        metadata["refetched_for_moved_crashes"] = dg.MetadataValue.json(outcome.moved_from)
    return metadata


@dg.multi_asset(
    specs=SPECS,
    name="nyc_days",
    partitions_def=NYC_DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=False,
)
def nyc_days(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    nyc_source: NycSource,
    asset_storage: AssetStorage,
):
    """Fetch each day of the run, validate its three tables in memory, commit the good days."""
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
    extra = sorted(outcome.moved_from)
    if outcome.rejected or extra:
        # Partitions this step's outputs do not cover (the good days of a failing range, or a day
        # a crash moved away from) are reported one by one.
        reported = extra if not outcome.rejected else sorted(outcome.committed)
        for partition in reported:
            for key in (RAW, CRASHES, FEATURES):
                yield dg.AssetMaterialization(
                    key, partition=partition, metadata=_metadata(outcome, key, partition)
                )
    if outcome.rejected:
        raise dg.Failure(
            description=outcome.failure_message(),
            metadata={"rejected": dg.MetadataValue.json(outcome.rejected)},
        )
    for key in (RAW, CRASHES, FEATURES):
        metadata = _metadata(outcome, key)
        if len(days) > 1:  # one value for every partition of the range: a total would mislead
            metadata.pop("dagster/row_count")
        if key == FEATURES:
            last = asset_storage.read(FEATURES, [max(outcome.committed)])
            metadata["preview"] = dg.MetadataValue.md(
                markdown_table(next(iter(last.values())).head(10))
            )
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


NYC_ASSETS = [nyc_days]
