"""The two training tasks as data: what the one asset factory needs to know about each.

Everything task-specific lives here (feature columns from the domain's features module, how the
training frame is assembled from stored partitions, the split, the metric and its direction, the
candidates, the champion rules); :mod:`accident_assets.training.factory` is the same for both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import dagster as dg
import h3
import numpy as np
import pandas as pd
import polars as pl
from sklearn.model_selection import train_test_split

from accident_assets.france import features as france_features
from accident_assets.nyc import features as nyc_features
from accident_assets.training import models
from accident_assets.training.metrics import (
    CLASSIFICATION_THRESHOLD,
    baseline_f1,
    classification_metrics,
    regression_metrics,
)


class SplitConfig(dg.Config):
    """How ``training_set`` holds data out (the design's split, with its knobs)."""

    validation_days: int = 14
    test_size: float = 0.3
    random_state: int = 42


@dataclass(frozen=True)
class TrainingSet:
    """The frames a task trains and is judged on, and where they came from."""

    task: str
    train: pl.DataFrame
    holdout: pl.DataFrame
    partitions: tuple[str, ...]
    fingerprint: str
    split: str


@dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: Literal["classification", "regression"]
    group: str
    feature_asset: dg.AssetKey
    target: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    assemble: Callable[[Mapping[str, pl.DataFrame]], pl.DataFrame]
    split: Callable[
        [pl.DataFrame, tuple[str, ...], SplitConfig], tuple[pl.DataFrame, pl.DataFrame, str]
    ]
    primary_metric: str
    greater_is_better: bool
    metrics: tuple[str, ...]
    candidates: Mapping[str, models.ModelKind]
    floor: float | None = None
    # The simple baselines' scores on a holdout target, shown beside the champion decision.
    simple_baselines: Callable[[np.ndarray], dict[str, float]] | None = None
    # New feature partitions since the champion's that warrant a retrain.
    retrain_min_new_partitions: int = 1
    top_k: int = 3
    # Facts about the features a served model must know (e.g. the H3 resolution of NYC cells),
    # recorded as tags of every fit run and of the registered version.
    feature_tags: Callable[[pl.DataFrame], dict[str, str]] = lambda frame: {}

    @property
    def feature_columns(self) -> list[str]:
        return [*self.categorical, *self.numeric]

    @property
    def job_name(self) -> str:
        return f"{self.name.split('_')[0]}_training_job"

    def key(self, *path: str) -> dg.AssetKey:
        return dg.AssetKey([self.name, *path])

    def xy(self, frame: pl.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Model input (pandas, exactly the feature columns) and target."""
        X = frame.select(self.feature_columns).to_pandas()
        y = frame.get_column(self.target).to_numpy()
        return X, y

    def predict(self, pipeline: object, X: pd.DataFrame) -> np.ndarray:
        """Probability of class 1, or the expected count."""
        if self.kind == "classification":
            return pipeline.predict_proba(X)[:, 1]  # type: ignore[attr-defined]
        return np.asarray(pipeline.predict(X), dtype=float)  # type: ignore[attr-defined]

    def score(
        self, y: np.ndarray, predicted: np.ndarray, threshold: float = CLASSIFICATION_THRESHOLD
    ) -> dict[str, float]:
        """The holdout metrics; a classifier's at its decision threshold
        (:func:`models.decision_threshold` of its pipeline)."""
        if self.kind == "classification":
            return classification_metrics(y, predicted, threshold)
        return regression_metrics(y, predicted)


def fingerprint(frames: Mapping[str, pl.DataFrame]) -> str:
    """A content hash of the partitions used (keys and rows), stable across runs."""
    digest = hashlib.sha256()
    for key in sorted(frames):
        frame = frames[key]
        digest.update(key.encode())
        digest.update(",".join(frame.columns).encode())
        digest.update(frame.hash_rows(seed=0, seed_1=1, seed_2=2, seed_3=3).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _require_columns(frames: Mapping[str, pl.DataFrame], columns: list[str], asset: str) -> None:
    for key, frame in frames.items():
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{asset} partition {key}: missing column(s) {missing}")


# ---------------------------------------------------------------------------------------------
# France


def assemble_france(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    columns = [
        *france_features.ID_COLUMNS,
        *france_features.FEATURE_COLUMNS,
        france_features.TARGET,
    ]
    _require_columns(frames, columns, "france/features")
    frame = pl.concat([frames[k].select(columns) for k in sorted(frames)], how="vertical_relaxed")
    return frame.filter(pl.col(france_features.TARGET).is_not_null())


def split_france(
    frame: pl.DataFrame, partitions: tuple[str, ...], config: SplitConfig
) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """Latest year held out when there are two or more years, else stratified random split."""
    years = sorted(partitions)
    if len(years) >= 2:
        latest = years[-1]
        is_test = pl.col("year").cast(pl.Utf8) == latest
        return frame.filter(~is_test), frame.filter(is_test), f"test year {latest}"
    index = np.arange(frame.height)
    train_idx, test_idx = train_test_split(
        index,
        test_size=config.test_size,
        random_state=config.random_state,
        stratify=frame.get_column(france_features.TARGET).to_numpy(),
    )
    return (
        frame[np.sort(train_idx)],
        frame[np.sort(test_idx)],
        f"stratified {1 - config.test_size:.0%}/{config.test_size:.0%} random_state {config.random_state}",
    )


# ---------------------------------------------------------------------------------------------
# NYC


def _day(key: str) -> dt.date:
    return dt.date.fromisoformat(key)


def assemble_nyc(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Every cell-hour of the stored days over the fixed cell universe, zeros included."""
    needed = ["date", "hour", "cell", nyc_features.TARGET]
    _require_columns(frames, needed, "nyc/features")
    observed = pl.concat([frames[k] for k in sorted(frames)], how="vertical_relaxed")
    cells = nyc_features.cell_universe(observed)
    return nyc_features.fill_zero_cell_hours(observed, cells, [_day(k) for k in frames])


def nyc_feature_tags(frame: pl.DataFrame) -> dict[str, str]:
    cells = frame.get_column("cell").drop_nulls()
    return {"h3_resolution": str(h3.get_resolution(cells[0]))} if len(cells) else {}


def split_nyc(
    frame: pl.DataFrame, partitions: tuple[str, ...], config: SplitConfig
) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """The last ``validation_days`` days are the holdout; training needs at least one day."""
    days = sorted(_day(k) for k in partitions)
    if len(days) <= config.validation_days:
        raise ValueError(
            f"nyc_incidents training_set: {len(days)} day(s) of nyc/features stored, need more "
            f"than validation_days={config.validation_days} (set it lower for short data)"
        )
    first_holdout = days[-config.validation_days]
    is_holdout = pl.col("date") >= first_holdout
    return (
        frame.filter(~is_holdout),
        frame.filter(is_holdout),
        f"validation {first_holdout}..{days[-1]} ({config.validation_days} days)",
    )


FRANCE = TaskSpec(
    name="france_priority",
    kind="classification",
    group="france_priority",
    feature_asset=dg.AssetKey(["france", "features"]),
    target=france_features.TARGET,
    categorical=tuple(france_features.CATEGORICAL_FEATURES),
    numeric=tuple(france_features.NUMERIC_FEATURES),
    assemble=assemble_france,
    split=split_france,
    primary_metric="f1",
    greater_is_better=True,
    metrics=("f1", "precision", "recall", "roc_auc", "pr_auc"),
    candidates=models.FRANCE_MODELS,
    # No absolute F1 floor by default: the reference's 0.65 was measured on rows chosen by the
    # target; on real accidents (and the calibrated sample) good models reach F1 0.5-0.57. The
    # champion is compared with the all-positive baseline on the same holdout instead.
    floor=None,
    simple_baselines=baseline_f1,
    retrain_min_new_partitions=1,
)

NYC = TaskSpec(
    name="nyc_incidents",
    kind="regression",
    group="nyc_incidents",
    feature_asset=dg.AssetKey(["nyc", "features"]),
    target=nyc_features.TARGET,
    categorical=tuple(nyc_features.CATEGORICAL_FEATURES),
    numeric=tuple(nyc_features.NUMERIC_FEATURES),
    assemble=assemble_nyc,
    split=split_nyc,
    primary_metric="rmse",
    greater_is_better=False,
    metrics=("rmse", "mae", "poisson_deviance"),
    candidates=models.NYC_MODELS,
    retrain_min_new_partitions=7,
    feature_tags=nyc_feature_tags,
)

TASKS: dict[str, TaskSpec] = {t.name: t for t in (FRANCE, NYC)}
