"""Pandera schemas run as Dagster asset checks, with failure cases shown in the UI, and the
per-partition results of checks run over a range of partitions (a single-run backfill).

pandera and polars are imported only where a frame is validated: importing them costs ~0.5 s, and
every code location load, sensor tick and run worker imports the modules that define checks.
Schemas are declared as :class:`LazySchema` and built on first use.
"""

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    import pandera.polars as pa
    import polars as pl

MAX_FAILURE_ROWS = 20
MAX_LOGGED_VALUES = 5


class LazySchema:
    """A pandera schema built on first use; its name is known without building it.

    Attribute access goes to the built schema, so ``LAZY.validate(...)`` or ``LAZY.columns``
    work as on the schema itself.
    """

    def __init__(self, name: str, build: Callable[[], "pa.DataFrameSchema"]):
        self.name = name
        self._build = functools.cache(build)

    def get(self) -> "pa.DataFrameSchema":
        schema = self._build()
        if schema.name != self.name:
            raise ValueError(f"lazy schema {self.name!r} built a schema named {schema.name!r}")
        return schema

    def __getattr__(self, attr: str) -> Any:
        # Only reached for attributes LazySchema itself lacks (name, get are its own).
        if attr.startswith("__") or attr == "_build":
            raise AttributeError(attr)
        return getattr(self.get(), attr)

    def __repr__(self) -> str:
        return f"LazySchema({self.name!r})"


def resolve(schema: Any) -> Any:
    return schema.get() if isinstance(schema, LazySchema) else schema


def validate(schema: Any, frame: "pl.DataFrame") -> "pl.DataFrame | None":
    """Validate an eager frame (a LazyFrame would only get its schema checked).

    ``schema``: a pandera (polars) schema or model, or a :class:`LazySchema`. Returns None when
    valid, else the failure cases as a frame.
    """
    import polars as pl
    from pandera.errors import SchemaErrors

    try:
        resolve(schema).validate(frame, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        if not isinstance(cases, pl.DataFrame):
            cases = pl.from_pandas(cases)
        return cases.with_columns(pl.all().cast(pl.Utf8))
    return None


def check_result(
    schema_name: str, frame: "pl.DataFrame", failures: "pl.DataFrame | None"
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


def per_partition_results(
    context: dg.AssetCheckExecutionContext, results: Mapping[str, dg.AssetCheckResult]
) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.Output]:
    """Emit one result per partition of the check's run.

    Dagster 1.13 gives an ``AssetCheckResult`` a partition only in a run tagged with one
    partition key; in a range run (even of one day) it is stored with no partition, and the
    run's per-partition planned evaluations stay unresolved (the UI shows them skipped).
    ``AssetCheckEvaluation`` (public, accepted from a check's body) carries ``partition=``: one
    per partition resolves each planned row. A one-partition or unpartitioned run keeps the
    plain result, which Dagster completes itself (partition and target materialization).
    """
    if context.has_partition_key or not context.has_partition_key_range:
        yield from results.values()
        return
    [spec] = context.check_specs
    missing = set(context.partition_keys) - set(results)
    if missing:
        raise ValueError(f"{spec.key.to_user_string()}: no result for partitions {sorted(missing)}")
    for partition in context.partition_keys:
        result = results[partition]
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            # Dagster fails the step on a failed blocking ERROR evaluation, as for a result.
            blocking=spec.blocking,
            partition=partition,
        )
    # The check's op still needs its output; Dagster emits the same None output for a result.
    [output] = context.op_def.output_defs
    yield dg.Output(None, output_name=output.name)


def pandera_check(
    asset: dg.AssetsDefinition | dg.AssetSpec,
    schema: Any,
    *,
    blocking: bool,
) -> dg.AssetChecksDefinition:
    """One asset check that validates what was materialized against ``schema``.

    ``schema``: a pandera schema or a :class:`LazySchema` (built at the first check run, so
    defining the check imports no pandera). Takes an asset or one spec of a multi-asset. In a
    run over several partitions (a single-run backfill) the input is ``{partition_key: frame}``:
    every partition is validated and gets its own result.
    """
    key = asset.key

    @dg.asset_check(
        asset=key,
        name=f"{key.path[-1]}_schema",
        blocking=blocking,
        partitions_def=asset.partitions_def,
        description=f"Pandera schema {schema.name}",
    )
    def _check(context: dg.AssetCheckExecutionContext, frame):
        if isinstance(frame, Mapping):
            frames = frame
        elif context.has_partition_key or context.has_partition_key_range:
            # A range of one partition (what a single-run backfill of one day sends) loads one
            # frame, as a single partition key does.
            [partition] = context.partition_keys
            frames = {partition: frame}
        else:
            frames = {"": frame}
        results = {}
        for partition, one in sorted(frames.items()):
            failures = validate(schema, one)
            if failures is not None:
                # The metadata table is only seen in the UI; a CLI or CI run shows the log.
                where = f" partition {partition}" if partition else ""
                context.log.error(
                    f"{key.to_user_string()}{where}: {failure_summary(schema.name, failures)}"
                )
            results[partition] = check_result(schema.name, one, failures)
        yield from per_partition_results(context, results)

    return _check


def failure_summary(schema_name: str, failures: "pl.DataFrame") -> str:
    """One line per failing (partition, column, check) with its first failing values."""
    import polars as pl

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


def column_schema(
    dtypes: Mapping[str, Any], descriptions: Mapping[str, str] | None = None
) -> dg.TableSchema:
    """The ``dagster/column_schema`` of a table: its columns and dtypes as stored, each with
    its description when ``descriptions`` has one (the UI shows them in the asset's columns)."""
    descriptions = descriptions or {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, str(dtype), description=descriptions.get(name))
            for name, dtype in dtypes.items()
        ]
    )


def markdown_table(frame: "pl.DataFrame") -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in row) + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([header, rule, *rows])
