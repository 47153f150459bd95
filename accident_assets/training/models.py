"""Model candidates: each one ONE sklearn/imblearn ``Pipeline`` from the task's feature columns
(a pandas DataFrame) to a prediction, with every fitted step (encoding, SMOTE, estimator) inside.
Simple baselines (``ModelKind.baseline``) are candidates too, so the leaderboard shows what the
real models gain over them; a classifier may state its own decision threshold
(:func:`decision_threshold`).

Parameters are Dagster ``Config`` classes whose defaults are the reference's (France xgboost:
300 trees, learning rate .05, depth 5) trimmed where a default would make the sample run slow on
two cores (forests: 100 trees, bounded depth). Search spaces for Optuna are configuration too.

This module is what defining the assets needs (names, parameters, search spaces) and imports no
ML library: each candidate's ``build`` imports its pipeline from
:mod:`accident_assets.training.estimators` when it is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from accident_assets.training.metrics import CLASSIFICATION_THRESHOLD

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


# A decision threshold for a final estimator that states none (scikit-learn's own predict).
DEFAULT_DECISION_THRESHOLD = CLASSIFICATION_THRESHOLD


# The few features anyone would name first for "killed or hospitalised": where (``agg`` built-up
# area or not, ``catr`` road class), how fast (``vma`` speed limit), who (``catu`` driver,
# passenger or pedestrian) and with what (``catv_group`` e.g. two-wheeler, ``obsm_group`` the
# mobile obstacle hit, e.g. a pedestrian). A model that cannot beat these is not worth its trees.
SMALL_LOGISTIC_CATEGORICAL = ("agg", "catr", "catu", "catv_group", "obsm_group")
SMALL_LOGISTIC_NUMERIC = ("vma",)

# The GLM's effects: log rate = cell + hour + weekday (+ holiday), i.e. rates multiply.
GLM_CATEGORICAL = ("cell", "hour", "weekday")
GLM_NUMERIC = ("is_holiday",)


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


def pipeline_builder(name: str) -> Builder:
    """The builder :func:`accident_assets.training.estimators.<name>`, imported when called."""

    def build(params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]) -> Any:
        from accident_assets.training import estimators

        return getattr(estimators, name)(params, categorical, numeric)

    build.__name__ = build.__qualname__ = name
    return build


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
        "xgboost", XGBClassifierParams, pipeline_builder("xgboost_classifier"), _BOOSTING_SPACE
    ),
    "lightgbm": ModelKind(
        "lightgbm", LGBMClassifierParams, pipeline_builder("lightgbm_classifier"), _LGBM_SPACE
    ),
    "random_forest": ModelKind(
        "random_forest",
        RandomForestClassifierParams,
        pipeline_builder("random_forest_classifier"),
        _FOREST_SPACE,
        # Out of tuning by default: its studies were 300 of the job's 368 s at 56,000 accidents
        # a year (up to 300 trees of depth 24 per trial), for a model no better than the others
        # (docs/benchmarks.md). The leaderboard's top 3 tunable models are tuned instead.
        tunable=False,
    ),
    "logistic_regression": ModelKind(
        "logistic_regression",
        LogisticRegressionParams,
        pipeline_builder("balanced_logistic"),
        _space(C=(1e-3, 100.0, True, False)),
    ),
    "class_prior": baseline_kind("class_prior", NoParams, pipeline_builder("class_prior")),
    "small_logistic": baseline_kind(
        "small_logistic", LogisticRegressionParams, pipeline_builder("small_logistic_baseline")
    ),
}

# Random forest and extra trees are not NYC candidates: on the real exports they were never the
# best model and mostly below the best baseline (docs/benchmarks.md, issue 12's backtests), fit
# with squared error on counts, and cost the most (extra_trees tuning ran 14 minutes past its
# timeout on 61 days).
NYC_MODELS: dict[str, ModelKind] = {
    "xgboost": ModelKind(
        "xgboost", XGBRegressorParams, pipeline_builder("xgboost_regressor"), _BOOSTING_SPACE
    ),
    "lightgbm": ModelKind(
        "lightgbm", LGBMRegressorParams, pipeline_builder("lightgbm_regressor"), _LGBM_SPACE
    ),
    "hist_gradient_boosting": ModelKind(
        "hist_gradient_boosting",
        HistGradientBoostingParams,
        pipeline_builder("hist_gradient_boosting"),
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
        pipeline_builder("poisson_glm_candidate"),
        _space(alpha=(1e-6, 1e-2, True, False)),
    ),
    "zero": baseline_kind("zero", NoParams, pipeline_builder("zero")),
    "global_mean": baseline_kind("global_mean", NoParams, pipeline_builder("global_mean")),
    "cell_mean": baseline_kind("cell_mean", NoParams, pipeline_builder("cell_mean")),
    "shrunk_rate": baseline_kind("shrunk_rate", NoParams, pipeline_builder("shrunk_rate")),
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
    import numpy as np

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


# Estimators and pipeline helpers that lived here: models logged before they moved to
# :mod:`accident_assets.training.estimators` unpickle by these names (and callers keep working).
_MOVED = (
    "ClassPriorClassifier",
    "CellMeanRegressor",
    "lookup",
    "tree_encoding",
    "linear_encoding",
    "balanced_logistic",
    "small_logistic",
    "rate_regression",
    "poisson_glm",
)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from accident_assets.training import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
