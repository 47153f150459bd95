"""The French lane's assets (group ``france``, yearly partitions): thin wiring around the reader,
the merge and the features, with row counts and previews in the metadata."""

import dagster as dg
import polars as pl

from accident_assets.checks import markdown_table
from accident_assets.france import features as feature_module
from accident_assets.france.partitions import france_yearly_partitions
from accident_assets.france.reader import TABLES, read_table
from accident_assets.france.sources import FranceSource
from accident_assets.france.transforms import check_year, merge_accidents, year_warnings

GROUP = "france"
KEY_PREFIX = "france"
PREVIEW_ROWS = 5
ASSET_ARGS = {
    "key_prefix": KEY_PREFIX,
    "group_name": GROUP,
    "partitions_def": france_yearly_partitions,
    "io_manager_key": "parquet_io_manager",
}


def preview(frame: pl.DataFrame, columns: list[str] | None = None) -> dg.MetadataValue:
    head = frame.select(columns) if columns else frame
    head = head.head(PREVIEW_ROWS).with_columns(pl.all().cast(pl.Utf8))
    return dg.MetadataValue.md(markdown_table(head))


RAW_SPECS = {
    table: dg.AssetSpec(
        [KEY_PREFIX, f"raw_{table}"],
        group_name=GROUP,
        partitions_def=france_yearly_partitions,
        description=f"The BAAC `{table}` file of the year as a typed table, nothing dropped.",
        kinds={"polars"},
    ).with_io_manager_key("parquet_io_manager")
    for table in TABLES
}


@dg.multi_asset(specs=list(RAW_SPECS.values()), name="france_raw_tables", can_subset=False)
def raw_tables(context: dg.AssetExecutionContext, france_source: FranceSource):
    """The four files of a year, read and checked together before any is written.

    One step for the four tables makes a year all-or-nothing: a missing or malformed file, or a
    ``Num_Acc`` that does not join, fails the step before anything is stored, so the previous
    good partition of every table stays as it was.
    """
    year = context.partition_key
    frames, sizes, files = {}, {}, {}
    for table in TABLES:
        files[table] = france_source.filename(table, year)
        context.log.info(f"reading {table} {year} from {france_source.describe(table, year)}")
        data = france_source.fetch(year, table)
        frames[table] = read_table(data, table, year, files[table])
        sizes[table] = len(data)
    check_year(frames, year, files)  # blocking: raises before anything is yielded
    warnings = year_warnings(frames, year, _rows_of_year(context.instance, int(year) - 1))
    for warning in warnings:
        context.log.warning(warning)
    for table, frame in frames.items():
        yield dg.MaterializeResult(
            asset_key=RAW_SPECS[table].key,
            value=frame,
            metadata={
                "source": france_source.describe(table, year),
                "backend": france_source.backend,
                "bytes": sizes[table],
                "rows": frame.height,
                "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in warnings) or "none"),
                "preview": preview(frame),
            },
        )


def _rows_of_year(instance: dg.DagsterInstance, year: int) -> dict[str, int]:
    """Row counts of the stored raw tables of ``year`` (empty for a year never materialized)."""
    rows = {}
    for table, spec in RAW_SPECS.items():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=spec.key, asset_partitions=[str(year)]), limit=1
        ).records
        value = records[0].asset_materialization.metadata.get("rows") if records else None
        if value is not None:
            rows[table] = int(value.value)
    return rows


@dg.asset(
    description="One row per accident: place, aggregated users and vehicles (never selected by "
    "grav), nb_victim, nb_vehicules and the target `priority` (anyone killed or hospitalized).",
    kinds={"polars"},
    **ASSET_ARGS,
)
def accidents(
    context: dg.AssetExecutionContext,
    raw_caracteristiques: pl.DataFrame,
    raw_lieux: pl.DataFrame,
    raw_usagers: pl.DataFrame,
    raw_vehicules: pl.DataFrame,
) -> pl.DataFrame:
    year = context.partition_key
    frame = merge_accidents(raw_caracteristiques, raw_lieux, raw_usagers, raw_vehicules, year)
    rate = float(frame.get_column("priority").mean() or 0.0)
    context.log.info(f"{year}: {frame.height} accidents, priority rate {rate:.1%}")
    context.add_output_metadata(
        {
            "rows": frame.height,
            "users": raw_usagers.height,
            "vehicles": raw_vehicules.height,
            "priority_rate": rate,
            "accidents_with_several_lieux": int((frame.get_column("nb_lieux") > 1).sum()),
            "preview": preview(
                frame,
                [
                    "Num_Acc",
                    "jour",
                    "mois",
                    "hrmn",
                    "dep",
                    "vma",
                    "catv",
                    "nb_victim",
                    "nb_vehicules",
                    "nb_pedestrians",
                    "priority",
                ],
            ),
        }
    )
    return frame


@dg.asset(
    description="Row-wise features (france.features.build_features), identical at serving time.",
    kinds={"polars"},
    **ASSET_ARGS,
)
def features(context: dg.AssetExecutionContext, accidents: pl.DataFrame) -> pl.DataFrame:
    frame = feature_module.build_features(accidents)
    context.add_output_metadata(
        {
            "rows": frame.height,
            "categorical_features": len(feature_module.CATEGORICAL_FEATURES),
            "numeric_features": len(feature_module.NUMERIC_FEATURES),
            "priority_rate": float(frame.get_column(feature_module.TARGET).mean() or 0.0),
            "preview": preview(
                frame,
                [
                    *feature_module.ID_COLUMNS,
                    "hour",
                    "hour_sin",
                    "catv_group",
                    "victim_age_binned",
                    "victims_per_vehicle",
                    feature_module.TARGET,
                ],
            ),
        }
    )
    return frame


FRANCE_ASSETS = [raw_tables, accidents, features]
