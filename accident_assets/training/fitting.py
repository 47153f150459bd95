"""Fit one candidate (default parameters or an Optuna study) and log it to MLflow.

These functions do the work of the ``model_fits`` and ``tuned_fits`` assets; the assets only wire
configuration, resources and metadata. MLflow, Optuna, numpy and the estimators' libraries are
imported by the functions that fit: defining the assets must not load them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from accident_assets.training import models, plots
from accident_assets.training.metrics import calibration_by_decile
from accident_assets.training.tasks import TaskSpec, TrainingSet
from accident_assets.training.tracking import MlflowTracking, as_params, log_model, log_png

if TYPE_CHECKING:
    import numpy as np
    import optuna

Log = Callable[[str], None]


@dataclass(frozen=True)
class FitResult:
    """What a fit asset stores: enough to rank, compare, re-load and register the model."""

    task: str
    model: str
    variant: str  # "default" or "tuned"
    params: dict[str, Any]
    metrics: dict[str, float]
    fit_time_s: float
    run_id: str
    model_uri: str
    plots: dict[str, bytes] = field(default_factory=dict, repr=False)
    tuning_time_s: float | None = None
    trials: int | None = None
    # Regression: mean predicted and observed count per decile of the holdout prediction.
    calibration: list[dict[str, float]] = field(default_factory=list, repr=False)
    # The MLflow experiment of ``run_id``, for links to the run (empty in fits stored before it
    # was recorded: the class default answers for them when they are unpickled).
    experiment_id: str = ""


def diagnostic_plots(
    spec: TaskSpec, pipeline: Any, holdout: pl.DataFrame, y: np.ndarray, predicted: np.ndarray
) -> dict[str, bytes]:
    import numpy as np

    out: dict[str, bytes] = {}
    if spec.kind == "classification":
        out["confusion_matrix"] = plots.confusion_matrix(
            y, predicted, threshold=models.decision_threshold(pipeline)
        )
        if len(np.unique(y)) == 2:
            out["roc_pr_curves"] = plots.roc_pr_curves(y, predicted)
    else:
        out["predicted_vs_actual"] = plots.predicted_vs_actual(y, predicted)
        out["error_by_hour"] = plots.error_by_hour(
            holdout.get_column("hour").to_numpy(), y, predicted
        )
    importance = models.feature_importance(pipeline)
    if importance:
        out["feature_importance"] = plots.feature_importance(importance)
    return out


def _fit_evaluate(
    spec: TaskSpec,
    kind: models.ModelKind,
    params: Mapping[str, Any],
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    deadline: float | None = None,
) -> tuple[Any, dict[str, float], float, np.ndarray, np.ndarray]:
    pipeline = kind.build(dict(params), spec.categorical, spec.numeric)
    X, y = spec.xy(train)
    fit_params = stop_at(pipeline, deadline) if deadline is not None else {}
    started = time.perf_counter()
    pipeline.fit(X, y, **fit_params)
    fit_time = time.perf_counter() - started
    X_hold, y_hold = spec.xy(holdout)
    predicted = spec.predict(pipeline, X_hold)
    metrics = spec.score(y_hold, predicted, threshold=models.decision_threshold(pipeline))
    return pipeline, metrics, fit_time, y_hold, predicted


def _log_fit(
    spec: TaskSpec,
    pipeline: Any,
    params: Mapping[str, Any],
    metrics: dict[str, float],
    fit_time: float,
    ts: TrainingSet,
    y_hold: np.ndarray,
    predicted: np.ndarray,
) -> tuple[str, dict[str, bytes]]:
    import mlflow
    import numpy as np

    started = time.perf_counter()
    mlflow.log_params(as_params(params))
    mlflow.log_metrics({k: v for k, v in metrics.items() if not np.isnan(v)})
    mlflow.log_metric("fit_time_s", fit_time)
    mlflow.log_metrics({"train_rows": ts.train.height, "holdout_rows": ts.holdout.height})
    figures = diagnostic_plots(spec, pipeline, ts.holdout, y_hold, predicted)
    for name, png in figures.items():
        log_png(png, f"plots/{name}.png")
    X_train, _ = spec.xy(ts.train.head(5))
    model_uri = log_model(pipeline, X_train, spec.predict)
    # What this logging cost (plots, artifacts, the model): next to fit_time_s in the run, so
    # the share of tracking in a fit's time is visible without a profiler.
    mlflow.log_metric("log_time_s", time.perf_counter() - started)
    return model_uri, figures


def holdout_calibration(
    spec: TaskSpec, y: np.ndarray, predicted: np.ndarray
) -> list[dict[str, float]]:
    return calibration_by_decile(y, predicted) if spec.kind == "regression" else []


def run_tags(
    spec: TaskSpec, ts: TrainingSet, dagster: Mapping[str, str], **extra: str
) -> dict[str, str]:
    return {
        "task": spec.name,
        **ts.lineage_tags(),
        "split": ts.split,
        **spec.feature_tags(ts.train),
        **dagster,
        **extra,
    }


def fit_default(
    spec: TaskSpec,
    model: str,
    params: Mapping[str, Any],
    ts: TrainingSet,
    tracking: MlflowTracking,
    dagster_tags: Mapping[str, str],
    log: Log = print,
) -> FitResult:
    kind = spec.candidates[model]
    log(f"{spec.name}: fitting {model} on {ts.train.height} rows, params {dict(params)}")
    tags = run_tags(spec, ts, dagster_tags, model=model, variant="default")
    with tracking.start_run(spec.name, f"{model} (default)", tags) as run:
        pipeline, metrics, fit_time, y_hold, predicted = _fit_evaluate(
            spec, kind, params, ts.train, ts.holdout
        )
        model_uri, figures = _log_fit(
            spec, pipeline, params, metrics, fit_time, ts, y_hold, predicted
        )
    log(
        f"{spec.name}: {model} {spec.primary_metric}={metrics[spec.primary_metric]:.4f} in {fit_time:.1f} s"
    )
    return FitResult(
        spec.name,
        model,
        "default",
        dict(params),
        metrics,
        fit_time,
        run.info.run_id,
        model_uri,
        figures,
        calibration=holdout_calibration(spec, y_hold, predicted),
        experiment_id=run.info.experiment_id,
    )


def inner_split(
    spec: TaskSpec, train: pl.DataFrame, fraction: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A validation split inside the training data, so that tuning never sees the holdout."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    if spec.kind == "classification":
        idx = np.arange(train.height)
        a, b = train_test_split(
            idx,
            test_size=fraction,
            random_state=42,
            stratify=train.get_column(spec.target).to_numpy(),
        )
        return train[np.sort(a)], train[np.sort(b)]
    days = sorted(train.get_column("date").unique().to_list())
    if len(days) < 2:
        raise ValueError(f"{spec.name}: tuning needs at least 2 training days, got {len(days)}")
    n_val = min(len(days) - 1, max(1, round(len(days) * fraction)))
    first = days[-n_val]
    return train.filter(pl.col("date") < first), train.filter(pl.col("date") >= first)


class TrialOverrun(Exception):
    """A tuning trial still fitting when its study's time budget ran out."""


