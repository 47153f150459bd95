"""Model candidates: each one ONE sklearn/imblearn ``Pipeline`` from the task's feature columns
(a pandas DataFrame) to a prediction, with every fitted step (encoding, SMOTE, estimator) inside.
Simple baselines (``ModelKind.baseline``) are candidates too, so the leaderboard shows what the
real models gain over them; a classifier may state its own decision threshold
(:func:`decision_threshold`).

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
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted
from xgboost import XGBClassifier, XGBRegressor

from accident_assets.training.metrics import CLASSIFICATION_THRESHOLD
from accident_assets.training.rates import CellRateEncoder, ShrunkRateRegressor

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
    # Each tree grows on a bootstrap of half the (SMOTE-resampled) rows: the forest fits in about
    # half the time with the same holdout F1 (56,000 accidents: 0.5167 vs 0.5165; real 976, 10
    # splits: 0.515 vs 0.507; see docs/benchmarks.md). 1.0 is scikit-learn's full bootstrap.
    max_samples: float = 0.5


class LogisticRegressionParams(dg.Config):
    C: float = 1.0
    max_iter: int = 1000


# NYC: the estimators see shrunk historical rates (``rates.CellRateEncoder``) and the calendar.
# The signal beyond the rates is small and the counts are noisy, so the trees are shallow, slow
# learners that need many rows per leaf (measured on the real exports, docs/benchmarks.md).
class XGBRegressorParams(dg.Config):
    objective: str = "count:poisson"
    n_estimators: int = 300
    learning_rate: float = 0.03
    max_depth: int = 4
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 5.0


class LGBMRegressorParams(dg.Config):
    objective: str = "poisson"
    n_estimators: int = 300
    learning_rate: float = 0.03
    num_leaves: int = 15
    subsample: float = 0.8
    subsample_freq: int = 1
    colsample_bytree: float = 0.8
    min_child_samples: int = 100


class HistGradientBoostingParams(dg.Config):
    loss: str = "poisson"
    max_iter: int = 300
    learning_rate: float = 0.03
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 100
    l2_regularization: float = 0.0


class PoissonGLMParams(dg.Config):
    # L2 penalty on the one-hot effects (sklearn scales it by the mean deviance): 1e-3 already
    # pulls busy cells toward the mean (6 % worse deviance on January 2023), 1e-4 does not.
    alpha: float = 1e-4
    max_iter: int = 300


class NoParams(dg.Config):
    """No parameters: the baselines that are pure statistics of the training target."""


class ParamRange(dg.Config):
    """One dimension of an Optuna search space."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


# ---------------------------------------------------------------------------------------------
# Simple baselines: estimators so that each is a leaderboard row (and a servable model) like any
# other. They read only the columns they need from the task's full feature frame.

# A decision threshold for a final estimator that states none (scikit-learn's own predict).
DEFAULT_DECISION_THRESHOLD = CLASSIFICATION_THRESHOLD


class ClassPriorClassifier(ClassifierMixin, BaseEstimator):
    """P(class 1) = the training positive rate for every row.

    Its decision threshold is that rate, so every row is predicted class 1: of all constant
    predictions that one has the highest F1 (2p / (1 + p)); "nobody" would score 0. ROC AUC 0.5.
    """

    def fit(self, X: pd.DataFrame, y: Any) -> ClassPriorClassifier:
        self.classes_ = np.array([0, 1])
        self.positive_rate_ = float(np.mean(np.asarray(y).astype(int)))
        self.decision_threshold_ = self.positive_rate_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "positive_rate_")
        rate = np.full(len(X), self.positive_rate_)
        return np.column_stack([1.0 - rate, rate])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= self.decision_threshold_).astype(int)


def lookup(table: pd.Series, X: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """``table`` (indexed by ``keys``) at each row of ``X``; NaN where the row's key is absent.
    One hash lookup for all rows: this runs on every served request."""
    if table.empty:
        return np.full(len(X), np.nan)
    rows = X[list(keys)]
    index = pd.MultiIndex.from_frame(rows) if len(keys) > 1 else pd.Index(rows[keys[0]])
    at = table.index.get_indexer(index)
    values = table.to_numpy(dtype=float)[np.maximum(at, 0)]  # -1 (absent) masked below
    return np.where(at >= 0, values, np.nan)


class CellMeanRegressor(RegressorMixin, BaseEstimator):
    """Mean training target per cell; a cell unseen in training gets the global mean."""

    def __init__(self, key: str = "cell") -> None:
        self.key = key

    def fit(self, X: pd.DataFrame, y: Any) -> CellMeanRegressor:
        target = pd.Series(np.asarray(y, dtype=float), index=X.index)
        self.global_mean_ = float(target.mean())
        self.means_ = target.groupby(X[self.key], observed=True).mean()
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "means_")
        found = lookup(self.means_, X, [self.key])
        return np.where(np.isnan(found), self.global_mean_, found)


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


