"""The candidates' pipelines: scikit-learn / imbalanced-learn / xgboost / LightGBM code, imported
only when a pipeline is built (a fit, a test), never to define the assets.

:mod:`accident_assets.training.models` names each candidate and its parameters; its builders
call the functions here by name. Each builder takes ``(params, categorical, numeric)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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

from accident_assets.training.models import (
    GLM_CATEGORICAL,
    GLM_NUMERIC,
    N_JOBS,
    RANDOM_STATE,
    SMALL_LOGISTIC_CATEGORICAL,
    SMALL_LOGISTIC_NUMERIC,
)
from accident_assets.training.rates import CellRateEncoder, ShrunkRateRegressor

# ---------------------------------------------------------------------------------------------
# Simple baselines: estimators so that each is a leaderboard row (and a servable model) like any
# other. They read only the columns they need from the task's full feature frame.


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


def rate_regression(estimator: Any, numeric: Sequence[str]) -> Pipeline:
    """Shrunk historical rates of the row's cell (and its ring, hour, weekday) plus the calendar
    and centroid columns, then ``estimator``: serving computes the same from a point and a time."""
    return Pipeline([("encode", CellRateEncoder(passthrough=tuple(numeric))), ("model", estimator)])


def poisson_glm(params: Mapping[str, Any]) -> Pipeline:
    encoding = ColumnTransformer(
        [
            ("effects", OneHotEncoder(handle_unknown="ignore"), list(GLM_CATEGORICAL)),
            ("numeric", "passthrough", list(GLM_NUMERIC)),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("encode", encoding), ("model", PoissonRegressor(**params))])


# ---------------------------------------------------------------------------------------------
# The candidates' builders, by name (:data:`accident_assets.training.models.FRANCE_MODELS`,
# :data:`~accident_assets.training.models.NYC_MODELS`)


def xgboost_classifier(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> ImbPipeline:
    return _classification(
        tree_encoding(categorical, numeric),
        XGBClassifier(
            **params,
            tree_method="hist",
            eval_metric="logloss",
            n_jobs=N_JOBS,
            random_state=RANDOM_STATE,
        ),
    )


def lightgbm_classifier(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> ImbPipeline:
    return _classification(
        tree_encoding(categorical, numeric),
        LGBMClassifier(**params, n_jobs=N_JOBS, random_state=RANDOM_STATE, verbose=-1),
    )


def random_forest_classifier(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> ImbPipeline:
    return _classification(
        tree_encoding(categorical, numeric),
        RandomForestClassifier(**params, n_jobs=N_JOBS, random_state=RANDOM_STATE),
    )


def class_prior(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> Pipeline:
    return _baseline(ClassPriorClassifier())


def small_logistic_baseline(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> Pipeline:
    return small_logistic(params)


def xgboost_regressor(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> Pipeline:
    return rate_regression(
        XGBRegressor(**params, tree_method="hist", n_jobs=N_JOBS, random_state=RANDOM_STATE),
        numeric,
    )


def lightgbm_regressor(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> Pipeline:
    return rate_regression(
        LGBMRegressor(**params, n_jobs=N_JOBS, random_state=RANDOM_STATE, verbose=-1), numeric
    )


def hist_gradient_boosting(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> Pipeline:
    return rate_regression(
        HistGradientBoostingRegressor(**params, random_state=RANDOM_STATE), numeric
    )


def poisson_glm_candidate(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> Pipeline:
    return poisson_glm(params)


def zero(params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]) -> Pipeline:
    return _baseline(DummyRegressor(strategy="constant", constant=0.0))


def global_mean(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> Pipeline:
    return _baseline(DummyRegressor(strategy="mean"))


def cell_mean(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> Pipeline:
    return _baseline(CellMeanRegressor())


def shrunk_rate(
    params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]
) -> Pipeline:
    return _baseline(ShrunkRateRegressor())