def _xgboost_deadline(deadline: float) -> Any:
    """An xgboost callback raising :class:`TrialOverrun` after the round that passes
    ``deadline``."""
    from xgboost import callback as xgb_callback

    class XGBoostDeadline(xgb_callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if time.perf_counter() > deadline:
                raise TrialOverrun(f"stopped after {epoch + 1} boosting rounds")
            return False

    return XGBoostDeadline()


def stop_at(pipeline: Any, deadline: float) -> dict[str, Any]:
    """Make the pipeline's boosting estimator raise :class:`TrialOverrun` between two rounds once
    ``time.perf_counter()`` passes ``deadline``; returns the fit parameters that need. Other
    estimators cannot be interrupted: the study does not start them when their expected time
    would overrun (:func:`tune`)."""
    from lightgbm import LGBMModel
    from xgboost import XGBModel

    estimator = pipeline.steps[-1][1]
    if isinstance(estimator, LGBMModel):

        def check(env: Any) -> None:
            if time.perf_counter() > deadline:
                raise TrialOverrun(f"stopped after {env.iteration + 1} boosting rounds")

        return {f"{pipeline.steps[-1][0]}__callbacks": [check]}
    if isinstance(estimator, XGBModel):
        estimator.set_params(callbacks=[_xgboost_deadline(deadline)])
    return {}


def _trial_size(params: Mapping[str, Any]) -> float:
    """How much work a trial's parameters ask for, relative to each other: boosting rounds."""
    return float(params.get("n_estimators", params.get("max_iter", 1)) or 1)


def tune(
    spec: TaskSpec,
    model: str,
    base_params: Mapping[str, Any],
    space: Mapping[str, models.ParamRange],
    ts: TrainingSet,
    tracking: MlflowTracking,
    dagster_tags: Mapping[str, str],
    *,
    rank: int,
    n_trials: int,
    timeout_s: float | None,
    inner_fraction: float = 0.2,
    log: Log = print,
) -> FitResult:
    """Optuna TPE on an inner split of the training data (each trial a nested MLflow run), then
    the best parameters refitted on all training data and scored on the holdout.

    ``timeout_s`` bounds the study's wall time, the running trial included: a trial is not
    started when the slowest trial so far, scaled by its boosting rounds, would overrun, and a
    LightGBM / XGBoost trial still fitting at the deadline is stopped (pruned). With no trial
    complete in time, the default parameters are refitted."""
    import mlflow
    import numpy as np
    import optuna

    kind = spec.candidates[model]
    try:
        inner_train, inner_val = inner_split(spec, ts.train, inner_fraction)
    except ValueError as err:  # e.g. one NYC training day: nothing to validate on but the holdout
        log(f"{spec.name}: {model} not tuned ({err}); default parameters refitted")
        inner_train, inner_val, n_trials = ts.train, ts.train, 0
    direction = "maximize" if spec.greater_is_better else "minimize"
    tags = run_tags(spec, ts, dagster_tags, model=model, variant="tuned", rank=f"top{rank}")
    started = time.perf_counter()
    deadline = started + timeout_s if timeout_s is not None else None
    # Seconds per unit of _trial_size, the slowest seen: what the next trial is expected to cost.
    cost_per_size = 0.0
    with tracking.start_run(spec.name, f"{model} (tuned, top{rank})", tags) as study_run:

        def objective(trial: optuna.Trial) -> float:
            nonlocal cost_per_size
            params = {**base_params, **models.suggest(trial, space)}
            expected = cost_per_size * _trial_size(params)
            if deadline is not None and time.perf_counter() + expected > deadline:
                trial.study.stop()
                log(
                    f"{spec.name}: {model} trial {trial.number} not started: about "
                    f"{expected:.0f} s, past the {timeout_s:.0f} s budget"
                )
                raise optuna.TrialPruned("time budget")
            trial_started = time.perf_counter()
            with tracking.start_run(
                spec.name,
                f"{model} trial {trial.number}",
                {**tags, "trial": str(trial.number)},
                nested=True,
            ):
                try:
                    _, metrics, fit_time, _, _ = _fit_evaluate(
                        spec, kind, params, inner_train, inner_val, deadline=deadline
                    )
                except TrialOverrun as stopped:
                    trial.study.stop()
                    mlflow.set_tag("stopped", f"time budget: {stopped}")
                    log(f"{spec.name}: {model} trial {trial.number} stopped at the budget")
                    raise optuna.TrialPruned(str(stopped)) from None
                mlflow.log_params(as_params(params))
                mlflow.log_metrics({k: v for k, v in metrics.items() if not np.isnan(v)})
                mlflow.log_metric("fit_time_s", fit_time)
            cost_per_size = max(
                cost_per_size, (time.perf_counter() - trial_started) / _trial_size(params)
            )
            log(
                f"{spec.name}: {model} trial {trial.number} {spec.primary_metric}={metrics[spec.primary_metric]:.4f}"
            )
            return metrics[spec.primary_metric]

        sampler = optuna.samplers.TPESampler(
            seed=42, n_startup_trials=min(5, max(1, n_trials // 2))
        )
        study = optuna.create_study(
            direction=direction, sampler=sampler, study_name=f"{spec.name}-{model}"
        )
        # Trials reuse the default fit as a starting point so a tiny budget cannot do worse by luck.
        study.enqueue_trial(
            {
                k: base_params[k]
                for k, dim in space.items()
                if k in base_params and dim.low <= base_params[k] <= dim.high
            }
        )
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if n_trials > 0:
            study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
        tuning_time = time.perf_counter() - started
        completed = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
        # The enqueued default trial stays WAITING when the study stops before it (a spent
        # budget, no inner split): it was never asked, so it is not one of the study's trials.
        asked = [
            t
            for t in study.get_trials(deepcopy=False)
            if t.state != optuna.trial.TrialState.WAITING
        ]
        if completed:
            best = {**base_params, **study.best_params}
            mlflow.log_metric("best_inner_" + spec.primary_metric, study.best_value)
        else:
            best = dict(base_params)
            log(f"{spec.name}: no {model} trial completed; default parameters")
        mlflow.log_metrics(
            {
                "tuning_time_s": tuning_time,
                "trials": len(asked),
                "trials_completed": len(completed),
            }
        )
        pipeline, metrics, fit_time, y_hold, predicted = _fit_evaluate(
            spec, kind, best, ts.train, ts.holdout
        )
        model_uri, figures = _log_fit(
            spec, pipeline, best, metrics, fit_time, ts, y_hold, predicted
        )
    log(
        f"{spec.name}: tuned {model} ({len(completed)} of {len(asked)} trials complete, "
        f"{tuning_time:.1f} s) {spec.primary_metric}={metrics[spec.primary_metric]:.4f}"
    )
    return FitResult(
        spec.name,
        model,
        "tuned",
        best,
        metrics,
        fit_time,
        study_run.info.run_id,
        model_uri,
        figures,
        tuning_time_s=tuning_time,
        trials=len(completed),
        calibration=holdout_calibration(spec, y_hold, predicted),
        experiment_id=study_run.info.experiment_id,
    )
