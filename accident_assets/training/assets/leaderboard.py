"""``<task>/leaderboard``: the default fits and baselines ranked by the primary metric on the
holdout (best first), with each model's gain over the best baseline.

The step imports the ranking (:mod:`accident_assets.training.comparison`) in its body: that logic
loads polars; defining the lane must not.
"""

# No `from __future__ import annotations`: Dagster reads the step's annotations as objects.
from typing import Any

import dagster as dg

from accident_assets.training.assets.common import PerAsOf, by_partition, each_as_of, fit_ins, lane
from accident_assets.training.tasks import TaskSpec


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
        from accident_assets.training.comparison import leaderboard_frame, leaderboard_metadata

        fits = {name: by_partition(context, value) for name, value in fits_in.items()}

        def step(as_of: str) -> tuple[Any, dict[str, Any]]:
            frame = leaderboard_frame(spec, [f[as_of] for f in fits.values()])
            context.log.info(
                f"{spec.name} as-of {as_of} leaderboard: "
                f"{frame.select('rank', 'model', spec.primary_metric).rows()}"
            )
            return frame, leaderboard_metadata(spec, frame)

        return each_as_of(context, spec, step)

    return leaderboard
