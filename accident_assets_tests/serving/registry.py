"""A real MLflow registry for serving tests: small pipelines trained on the domains' sample data.

Features come from the France/NYC lanes' own functions (sample generators -> merge/clean ->
``build_features``); the pipelines follow the training contract (one sklearn Pipeline over a
pandas frame of exactly FEATURE_COLUMNS), are logged as training registers them (the serving
pyfunc, ``champion_model.log_champion_model``) and registered under the task name with the
``champion`` alias. ``sklearn_flavor=True`` logs the bare pipeline instead, as versions promoted
before the pyfunc existed are.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import polars as pl
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import Pipeline

from accident_assets.france import features as ff
from accident_assets.france import sample as france_sample
from accident_assets.france import transforms as france_transforms
from accident_assets.nyc import features as nf
from accident_assets.nyc import sample as nyc_sample
from accident_assets.nyc import transforms as nyc_transforms
from accident_assets.training import champion_model
from accident_assets.training.metrics import CLASSIFICATION_THRESHOLD
from accident_assets.training.models import tree_encoding

FRANCE_YEAR = 2021
FRANCE_ACCIDENTS = 500
NYC_FIRST_DAY = dt.date(2023, 1, 2)
NYC_DAYS = 7


@cache
def france_tables() -> dict[str, pl.DataFrame]:
    return france_sample.generate_year(FRANCE_YEAR, FRANCE_ACCIDENTS)


@cache
def france_accidents() -> pl.DataFrame:
    t = france_tables()
    return france_transforms.merge_accidents(
        t["caracteristiques"], t["lieux"], t["usagers"], t["vehicules"], FRANCE_YEAR
    )


@cache
def france_features() -> pl.DataFrame:
    return ff.build_features(france_accidents())


def nyc_days() -> list[dt.date]:
    return [NYC_FIRST_DAY + dt.timedelta(days=i) for i in range(NYC_DAYS)]


@cache
def nyc_features_by_day() -> dict[str, pl.DataFrame]:
    out = {}
    for day in nyc_days():
        raw = nyc_transforms.raw_frame(nyc_sample.sample_day(day))
        out[day.isoformat()] = nf.build_features(nyc_transforms.clean_crashes(raw, day))
    return out


@cache
def nyc_training_frame() -> pl.DataFrame:
    observed = pl.concat(list(nyc_features_by_day().values()))
    return nf.fill_zero_cell_hours(observed, nf.cell_universe(observed), nyc_days())


def fit_france(seed: int = 0, n_estimators: int = 30) -> tuple[Pipeline, Any]:
    frame = france_features()
    X = frame.select(ff.FEATURE_COLUMNS).to_pandas()
    y = frame.get_column(ff.TARGET).to_numpy()
    pipeline = Pipeline(
        [
            ("encode", tree_encoding(ff.CATEGORICAL_FEATURES, ff.NUMERIC_FEATURES)),
            (
                "model",
                RandomForestClassifier(
                    n_estimators=n_estimators, max_depth=6, random_state=seed, n_jobs=1
                ),
            ),
        ]
    )
    return pipeline.fit(X, y), X


def fit_nyc(seed: int = 0) -> tuple[Pipeline, Any]:
    frame = nyc_training_frame()
    X = frame.select(nf.FEATURE_COLUMNS).to_pandas()
    y = frame.get_column(nf.TARGET).to_numpy()
    pipeline = Pipeline(
        [
            ("encode", tree_encoding(nf.CATEGORICAL_FEATURES, nf.NUMERIC_FEATURES)),
            (
                "model",
                RandomForestRegressor(
                    n_estimators=20, max_depth=8, min_samples_leaf=5, random_state=seed, n_jobs=1
                ),
            ),
        ]
    )
    return pipeline.fit(X, y), X


@dataclass(frozen=True)
class Registry:
    """Where a test registry lives: point ``MLFLOW_TRACKING_URI`` at ``uri``."""

    uri: str
    root: Path


def create_registry(root: Path) -> Registry:
    root.mkdir(parents=True, exist_ok=True)
    return Registry(uri=f"sqlite:///{root / 'mlflow.db'}", root=root)


def register(
    registry: Registry,
    task: str,
    pipeline: Any,
    *,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    champion: bool = True,
    sklearn_flavor: bool = False,
) -> str:
    """Log and register ``pipeline`` as a new version of ``task``; returns the version."""
    # mlflow.set_tracking_uri also writes MLFLOW_TRACKING_URI: put both back afterwards.
    saved_env = os.environ.get("MLFLOW_TRACKING_URI")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(registry.uri)
    mlflow.set_registry_uri(registry.uri)
    try:
        client = mlflow.MlflowClient(tracking_uri=registry.uri, registry_uri=registry.uri)
        experiment = client.get_experiment_by_name(task)
        experiment_id = (
            experiment.experiment_id
            if experiment
            else client.create_experiment(
                task, artifact_location=(registry.root / "artifacts" / task).as_uri()
            )
        )
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.log_metrics(metrics or {})
            mlflow.log_params(params or {})
            mlflow.set_tags(tags or {})
            model_uri = _log(task, pipeline, {**(params or {}), **(tags or {})}, sklearn_flavor)
        version = str(mlflow.register_model(model_uri, task).version)
        for key, value in (tags or {}).items():
            client.set_model_version_tag(task, version, key, value)
        if champion:
            client.set_registered_model_alias(task, "champion", version)
        return version
    finally:
        mlflow.set_tracking_uri(saved_env or previous)
        mlflow.set_registry_uri(saved_env or previous)
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env


def champion_pipeline(task: str) -> Any:
    """The fitted pipeline inside the task's registered champion (the serving pyfunc)."""
    return mlflow.pyfunc.load_model(f"models:/{task}@champion").unwrap_python_model().pipeline


def _log(task: str, pipeline: Any, settings: dict[str, Any], sklearn_flavor: bool) -> str:
    if sklearn_flavor:
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            # skops (the default) refuses tree models unless their types are listed.
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )
        return info.model_uri
    return champion_model.log_champion_model(
        task,
        pipeline,
        threshold=float(settings.get("threshold", CLASSIFICATION_THRESHOLD)),
        h3_resolution=champion_model.h3_resolution_of(settings),
    )


def full_accident_record(
    num_acc: int, tables: dict[str, pl.DataFrame] | None = None
) -> dict[str, Any]:
    """One accident of the four BAAC tables (default: this module's sample year) as the API's
    full-accident JSON, with its lists of users and vehicles."""
    t = tables if tables is not None else france_tables()

    def rows(table: str) -> list[dict[str, Any]]:
        frame = t[table].filter(pl.col("Num_Acc") == num_acc).drop("Num_Acc")
        return [_json_row(r) for r in frame.iter_rows(named=True)]

    record = {**rows("caracteristiques")[0], **rows("lieux")[0]}
    return {**record, "usagers": rows("usagers"), "vehicules": rows("vehicules")}


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def france_row_probability(pipeline: Any, num_acc: int) -> float:
    """The probability the pipeline gives the accident's row of the training feature table."""
    frame = france_features().filter(pl.col("Num_Acc") == num_acc)
    return float(pipeline.predict_proba(frame.select(ff.FEATURE_COLUMNS).to_pandas())[:, 1][0])


def sample_num_accs(k: int = 5) -> list[int]:
    ids = france_accidents().get_column("Num_Acc").to_list()
    return [ids[i] for i in np.linspace(0, len(ids) - 1, k).astype(int)]
