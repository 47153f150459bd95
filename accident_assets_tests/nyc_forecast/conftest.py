"""The serving tests' MLflow fixtures: a registry with a champion (``mlflow_uri``) or none."""

from accident_assets_tests.serving.conftest import (  # noqa: F401
    champions_registry,
    empty_mlflow,
    empty_registry,
    mlflow_uri,
)
