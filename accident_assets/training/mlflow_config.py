"""Where MLflow keeps runs and models: one place, used by training and serving alike.

The default tracking store is a sqlite file under the state directory; without an explicit
artifact location MLflow would write artifacts to ``./mlruns`` of whatever directory the process
started in, so every experiment is created with one under the state directory.

mlflow is imported inside the functions: the code location imports this module to define its
resources, and loading MLflow there would cost every ``dagster`` command a second.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from accident_assets import settings

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# Stores this process has seen created; creating one again only costs a lock and a query.
_created: set[str] = set()


def tracking_uri() -> str:
    """The store training writes to (``MLFLOW_TRACKING_URI``, else sqlite under the state dir)."""
    return settings.get_settings().tracking_uri


def artifact_location() -> str:
    return str(settings.mlflow_root() / "artifacts")


def sqlite_store_path(uri: str) -> Path | None:
    """The file of a ``sqlite:`` tracking URI; None for other schemes and in-memory databases."""
    if not uri.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    if not database or database == ":memory:":
        return None
    return Path(database).absolute()


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[bool]:
    """Held while a process first opens a sqlite store, which runs MLflow's migrations.

    Parallel steps (a multiprocess executor, two runs at once) would otherwise each migrate the
    same new file, and all but one fail with ``sqlite3.OperationalError: duplicate column name``.
    """
    path = sqlite_store_path(uri)
    if path is None or uri in _created:
        yield False
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock = open(path.with_name(path.name + ".lock"), "w")  # noqa: SIM115 (closed below)
    except OSError:
        # A store that cannot be written beside (a read-only mount that serving reads) is
        # never created by this process: nothing to guard.
        yield True
        _created.add(uri)
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _created.add(uri)


def configure_mlflow(uri: str | None = None) -> MlflowClient:
    """Point this process's MLflow (tracking and registry) at ``uri``, by default the platform's
    store, creating a sqlite store if there is none; the fluent API (``mlflow.start_run``,
    ``log_model``) follows it."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with _store_lock(uri) as first:
        # The client opens (and migrates) the tracking store; the registry's opens on first use.
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        if first:
            client.search_registered_models(max_results=1)
    return client


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The experiment id of ``name``, created with an artifact location under the state dir."""
    import mlflow

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # A tracking server keeps artifacts where it is configured to (its clients could not read
    # a folder of this machine); a local store keeps them under the state directory.
    local = urlparse(client.tracking_uri).scheme in ("", "file", "sqlite")
    location = (Path(artifact_location()) / name).as_uri() if local else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Another process created it between our lookup and our create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id
