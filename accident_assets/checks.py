"""Pandera schemas run as Dagster asset checks, with failure cases shown in the UI."""

from __future__ import annotations

import dagster as dg
import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

MAX_FAILURE_ROWS = 20


def validate(
    schema: pa.DataFrameSchema | type[pa.DataFrameModel], frame: pl.DataFrame
) -> pl.DataFrame | None:
    """Validate an eager frame (a LazyFrame would only get its schema checked).

    Returns None when valid, else the failure cases as a frame.
    """
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        if not isinstance(cases, pl.DataFrame):
            cases = pl.from_pandas(cases)
        return cases.with_columns(pl.all().cast(pl.Utf8))
    return None


def check_result(
    schema_name: str, frame: pl.DataFrame, failures: pl.DataFrame | None
) -> dg.AssetCheckResult:
    metadata: dict[str, dg.RawMetadataValue] = {"schema": schema_name, "rows": frame.height}
    if failures is not None:
        metadata["failure_count"] = failures.height
        metadata["failure_cases"] = dg.MetadataValue.md(
            markdown_table(failures.head(MAX_FAILURE_ROWS))
        )
    return dg.AssetCheckResult(
        passed=failures is None,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


def pandera_check(
    asset: dg.AssetsDefinition,
    schema: pa.DataFrameSchema | type[pa.DataFrameModel],
    *,
    blocking: bool,
) -> dg.AssetChecksDefinition:
    """One asset check that validates the materialized partition (or table) against ``schema``."""
    schema_name = getattr(schema, "name", None) or getattr(schema, "__name__", "schema")
    key = asset.key

    @dg.asset_check(
        asset=asset,
        name=f"{key.path[-1]}_schema",
        blocking=blocking,
        partitions_def=asset.partitions_def,
        description=f"Pandera schema {schema_name}",
    )
    def _check(frame: pl.DataFrame) -> dg.AssetCheckResult:
        return check_result(schema_name, frame, validate(schema, frame))

    return _check


def markdown_table(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in row) + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([header, rule, *rows])
