"""What the lane's assets show in the Dagster UI: pure functions from results to metadata.

MLflow runs, logged models and registered versions are links (:mod:`accident_assets.training.
tracking` builds them from one base URL). A plot logged to MLflow shows where the asset opens, as
an image the MLflow UI serves (``plot_<name>``); its PNG is also embedded
(``plot_<name>_embedded``, behind "[Show Markdown]"), which needs no MLflow UI running. See
:mod:`accident_assets.training.plots` for why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import polars as pl

from accident_assets.training import plots, tracking
from accident_assets.training.fitting import FitResult
from accident_assets.training.tasks import TaskSpec, TrainingSet


def run_link(experiment_id: str, run_id: str) -> dg.MetadataValue:
    """A link to the MLflow run, or its id as text when the experiment is not known (fits stored
    before it was recorded)."""
    if experiment_id:
        return dg.MetadataValue.url(tracking.run_url(experiment_id, run_id))
    return dg.MetadataValue.text(run_id)


def mlflow_plot_metadata(
    figures: Mapping[str, bytes], run_id: str, experiment_id: str = ""
) -> dict[str, dg.MetadataValue]:
    """Each PNG logged as ``plots/<name>.png`` in ``run_id``: shown in place from the MLflow UI
    (linked to the run), then embedded."""
    link = tracking.run_url(experiment_id, run_id) if experiment_id else None
    shown = {
        f"plot_{name}": plots.image_markdown(
            name, tracking.artifact_url(run_id, f"plots/{name}.png"), link=link
        )
        for name in figures
    }
    embedded = {
        f"plot_{name}_embedded": plots.as_markdown(name, png) for name, png in figures.items()
    }
    return {**shown, **embedded}


def calibration_frame(fit: FitResult) -> pl.DataFrame:
    """The holdout calibration by decile of the prediction, rounded for reading."""
    return pl.DataFrame(fit.calibration).with_columns(
        pl.col("bin", "rows").cast(pl.Int64), pl.col("mean_predicted", "mean_observed").round(4)
    )


def fit_metadata(spec: TaskSpec, fit: FitResult) -> dict[str, Any]:
    """A default or tuned fit: its score first, then its metrics, parameters, links and plots."""
    from accident_assets.checks import markdown_table

    model_page = tracking.logged_model_url(fit.experiment_id, fit.model_uri)
    return {
        spec.primary_metric: fit.metrics[spec.primary_metric],
        "metrics": dg.MetadataValue.json(fit.metrics),
        "params": dg.MetadataValue.json({k: str(v) for k, v in fit.params.items()}),
        "fit_time_s": round(fit.fit_time_s, 3),
        "mlflow_run": run_link(fit.experiment_id, fit.run_id),
        "model_uri": fit.model_uri,
        **({"mlflow_model": dg.MetadataValue.url(model_page)} if model_page else {}),
        **mlflow_plot_metadata(fit.plots, fit.run_id, fit.experiment_id),
        **(
            {"calibration": dg.MetadataValue.md(markdown_table(calibration_frame(fit)))}
            if fit.calibration
            else {}
        ),
    }


def training_set_metadata(
    spec: TaskSpec, ts: TrainingSet, frames: Mapping[str, pl.DataFrame]
) -> dict[str, Any]:
    return {
        "as_of": ts.as_of,
        "newest_as_of": ts.newest,
        "partitions": dg.MetadataValue.json(list(ts.partitions)),
        "train_partitions": dg.MetadataValue.json(list(ts.train_partitions)),
        "holdout_partitions": dg.MetadataValue.json(list(ts.holdout_partitions)),
        "left_out_partitions": dg.MetadataValue.json(list(ts.left_out)),
        "partition_count": len(ts.partitions),
        "rows_per_partition": dg.MetadataValue.json({k: f.height for k, f in frames.items()}),
        "train_rows": ts.train.height,
        "holdout_rows": ts.holdout.height,
        "split": ts.split,
        "feature_fingerprint": ts.fingerprint,
        "target_mean_train": float(ts.train.get_column(spec.target).mean()),  # type: ignore[arg-type]
        "target_mean_holdout": float(ts.holdout.get_column(spec.target).mean()),  # type: ignore[arg-type]
        "features": dg.MetadataValue.json(spec.feature_columns),
    }
