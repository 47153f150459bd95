"""``<task>/model_comparison``: every candidate (default, tuned and baselines) with every holdout
metric, fit time and gain over the best baseline; also logged as a table and a chart in an MLflow
run of its own.

The step imports the logic it runs (:mod:`accident_assets.training.comparison`, the fits' metadata)
in its body: that logic loads polars; defining the lane must not.
"""

# No `from __future__ import annotations`: Dagster reads the step's annotations as objects.
import math
from typing import Any

import dagster as dg

from accident_assets.training.assets.common import (
    PerAsOf,
    by_partition,
    dagster_tags,
    each_as_of,
    fit_ins,
    lane,
    tuned_ins,
)
from accident_assets.training.tasks import TaskSpec
from accident_assets.training.tracking import MlflowTracking, log_frame, log_png


def _log_metric(name: str, value: float | None) -> None:
    import mlflow

    if value is not None and not math.isnan(value):
        mlflow.log_metric(name, value)


def build_comparison_asset(spec: TaskSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key("model_comparison"),
        ins={**fit_ins(spec), **tuned_ins(spec)},
        io_manager_key="parquet_io_manager",
        description=(
            "Every candidate (default, tuned and baselines) with every holdout metric, fit time "
            "and gain over the best baseline; also a CSV/Parquet artifact of an MLflow run."
        ),
        kinds={"polars", "mlflow"},
        **lane(spec, "model_comparison"),
    )
    def model_comparison(
        context: dg.AssetExecutionContext, mlflow: MlflowTracking, **candidates: PerAsOf
    ) -> PerAsOf:
        from accident_assets.training.assets.metadata import mlflow_plot_metadata, run_link
        from accident_assets.training.comparison import (
            comparison_chart,
            fit_rows,
            table_metadata,
            verdict,
        )

        fits = {name: by_partition(context, value) for name, value in candidates.items()}

        def step(as_of: str) -> tuple[Any, dict[str, Any]]:
            frame = fit_rows(spec, [f[as_of] for f in fits.values()])
            tags = {
                "task": spec.name,
                "kind": "model_comparison",
                **dagster_tags(context, as_of),
            }
            with mlflow.start_run(spec.name, f"model_comparison {as_of}", tags) as run:
                log_frame(frame.to_pandas(), "model_comparison")
                bars = comparison_chart(spec, frame)
                log_png(bars, "plots/comparison.png")
                best = frame.row(0, named=True)
                _log_metric(f"best_{spec.primary_metric}", best[spec.primary_metric])
            context.log.info(f"{spec.name} as-of {as_of}: {verdict(spec, frame)}")
            return frame, {
                "comparison": table_metadata(frame),
                "best": f"{best['model']} ({best['variant']})",
                f"best_{spec.primary_metric}": best[spec.primary_metric],
                "versus_best_baseline": verdict(spec, frame),
                "mlflow_run": run_link(run.info.experiment_id, run.info.run_id),
                **mlflow_plot_metadata(
                    {"comparison": bars}, run.info.run_id, run.info.experiment_id
                ),
            }

        return each_as_of(context, spec, step)

    return model_comparison