def balanced_logistic(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> Pipeline:
    """Logistic regression on every feature (one-hot categories, scaled numbers), the classes
    balanced by weights instead of SMOTE.

    SMOTE after a one-hot encoding searches nearest neighbours among ~20,000 minority rows of
    ~240 sparse columns: 49 s and 2.8 GB of a 57 s fit on a real-size year, against a 2 s fit
    with weights. For a linear model both only move the decision toward the minority class (F1
    on the sample's 2022 holdout: 0.5910 with SMOTE, 0.5921 with weights; on the real 976
    accidents, 10 splits: 0.541 and 0.542). Newton–Cholesky: ~240 columns make a small Hessian,
    so a handful of Newton steps replace ~100 L-BFGS iterations (same optimum)."""
    return Pipeline(
        [
            ("encode", linear_encoding(categorical, numeric)),
            (
                "model",
                LogisticRegression(
                    **params,
                    solver="newton-cholesky",
                    class_weight="balanced",
                    random_state=RANDOM_STATE,
                ),
            ),
        ]
    )


def _regression(encoding: ColumnTransformer | None, estimator: Any) -> Pipeline:
    steps = [("encode", encoding)] if encoding is not None else []
    return Pipeline([*steps, ("model", estimator)])


def _baseline(estimator: Any) -> Pipeline:
    """A baseline that reads its few columns from the feature frame itself: no encoding, no SMOTE
    (so serving has nothing to compile and leaves it to sklearn: a few pandas lookups)."""
    return Pipeline([("model", estimator)])


# The few features anyone would name first for "killed or hospitalised": where (``agg`` built-up
# area or not, ``catr`` road class), how fast (``vma`` speed limit), who (``catu`` driver,
# passenger or pedestrian) and with what (``catv_group`` e.g. two-wheeler, ``obsm_group`` the
# mobile obstacle hit, e.g. a pedestrian). A model that cannot beat these is not worth its trees.
SMALL_LOGISTIC_CATEGORICAL = ("agg", "catr", "catu", "catv_group", "obsm_group")
SMALL_LOGISTIC_NUMERIC = ("vma",)


def small_logistic(params: Mapping[str, Any]) -> Pipeline:
    """Balanced logistic regression on :data:`SMALL_LOGISTIC_CATEGORICAL` (one-hot) and
    :data:`SMALL_LOGISTIC_NUMERIC` (scaled); the encoding drops every other column of the frame.
    Balanced class weights instead of SMOTE: both move the 0.5 threshold toward the minority
    class; weights do it without resampling, so the baseline stays cheap."""
    encoding = linear_encoding(SMALL_LOGISTIC_CATEGORICAL, SMALL_LOGISTIC_NUMERIC)
    encoding.set_params(remainder="drop")
    return Pipeline(
        [
            ("encode", encoding),
            (
                "model",
                LogisticRegression(**params, class_weight="balanced", random_state=RANDOM_STATE),
            ),
        ]
    )


Builder = Callable[[Mapping[str, Any], Sequence[str], Sequence[str]], Any]


@dataclass(frozen=True)
class ModelKind:
    """A candidate: its parameter Config, how to build its pipeline, its default search space.
    A baseline is a simple reference (not tuned) that the real models must beat."""

    name: str
    params: type[dg.Config]
    build: Builder
    search_space: Mapping[str, ParamRange]
    tunable: bool = True
    baseline: bool = False


def baseline_kind(name: str, params: type[dg.Config], build: Builder) -> ModelKind:
    return ModelKind(name, params, build, {}, tunable=False, baseline=True)


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
        # Out of tuning by default: its studies were 300 of the job's 368 s at 56,000 accidents
        # a year (up to 300 trees of depth 24 per trial), for a model no better than the others
        # (docs/benchmarks.md). The leaderboard's top 3 tunable models are tuned instead.
        tunable=False,
    ),
    "logistic_regression": ModelKind(
        "logistic_regression",
        LogisticRegressionParams,
        balanced_logistic,
        _space(C=(1e-3, 100.0, True, False)),
    ),
    "class_prior": baseline_kind(
        "class_prior", NoParams, lambda p, cat, num: _baseline(ClassPriorClassifier())
    ),
    "small_logistic": baseline_kind(
        "small_logistic", LogisticRegressionParams, lambda p, cat, num: small_logistic(p)
    ),
}


