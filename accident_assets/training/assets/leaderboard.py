"""``<task>/leaderboard``: the default fits and baselines ranked by the primary metric on the
holdout (best first), with each model's gain over the best baseline."""

# No `from __future__ import annotations`: Dagster reads the step's annotations as objects.
from collections.abc import Sequence
from typing import Any

import dagster as dg
import polars as pl

from accident_assets.training import plots
from accident_assets.training.assets.common import PerAsOf, by_partition, each_as_of, fit_ins, lane
from accident_assets.training.comparison import chart_focus, fit_rows, table_metadata, verdict
from accident_assets.training.fitting import FitResult
from accident_assets.training.tasks import TaskSpec


def leaderboard_frame(spec: TaskSpec, fits: Sequence[FitResult]) -> pl.DataFrame:
    """:func:`fit_rows` of the default fits, with whether each model may be tuned."""
    frame = fit_rows(spec, list(fits))
    return frame.with_columns(
        pl.col("model").is_in([m for m, k in spec.candidates.items() if k.tunable]).alias("tunable")
    )


def leaderboard_metadata(spec: TaskSpec, frame: pl.DataFrame) -> dict[str, Any]:
    top = frame.row(0, named=True)
    return {
        "leaderboard": table_metadata(frame),
        "best_model": top["model"],
        f"best_{spec.primary_metric}": top[spec.primary_metric],
        "versus_best_baseline": verdict(spec, frame),
        "plot_leaderboard": plots.as_markdown(
            "leaderboard",
            plots.comparison_bars(
                frame["model"].to_list(),
                frame[spec.primary_metric].to_list(),
                spec.primary_metric,
                focus=chart_focus(spec, frame),
                greater_is_better=spec.greater_is_better,
            ),
        ),
    }


def build_leaderboard_asset(spec: TaskSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key("leaderboard"),
        ins=fit_ins(spec),
        io_manager_key="parquet_io_manager",
        kinds={"polars"},
        description=(
            f"Default fits and baselines ranked by {spec.primary_metric} on the holdout (best "
            "first), with each model's gain over the best baseline."
        ),
        **lane(spec, "leaderboard"),
    )
    def leaderboard(context: dg.AssetExecutionContext, **fits_in: PerAsOf) -> PerAsOf:
        fits = {name: by_partition(context, value) for name, value in fits_in.items()}

        def step(as_of: str) -> tuple[pl.DataFrame, dict[str, Any]]:
            frame = leaderboard_frame(spec, [f[as_of] for f in fits.values()])
            context.log.info(
                f"{spec.name} as-of {as_of} leaderboard: "
                f"{frame.select('rank', 'model', spec.primary_metric).rows()}"
            )
            return frame, leaderboard_metadata(spec, frame)

        return each_as_of(context, spec, step)

    return leaderboard
