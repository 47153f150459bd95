"""Where the platform keeps its state: one root directory, configurable by environment variable.

Layout under ``ACCIDENT_ASSETS_HOME`` (default ``./var``)::

    dagster/     the Dagster instance (DAGSTER_HOME)
    storage/     asset storage, Parquet per partition (or ``ACCIDENT_ASSETS_STORAGE``, e.g. s3://...)
    mlflow/      MLflow tracking store (sqlite) and artifacts
    sources/     generated offline sample sources
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "ACCIDENT_ASSETS_HOME"
STORAGE_ENV = "ACCIDENT_ASSETS_STORAGE"


def state_home() -> Path:
    return Path(os.environ.get(HOME_ENV, Path.cwd() / "var")).absolute()


def storage_root() -> str:
    """Root of asset storage: a local folder or any fsspec URL such as ``s3://bucket/prefix``."""
    return os.environ.get(STORAGE_ENV, str(state_home() / "storage"))


def pickle_root() -> str:
    return str(state_home() / "objects")


def sources_root() -> Path:
    return state_home() / "sources"


def mlflow_root() -> Path:
    return state_home() / "mlflow"


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", state_home() / "dagster")).absolute()


def shared_data_dir() -> Path:
    """Real data beside the repository (``../shared/data``); tests skip when it is absent."""
    return Path(
        os.environ.get(
            "ACCIDENT_ASSETS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
        )
    )


# Run monitoring (evaluated by the daemon of `dagster dev`) marks a run whose process died, e.g.
# killed mid-ingest, as failed instead of leaving it STARTED forever.
DAGSTER_YAML = """\
# Written by accident_assets when DAGSTER_HOME had no dagster.yaml; default local storage.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 60
"""


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME with a dagster.yaml; an existing, non-empty one is the user's and is kept."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or not config.read_text().strip():
        config.write_text(DAGSTER_YAML)
    return home
