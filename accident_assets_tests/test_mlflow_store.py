"""MLflow's sqlite store is created once, even when parallel steps all open it first."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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
