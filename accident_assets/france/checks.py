"""Pandera checks on asset keys, for the raw tables that one multi-asset writes together.

``accident_assets.checks.pandera_check`` takes a single-asset ``AssetsDefinition``; the four raw
tables come from one multi-asset, so their checks are built on the key and partitions of each
spec, reusing the foundation's ``validate`` and ``check_result`` (same metadata in the UI).
"""

import dagster as dg
import pandera.polars as pa
import polars as pl

from accident_assets.checks import check_result, validate


def spec_pandera_check(
    spec: dg.AssetSpec, schema: pa.DataFrameSchema, *, blocking: bool
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=spec.key,
        name=f"{spec.key.path[-1]}_schema",
        blocking=blocking,
        partitions_def=spec.partitions_def,
        description=f"Pandera schema {schema.name}",
    )
    def _check(frame: pl.DataFrame) -> dg.AssetCheckResult:
        return check_result(schema.name, frame, validate(schema, frame))

    return _check
