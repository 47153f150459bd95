"""The serving tests' real MLflow registries (sqlite in a temp dir), reused as they are: France
champion trained on 2021, NYC champion on 2023-01-02..08 (``trained_on_partitions``)."""

from accident_assets_tests.serving.conftest import (  # noqa: F401 (fixtures)
    champions_registry,
    empty_mlflow,
    empty_registry,
    mlflow_uri,
)
