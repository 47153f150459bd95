"""The tuning budget holds the running trial too: boosting stops between rounds at the deadline,
and a study whose budget is spent starts no trial and refits the defaults."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accident_assets.training import models
from accident_assets.training.fitting import TrialOverrun, stop_at, tune
from accident_assets.training.tasks import FRANCE, TrainingSet


def _xy(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return X, (X["a"] + rng.normal(size=n) > 0).astype(int).to_numpy()


@pytest.mark.parametrize("model", ["xgboost", "lightgbm"])
def test_a_boosting_fit_past_its_deadline_stops_between_rounds(model: str):
    X, y = _xy()
    kind = models.FRANCE_MODELS[model]
    pipeline = kind.build({**kind.params().model_dump(), "n_estimators": 50}, [], ["a", "b"])
    with pytest.raises(TrialOverrun, match="after 1 boosting rounds"):
        pipeline.fit(X, y, **stop_at(pipeline, deadline=time.perf_counter() - 1))
    # A deadline far away changes nothing: the fit completes every round.
    pipeline = kind.build({**kind.params().model_dump(), "n_estimators": 50}, [], ["a", "b"])
    pipeline.fit(X, y, **stop_at(pipeline, deadline=time.perf_counter() + 3600))
    assert pipeline.predict_proba(X).shape == (len(X), 2)


def test_an_estimator_without_rounds_gets_no_fit_parameters():
    kind = models.FRANCE_MODELS["random_forest"]
    pipeline = kind.build(kind.params().model_dump(), [], ["a", "b"])
    assert stop_at(pipeline, deadline=0.0) == {}


def _tune_lightgbm(spec, ts: TrainingSet, timeout_s: float):
    """LightGBM (20 rounds) tuned for 3 trials within ``timeout_s``: the fit and its parameters."""
    from accident_assets.training.tracking import MlflowTracking

    kind = spec.candidates["lightgbm"]
    params = {**kind.params().model_dump(), "n_estimators": 20}
    fit = tune(
        spec,
        "lightgbm",
        params,
        kind.search_space,
        ts,
        MlflowTracking(),
        {},
        rank=1,
        n_trials=3,
        timeout_s=timeout_s,
        log=lambda _: None,
    )
    return fit, params


def test_a_spent_budget_starts_no_trial_and_refits_the_defaults(state_home: Path):
    import mlflow

    from accident_assets_tests.serving import registry as reg

    frame = reg.france_features()
    ts = TrainingSet(FRANCE.name, frame, frame, ("2021",), "f", "test", as_of="2021")
    fit, params = _tune_lightgbm(FRANCE, ts, timeout_s=0.0)
    assert fit.trials == 0 and fit.params == params
    assert set(FRANCE.metrics) <= set(fit.metrics)
    # The enqueued default trial was never asked: the study run counts no trial at all.
    assert mlflow.get_run(fit.run_id).data.metrics["trials"] == 0


def test_one_training_day_is_not_tuned_but_still_fitted(state_home: Path):
    """NYC tuning validates on the last training days; with one there is none to spare."""
    import polars as pl

    from accident_assets.training.tasks import NYC
    from accident_assets_tests.serving import registry as reg

    frame = reg.nyc_training_frame()
    days = sorted(frame["date"].unique())
    train, holdout = (
        frame.filter(pl.col("date") == days[0]),
        frame.filter(pl.col("date") == days[1]),
    )
    ts = TrainingSet(NYC.name, train, holdout, tuple(map(str, days[:2])), "f", "test", as_of="w")
    fit, params = _tune_lightgbm(NYC, ts, timeout_s=60.0)
    assert fit.trials == 0 and fit.params == params
    assert fit.metrics["poisson_deviance"] > 0
