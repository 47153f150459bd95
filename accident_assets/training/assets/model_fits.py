"""``<task>/model_fits/<model>``: one asset per candidate (models and baselines), fitted with its
default parameters on the training rows and scored on the holdout.

One asset per model (not one partitioned asset per stage) because a Dagster asset job cannot span
two partitions definitions, and ``<task>_training_job`` must run the whole lane in one run.

The step imports the fit it runs (:mod:`accident_assets.training.fitting`) in its body: that logic
loads polars; defining the lane must not.
"""

# No `from __future__ import annotations`: Dagster reads the step's annotations (config,
# resources) as objects.
from typing import Any

import dagster as dg

from accident_assets.training.assets.common import (
    PerAsOf,
    by_partition,
    dagster_tags,
    each_as_of,
    lane,
)
from accident_assets.training.tasks import TaskSpec
from accident_assets.training.tracking import MlflowTracking


def build_fit_asset(spec: TaskSpec, model: str) -> dg.AssetsDefinition:
    kind = spec.candidates[model]

    def _fit(
        context: dg.AssetExecutionContext,
        config,
        training_set: PerAsOf,
        mlflow: MlflowTracking,
    ):
        from accident_assets.training.assets.metadata import fit_metadata
        from accident_assets.training.fitting import fit_default

        sets = by_partition(context, training_set)

        def step(as_of: str) -> tuple[Any, dict[str, Any]]:
            fit = fit_default(
                spec,
                model,
                config.model_dump(),
                sets[as_of],
                mlflow,
                dagster_tags(context, as_of),
                context.log.info,
            )
            return fit, fit_metadata(spec, fit)

        return each_as_of(context, spec, step)

    # Dagster reads the config schema from the annotation; each model has its own Config.
    _fit.__annotations__["config"] = kind.params
    what = "baseline" if getattr(kind, "baseline", False) else "default parameters"
    return dg.asset(
        name=model,
        key_prefix=[spec.name, "model_fits"],
        ins={"training_set": dg.AssetIn(spec.key("training_set"))},
        description=f"{model} ({what}), fitted on training_set and scored on its holdout.",
        kinds={"mlflow", "sklearn"},
        **lane(spec, "model_fit"),
    )(_fit)
