"""Where MLflow keeps runs and models: one place, used by training and serving alike.

The default tracking store is a sqlite file under the state directory. A database store (sqlite,
postgresql, ...) has no artifact store of its own: without an explicit artifact location MLflow
would write artifacts to ``./mlruns`` of whatever directory the process started in. So every
experiment is created with one, ``<mlflow_artifacts>/<experiment>`` (see
:func:`experiment_artifact_location`); on S3, MLflow's client reaches the endpoint that
``MLFLOW_S3_ENDPOINT_URL`` names, else the one boto3 reads (``AWS_ENDPOINT_URL``).

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


# Tracking stores that are servers: they keep artifacts where they are configured to, and a folder
# of this machine would be unreadable to their other clients.
SERVER_SCHEMES = frozenset({"http", "https", "databricks"})


def is_tracking_server(uri: str) -> bool:
    # A bare "databricks" is a valid tracking URI, whose urlparse scheme is empty.
    return urlparse(uri).scheme in SERVER_SCHEMES or uri in SERVER_SCHEMES


def as_location(root: str) -> str:
    """A folder as a ``file:`` URI (relative: to the cwd); a URL (``s3://...``) as it is."""
    if urlparse(root).scheme:
        return root.rstrip("/")
    return Path(root).absolute().as_uri()


def experiment_artifact_location(
    tracking_uri: str, name: str, *, configured: str, default: Path
) -> str | None:
    """Where a new experiment ``name`` keeps its artifacts; None lets a tracking server decide.

    An artifact root the user set wins everywhere, a server included (the clients then write to
    it directly, which is what someone pointing a server's experiments at a bucket asks for).
    Otherwise a database store gets ``default``, and a server its own store.
    """
    if configured:
        root = as_location(configured)
    elif is_tracking_server(tracking_uri):
        return None
    else:
        root = as_location(str(default))
    return f"{root}/{name}"


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
    """The experiment id of ``name``, created with the artifact location the settings give."""
    import mlflow

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    current = settings.get_settings()
    location = experiment_artifact_location(
        client.tracking_uri,
        name,
        configured=current.mlflow_artifacts,
        default=current.mlflow_root / "artifacts",
    )
    try:
        return client.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Another process created it between our lookup and our create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id
