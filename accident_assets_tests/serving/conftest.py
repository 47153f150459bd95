"""Fixtures: a real MLflow registry (sqlite in a temp dir) with a champion per task, and the API
running under uvicorn on a free loopback port."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from accident_assets.serving.models import ChampionCache
from accident_assets_tests.serving import registry as reg

FRANCE_METRICS = {"f1": 0.71, "precision": 0.7, "recall": 0.72, "roc_auc": 0.8, "pr_auc": 0.6}
NYC_METRICS = {"rmse": 0.3, "mae": 0.1, "poisson_deviance": 0.2}


@pytest.fixture(scope="session")
def champions_registry(tmp_path_factory: pytest.TempPathFactory) -> reg.Registry:
    """France and NYC champions (version 1 each), built once per test session (worker)."""
    registry = reg.create_registry(tmp_path_factory.mktemp("mlflow"))
    france, _ = reg.fit_france()
    reg.register(
        registry,
        "france_priority",
        france,
        metrics=FRANCE_METRICS,
        tags={"trained_on_partitions": "2021", "feature_fingerprint": "abc123"},
        params={"threshold": 0.4},
    )
    nyc, _ = reg.fit_nyc()
    reg.register(
        registry,
        "nyc_incidents",
        nyc,
        metrics=NYC_METRICS,
        tags={"trained_on_partitions": ",".join(reg.nyc_features_by_day()), "h3_resolution": "7"},
    )
    return registry


@pytest.fixture
def mlflow_uri(
    champions_registry: reg.Registry, state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """This test's MLflow: a private copy of the module's registry (tests may promote models)."""
    copy = reg.create_registry(state_home / "mlflow-copy")
    shutil.copy(champions_registry.root / "mlflow.db", copy.root / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", copy.uri)
    return copy.uri


@pytest.fixture(scope="session")
def empty_registry(tmp_path_factory: pytest.TempPathFactory) -> reg.Registry:
    """An initialised MLflow store with nothing registered (creating the tables takes seconds)."""
    import mlflow

    registry = reg.create_registry(tmp_path_factory.mktemp("mlflow-empty"))
    mlflow.MlflowClient(registry.uri, registry.uri).search_registered_models()
    return registry


@pytest.fixture
def empty_mlflow(
    empty_registry: reg.Registry, state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """This test's MLflow: a private copy of an empty store."""
    copy = reg.create_registry(state_home / "mlflow-empty")
    shutil.copy(empty_registry.root / "mlflow.db", copy.root / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", copy.uri)
    return copy.uri


@pytest.fixture
def api_url(mlflow_uri: str) -> Iterator[str]:
    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    with serve_in_thread(create_app(ChampionCache(refresh_seconds=0))) as url:
        yield url
