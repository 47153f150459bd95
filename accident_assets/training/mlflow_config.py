"""Where MLflow keeps runs and models: one place, used by training and serving alike.

The default tracking store is a sqlite file under the state directory; without an explicit
artifact location MLflow would write artifacts to ``./mlruns`` of whatever directory the process
started in, so every experiment is created with one under the state directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from accident_assets import settings

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"


def tracking_uri() -> str:
    uri = os.environ.get(TRACKING_URI_ENV)
    if uri:
        return uri
    root = settings.mlflow_root()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def artifact_location() -> str:
    return str(settings.mlflow_root() / "artifacts")


def configure_mlflow(uri: str | None = None) -> MlflowClient:
    """Point this process's MLflow (tracking and registry) at ``uri``, by default the platform's
    store; the fluent API (``mlflow.start_run``, ``log_model``) follows it."""
    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The experiment id of ``name``, created with an artifact location under the state dir."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(
            name, artifact_location=(Path(artifact_location()) / name).as_uri()
        )
    except mlflow.exceptions.MlflowException:
        # Another process created it between our lookup and our create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id
