"""Batch predictions: the champion of each task scores the newest stored feature partition.

The assets belong to the task's group, so ``<task>_training_job`` refreshes them right after the
champion decision. With no champion yet they skip (nothing is materialized) instead of failing
the training run that could not promote one.

The steps import the frames they build (:mod:`accident_assets.serving.batch`) in their bodies: it
loads polars; defining the assets must not.
"""

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg

from accident_assets.ownership import ownership
from accident_assets.resources import AssetStorage

# Scoring (pandas, numpy) and the registry (mlflow) are imported in the functions that use them:
# this module is part of the Dagster code location, which must load without them.
if TYPE_CHECKING:
    from accident_assets.serving.models import ServedModel

FRANCE_FEATURES = dg.AssetKey(["france", "features"])
NYC_FEATURES = dg.AssetKey(["nyc", "features"])


def newest_partition(storage: AssetStorage, key: dg.AssetKey) -> str:
    stored = storage.partitions(key)
    if not stored:
        raise dg.Failure(
            f"{key.to_user_string()}: no stored partition to score; materialize it first"
        )
    return stored[-1]


def champion_or_skip(
    context: dg.AssetExecutionContext, task: str, asset: str = "predictions"
) -> "ServedModel | None":
    """The task's champion, or None (logged: ``<task>/<asset>`` is skipped) when there is none."""
    from accident_assets.serving import models

    try:
        model = models.load_model(task)
    except models.NoChampionError as exc:
        context.log.warning(f"{task}/{asset} skipped: {exc}")
        return None
    context.log.info(f"{task}: scoring with champion v{model.version} ({model.uri})")
    return model


@dg.asset(
    key=["france_priority", "predictions"],
    group_name="france_priority",
    # In every run of the (partitioned) training job, ranges included.
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetKey(["france_priority", "champion"]), FRANCE_FEATURES],
    io_manager_key="parquet_io_manager",
    output_required=False,
    kinds={"polars", "mlflow"},
    **ownership("france_priority", "predictions"),
    description=(
        "The champion's predictions for the newest stored france/features year: probability of "
        '"Priority", prediction at the champion\'s threshold, and the model version used.'
    ),
)
def france_predictions(
    context: dg.AssetExecutionContext, asset_storage: AssetStorage
) -> Iterator[dg.Output]:
    from accident_assets.serving import batch

    partition = newest_partition(asset_storage, FRANCE_FEATURES)
    model = champion_or_skip(context, "france_priority")
    if model is None:
        return
    features = asset_storage.read(FRANCE_FEATURES, [partition])[partition]
    frame = batch.france_predictions_frame(model, features)
    context.log.info(f"france_priority/predictions: {frame.height} accidents of {partition}")
    yield dg.Output(
        frame,
        metadata={
            "scored_partition": partition,
            "model_version": str(model.version),
            "model_uri": model.uri,
            "threshold": model.threshold,
            "predicted_priority_rate": float(frame.get_column("prediction").mean() or 0.0),
            "mean_probability": float(frame.get_column("probability").mean() or 0.0),
        },
    )


@dg.asset(
    key=["nyc_incidents", "predictions"],
    group_name="nyc_incidents",
    # In every run of the (partitioned) training job, ranges included.
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetKey(["nyc_incidents", "champion"]), NYC_FEATURES],
    io_manager_key="parquet_io_manager",
    output_required=False,
    kinds={"polars", "mlflow"},
    **ownership("nyc_incidents", "predictions"),
    description=(
        "The champion's expected incidents for every cell-hour of the newest stored nyc/features "
        "day (cells: the champion's training universe), next to the observed incidents."
    ),
)
def nyc_predictions(
    context: dg.AssetExecutionContext, asset_storage: AssetStorage
) -> Iterator[dg.Output]:
    from accident_assets.serving import batch

    partition = newest_partition(asset_storage, NYC_FEATURES)
    model = champion_or_skip(context, "nyc_incidents")
    if model is None:
        return
    features = asset_storage.read(NYC_FEATURES, [partition])[partition]
    cells = batch.nyc_cells(asset_storage, model, partition)
    frame = batch.nyc_predictions_frame(model, features, dt.date.fromisoformat(partition), cells)
    context.log.info(
        f"nyc_incidents/predictions: {frame.height} cell-hours ({len(cells)} cells) of {partition}"
    )
    observed = int(frame.get_column("incidents").sum())
    expected = float(frame.get_column("expected_incidents").sum())
    yield dg.Output(
        frame,
        metadata={
            "scored_partition": partition,
            "model_version": str(model.version),
            "model_uri": model.uri,
            "cells": len(cells),
            "observed_incidents": observed,
            "expected_incidents": round(expected, 3),
        },
    )


SERVING_ASSETS = [france_predictions, nyc_predictions]
