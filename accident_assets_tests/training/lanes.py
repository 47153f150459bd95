"""Helpers for training tests: the real France and NYC lanes materialized on sample data, and the
code location's definitions bound to the current (test) state directory."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from accident_assets.resources import shared_resources

# Small estimators and few trials: the suite must stay fast; the defaults are benchmarked in bench/.
QUICK_PARAMS = {
    "xgboost": {"n_estimators": 60},
    "lightgbm": {"n_estimators": 60},
    "random_forest": {"n_estimators": 30},
    "hist_gradient_boosting": {"max_iter": 60},
}


def build_defs() -> dg.Definitions:
    """The code location's definitions, bound to the current (test) state directory."""
    from accident_assets.definitions import build_defs

    return build_defs()


def ingest_france(years: tuple[str, ...] = ("2021", "2022"), accidents: int = 1500) -> None:
    from accident_assets.france.assets import FRANCE_ASSETS
    from accident_assets.france.sources import SampleFranceSource

    for year in years:
        dg.materialize(
            FRANCE_ASSETS,
            partition_key=year,
            resources={
                **shared_resources(),
                "france_source": SampleFranceSource(sample_accidents=accidents),
            },
            instance=dg.DagsterInstance.ephemeral(),
        )


def ingest_nyc(first: dt.date, last: dt.date) -> None:
    from accident_assets.nyc.run import ingest_days

    ingest_days(first, last, instance=dg.DagsterInstance.ephemeral())


def quick_run_config(task, n_trials: int = 2, min_training_days: int | None = None) -> dg.RunConfig:
    from accident_assets.training.factory import run_config

    params = {m: p for m, p in QUICK_PARAMS.items() if m in task.candidates}
    return run_config(task, n_trials=n_trials, min_training_days=min_training_days, params=params)


def as_of_tags(first: str, last: str | None = None) -> dict[str, str]:
    """Run tags of one as-of partition, or of a range of them in one run (a backtest)."""
    if last is None:
        return {"dagster/partition": first}
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }
