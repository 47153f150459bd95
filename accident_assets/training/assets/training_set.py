"""``<task>/training_set``: the feature partitions an as-of partition may read, split into
training rows (before it) and holdout rows (it).

The step imports what it shows (:mod:`accident_assets.training.assets.metadata`) in its body: that
module loads polars; defining the lane must not.
"""

from typing import Any

import dagster as dg

from accident_assets.resources import AssetStorage
from accident_assets.training.assets.common import PerAsOf, each_as_of, lane
from accident_assets.training.tasks import SplitConfig, TaskSpec, TrainingSet, build_training_set


def build_training_set_asset(spec: TaskSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key("training_set"),
        kinds={"polars"},
        deps=[dg.AssetDep(spec.feature_asset, partition_mapping=spec.feature_mapping)],
        description=(
            f"The {spec.feature_asset.to_user_string()} partitions this as-of partition may read, "
            "assembled and split into training rows (before it) and holdout rows (it); the "
            "partitions used, rows and a fingerprint in metadata."
        ),
        **lane(spec, "training_set"),
    )
    def training_set(
        context: dg.AssetExecutionContext, config: SplitConfig, asset_storage: AssetStorage
    ) -> PerAsOf:
        from accident_assets.training.assets.metadata import training_set_metadata

        stored = asset_storage.partitions(spec.feature_asset)

        def step(as_of: str) -> tuple[TrainingSet, dict[str, Any]]:
            ts, frames = build_training_set(
                spec,
                as_of,
                stored,
                lambda keys: asset_storage.read(spec.feature_asset, keys),
                config,
                quality=(lambda keys: spec.quality(asset_storage, keys)) if spec.quality else None,
            )
            context.log.info(
                f"{spec.name} as-of {as_of}: {ts.split}; train {ts.train.height} rows, "
                f"holdout {ts.holdout.height}{'' if ts.newest else ' (backtest)'}"
                + (f"; left out {', '.join(ts.left_out)}" if ts.left_out else "")
            )
            return ts, training_set_metadata(spec, ts, frames)

        return each_as_of(context, spec, step)

    return training_set