def rate_regression(estimator: Any, numeric: Sequence[str]) -> Pipeline:
    """Shrunk historical rates of the row's cell (and its ring, hour, weekday) plus the calendar
    and centroid columns, then ``estimator``: serving computes the same from a point and a time."""
    return Pipeline([("encode", CellRateEncoder(passthrough=tuple(numeric))), ("model", estimator)])


# The GLM's effects: log rate = cell + hour + weekday (+ holiday), i.e. rates multiply.
GLM_CATEGORICAL = ("cell", "hour", "weekday")
GLM_NUMERIC = ("is_holiday",)


def poisson_glm(params: Mapping[str, Any]) -> Pipeline:
    encoding = ColumnTransformer(
        [
            ("effects", OneHotEncoder(handle_unknown="ignore"), list(GLM_CATEGORICAL)),
            ("numeric", "passthrough", list(GLM_NUMERIC)),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("encode", encoding), ("model", PoissonRegressor(**params))])


# Random forest and extra trees are not NYC candidates: on the real exports they were never the
# best model and mostly below the best baseline (docs/benchmarks.md, issue 12's backtests), fit
# with squared error on counts, and cost the most (extra_trees tuning ran 14 minutes past its
# timeout on 61 days).
NYC_MODELS: dict[str, ModelKind] = {
    "xgboost": ModelKind(
        "xgboost",
        XGBRegressorParams,
        lambda p, cat, num: rate_regression(
            XGBRegressor(**p, tree_method="hist", n_jobs=N_JOBS, random_state=RANDOM_STATE), num
        ),
        _BOOSTING_SPACE,
    ),
    "lightgbm": ModelKind(
        "lightgbm",
        LGBMRegressorParams,
        lambda p, cat, num: rate_regression(
            LGBMRegressor(**p, n_jobs=N_JOBS, random_state=RANDOM_STATE, verbose=-1), num
        ),
        _LGBM_SPACE,
    ),
    "hist_gradient_boosting": ModelKind(
        "hist_gradient_boosting",
        HistGradientBoostingParams,
        lambda p, cat, num: rate_regression(
            HistGradientBoostingRegressor(**p, random_state=RANDOM_STATE), num
        ),
        _space(
            max_iter=(100, 600, False, True),
            learning_rate=(0.01, 0.3, True, False),
            max_leaf_nodes=(7, 63, False, True),
            min_samples_leaf=(20, 500, True, True),
            l2_regularization=(1e-6, 10.0, True, False),
        ),
    ),
    "poisson_glm": ModelKind(
        "poisson_glm",
        PoissonGLMParams,
        lambda p, cat, num: poisson_glm(p),
        _space(alpha=(1e-6, 1e-2, True, False)),
    ),
    "zero": baseline_kind(
        "zero",
        NoParams,
        lambda p, cat, num: _baseline(DummyRegressor(strategy="constant", constant=0.0)),
    ),
    "global_mean": baseline_kind(
        "global_mean", NoParams, lambda p, cat, num: _baseline(DummyRegressor(strategy="mean"))
    ),
    "cell_mean": baseline_kind(
        "cell_mean", NoParams, lambda p, cat, num: _baseline(CellMeanRegressor())
    ),
    "shrunk_rate": baseline_kind(
        "shrunk_rate", NoParams, lambda p, cat, num: _baseline(ShrunkRateRegressor())
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


def baseline_names(candidates: Mapping[str, ModelKind]) -> list[str]:
    return [name for name, kind in candidates.items() if kind.baseline]


def decision_threshold(pipeline: Any) -> float:
    """The probability from which a fitted classifier pipeline predicts class 1: its final
    estimator's ``decision_threshold_`` when it states one (e.g. :class:`ClassPriorClassifier`),
    else 0.5. Holdout metrics, the confusion matrix and serving all decide at this value."""
    estimator = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    return float(getattr(estimator, "decision_threshold_", DEFAULT_DECISION_THRESHOLD))


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
