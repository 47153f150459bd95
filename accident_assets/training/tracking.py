"""The ``mlflow`` resource: MLflow runs that always end, whichever way a step was launched.

Every run is opened in a context manager (an exception ends it FAILED). The resource also
remembers the runs it opened in this process, and its teardown (when the step's or the run's
resources are released, whichever executor ran them) terminates any of them that is still RUNNING,
e.g. after a step was interrupted between opening and closing a run.

MLflow and pandas are imported inside the functions that use them: defining the assets (which
declare this resource) must not load them. Links to the MLflow UI are built here, from
:func:`mlflow_ui_url`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import dagster as dg
from pydantic import PrivateAttr

from accident_assets import settings

if TYPE_CHECKING:
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

# What these experiments hold (MLflow 3 also knows GenAI kinds: traces, prompts).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# MLflow 3.17's UI opens in its GenAI view (traces, "Detect Issues") whatever the experiment's kind,
# unless the page's URL (or the browser's last choice) says "model training": every link says so.
MODEL_TRAINING_VIEW = "workflowType=machine_learning"

FINISHED = "FINISHED"
FAILED = "FAILED"


def mlflow_ui_url() -> str:
    """The MLflow UI's base URL (``ACCIDENT_ASSETS_MLFLOW_UI_URL``), without a trailing slash."""
    return settings.get_settings().mlflow_ui_url.rstrip("/")


def ui_page(route: str) -> str:
    """A page of the MLflow UI (``route`` as in its ``#/...`` URLs), in its model-training view."""
    return f"{mlflow_ui_url()}/#/{route}?{MODEL_TRAINING_VIEW}"


def run_url(experiment_id: str, run_id: str) -> str:
    return ui_page(f"experiments/{experiment_id}/runs/{run_id}")


def model_version_url(name: str, version: str | int) -> str:
    return ui_page(f"models/{quote(name)}/versions/{version}")


def artifact_url(run_id: str, path: str) -> str:
    """The file ``path`` of a run's artifacts, as the MLflow server serves it (e.g. a PNG an
    ``<img>`` can show)."""
    return f"{mlflow_ui_url()}/get-artifact?{urlencode({'path': path, 'run_id': run_id})}"


# What unpickling a fitted pipeline imports.
MODEL_PACKAGES = ("scikit-learn", "imbalanced-learn", "xgboost-cpu", "lightgbm", "pandas", "numpy")


@functools.cache
def pip_requirements() -> list[str]:
    """Explicit requirements: MLflow would otherwise infer them by importing the model in a
    subprocess (seconds per logged model)."""
    return [f"{name}=={version(name)}" for name in MODEL_PACKAGES]


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
        self.end_run(status=FAILED)

    def client(self) -> MlflowClient:
        from accident_assets.training import mlflow_config

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
        import mlflow

        from accident_assets.training import mlflow_config

        client = self.client()
        experiment_id = mlflow_config.ensure_experiment(client, experiment)
        if not nested:
            # Idempotent; also tags experiments created before the tag existed.
            client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=run_name, tags=dict(tags), nested=nested
        ) as run:
            self._opened.append(run.info.run_id)
            yield run

    def end_run(self, status: str = FINISHED) -> None:
        """End every run this resource opened that is still RUNNING (called at teardown)."""
        import mlflow

        # Only this resource's runs: a run the caller opened around the job is theirs to end.
        while (active := mlflow.active_run()) is not None and active.info.run_id in self._opened:
            mlflow.end_run(status=status)
        if not self._opened:
            return
        client = self.client()
        for run_id in self._opened:
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_terminated(run_id, status=status)
        self._opened.clear()


def log_png(png: bytes, artifact_path: str) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_path).name
        path.write_bytes(png)
        mlflow.log_artifact(str(path), artifact_path=str(Path(artifact_path).parent))


def log_frame(frame: pd.DataFrame, name: str) -> None:
    """A table as CSV and Parquet artifacts of the active run."""
    import mlflow

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
    import mlflow
    from mlflow.models import infer_signature

    example = X.head(5)
    with warnings.catch_warnings(), quiet_loggers("mlflow.sklearn", "mlflow.utils.environment"):
        # Serving builds its frames with the same feature code, so an integer column never
        # arrives with missing values; MLflow's hint about that would only be noise in every run.
        # Its other warnings: the pickle format (chosen, see below) and pip's version in a uv
        # venv without pip (requirements are pinned explicitly by pip_requirements()).
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(example, predict(pipeline, example)),
            input_example=example,
            pip_requirements=pip_requirements(),
            # skops cannot serialize every estimator here (Cython trees, xgboost boosters); the
            # registry is ours and written only by training, so (cloud)pickle is acceptable.
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )
    return info.model_uri


def as_params(params: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in params.items()}


def logged_model_url(experiment_id: str, model_uri: str) -> str | None:
    """The MLflow UI page of a model logged in a run (``models:/m-<id>``), None for other URIs."""
    prefix = "models:/"
    if not experiment_id or not model_uri.startswith(prefix + "m-"):
        return None
    return ui_page(f"experiments/{experiment_id}/models/{model_uri[len(prefix) :]}")
