"""``<task>/performance_history`` (unpartitioned): the dashboard of every stored as-of
partition's candidates, baselines and decision, the backtest mean ± spread of the primary metric
per model, and (NYC) the champion's daily forecast accuracy.

The step imports the logic it runs (:mod:`accident_assets.training.history`) and polars in its
body: defining the lane must not load polars.
"""

# No `from __future__ import annotations`: Dagster reads the step's annotations as objects.
from typing import Any

import dagster as dg

from accident_assets.instance import training_pool
from accident_assets.ownership import ownership
from accident_assets.resources import AssetStorage
from accident_assets.training.assets.common import SINGLE_RUN
from accident_assets.training.tasks import TaskSpec


def build_history_asset(spec: TaskSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key("performance_history"),
        group_name=spec.group,
        # Unpartitioned, but in every run of the lane's job, ranges included (`dg launch
        # --partition-range` asks every asset of the job for a single-run policy).
        backfill_policy=SINGLE_RUN,
        deps=[
            spec.key("model_comparison"),
            spec.key("champion"),
            *([spec.accuracy_asset] if spec.accuracy_asset else []),
        ],
        io_manager_key="parquet_io_manager",
        kinds={"polars"},
        pool=training_pool(spec.name),
        **ownership(spec.name, "performance_history"),
        description=(
            "The dashboard: every stored as-of partition's candidates, baselines and decision, "
            "and the backtest mean ± spread of the primary metric per model."
        ),
    )
    def performance_history(context: dg.AssetExecutionContext, asset_storage: AssetStorage):
        import polars as pl

        from accident_assets.training import history, plots
        from accident_assets.training.comparison import table_metadata

        keys = asset_storage.partitions(spec.key("model_comparison"))
        comparisons = asset_storage.read(spec.key("model_comparison"), keys)
        decided = [k for k in asset_storage.partitions(spec.key("champion")) if k in keys]
        decisions = asset_storage.read(spec.key("champion"), decided)
        frame = history.history_frame(spec, comparisons, decisions)
        if frame.height == 0:
            raise dg.Failure(f"{spec.name}: no stored model_comparison partition yet")
        summary = history.backtest_summary(spec, frame)
        lines = history.summary_lines(spec, summary)
        context.log.info(
            f"{spec.name} backtest over {len(keys)} as-of partition(s):\n  " + "\n  ".join(lines)
        )
        per_partition = (
            pl.concat([decisions[k] for k in decided], how="vertical_relaxed")
            if decided
            else pl.DataFrame()
        )
        accuracy_metadata: dict[str, Any] = {}
        if spec.accuracy_asset is not None:
            days = asset_storage.partitions(spec.accuracy_asset)
            accuracy = history.accuracy_frame(asset_storage.read(spec.accuracy_asset, days))
            accuracy_metadata["forecast_days"] = len(days)
            if accuracy.height:
                accuracy_metadata["forecast_accuracy"] = table_metadata(accuracy)
                accuracy_metadata["plot_forecast_accuracy"] = plots.as_markdown(
                    "forecast_accuracy", history.accuracy_plot(accuracy)
                )
        context.add_output_metadata(
            {
                "as_of_partitions": dg.MetadataValue.json(keys),
                "backtest": table_metadata(summary),
                "decisions": table_metadata(per_partition.drop("reason"))
                if per_partition.height
                else "none",
                "backtest_summary": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines)),
                "plot_history": plots.as_markdown("history", history.history_plot(spec, frame)),
                **accuracy_metadata,
            }
        )
        return frame

    return performance_history
