"""What every asset of a training lane shares: the as-of partitions with a single-run backfill
policy, owners and tags, and the loop over the run's as-of partitions.

Every asset but the history is partitioned by the task's as-of partitions
(:mod:`accident_assets.training.as_of`): one partition is one retrain, judged on its own holdout
and kept beside the others. One run covers one partition (the retrain a sensor asks for) or a
range of them (a rolling-origin backtest, one command); each step loops over the run's
partitions and records metadata per partition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import dagster as dg

from accident_assets.instance import training_pool
from accident_assets.ownership import ownership
from accident_assets.training.tasks import TaskSpec

T = TypeVar("T")
SINGLE_RUN = dg.BackfillPolicy.single_run()
# What a lane asset receives and returns: one partition's value, or {as_of: value} in a run over a
# range of partitions. Untyped for Dagster, whose type check would refuse the dict.
PerAsOf = Any


def by_partition(context: dg.AssetExecutionContext, value: Any) -> dict[str, Any]:
    """An input as ``{as_of: value}``: one partition's value, or the dict of a range run."""
    keys = list(context.partition_keys)
    return {keys[0]: value} if len(keys) == 1 else dict(value)


def output(context: dg.AssetExecutionContext, results: Mapping[str, T]) -> T | dict[str, T]:
    """What the IO manager expects back: the value of a one-partition run, else the dict."""
    keys = list(context.partition_keys)
    return results[keys[0]] if len(keys) == 1 else dict(results)


def each_as_of(
    context: dg.AssetExecutionContext,
    spec: TaskSpec,
    step: Callable[[str], tuple[T, Mapping[str, Any]]],
) -> T | dict[str, T]:
    """Run ``step`` for every as-of partition of the run, in order, with its metadata recorded on
    that partition's materialization (not on all of them)."""
    keys = sorted(context.partition_keys)
    results: dict[str, T] = {}
    for i, key in enumerate(keys, start=1):
        if len(keys) > 1:
            context.log.info(f"{spec.name} as-of {key} ({i}/{len(keys)})")
        results[key], metadata = step(key)
        context.add_asset_metadata(dict(metadata), partition_key=key)
    return output(context, results)


def dagster_tags(context: dg.AssetExecutionContext, as_of: str) -> dict[str, str]:
    """What an MLflow run records of the Dagster step that opened it."""
    return {
        "dagster_run_id": context.run_id,
        "dagster_asset_key": context.asset_key.to_user_string(),
        "dagster_job": context.job_name or "",
        "dagster_partition": as_of,
        "as_of": as_of,
    }


def lane(spec: TaskSpec, stage: str, **extra: Any) -> dict[str, Any]:
    """The ``@dg.asset`` arguments every partitioned asset of a lane shares."""
    return {
        "group_name": spec.group,
        "partitions_def": spec.as_of,
        "backfill_policy": SINGLE_RUN,
        "pool": training_pool(spec.name),
        **ownership(spec.name, stage),
        **extra,
    }


def fit_ins(spec: TaskSpec) -> dict[str, dg.AssetIn]:
    """Every default fit of the task, as inputs ``fit_<model>``."""
    return {f"fit_{m}": dg.AssetIn(spec.key("model_fits", m)) for m in spec.candidates}


def tuned_ins(spec: TaskSpec) -> dict[str, dg.AssetIn]:
    """Every tuned fit of the task, as inputs ``tuned_top<k>``."""
    return {
        f"tuned_top{k}": dg.AssetIn(spec.key("tuned_fits", f"top{k}"))
        for k in range(1, spec.top_k + 1)
    }
