"""The training lane of one task, wired from its assets (one module per asset in
:mod:`accident_assets.training.assets`): training_set -> model_fits/<model> -> leaderboard ->
tuned_fits/top1..3 -> model_comparison -> champion -> performance_history, plus the task's job
and retraining sensor; and the run config of that job.

Wiring only, imported when the code location loads; the champion decision's logic is in
:mod:`accident_assets.training.champion_decision`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

from accident_assets.training.assets.champion import ChampionConfig, build_champion_asset
from accident_assets.training.assets.leaderboard import build_leaderboard_asset
from accident_assets.training.assets.model_comparison import build_comparison_asset
from accident_assets.training.assets.model_fits import build_fit_asset
from accident_assets.training.assets.performance_history import build_history_asset
from accident_assets.training.assets.training_set import build_training_set_asset
from accident_assets.training.assets.tuned_fits import TuneConfig, build_tuned_asset
from accident_assets.training.sensors import build_retrain_sensor
from accident_assets.training.tasks import TaskSpec

if TYPE_CHECKING:  # what define_asset_job returns; Dagster does not export its name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

__all__ = [
    "ChampionConfig",
    "TuneConfig",
    "build_training_defs",
    "build_training_job",
    "op_name",
    "run_config",
]


def build_training_defs(spec: TaskSpec) -> dg.Definitions:
    """Assets and retraining sensor of one task (resources come from the code location, the job
    from :func:`build_training_job`: its executor is a setting of the deployment)."""
    assets = [
        build_training_set_asset(spec),
        *[build_fit_asset(spec, m) for m in spec.candidates],
        build_leaderboard_asset(spec),
        *[build_tuned_asset(spec, k) for k in range(1, spec.top_k + 1)],
        build_comparison_asset(spec),
        build_champion_asset(spec),
        build_history_asset(spec),
    ]
    return dg.Definitions(assets=assets, sensors=[build_retrain_sensor(spec)])


def build_training_job(
    spec: TaskSpec, executor_def: dg.ExecutorDefinition
) -> UnresolvedAssetJobDefinition:
    """``<task>_training_job``: the task's whole lane, its steps run by ``executor_def``."""
    return dg.define_asset_job(
        spec.job_name,
        selection=dg.AssetSelection.groups(spec.group),
        partitions_def=spec.as_of,
        executor_def=executor_def,
        description=(
            f"The {spec.name} training lane for one as-of partition (or a range: a backtest), "
            "ending with the champion decision and the performance history."
        ),
    )


def op_name(key: dg.AssetKey) -> str:
    return "__".join(key.path)


def run_config(
    spec: TaskSpec,
    *,
    n_trials: int | None = None,
    training_days: int | None = None,
    min_training_days: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dg.RunConfig:
    """Run config for ``<task>_training_job``: trial count, NYC window lengths, model params."""
    ops: dict[str, Any] = {}
    split = {
        k: v
        for k, v in (("training_days", training_days), ("min_training_days", min_training_days))
        if v is not None
    }
    if split:
        ops[op_name(spec.key("training_set"))] = {"config": split}
    if n_trials is not None:
        for k in range(1, spec.top_k + 1):
            ops[op_name(spec.key("tuned_fits", f"top{k}"))] = {"config": {"n_trials": n_trials}}
    for model, values in (params or {}).items():
        ops[op_name(spec.key("model_fits", model))] = {"config": dict(values)}
    return dg.RunConfig(ops=ops)
