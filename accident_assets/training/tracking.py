"""The ``mlflow`` resource: MLflow runs that always end, whichever way a step was launched.

Every run is opened in a context manager (an exception ends it FAILED). The resource also
remembers the runs it opened in this process, and its teardown (when the step's or the run's
resources are released, whichever executor ran them) terminates any of them that is still RUNNING,
e.g. after a step was interrupted between opening and closing a run.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow
import pandas as pd
from mlflow.entities import RunStatus
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from pydantic import PrivateAttr

from accident_assets.training import mlflow_config

# Explicit requirements: MLflow would otherwise infer them by importing the model in a subprocess
# (seconds per logged model).
PIP_REQUIREMENTS = [
    f"{name}=={version(name)}"
    for name in ("scikit-learn", "imbalanced-learn", "xgboost-cpu", "lightgbm", "pandas", "numpy")
]


class MlflowTracking(dg.ConfigurableResource):
    """MLflow tracking and registry (resource key ``mlflow``).

    ``tracking_uri`` empty means :func:`mlflow_config.tracking_uri` (sqlite under the state
    directory unless ``MLFLOW_TRACKING_URI`` is set).
    """

    tracking_uri: str = ""
    _opened: list[str] = PrivateAttr(default_factory=list)
    _dagster_run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._dagster_run_id = context.run_id

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        # Reached on success and on failure alike; a run still open here was interrupted.
        self.end_run(status=RunStatus.to_string(RunStatus.FAILED))

    def client(self) -> MlflowClient:
        return mlflow_config.configure_mlflow(self.tracking_uri or None)

    @contextlib.contextmanager
    def start_run(
        self,
        experiment: str,
        run_name: str,
        tags: Mapping[str, str],
        nested: bool = False,
    ) -> Iterator[mlflow.ActiveRun]:
        """A run that ends FINISHED, or FAILED if the block raises; never left RUNNING."""
        experiment_id = mlflow_config.ensure_experiment(self.client(), experiment)
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=run_name, tags=dict(tags), nested=nested
        ) as run:
            self._opened.append(run.info.run_id)
            yield run

    def end_run(self, status: str = RunStatus.to_string(RunStatus.FINISHED)) -> None:
        """End every run this resource opened that is still RUNNING (called at teardown)."""
        while mlflow.active_run() is not None:
            mlflow.end_run(status=status)
        if not self._opened:
            return
        client = self.client()
        for run_id in self._opened:
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_terminated(run_id, status=status)
        self._opened.clear()


def log_png(png: bytes, artifact_path: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_path).name
        path.write_bytes(png)
        mlflow.log_artifact(str(path), artifact_path=str(Path(artifact_path).parent))


def log_frame(frame: pd.DataFrame, name: str) -> None:
    """A table as CSV and Parquet artifacts of the active run."""
    with tempfile.TemporaryDirectory() as tmp:
        csv, parquet = Path(tmp) / f"{name}.csv", Path(tmp) / f"{name}.parquet"
        frame.to_csv(csv, index=False)
        frame.to_parquet(parquet, index=False)
        mlflow.log_artifact(str(csv))
        mlflow.log_artifact(str(parquet))


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Silence these loggers' warnings (MLflow's, about choices made on purpose) for one call."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def log_model(pipeline: Any, X: pd.DataFrame, predict: Any) -> str:
    """Log the fitted pipeline with signature and input example; returns its model URI."""
    example = X.head(5)
    with warnings.catch_warnings(), quiet_loggers("mlflow.sklearn", "mlflow.utils.environment"):
        # Serving builds its frames with the same feature code, so an integer column never
        # arrives with missing values; MLflow's hint about that would only be noise in every run.
        # Its other warnings: the pickle format (chosen, see below) and pip's version in a uv
        # venv without pip (requirements are pinned explicitly in PIP_REQUIREMENTS).
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(example, predict(pipeline, example)),
            input_example=example,
            pip_requirements=PIP_REQUIREMENTS,
            # skops cannot serialize every estimator here (Cython trees, xgboost boosters); the
            # registry is ours and written only by training, so (cloud)pickle is acceptable.
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )
    return info.model_uri


def as_params(params: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in params.items()}
