"""Scoring, shared by the ``predict`` command, the HTTP API and the batch prediction assets.

Input is what the request models (:mod:`accident_assets.serving.schemas`) validated. The
preprocessing is the domain's row-wise features in their plain-Python form for a few records
(:mod:`accident_assets.france.records`, ``nyc.features.point_row``), each held equal to training's
polars code by a test, and then the logged pipeline, with its encoding as lookup tables
(:mod:`row_pipeline`). No polars work runs on a request: a polars worker that needs the
interpreter lock while a request thread holds it is how the API once hung for good.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import polars as pl

from accident_assets.serving.row_pipeline import CompiledPipeline, compile_pipeline


class Scorer(Protocol):
    """What scoring needs of a model: the served model and the logged MLflow model both are."""

    pipeline: Any
    threshold: float
    h3_resolution: int | None


PRIORITY, NON_PRIORITY = "Priority", "Non-priority"
NYC_TZ = ZoneInfo("America/New_York")


def feature_matrix(features: pl.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The pipeline's input: exactly the task's FEATURE_COLUMNS, as pandas (as training passes it)."""
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"feature rows lack the model's columns {missing}")
    return features.select(list(columns)).to_pandas()


# --- France: one accident -> probability of "Priority" ---------------------------------------


@dataclass(frozen=True)
class FrancePrediction:
    index: int
    prediction: int
    interpretation: str
    probability: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def interpretation(prediction: int) -> str:
    return PRIORITY if prediction == 1 else NON_PRIORITY


# Pipelines compiled for a few rows at a time (``row_pipeline``), per pipeline object; None when
# one cannot be, and then sklearn scores it as it is.
_COMPILED: weakref.WeakKeyDictionary[Any, CompiledPipeline | None] = weakref.WeakKeyDictionary()
_COMPILING = threading.Lock()
# Beyond this many rows sklearn's per-call cost is negligible and its memory use is lower.
FAST_PATH_MAX_ROWS = 10_000


def prepare(pipeline: Any, dtypes: Mapping[str, Any]) -> CompiledPipeline | None:
    """The compiled form of ``pipeline`` (built once, on first use or when a model is loaded).

    Compiling takes a few hundred milliseconds: it runs outside the lock, so requests for the
    models already compiled never wait on a new champion being prepared (two threads may compile
    the same new pipeline once each; the first result is kept)."""
    try:
        return _COMPILED[pipeline]
    except KeyError:
        pass
    compiled = compile_pipeline(pipeline, dtypes)
    with _COMPILING:
        return _COMPILED.setdefault(pipeline, compiled)


def prepare_model(task: str, pipeline: Any) -> None:
    """Compile ``pipeline`` for the inputs serving builds for ``task`` now, so that the first
    request does not pay for it (a few hundred milliseconds)."""
    if task == "france_priority":
        from accident_assets.france.records import DTYPES
    else:
        from accident_assets.nyc.features import POINT_DTYPES as DTYPES
    prepare(pipeline, DTYPES)


def _rows(X: Mapping[str, Any]) -> int:
    return len(next(iter(X.values()))) if isinstance(X, dict) else len(X)


def _fast(pipeline: Any, X: Mapping[str, Any]) -> CompiledPipeline | None:
    if _rows(X) > FAST_PATH_MAX_ROWS:
        return None
    if pipeline in _COMPILED:  # the usual case: no need to look at the input's types
        return _COMPILED[pipeline]
    return prepare(pipeline, {c: np.asarray(X[c]).dtype for c in X})


def france_probabilities(pipeline: Any, X: Mapping[str, Any]) -> np.ndarray:
    """Probability of "Priority" for each row of the pipeline's input (a frame or columns)."""
    fast = _fast(pipeline, X)
    if fast is not None:
        return np.asarray(fast.predict_proba(X)[:, 1], dtype=float)
    return np.asarray(pipeline.predict_proba(pd.DataFrame(X))[:, 1], dtype=float)


