"""`accident-assets run-all`, the README's main command, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_run_all_stops_at_the_first_failed_run_and_names_it(tmp_path: Path):
    """A French source folder without the year's files fails the first run: the command exits 1,
    says which job failed and where to look, and launches nothing after it."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        "ACCIDENT_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "ACCIDENT_ASSETS_FRANCE_SOURCE": "local",
        "ACCIDENT_ASSETS_FRANCE_FOLDER": str(tmp_path / "empty"),
    }
    (tmp_path / "empty").mkdir()
    command = Path(sys.executable).with_name("accident-assets")
    completed = subprocess.run(
        [str(command), "run-all"], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert completed.returncode == 1, completed.stderr[-3000:]
    assert "france_ingest_job" in completed.stderr
    assert "failed: see run" in completed.stderr
    assert not (home / "storage" / "nyc").exists()


def test_the_code_location_passes_dagster_definitions_validate(tmp_path: Path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "ACCIDENT_ASSETS_HOME": str(tmp_path)}
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "accident_assets.definitions"],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Validation successful" in completed.stderr + completed.stdout


def test_init_writes_the_policy_sets_pool_limits_and_keeps_a_users_config(tmp_path: Path):
    import dagster as dg

    from accident_assets.instance import INGEST_POOL, INGEST_RUN_LIMIT

    home = tmp_path / "dagster"
    env = {**os.environ, "DAGSTER_HOME": str(home), "ACCIDENT_ASSETS_HOME": str(tmp_path)}
    command = Path(sys.executable).with_name("accident-assets")
    subprocess.run([str(command), "init"], env=env, check=True, timeout=120, capture_output=True)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
    assert limits[INGEST_POOL] == INGEST_RUN_LIMIT
    assert limits["training_france_priority"] == 1

    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    subprocess.run([str(command), "init"], env=env, check=True, timeout=120, capture_output=True)
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
