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
