"""The French lane's assets (group ``france``, yearly partitions): one step reads, merges, checks
and commits the six tables of a year (:mod:`accident_assets.france.ingest`); row counts, source
files and previews in the metadata."""

import dagster as dg
import polars as pl

from accident_assets.checks import column_schema, markdown_table
from accident_assets.france import codes
from accident_assets.france import features as feature_module
from accident_assets.france.ingest import (
    ACCIDENTS,
    FEATURES,
    LANE,
    RAW_KEYS,
    SourceFile,
    YearTables,
    build_year,
    validate_year,
    year_findings,
)
from accident_assets.france.partitions import france_yearly_partitions
from accident_assets.france.reader import TABLES
from accident_assets.france.sources import FranceSource
from accident_assets.io_manager import Commit
from accident_assets.ownership import lane_ownership
from accident_assets.resources import AssetStorage

GROUP = "france"
PREVIEW_ROWS = 5


def preview(frame: pl.DataFrame, columns: list[str] | None = None) -> dg.MetadataValue:
    head = frame.select(columns) if columns else frame
    head = head.head(PREVIEW_ROWS).with_columns(pl.all().cast(pl.Utf8))
    return dg.MetadataValue.md(markdown_table(head))


DESCRIPTIONS = {
    **{
        key: f"The BAAC `{table}` file of the year as a typed table, nothing dropped."
        for table, key in RAW_KEYS.items()
    },
    ACCIDENTS: "One row per accident: place, aggregated users and vehicles (never selected by "
    "grav), nb_victim, nb_vehicules and the target `priority` (anyone killed or hospitalized).",
    FEATURES: "Row-wise features (france.features.build_features), identical at serving time.",
}
UPSTREAM = {**{key: [] for key in RAW_KEYS.values()}, ACCIDENTS: list(RAW_KEYS.values())}
UPSTREAM[FEATURES] = [ACCIDENTS]
STAGES = {**{key: "raw" for key in RAW_KEYS.values()}, ACCIDENTS: "clean", FEATURES: "features"}
SPECS = {
    key: dg.AssetSpec(
        key,
        group_name=GROUP,
        partitions_def=france_yearly_partitions,
        description=description,
        deps=UPSTREAM[key],
        kinds={"polars"},
        **lane_ownership(GROUP, STAGES[key]),
    ).with_io_manager_key("parquet_io_manager")
    for key, description in DESCRIPTIONS.items()
}
RAW_SPECS = {table: SPECS[key] for table, key in RAW_KEYS.items()}
ACCIDENT_PREVIEW = [
    "Num_Acc", "jour", "mois", "hrmn", "dep", "vma", "catv", "nb_victim", "nb_vehicules",
    "nb_pedestrians", "priority",
]  # fmt: skip
FEATURE_PREVIEW = [
    *feature_module.ID_COLUMNS, "hour", "hour_sin", "catv_group", "victim_age_binned",
    "victims_per_vehicle", feature_module.TARGET,
]  # fmt: skip


def _metadata(
    key: dg.AssetKey, tables: YearTables, commit: Commit, files: dict, findings: list[str]
) -> dict:
    frame = tables.tables()[key]
    raw_table = key.path[-1].removeprefix("raw_") if key in RAW_KEYS.values() else None
    metadata: dict = {
        "rows": frame.height,
        # A French year is one run (no single-run backfill), so these are the year's own.
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(
            frame.schema, codes.DESCRIPTIONS[raw_table] if raw_table else None
        ),
        "version": commit.version,
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in findings) or "none"),
    }
    if raw_table is not None:
        table = raw_table
        metadata |= {
            "source": files[table].where,
            "bytes": len(files[table].data),
            "sha256": commit.source["files"][table]["sha256"],
            "preview": preview(frame),
        }
    elif key == ACCIDENTS:
        rate = float(frame.get_column("priority").mean() or 0.0)
        metadata |= {
            "users": tables.raw["usagers"].height,
            "vehicles": tables.raw["vehicules"].height,
            "priority_rate": rate,
            "accidents_with_several_lieux": int((frame.get_column("nb_lieux") > 1).sum()),
            "preview": preview(frame, ACCIDENT_PREVIEW),
        }
    else:
        metadata |= {
            "categorical_features": len(feature_module.CATEGORICAL_FEATURES),
            "numeric_features": len(feature_module.NUMERIC_FEATURES),
            "priority_rate": float(frame.get_column(feature_module.TARGET).mean() or 0.0),
            "preview": preview(frame, FEATURE_PREVIEW),
        }
    return metadata


@dg.multi_asset(specs=list(SPECS.values()), name="france_year", can_subset=False)
def france_year(
    context: dg.AssetExecutionContext, france_source: FranceSource, asset_storage: AssetStorage
):
    """The four files of a year -> six tables, validated together in memory, then committed.

    Nothing is stored before every table of the year passed its checks, and the six are switched
    together (see :mod:`accident_assets.france.ingest`), so the previous good year stays whole.
    """
    year = context.partition_key
    files = {}
    for table in TABLES:
        where = france_source.describe(table, year)
        context.log.info(f"reading {table} {year} from {where}")
        files[table] = SourceFile(
            table, france_source.filename(table, year), where, france_source.fetch(year, table)
        )
    tables = build_year(files, year)
    validate_year(tables, files)
    findings = year_findings(tables, asset_storage.current(LANE, str(int(year) - 1)))
    for finding in findings:
        context.log.warning(finding)
    commit = asset_storage.commit(
        LANE,
        year,
        tables.tables(),
        source={
            "backend": france_source.backend,
            "files": {t: f.describe() for t, f in files.items()},
        },
    )
    rate = float(tables.accidents.get_column("priority").mean() or 0.0)
    context.log.info(
        f"{year}: {tables.accidents.height} accidents, priority rate {rate:.1%}, "
        f"committed version {commit.version[:8]}"
    )
    for key in SPECS:
        yield dg.MaterializeResult(
            asset_key=key, metadata=_metadata(key, tables, commit, files, findings)
        )


FRANCE_ASSETS = [france_year]
