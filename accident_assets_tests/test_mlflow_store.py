"""MLflow's sqlite store is created once, even when parallel steps all open it first."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

OPEN_AT = """
import sys, time
from accident_assets.training.mlflow_config import configure_mlflow, ensure_experiment
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
client = configure_mlflow(sys.argv[1])
ensure_experiment(client, "parallel")
"""


def test_parallel_processes_create_one_store(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    start = time.time() + 8  # every process imported and waiting when the clock strikes
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT, uri, str(start)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], "\n".join(errors)
    assert MlflowClient(uri).get_experiment_by_name("parallel") is not None


def test_experiments_on_a_tracking_server_keep_the_servers_artifact_store(tmp_path: Path):
    """A server's clients cannot read a folder of the machine that created the experiment, so
    the experiment takes the server's artifact store, not the state directory."""
    import os
    import signal
    import socket
    import urllib.request

    from accident_assets.training.mlflow_config import configure_mlflow, ensure_experiment

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mlflow = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("mlflow server did not start") from None
                time.sleep(0.5)
        client = configure_mlflow(url)
        experiment = client.get_experiment(ensure_experiment(client, "on_a_server"))
        assert experiment.artifact_location.startswith("mlflow-artifacts:")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.parametrize(
    ("tracking_uri", "configured", "expected"),
    [
        # A database store has no artifact store of its own: the state directory's, or the
        # configured one (without it a postgresql store wrote to ./mlruns of the cwd).
        ("sqlite:////state/mlflow/mlflow.db", "", "file:///state/mlflow/artifacts/exp"),
        ("postgresql://mlflow@db:5432/mlflow", "", "file:///state/mlflow/artifacts/exp"),
        ("mysql+pymysql://mlflow@db/mlflow", "", "file:///state/mlflow/artifacts/exp"),
        ("postgresql://mlflow@db/mlflow", "s3://bucket/mlflow/", "s3://bucket/mlflow/exp"),
        ("sqlite:////state/mlflow/mlflow.db", "/shared/artifacts", "file:///shared/artifacts/exp"),
        # A server keeps its own store unless the user names one.
        ("http://127.0.0.1:5000", "", None),
        ("https://mlflow.example.org", "", None),
        ("databricks", "", None),
        ("databricks://profile", "", None),
        ("https://mlflow.example.org", "s3://bucket/mlflow", "s3://bucket/mlflow/exp"),
    ],
)
def test_experiment_artifact_location(tracking_uri: str, configured: str, expected: str | None):
    from accident_assets.training.mlflow_config import experiment_artifact_location

    location = experiment_artifact_location(
        tracking_uri, "exp", configured=configured, default=Path("/state/mlflow/artifacts")
    )
    assert location == expected


def test_new_experiments_take_the_configured_artifact_location(tmp_path: Path, monkeypatch):
    from accident_assets.training.mlflow_config import configure_mlflow, ensure_experiment

    monkeypatch.setenv("ACCIDENT_ASSETS_MLFLOW_ARTIFACTS", "s3://bucket/mlflow")
    client = configure_mlflow(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment(ensure_experiment(client, "configured"))
    assert experiment.artifact_location == "s3://bucket/mlflow/configured"
