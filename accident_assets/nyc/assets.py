"""The NYC lane: raw day as received -> clean crashes -> cell-hour features (daily partitions).

Each asset handles one partition or, in a single-run backfill, every partition of the run: the
Parquet IO manager writes ``{partition_key: frame}`` one file per day and loads a dict for inputs.
A raising asset writes nothing, so a day that fails its count check is never half stored.
"""

import os
from collections.abc import Mapping

import dagster as dg
import polars as pl

from accident_assets.checks import markdown_table
from accident_assets.nyc import features as feat
from accident_assets.nyc.partitions import NYC_DAILY, day_of
from accident_assets.nyc.sources import NycSource
from accident_assets.nyc.transforms import clean_crashes, geo_summary, raw_frame

GROUP = "nyc"
PREFIX = ["nyc"]
RESOLUTION_ENV = "ACCIDENT_ASSETS_NYC_H3_RESOLUTION"


def default_resolution() -> int:
    return int(os.environ.get(RESOLUTION_ENV, feat.H3_RESOLUTION_DEFAULT))


class CrashesConfig(dg.Config):
    h3_resolution: int = default_resolution()


def by_partition(
    context: dg.AssetExecutionContext, value: pl.DataFrame | Mapping[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """An input as {partition_key: frame}, whether the run covers one partition or several."""
    if isinstance(value, Mapping):
        return dict(value)
    return {context.partition_key: value}


def as_output(frames: dict[str, pl.DataFrame]) -> pl.DataFrame | dict[str, pl.DataFrame]:
    return next(iter(frames.values())) if len(frames) == 1 else frames


def _metadata(frames: dict[str, pl.DataFrame], **extra: object) -> dict:
    return {
        "partitions": len(frames),
        "rows_per_partition": dg.MetadataValue.json({k: f.height for k, f in frames.items()}),
        **extra,
    }


_common = {
    "partitions_def": NYC_DAILY,
    "group_name": GROUP,
    "key_prefix": PREFIX,
    "io_manager_key": "parquet_io_manager",
    "backfill_policy": dg.BackfillPolicy.single_run(),
}


@dg.asset(
    **_common,
    description="The crashes of one day as the source returned them: every key, values as text.",
    kinds={"polars", "parquet"},
)
def raw_crashes(context: dg.AssetExecutionContext, nyc_source: NycSource):
    source = nyc_source.source()
    frames: dict[str, pl.DataFrame] = {}
    for key in context.partition_keys:
        frames[key] = raw_frame(source.fetch_day(day_of(key)))
        context.log.info(
            f"nyc/raw_crashes {key}: {frames[key].height} crashes ({nyc_source.describe()})"
        )
    context.add_output_metadata(_metadata(frames, source=nyc_source.describe()))
    return as_output(frames)


@dg.asset(
    **_common,
    description=(
        "Typed crashes: timestamp, borough, geocode status (missing / zero / outside_nyc rows are "
        "kept and counted, but get no cell), injuries, incidents = max(1, injured + killed), H3 cell."
    ),
    kinds={"polars", "parquet"},
)
def crashes(context: dg.AssetExecutionContext, config: CrashesConfig, raw_crashes):
    frames: dict[str, pl.DataFrame] = {}
    totals = dict.fromkeys(("valid", "missing", "zero", "outside_nyc"), 0)
    for key, raw in sorted(by_partition(context, raw_crashes).items()):
        frames[key] = clean_crashes(raw, day_of(key), config.h3_resolution)
        summary = geo_summary(frames[key])
        totals = {k: totals[k] + summary[k] for k in totals}
        context.log.info(f"nyc/crashes {key}: {frames[key].height} crashes, geocodes {summary}")
    context.add_output_metadata(
        _metadata(
            frames,
            h3_resolution=config.h3_resolution,
            geocodes=dg.MetadataValue.json(totals),
            incidents=sum(int(f.get_column("incidents").sum()) for f in frames.values()),
        )
    )
    return as_output(frames)


@dg.asset(
    **_common,
    description=(
        "Incidents per (H3 cell, hour) of the day, with the model's calendar and centroid "
        "features; only cell-hours with incidents (training fills the zeros)."
    ),
    kinds={"polars", "parquet"},
)
def features(context: dg.AssetExecutionContext, crashes):
    frames: dict[str, pl.DataFrame] = {}
    for key, day_crashes in sorted(by_partition(context, crashes).items()):
        frames[key] = feat.build_features(day_crashes)
        context.log.info(f"nyc/features {key}: {frames[key].height} cell-hours")
    cells = {c for f in frames.values() for c in f.get_column("cell").to_list()}
    last = frames[max(frames)]
    context.add_output_metadata(
        _metadata(
            frames,
            cells=len(cells),
            preview=dg.MetadataValue.md(markdown_table(last.head(10))),
            incidents=sum(int(f.get_column("incidents").sum()) for f in frames.values()),
        )
    )
    return as_output(frames)


NYC_ASSETS = [raw_crashes, crashes, features]
