"""Model candidates: each one ONE sklearn/imblearn ``Pipeline`` from the task's feature columns
(a pandas DataFrame) to a prediction, with every fitted step (encoding, SMOTE, estimator) inside.

Parameters are Dagster ``Config`` classes whose defaults are the reference's (France xgboost:
300 trees, learning rate .05, depth 5) trimmed where a default would make the sample run slow on
two cores (forests: 100 trees, bounded depth). Search spaces for Optuna are configuration too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline as ImbPipeline
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted
from xgboost import XGBClassifier, XGBRegressor

RANDOM_STATE = 42
# Two cores on the reference machine; estimators use both, the executor runs steps in sequence.
N_JOBS = 2

# ---------------------------------------------------------------------------------------------
# Parameters (Dagster Config, reference defaults)


class XGBClassifierParams(dg.Config):
    n_estimators: int = 300
    learning_rate: float = 0.05
    max_depth: int = 5
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0


class LGBMClassifierParams(dg.Config):
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    subsample: float = 0.8
    subsample_freq: int = 1
    colsample_bytree: float = 0.8
    min_child_samples: int = 20


class RandomForestClassifierParams(dg.Config):
    n_estimators: int = 100
    max_depth: int = 12
    min_samples_leaf: int = 2
    max_features: float = 0.3


class LogisticRegressionParams(dg.Config):
    C: float = 1.0
    max_iter: int = 1000


class XGBRegressorParams(dg.Config):
    objective: str = "count:poisson"
    n_estimators: int = 300
    learning_rate: float = 0.05
    max_depth: int = 6
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0


class LGBMRegressorParams(dg.Config):
    objective: str = "poisson"
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    subsample: float = 0.8
    subsample_freq: int = 1
    colsample_bytree: float = 0.8
    min_child_samples: int = 20


class ForestRegressorParams(dg.Config):
    n_estimators: int = 100
    max_depth: int = 12
    min_samples_leaf: int = 5
    max_features: float = 0.5


class HistGradientBoostingParams(dg.Config):
    loss: str = "poisson"
    max_iter: int = 300
    learning_rate: float = 0.05
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0


class SeasonalMeanParams(dg.Config):
    """No parameters: the mean of training incidents per cell × weekday × hour."""


class ParamRange(dg.Config):
    """One dimension of an Optuna search space."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


# ---------------------------------------------------------------------------------------------
# The seasonal-mean baseline, an estimator so that it is a leaderboard row like any other


class SeasonalMeanRegressor(RegressorMixin, BaseEstimator):
    """Mean training target per (cell, weekday, hour): the NYC reference's baseline.

    A combination unseen in training falls back to the mean per (cell, hour), then per cell, then
    the global mean, so the baseline answers every row (e.g. a weekday absent from a short
    training window).
    """

    def __init__(
        self,
        levels: Sequence[Sequence[str]] = (
            ("cell", "weekday", "hour"),
            ("cell", "hour"),
            ("cell",),
        ),
    ) -> None:
        self.levels = levels

    def fit(self, X: pd.DataFrame, y: Any) -> SeasonalMeanRegressor:
        frame = X.copy()
        frame["__y"] = np.asarray(y, dtype=float)
        self.global_mean_ = float(frame["__y"].mean())
        self.tables_ = [
            (list(keys), frame.groupby(list(keys), observed=True)["__y"].mean())
            for keys in self.levels
        ]
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "tables_")
        out = np.full(len(X), np.nan)
        for keys, table in self.tables_:
            missing = np.isnan(out)
            if not missing.any():
                break
            rows = X.loc[missing, keys]
            index = pd.MultiIndex.from_frame(rows) if len(keys) > 1 else rows[keys[0]]
            out[missing] = table.reindex(index).to_numpy()
        out[np.isnan(out)] = self.global_mean_
        return out


# ---------------------------------------------------------------------------------------------
# Pipeline builders


def tree_encoding(categorical: Sequence[str], numeric: Sequence[str]) -> ColumnTransformer:
    """Integer codes for categories (trees split on them), numbers as they are."""
    return ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
                ),
                list(categorical),
            ),
            ("numeric", SimpleImputer(strategy="median"), list(numeric)),
        ],
        verbose_feature_names_out=False,
    )


def linear_encoding(categorical: Sequence[str], numeric: Sequence[str]) -> ColumnTransformer:
    """One-hot categories (rare levels pooled), standardised numbers: what a linear model needs."""
    return ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20),
                list(categorical),
            ),
            (
                "numeric",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                list(numeric),
            ),
        ],
        verbose_feature_names_out=False,
    )


def _classification(encoding: ColumnTransformer, estimator: Any) -> ImbPipeline:
    # SMOTE after the encoding: it interpolates numbers, so it must see encoded columns, and it
    # runs only at fit time (imblearn skips samplers in predict).
    return ImbPipeline(
        [
            ("encode", encoding),
            ("smote", SMOTE(random_state=RANDOM_STATE)),
            ("model", estimator),
        ]
    )


def _regression(encoding: ColumnTransformer | None, estimator: Any) -> Pipeline:
    steps = [("encode", encoding)] if encoding is not None else []
    return Pipeline([*steps, ("model", estimator)])


Builder = Callable[[Mapping[str, Any], Sequence[str], Sequence[str]], Any]


@dataclass(frozen=True)
class ModelKind:
    """A candidate: its parameter Config, how to build its pipeline, its default search space."""

    name: str
    params: type[dg.Config]
    build: Builder
    search_space: Mapping[str, ParamRange]
    tunable: bool = True


