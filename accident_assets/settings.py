"""Every setting of the platform, typed, in one place, read from the environment.

:class:`Settings` is the only reader of the platform's environment variables (the README's
configuration table lists them). The code location reads it once, in
:func:`accident_assets.definitions.build_defs`, and hands the values to the resources; the API
and the command lines read it once when they start. A bad value fails there, naming the
variable.

Layout under ``ACCIDENT_ASSETS_HOME`` (default ``./var``)::

    dagster/     the Dagster instance (DAGSTER_HOME)
    storage/     asset storage, Parquet per partition (or ``ACCIDENT_ASSETS_STORAGE``, e.g. s3://...)
    objects/     pickled training sets and fits (the training lanes' IO manager)
    mlflow/      MLflow tracking store (sqlite) and artifacts/
    sources/     generated offline sample sources

Beyond one machine every step must see what the others wrote, so two places follow the settings:

* ``ACCIDENT_ASSETS_STORAGE`` set: the pickled objects go to ``<storage>/objects``, on the same
  store as the Parquet tables (no asset key starts with ``objects``, so they never collide).
  Unset, they stay in ``<home>/objects``.
* ``ACCIDENT_ASSETS_MLFLOW_ARTIFACTS`` set (a folder or ``s3://bucket/prefix``): every new
  experiment keeps its artifacts in ``<mlflow_artifacts>/<experiment>``, whatever the tracking
  store, a tracking server included (its clients then write there themselves). Unset: a
  database store (sqlite, postgresql, ...) uses ``<home>/mlflow/artifacts``, and a tracking server
  (http, https, databricks) its own artifact store. Experiments that exist keep their location.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, NonNegativeFloat, PositiveInt, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "ACCIDENT_ASSETS_"
# Where the steps of a training job run (see ``Settings.executor``).
ExecutorName = Literal["in_process", "multiprocess", "k8s", "celery"]
HOME_ENV = "ACCIDENT_ASSETS_HOME"
STORAGE_ENV = "ACCIDENT_ASSETS_STORAGE"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
_REPOSITORY = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """The platform's configuration. Field ``x`` is read from ``ACCIDENT_ASSETS_X`` unless its
    ``validation_alias`` names another variable (``DAGSTER_HOME``, ``MLFLOW_TRACKING_URI``)."""

    # populate_by_name: ``Settings(dagster_home_dir=...)`` works as well as the variable.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", populate_by_name=True
    )

    # -- state --------------------------------------------------------------------------------
    home: Path = Field(Path("var"), description="root of the state directory (relative: to cwd)")
    storage: str = Field("", description="asset storage root, a folder or s3://bucket/prefix")
    dagster_home_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices("DAGSTER_HOME"),
        description="the Dagster instance (default <home>/dagster)",
    )
    mlflow_tracking_uri: str = Field(
        "",
        validation_alias=AliasChoices(TRACKING_URI_ENV),
        description="MLflow tracking and registry store (default sqlite under <home>/mlflow)",
    )
    mlflow_artifacts: str = Field(
        "",
        description="where new MLflow experiments keep artifacts, a folder or s3://bucket/prefix "
        "(default <home>/mlflow/artifacts; a tracking server's own store)",
    )
    mlflow_ui_url: str = Field(
        "http://127.0.0.1:5000", description="the MLflow UI that metadata links point to"
    )
    shared_data: Path = Field(
        _REPOSITORY.parent / "shared" / "data",
        description="real data for tests and benchmarks (tests skip when absent)",
    )

    # -- NYC lane -----------------------------------------------------------------------------
    nyc_source: Literal["sample", "socrata", "csv_export"] = "sample"
    nyc_socrata_url: str = Field(
        "", description="socrata source: the dataset URL (default h9gi-nx95)"
    )
    nyc_csv: str = Field("", description="csv_export source: an export file or a folder of them")
    nyc_start: dt.date = Field(
        dt.date(2023, 1, 1), description="first daily partition (read when the code loads)"
    )
    nyc_h3_resolution: int = Field(7, ge=0, le=15, description="H3 resolution of the cells")
    nyc_lookback_days: PositiveInt = Field(
        30, description="days the change-detection sensor re-checks against the source"
    )

    # -- French lane --------------------------------------------------------------------------
    france_source: Literal["sample", "local", "s3", "http"] = "sample"
    france_folder: str = Field("", description="local source: the folder of the yearly files")
    france_bucket: str = Field("", description="s3 source: the bucket")
    france_prefix: str = Field("accidents", description="s3 source: the key prefix")
    france_base_url: str = Field("", description="http source: the base URL of the files")

    # -- serving ------------------------------------------------------------------------------
    max_body_bytes: PositiveInt = Field(2 * 1024 * 1024, description="largest request body")
    scoring_threads: PositiveInt = Field(
        default_factory=lambda: os.cpu_count() or 2, description="threads that score requests"
    )
    champion_refresh_seconds: NonNegativeFloat = Field(
        10.0, description="how often the API looks for a new champion (0: every request)"
    )

    # -- execution ----------------------------------------------------------------------------
    # Only the training jobs follow it: their fit steps are long and independent. The ingest and
    # forecast jobs stay in one process, as asset selections do: their steps are short, and a
    # process or pod per step would cost more than the step.
    executor: ExecutorName = Field(
        "in_process",
        description="where a training job's steps run: in_process, multiprocess, k8s, celery",
    )

    # -- derived places -----------------------------------------------------------------------
    @property
    def state_home(self) -> Path:
        return self.home.absolute()

    @property
    def storage_root(self) -> str:
        """Root of asset storage: a local folder or any fsspec URL such as ``s3://bucket/prefix``."""
        return self.storage or str(self.state_home / "storage")

    @property
    def pickle_root(self) -> str:
        """Root of the pickled objects: on the asset store when one is set, so that steps in other
        processes or machines read the training sets and fits their upstream steps wrote."""
        if self.storage:
            return f"{self.storage.rstrip('/')}/objects"
        return str(self.state_home / "objects")

    @property
    def sources_root(self) -> Path:
        return self.state_home / "sources"

    @property
    def mlflow_root(self) -> Path:
        return self.state_home / "mlflow"

    @property
    def dagster_home(self) -> Path:
        return (self.dagster_home_dir or self.state_home / "dagster").absolute()

    @property
    def tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI``, else the sqlite file under the state directory."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.mlflow_root / 'mlflow.db'}"


def env_name(field: str) -> str:
    """The environment variable a :class:`Settings` field is read from."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{ENV_PREFIX}{field.upper()}"


def get_settings() -> Settings:
    """The settings of the current environment; a bad value raises ``ValueError`` naming the
    variable and what it expects."""
    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(
            f"{env_name(str(e['loc'][0]))}={e.get('input')!r}: {e['msg']}" for e in err.errors()
        )
        raise ValueError(f"invalid setting: {problems}") from None


# The helpers below are what most code needs from the settings: where the state lives.


def state_home() -> Path:
    return get_settings().state_home


def storage_root() -> str:
    return get_settings().storage_root


def pickle_root() -> str:
    return get_settings().pickle_root


def sources_root() -> Path:
    return get_settings().sources_root


def mlflow_root() -> Path:
    return get_settings().mlflow_root


def dagster_home() -> Path:
    return get_settings().dagster_home


def shared_data_dir() -> Path:
    """Real data beside the repository (``../shared/data``); tests skip when it is absent."""
    return get_settings().shared_data
