"""``<task>/drift``: each new feature partition against the rows the champion was trained on.

Reference = the stored feature rows of the champion's training partitions (version tag
``train_partitions`` when present, else ``trained_on_partitions``, which also holds the
holdout's), sampled to ``max_reference_rows`` with a fixed seed; current = the stored rows of the
partition being materialized. For NYC both sides are observed cell-hours (the stored feature
rows), never the zero-filled training frame. Columns whose value is fixed by the partition key
(a NYC day's weekday, month, holiday flag and their encodings) are not compared: one day against
many would always "drift" on them.

One partition per run: the ``drift_below_threshold`` check is evaluated per partition.

The step imports the comparison (:mod:`accident_assets.monitoring.drift`) in its body: it loads
polars; defining the assets must not.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from accident_assets.france.partitions import france_yearly_partitions
from accident_assets.monitoring import defaults
from accident_assets.nyc.partitions import NYC_DAILY
from accident_assets.ownership import ownership
from accident_assets.resources import AssetStorage
from accident_assets.training.champion import (
    TRAIN_PARTITIONS,
    TRAINED_ON,
    current_champion,
    tagged_partitions,
)
from accident_assets.training.plots import as_markdown
from accident_assets.training.tasks import FRANCE, NYC, TaskSpec
from accident_assets.training.tracking import MlflowTracking, model_version_url

CHECK_NAME = "drift_below_threshold"
NO_CHAMPION = "no champion yet"

# Feature columns fixed by the partition key: every row of one NYC day has the same weekday,
# weekend and holiday flags.
NYC_DAY_CONSTANT = ("weekday", "is_weekend", "is_holiday", "weekday_sin", "weekday_cos")


class DriftConfig(dg.Config):
    drift_share_threshold: float = 0.3
    """The check warns when the share of drifted columns is above this."""
    max_reference_rows: int = defaults.DEFAULT_MAX_REFERENCE_ROWS
    """Reference rows above this are sampled down (seed ``defaults.SAMPLE_SEED``)."""


def reference_partitions(tags: dict[str, str]) -> tuple[list[str], str | None]:
    """The champion's training partitions and the tag they came from."""
    for tag in (TRAIN_PARTITIONS, TRAINED_ON):
        partitions = tagged_partitions(tags, tag)
        if partitions:
            return partitions, tag
    return [], None


def _not_compared(
    reason: str, threshold: float, extra: dict[str, Any]
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    from accident_assets.monitoring import drift

    yield dg.Output(drift.empty_table(), metadata={"status": reason, **extra})
    yield dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=True,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"nothing compared: {reason}",
        metadata={"status": reason, "drift_share_threshold": threshold},
    )


