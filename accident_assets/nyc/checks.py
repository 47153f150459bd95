"""Pandera asset checks that also work in a single-run backfill.

``accident_assets.checks.pandera_check`` validates one frame; in a run over several partitions the
check's input is ``{partition_key: frame}``. This wrapper validates every partition and reports the
failures with their partition, reusing the foundation's ``validate`` and ``check_result``.
"""

from collections.abc import Mapping

import dagster as dg
import pandera.polars as pa
import polars as pl

from accident_assets.checks import check_result, validate


def failures_by_partition(
    schema: pa.DataFrameSchema, frames: Mapping[str, pl.DataFrame]
) -> pl.DataFrame | None:
    found = []
    for key, frame in sorted(frames.items()):
        failures = validate(schema, frame)
        if failures is not None:
            found.append(failures.select(pl.lit(key).alias("partition"), pl.all()))
    return pl.concat(found, how="diagonal") if found else None


def partitioned_pandera_check(
    asset: dg.AssetsDefinition, schema: pa.DataFrameSchema, *, blocking: bool
) -> dg.AssetChecksDefinition:
    key = asset.key

    @dg.asset_check(
        asset=asset,
        name=f"{key.path[-1]}_schema",
        blocking=blocking,
        partitions_def=asset.partitions_def,
        description=f"Pandera schema {schema.name}, every partition of the run",
    )
    def _check(context: dg.AssetCheckExecutionContext, frame) -> dg.AssetCheckResult:
        frames = frame if isinstance(frame, Mapping) else {context.partition_key: frame}
        whole = pl.concat(list(frames.values()), how="diagonal_relaxed")
        result = check_result(schema.name, whole, failures_by_partition(schema, frames))
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=result.severity,
            metadata={**result.metadata, "partitions": len(frames)},
        )

    return _check
