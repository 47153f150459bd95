"""The frames of the batch predictions (:mod:`accident_assets.serving.assets`) and of the NYC
forecast (:mod:`accident_assets.nyc_forecast.assets`): the champion's scores of stored features.

A logic module (polars): the steps import it in their bodies, so that defining the assets loads
no polars. Scoring (pandas, numpy) is imported in the functions that use it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

from accident_assets.resources import AssetStorage
from accident_assets.serving.assets import NYC_FEATURES

if TYPE_CHECKING:
    from accident_assets.serving.models import ServedModel


def _model_columns(model: ServedModel) -> list[pl.Expr]:
    return [
        pl.lit(model.version, pl.Utf8).alias("model_version"),
        pl.lit(model.uri, pl.Utf8).alias("model_uri"),
    ]


def france_predictions_frame(model: ServedModel, features: pl.DataFrame) -> pl.DataFrame:
    """ID columns, probability of "Priority", prediction and interpretation, the model used, and
    the observed target when the partition has it."""
    from accident_assets.france.features import FEATURE_COLUMNS, ID_COLUMNS, TARGET
    from accident_assets.serving import predict as scoring

    X = scoring.feature_matrix(features, FEATURE_COLUMNS)
    probability = scoring.france_probabilities(model.pipeline, X)
    prediction = scoring.decide(probability, model.threshold)
    keep = [*ID_COLUMNS, *([TARGET] if TARGET in features.columns else [])]
    return features.select(keep).with_columns(
        pl.Series("probability", probability, dtype=pl.Float64),
        pl.Series("prediction", prediction, dtype=pl.Int8),
        pl.Series(
            "interpretation", [scoring.interpretation(int(p)) for p in prediction], dtype=pl.Utf8
        ),
        pl.lit(model.threshold, pl.Float64).alias("threshold"),
        *_model_columns(model),
    )


def nyc_predictions_frame(
    model: ServedModel, features: pl.DataFrame, day: dt.date, cells: list[str]
) -> pl.DataFrame:
    """Every cell-hour of ``day`` over ``cells`` (zeros included, as training sees them) with the
    observed and the expected incidents and the model used."""
    from accident_assets.nyc import features as nf
    from accident_assets.serving import predict as scoring

    grid = nf.fill_zero_cell_hours(features, cells, [day])
    expected = scoring.nyc_expected(
        model.pipeline, scoring.feature_matrix(grid, nf.FEATURE_COLUMNS)
    )
    return grid.select("date", "hour", "cell", "borough", nf.TARGET).with_columns(
        pl.Series("expected_incidents", expected, dtype=pl.Float64), *_model_columns(model)
    )


def champion_features(
    storage: AssetStorage, model: ServedModel, extra: tuple[str, ...] = ()
) -> pl.DataFrame:
    """The stored nyc/features days the champion was trained on (plus ``extra`` days), in one
    frame; dg.Failure when there is none of them."""
    stored = set(storage.partitions(NYC_FEATURES))
    keys = sorted({*(k for k in model.trained_on_partitions if k in stored), *extra})
    if not keys:
        trained = ", ".join(model.trained_on_partitions) or "none recorded"
        raise dg.Failure(
            f"nyc/features: none of the days champion v{model.version} was trained on is stored "
            f"({trained}); its cell universe is unknown"
        )
    return pl.concat(list(storage.read(NYC_FEATURES, keys).values()))


def nyc_cells(storage: AssetStorage, model: ServedModel, newest: str) -> list[str]:
    """The champion's cell universe (cells of the stored days it was trained on) plus the newest
    day's cells, so that zero-incident cell-hours are scored as training saw them."""
    from accident_assets.nyc.features import cell_universe

    return cell_universe(champion_features(storage, model, (newest,)))