def drift_asset(
    spec: TaskSpec,
    partitions_def: dg.PartitionsDefinition,
    skip_columns: Sequence[str] = (),
) -> dg.AssetsDefinition:
    key = spec.key("drift")
    numeric = [c for c in spec.numeric if c not in skip_columns]
    categorical = [c for c in spec.categorical if c not in skip_columns]
    skipped = [c for c in spec.feature_columns if c in skip_columns]

    @dg.asset(
        key=key,
        deps=[dg.AssetDep(spec.feature_asset, partition_mapping=dg.IdentityPartitionMapping())],
        partitions_def=partitions_def,
        group_name=f"{spec.name}_monitoring",
        kinds={"evidently"},
        io_manager_key="parquet_io_manager",
        automation_condition=dg.AutomationCondition.eager(),
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
        **ownership(spec.name, "drift"),
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                partitions_def=partitions_def,
                description=(
                    "WARN when the share of drifted feature columns is above the run's "
                    "drift_share_threshold (default 0.3)."
                ),
            )
        ],
        description=(
            f"Per-column drift (Evidently: Wasserstein normed for numeric, Jensen–Shannon for "
            f"categorical, threshold {defaults.COLUMN_THRESHOLD}) of a {spec.feature_asset.to_user_string()} "
            f"partition against the stored rows of the {spec.name} champion's training partitions."
        ),
    )
    def _drift(
        context: dg.AssetExecutionContext,
        config: DriftConfig,
        asset_storage: AssetStorage,
        mlflow: MlflowTracking,
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        import polars as pl

        from accident_assets.monitoring import drift

        partition = context.partition_key
        threshold = config.drift_share_threshold
        version = current_champion(mlflow.client(), spec.name)
        if version is None:
            context.log.info(f"{key.to_user_string()} {partition}: {NO_CHAMPION}")
            yield from _not_compared(NO_CHAMPION, threshold, {})
            return
        wanted, tag = reference_partitions(dict(version.tags or {}))
        stored = set(asset_storage.partitions(spec.feature_asset))
        used = [k for k in wanted if k in stored]
        champion_meta: dict[str, dg.RawMetadataValue] = {
            "champion_version": str(version.version),
            "champion_model_version": dg.MetadataValue.url(
                model_version_url(spec.name, version.version)
            ),
            "reference_partitions_tag": tag or "",
            "reference_partitions_missing": dg.MetadataValue.json(
                [k for k in wanted if k not in stored]
            ),
        }
        if partition not in stored:
            raise dg.Failure(
                f"{spec.feature_asset.to_user_string()} partition {partition} is not stored: "
                "materialize it first"
            )
        if not used:
            reason = (
                f"champion version {version.version} names no stored "
                f"{spec.feature_asset.to_user_string()} partition (tag {tag or 'absent'})"
            )
            yield from _not_compared(reason, threshold, champion_meta)
            return
        reference = pl.concat(
            list(asset_storage.read(spec.feature_asset, used).values()), how="vertical_relaxed"
        )
        current = asset_storage.read(spec.feature_asset, [partition])[partition]
        report = drift.compute_drift(
            reference,
            current,
            numeric,
            categorical,
            max_reference_rows=config.max_reference_rows,
            title=f"{spec.name} {partition} vs champion v{version.version}",
        )
        table = report.table
        metadata: dict[str, dg.RawMetadataValue] = {
            "status": "compared",
            **champion_meta,
            "reference_partitions": dg.MetadataValue.json(used),
            "current_in_reference": partition in used,
            "drifted_columns": dg.MetadataValue.json(list(report.drifted_columns)),
            "drifted_share": round(report.share_drifted, 4),
            "columns_compared": table.height,
            "columns_not_compared": dg.MetadataValue.json(skipped),
            "reference_rows": report.reference_rows,
            "reference_rows_stored": report.reference_rows_total,
            "reference_sampling": (
                f"{report.reference_rows} of {report.reference_rows_total} rows, "
                f"without replacement, seed {report.sample_seed}"
                if report.reference_rows < report.reference_rows_total
                else f"all {report.reference_rows_total} rows (max_reference_rows "
                f"{config.max_reference_rows})"
            ),
            "current_rows": report.current_rows,
            "drift_table": dg.MetadataValue.table(
                records=[dg.TableRecord(row) for row in table.iter_rows(named=True)],
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn(name, str(dtype).lower())
                        for name, dtype in table.schema.items()
                    ]
                ),
            ),
            "plot": as_markdown("Per-column drift", report.plot),
        }
        exceeded = report.exceeds(threshold)
        metadata["drift_share_threshold"] = threshold
        metadata["drift_exceeded"] = exceeded
        yield dg.Output(table, metadata=metadata)
        if exceeded:
            context.log.warning(
                f"{key.to_user_string()} {partition}: {len(report.drifted_columns)} of "
                f"{table.height} columns drifted ({report.share_drifted:.0%} > {threshold:.0%}): "
                f"{', '.join(report.drifted_columns)}"
            )
        yield dg.AssetCheckResult(
            check_name=CHECK_NAME,
            passed=not exceeded,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "drifted_share": round(report.share_drifted, 4),
                "drift_share_threshold": threshold,
                "drifted_columns": dg.MetadataValue.json(list(report.drifted_columns)),
                "champion_version": str(version.version),
            },
        )

    return _drift


FRANCE_DRIFT = drift_asset(FRANCE, france_yearly_partitions)
NYC_DRIFT = drift_asset(NYC, NYC_DAILY, skip_columns=NYC_DAY_CONSTANT)
MONITORING_ASSETS = [FRANCE_DRIFT, NYC_DRIFT]
