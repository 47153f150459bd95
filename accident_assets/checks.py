"""Pandera schemas run as Dagster asset checks, with failure cases shown in the UI."""

from collections.abc import Mapping

import dagster as dg
import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

MAX_FAILURE_ROWS = 20
MAX_LOGGED_VALUES = 5


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
    asset: dg.AssetsDefinition | dg.AssetSpec,
    schema: pa.DataFrameSchema,
    *,
    blocking: bool,
) -> dg.AssetChecksDefinition:
    """One asset check that validates what was materialized against ``schema``.

    Takes an asset or one spec of a multi-asset. In a run over several partitions (a single-run
    backfill) the input is ``{partition_key: frame}``: every partition is validated and each
    failure case names its partition.
    """
    key = asset.key

    @dg.asset_check(
        asset=key,
        name=f"{key.path[-1]}_schema",
        blocking=blocking,
        partitions_def=asset.partitions_def,
        description=f"Pandera schema {schema.name}",
    )
    def _check(context: dg.AssetCheckExecutionContext, frame) -> dg.AssetCheckResult:
        if isinstance(frame, Mapping):
            frames = frame
        else:
            frames = {context.partition_key if context.has_partition_key else "": frame}
        failures = failures_by_partition(schema, frames)
        if failures is not None:
            # The metadata table is only seen in the UI; a CLI or CI run shows the log.
            context.log.error(f"{key.to_user_string()}: {failure_summary(schema.name, failures)}")
        whole = pl.concat(list(frames.values()), how="diagonal_relaxed")
        result = check_result(schema.name, whole, failures)
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=result.severity,
            metadata={**result.metadata, "partitions": len(frames)},
        )

    return _check


def failure_summary(schema_name: str, failures: pl.DataFrame) -> str:
    """One line per failing (partition, column, check) with its first failing values."""
    keys = [c for c in ("partition", "column", "check") if c in failures.columns]
    groups = failures.group_by(keys, maintain_order=True).agg(
        pl.len().alias("n"), pl.col("failure_case").head(MAX_LOGGED_VALUES).alias("values")
    )
    lines = [
        (f"partition {row['partition']}: " if row.get("partition") else "")
        + f"column {row.get('column')!r} failed {row.get('check')} on {row['n']} value(s), "
        f"first {row['values']}"
        for row in groups.iter_rows(named=True)
    ]
    return f"Pandera schema {schema_name} failed:\n  " + "\n  ".join(lines)


def failures_by_partition(
    schema: pa.DataFrameSchema, frames: Mapping[str, pl.DataFrame]
) -> pl.DataFrame | None:
    found = []
    for key, frame in sorted(frames.items()):
        failures = validate(schema, frame)
        if failures is not None:
            found.append(failures.select(pl.lit(key).alias("partition"), pl.all()))
    return pl.concat(found, how="diagonal") if found else None


def markdown_table(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in row) + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([header, rule, *rows])
