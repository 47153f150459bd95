"""The registered form of a champion: the fitted pipeline wrapped in the serving pyfunc.

A fit's own ``model`` artifact is the bare sklearn pipeline over the feature columns (what the
holdout scoring needs); what the registry serves is an :class:`AccidentModel` that takes raw
records, logged next to it in the same MLflow run as ``champion_model``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

import accident_assets
from accident_assets.serving.pyfunc import FRANCE, AccidentModel
from accident_assets.training.metrics import CLASSIFICATION_THRESHOLD
from accident_assets.training.tracking import MODEL_PACKAGES, quiet_loggers

ARTIFACT_NAME = "champion_model"
# What unpickling the pipeline and scoring a raw record import (pyarrow: polars -> pandas;
# tzdata: New York time where the OS has no zone database). Pinned explicitly: MLflow would
# otherwise infer them by loading the model in a subprocess, seconds per promotion.
SCORING_PACKAGES = (
    *MODEL_PACKAGES,
    "polars",
    "pyarrow",
    "pydantic",
    "h3",
    "holidays",
    "tzdata",
)
# Estimators of our own (the baselines, e.g. shrunk_rate) unpickle from accident_assets.training,
# which imports Dagster (their parameter classes are Dagster configs).
TRAINING_PACKAGES = ("dagster",)
# One record of each kind from examples/ (a test keeps them equal): shown by the MLflow UI and
# checked by the scoring server's example. The NYC example is a single point.
INPUT_EXAMPLES: dict[str, dict[str, Any]] = {
    FRANCE: {
        "place": 10,
        "catu": 3,
        "sexe": 1,
        "secu1": 0,
        "an_nais": 1961,
        "catv": 2,
        "obsm": 1,
        "motor": 1,
        "catr": 3,
        "circ": 2,
        "surf": 1,
        "situ": 1,
        "vma": 50,
        "jour": 7,
        "mois": 12,
        "an": 2021,
        "hrmn": "17:05",
        "lum": 5,
        "dep": "77",
        "com": "77317",
        "agg": 2,
        "int": 1,
        "atm": 1,
        "col": 6,
        "lat": 48.6,
        "long": 2.89,
        "nb_victim": 2,
        "nb_vehicules": 1,
    },
    "nyc_incidents": {"lat": 40.758, "lon": -73.9855, "timestamp": "2024-07-05T22:30:00"},
}


def pip_requirements(pipeline: Any) -> list[str]:
    """Pinned versions of this environment's scoring packages (plus Dagster if the pipeline
    holds one of our own estimators)."""
    names = list(SCORING_PACKAGES)
    if _uses_training_code(pipeline):
        names += TRAINING_PACKAGES
    return [f"{name}=={version(name)}" for name in names]


def _uses_training_code(pipeline: Any) -> bool:
    steps = getattr(pipeline, "steps", [])
    return any(type(step).__module__.startswith("accident_assets.") for _, step in steps)


def log_champion_model(
    task: str, pipeline: Any, *, threshold: float, h3_resolution: int | None
) -> str:
    """Log ``pipeline`` as the task's pyfunc in the active run; returns its model URI."""
    model = AccidentModel(task, pipeline, threshold=threshold, h3_resolution=h3_resolution)
    # MLflow's warnings are about choices made on purpose: (cloud)pickle (skops cannot hold every
    # estimator here, and the registry is written only by training) and pip's version in a uv
    # venv without pip (the requirements are pinned).
    with _no_uv_project(), quiet_loggers("mlflow.pyfunc", "mlflow.utils.environment"):
        info = mlflow.pyfunc.log_model(
            name=ARTIFACT_NAME,
            python_model=model,
            # The package travels with the model, so it loads where accident_assets is not
            # installed (an MLflow server, a notebook); where it is, the installed one is used.
            code_paths=[str(Path(accident_assets.__file__).parent)],
            pip_requirements=pip_requirements(pipeline),
            input_example=INPUT_EXAMPLES[task],
            # No signature: requests are flat records or nested full accidents with optional
            # fields, or points or routes. A signature inferred from one example would make
            # MLflow reject every other shape (or drop its fields) before the API's own models,
            # which state and check the real contract, see them.
            signature=False,
        )
    return info.model_uri


def log_in_run(
    run_id: str, task: str, pipeline: Any, *, threshold: float, h3_resolution: int | None
) -> str:
    """Log the pyfunc into an existing (finished) run, e.g. the winning fit's."""
    mlflow.start_run(run_id=run_id)
    try:
        return log_champion_model(task, pipeline, threshold=threshold, h3_resolution=h3_resolution)
    finally:
        # FINISHED whatever happens here: the fit did finish; a failed logging fails the caller.
        mlflow.end_run()


def threshold_of(client: MlflowClient, run_id: str) -> float:
    """The decision threshold a fit's metrics were computed at (as serving reads it)."""
    data = client.get_run(run_id).data
    for source in (data.params, data.tags, data.metrics):
        value = source.get("threshold")
        if value not in (None, ""):
            return float(value)
    return CLASSIFICATION_THRESHOLD


def h3_resolution_of(tags: Mapping[str, str]) -> int | None:
    value = tags.get("h3_resolution")
    return int(value) if value else None


@contextlib.contextmanager
def _no_uv_project() -> Iterator[None]:
    """MLflow copies uv.lock and pyproject.toml of the working directory into the model: the lock
    of the whole project (Dagster and all), present or not depending on where the process runs.
    The pinned requirements are the model's environment; the lock would only compete with them."""
    saved = os.environ.get("MLFLOW_UV_AUTO_DETECT")
    os.environ["MLFLOW_UV_AUTO_DETECT"] = "false"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_UV_AUTO_DETECT", None)
        else:
            os.environ["MLFLOW_UV_AUTO_DETECT"] = saved