def _space(**dims: tuple[float, float, bool, bool]) -> dict[str, ParamRange]:
    return {
        k: ParamRange(low=lo, high=hi, log=log, integer=integer)
        for k, (lo, hi, log, integer) in dims.items()
    }


_BOOSTING_SPACE = _space(
    n_estimators=(100, 600, False, True),
    learning_rate=(0.01, 0.3, True, False),
    max_depth=(3, 10, False, True),
    subsample=(0.6, 1.0, False, False),
    colsample_bytree=(0.5, 1.0, False, False),
)
_LGBM_SPACE = _space(
    n_estimators=(100, 600, False, True),
    learning_rate=(0.01, 0.3, True, False),
    num_leaves=(15, 127, False, True),
    min_child_samples=(5, 100, False, True),
    colsample_bytree=(0.5, 1.0, False, False),
)
_FOREST_SPACE = _space(
    n_estimators=(50, 300, False, True),
    max_depth=(6, 24, False, True),
    min_samples_leaf=(1, 20, False, True),
    max_features=(0.1, 1.0, False, False),
)

FRANCE_MODELS: dict[str, ModelKind] = {
    "xgboost": ModelKind(
        "xgboost",
        XGBClassifierParams,
        lambda p, cat, num: _classification(
            tree_encoding(cat, num),
            XGBClassifier(
                **p,
                tree_method="hist",
                eval_metric="logloss",
                n_jobs=N_JOBS,
                random_state=RANDOM_STATE,
            ),
        ),
        _BOOSTING_SPACE,
    ),
    "lightgbm": ModelKind(
        "lightgbm",
        LGBMClassifierParams,
        lambda p, cat, num: _classification(
            tree_encoding(cat, num),
            LGBMClassifier(**p, n_jobs=N_JOBS, random_state=RANDOM_STATE, verbose=-1),
        ),
        _LGBM_SPACE,
    ),
    "random_forest": ModelKind(
        "random_forest",
        RandomForestClassifierParams,
        lambda p, cat, num: _classification(
            tree_encoding(cat, num),
            RandomForestClassifier(**p, n_jobs=N_JOBS, random_state=RANDOM_STATE),
        ),
        _FOREST_SPACE,
    ),
    "logistic_regression": ModelKind(
        "logistic_regression",
        LogisticRegressionParams,
        lambda p, cat, num: _classification(
            linear_encoding(cat, num), LogisticRegression(**p, random_state=RANDOM_STATE)
        ),
        _space(C=(1e-3, 100.0, True, False)),
    ),
}

NYC_MODELS: dict[str, ModelKind] = {
    "xgboost": ModelKind(
        "xgboost",
        XGBRegressorParams,
        lambda p, cat, num: _regression(
            tree_encoding(cat, num),
            XGBRegressor(**p, tree_method="hist", n_jobs=N_JOBS, random_state=RANDOM_STATE),
        ),
        _BOOSTING_SPACE,
    ),
    "lightgbm": ModelKind(
        "lightgbm",
        LGBMRegressorParams,
        lambda p, cat, num: _regression(
            tree_encoding(cat, num),
            LGBMRegressor(**p, n_jobs=N_JOBS, random_state=RANDOM_STATE, verbose=-1),
        ),
        _LGBM_SPACE,
    ),
    "random_forest": ModelKind(
        "random_forest",
        ForestRegressorParams,
        lambda p, cat, num: _regression(
            tree_encoding(cat, num),
            RandomForestRegressor(**p, n_jobs=N_JOBS, random_state=RANDOM_STATE),
        ),
        _FOREST_SPACE,
    ),
    "extra_trees": ModelKind(
        "extra_trees",
        ForestRegressorParams,
        lambda p, cat, num: _regression(
            tree_encoding(cat, num),
            ExtraTreesRegressor(**p, n_jobs=N_JOBS, random_state=RANDOM_STATE),
        ),
        _FOREST_SPACE,
    ),
    "hist_gradient_boosting": ModelKind(
        "hist_gradient_boosting",
        HistGradientBoostingParams,
        lambda p, cat, num: _regression(
            tree_encoding(cat, num), HistGradientBoostingRegressor(**p, random_state=RANDOM_STATE)
        ),
        _space(
            max_iter=(100, 600, False, True),
            learning_rate=(0.01, 0.3, True, False),
            max_leaf_nodes=(15, 127, False, True),
            min_samples_leaf=(5, 100, False, True),
            l2_regularization=(1e-6, 10.0, True, False),
        ),
    ),
    "seasonal_mean": ModelKind(
        "seasonal_mean",
        SeasonalMeanParams,
        lambda p, cat, num: _regression(None, SeasonalMeanRegressor()),
        {},
        tunable=False,
    ),
}


def suggest(trial: Any, space: Mapping[str, ParamRange]) -> dict[str, Any]:
    """Optuna parameters for one trial from a search space."""
    params: dict[str, Any] = {}
    for name, dim in space.items():
        if dim.integer:
            params[name] = trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)
        else:
            params[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
    return params


def feature_names(pipeline: Any) -> list[str]:
    """Names of the columns the estimator sees (after encoding)."""
    if "encode" in pipeline.named_steps:
        return [str(n) for n in pipeline.named_steps["encode"].get_feature_names_out()]
    return list(getattr(pipeline, "feature_names_in_", []))


def feature_importance(pipeline: Any) -> dict[str, float] | None:
    """The estimator's own importances (|coef| for linear models); None when it has none."""
    model = pipeline.named_steps["model"]
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
    elif hasattr(model, "coef_"):
        values = np.abs(np.asarray(model.coef_, dtype=float)).ravel()
    else:
        return None
    names = feature_names(pipeline)
    if len(names) != len(values):
        return None
    return dict(zip(names, values.tolist(), strict=True))
