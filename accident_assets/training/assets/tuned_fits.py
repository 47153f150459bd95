"""``<task>/tuned_fits/top<k>``: Optuna (TPE) on the tunable model ranked ``k`` on the
leaderboard; the best parameters refitted and scored on the holdout.

The step imports the logic it runs (the tuning in :mod:`accident_assets.training.fitting`, the
leaderboard's ranks) in its body: that logic loads polars; defining the lane must not.
"""

# No `from __future__ import annotations`: Dagster reads the step's annotations as objects.
from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg

from accident_assets.training.assets.common import (
    PerAsOf,
    by_partition,
    dagster_tags,
    each_as_of,
    fit_ins,
    lane,
)
from accident_assets.training.models import ParamRange
from accident_assets.training.tasks import TaskSpec
from accident_assets.training.tracking import MlflowTracking


class TuneConfig(dg.Config):
    """Optuna on the model at this rank. ``search_space`` replaces the model's default space
    (dimensions the model does not have are ignored with a warning)."""

    n_trials: int = 4
    # Wall-clock budget per study, the running trial included (see fitting.tune).
    timeout_s: float = 90.0
    inner_validation_fraction: float = 0.2
    search_space: dict[str, ParamRange] = {}  # noqa: RUF012 (pydantic copies defaults)


def search_space(
    spec: TaskSpec,
    model: str,
    override: Mapping[str, ParamRange],
    warn: Callable[[str], None],
) -> dict[str, ParamRange]:
    """The model's default space, or ``override`` less the dimensions the model does not have."""
    kind = spec.candidates[model]
    if not override:
        return dict(kind.search_space)
    unknown = [k for k in override if k not in kind.params.model_fields]
    if unknown:
        warn(f"{spec.name}: {model} has no parameter(s) {unknown}; ignored")
    return {k: v for k, v in override.items() if k in kind.params.model_fields}


def build_tuned_asset(spec: TaskSpec, rank: int) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"top{rank}",
        key_prefix=[spec.name, "tuned_fits"],
        ins={
            "training_set": dg.AssetIn(spec.key("training_set")),
            "leaderboard": dg.AssetIn(spec.key("leaderboard")),
            **fit_ins(spec),
        },
        description=(
            f"Optuna (TPE) on the tunable model ranked {rank} on the leaderboard (baselines are "
            "not tuned); best parameters refitted and scored on the holdout."
        ),
        kinds={"mlflow", "sklearn", "optuna"},
        **lane(spec, "tuned_fit"),
    )
    def _tuned(
        context: dg.AssetExecutionContext,
        config: TuneConfig,
        training_set: PerAsOf,
        leaderboard: PerAsOf,
        mlflow: MlflowTracking,
        **fits_in: PerAsOf,
    ) -> PerAsOf:
        from accident_assets.training.assets.metadata import fit_metadata
        from accident_assets.training.comparison import model_at_rank
        from accident_assets.training.fitting import tune

        sets = by_partition(context, training_set)
        boards = by_partition(context, leaderboard)
        fits = {name: by_partition(context, value) for name, value in fits_in.items()}

        def step(as_of: str) -> tuple[Any, dict[str, Any]]:
            model = model_at_rank(spec, boards[as_of], rank, as_of)
            space = search_space(spec, model, config.search_space, context.log.warning)
            default = fits[f"fit_{model}"][as_of]
            context.log.info(
                f"{spec.name} as-of {as_of}: tuning {model} (rank {rank}) with "
                f"{config.n_trials} trials"
            )
            fit = tune(
                spec,
                model,
                default.params,
                space,
                sets[as_of],
                mlflow,
                dagster_tags(context, as_of),
                rank=rank,
                n_trials=config.n_trials,
                timeout_s=config.timeout_s,
                inner_fraction=config.inner_validation_fraction,
                log=context.log.info,
            )
            return fit, {
                "model": model,
                "trials": fit.trials or 0,
                "tuning_time_s": round(fit.tuning_time_s or 0.0, 3),
                "default_" + spec.primary_metric: default.metrics[spec.primary_metric],
                **fit_metadata(spec, fit),
            }

        return each_as_of(context, spec, step)

    return _tuned