def decide(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    return (probabilities >= threshold).astype(np.int8)


def score_france(model: Scorer, records: list[dict[str, Any]]) -> list[FrancePrediction]:
    """Validated records (``schemas.france_records``) -> predictions, in plain Python and numpy
    up to the pipeline (:mod:`accident_assets.france.records`)."""
    from accident_assets.france.records import feature_columns

    probabilities = france_probabilities(model.pipeline, feature_columns(records))
    predictions = decide(probabilities, model.threshold)
    return [
        FrancePrediction(i, int(p), interpretation(int(p)), float(prob))
        for i, (p, prob) in enumerate(zip(predictions, probabilities, strict=True))
    ]


# --- NYC: a point and a time -> expected incidents of its cell-hour ---------------------------


@dataclass(frozen=True)
class NycPrediction:
    index: int
    lat: float
    lon: float
    timestamp: str
    cell: str
    date: str
    hour: int
    expected_incidents: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_time(value: dt.datetime) -> dt.datetime:
    """New York wall-clock time: an offset is converted, a naive time is taken as local already."""
    if value.tzinfo is not None:
        value = value.astimezone(NYC_TZ).replace(tzinfo=None)
    return value


def h3_resolution(model: Scorer) -> int:
    from accident_assets.nyc.features import H3_RESOLUTION_DEFAULT

    return model.h3_resolution or H3_RESOLUTION_DEFAULT


def nyc_expected(pipeline: Any, X: Mapping[str, Any]) -> np.ndarray:
    """Expected incidents for each row of the pipeline's input (a frame or columns)."""
    fast = _fast(pipeline, X)
    predicted = np.asarray(
        fast.predict(X) if fast is not None else pipeline.predict(pd.DataFrame(X)), dtype=float
    )
    # Counts cannot be negative; a regressor may still dip below zero on an empty cell-hour.
    return np.clip(predicted, 0.0, None)


def score_nyc(model: Scorer, points: list[dict[str, Any]]) -> list[NycPrediction]:
    """Validated points (``schemas.nyc_points``) -> predictions, in plain Python and numpy up to
    the pipeline (``nyc.features.point_row``)."""
    from accident_assets.nyc.features import FEATURE_COLUMNS, POINT_DTYPES, point_row

    resolution = h3_resolution(model)
    rows = [point_row(p["lat"], p["lon"], local_time(p["timestamp"]), resolution) for p in points]
    X = {c: np.array([r[c] for r in rows], dtype=POINT_DTYPES[c]) for c in FEATURE_COLUMNS}
    expected = nyc_expected(model.pipeline, X)
    return [
        NycPrediction(
            index=i,
            lat=float(p["lat"]),
            lon=float(p["lon"]),
            timestamp=local_time(p["timestamp"]).isoformat(),
            cell=row["cell"],
            date=row["date"].isoformat(),
            hour=int(row["hour"]),
            expected_incidents=float(value),
        )
        for i, (p, row, value) in enumerate(zip(points, rows, expected, strict=True))
    ]


def route_total(predictions: list[NycPrediction]) -> float:
    """Expected incidents over the distinct cell-hours a route passes through (each counted once)."""
    seen: dict[tuple[str, str, int], float] = {}
    for p in predictions:
        seen.setdefault((p.cell, p.date, p.hour), p.expected_incidents)
    return float(sum(seen.values()))


def path_summary(predictions: list[NycPrediction], cutoff: float | None) -> dict[str, Any]:
    """A start/end request's extra answer: the path's end cells and, given a cutoff, the cells
    whose expected incidents are strictly above it (in travel order)."""
    return {
        "start_cell": predictions[0].cell,
        "end_cell": predictions[-1].cell,
        "cells": len(predictions),
        "cutoff": cutoff,
        "above_cutoff": None
        if cutoff is None
        else [p.as_dict() for p in predictions if p.expected_incidents > cutoff],
    }
