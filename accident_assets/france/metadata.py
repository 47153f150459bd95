"""The metadata of a French year's materializations: row counts, column schemas, source files and
previews of each of the six tables (:func:`year_metadata`)."""

import dagster as dg
import polars as pl

from accident_assets.checks import column_schema, markdown_table
from accident_assets.france import codes
from accident_assets.france import features as feature_module
from accident_assets.france.ingest import YearTables
from accident_assets.france.keys import ACCIDENTS, RAW_KEYS
from accident_assets.io_manager import Commit

PREVIEW_ROWS = 5
ACCIDENT_PREVIEW = [
    "Num_Acc", "jour", "mois", "hrmn", "dep", "vma", "catv", "nb_victim", "nb_vehicules",
    "nb_pedestrians", "priority",
]  # fmt: skip
FEATURE_PREVIEW = [
    *feature_module.ID_COLUMNS, "hour", "hour_sin", "catv_group", "victim_age_binned",
    "victims_per_vehicle", feature_module.TARGET,
]  # fmt: skip


def preview(frame: pl.DataFrame, columns: list[str] | None = None) -> dg.MetadataValue:
    head = frame.select(columns) if columns else frame
    head = head.head(PREVIEW_ROWS).with_columns(pl.all().cast(pl.Utf8))
    return dg.MetadataValue.md(markdown_table(head))


def year_metadata(
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
