"""Every test session gets its own state directory and Dagster home; nothing touches ./var."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="accident_assets_test_"))
os.environ["ACCIDENT_ASSETS_HOME"] = str(_SESSION_HOME)
os.environ["DAGSTER_HOME"] = str(_SESSION_HOME / "dagster")
(_SESSION_HOME / "dagster").mkdir(parents=True, exist_ok=True)
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("ACCIDENT_ASSETS_STORAGE", None)

from accident_assets import settings  # noqa: E402


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty state directory for one test."""
    home = tmp_path / "state"
    monkeypatch.setenv("ACCIDENT_ASSETS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    (home / "dagster").mkdir(parents=True)
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with the reason when it is absent."""
    path = settings.shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (it sits beside the repository in CI)")
    return path


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch):
    """A real S3 API (moto's server) on 127.0.0.1; boto3 and s3fs reach it through the endpoint env."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="accident-assets-test")
    try:
        yield client
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _mlflow_uri_stays_in_its_test(monkeypatch: pytest.MonkeyPatch):
    """``mlflow.set_tracking_uri`` also exports MLFLOW_TRACKING_URI; undo that after each test so
    one test's store never leaks into the next."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
