"""``<task>/champion``: the best candidate against the current champion on the same holdout,
promoted in the MLflow registry only for the newest as-of partition and only when better by the
margin; older partitions are backtests that never touch the registry.

Its metadata shows the decision first, then links (the winning fit's MLflow run and asset, the
registered version) and the winning fit's key plots.

The step imports the decision it runs (:mod:`accident_assets.training.champion_decision`) in its
body: that logic loads polars; defining the lane must not.
"""

# No `from __future__ import annotations`: Dagster reads the step's annotations as objects.
from typing import Any

import dagster as dg

from accident_assets.training.assets.common import PerAsOf, by_partition, each_as_of, lane
from accident_assets.training.tasks import TaskSpec
from accident_assets.training.tracking import MlflowTracking


class ChampionConfig(dg.Config):
    margin: float = 0.001
    # Negative means the task's default floor (none for both; set one to require a minimum score).
    floor: float = -1.0
    # A champion that cannot score the new holdout (e.g. trained on other feature columns) is
    # kept unless this is set, after a human has decided the old model may go.
    replace_unscorable_champion: bool = False


def build_champion_asset(spec: TaskSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key("champion"),
        ins={
            "model_comparison": dg.AssetIn(spec.key("model_comparison")),
            "training_set": dg.AssetIn(spec.key("training_set")),
        },
        io_manager_key="parquet_io_manager",
        description=(
            f"The best candidate (a baseline when no model beats it) against the current champion "
            f"on the same holdout; promoted (registered model {spec.name}, alias champion) only "
            "for the newest as-of partition and only if better by the margin. Older partitions "
            "are backtests and never touch the registry."
        ),
        kinds={"mlflow", "sklearn"},
        **lane(spec, "champion"),
    )
    def champion(
        context: dg.AssetExecutionContext,
        config: ChampionConfig,
        model_comparison: PerAsOf,
        training_set: PerAsOf,
        mlflow: MlflowTracking,
    ) -> PerAsOf:
        from accident_assets.training.champion_decision import (
            champion_metadata,
            decide_champion,
            decision_frame,
            key_plots,
            logged_plots,
            winner_metadata,
        )

        comparisons = by_partition(context, model_comparison)
        sets = by_partition(context, training_set)

        def step(as_of: str) -> tuple[Any, dict[str, Any]]:
            result = decide_champion(
                spec,
                config,
                comparisons[as_of],
                sets[as_of],
                mlflow,
                context.run_id,
                context.log.info,
            )
            metadata = champion_metadata(spec, result, comparisons[as_of], sets[as_of])
            # The decision is made (and the registry moved): links and plots are for reading,
            # so an MLflow hiccup fetching them is logged, not a failed champion.
            try:
                client = mlflow.client()
                run = client.get_run(result["candidate_run_id"])
                figures = logged_plots(client, run.info.run_id, key_plots(spec))
                metadata.update(winner_metadata(spec, result, run, figures))
            except Exception as err:
                context.log.warning(f"{spec.name} as-of {as_of}: no links or plots: {err}")
            return decision_frame(result), metadata

        return each_as_of(context, spec, step)

    return champion
