"""The Celery executor, run for real: a `dagster-celery` worker started from
``deploy/executor.celery.yaml`` runs the steps of ``france_training_job`` launched with the same
file, as a Celery deployment does, up to a champion in MLflow.

The broker and result backend are kombu's ``filesystem://`` transport and Celery's ``file://``
backend in the test's folder: the project's environment has no Redis client library (``redis``),
and these two need nothing beyond celery and kombu. Both sides read them from the variables the
deploy file names (``DAGSTER_CELERY_BROKER_URL``, ``DAGSTER_CELERY_BACKEND_URL``); only the
filesystem transport's folders are added to the file (``config_source``), for the worker and the
run alike.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from accident_assets.instance import ensure_dagster_home
from accident_assets.training.tasks import FRANCE
from accident_assets_tests.dagster_dev import tail
from accident_assets_tests.training.lanes import ingest_france, quick_run_config

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOY_FILE = REPOSITORY / "deploy" / "executor.celery.yaml"
WORKER_NAME = "dagster-test-worker"  # Celery adds "@<hostname>"
RUN_TIMEOUT = 240
# The commands of a Celery deployment (deploy/executor.celery.yaml's comments), from this venv.
BIN = Path(sys.executable).parent
WORKER_COMMAND = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
RUN_COMMAND = [str(BIN / "dagster"), "job", "execute", "-m", "accident_assets.definitions"]
RUN_COMMAND += ["-j", FRANCE.job_name]
PARTITION = json.dumps({"dagster/partition": "2022"})


def processes() -> dict[int, tuple[str, int, int]]:
    """Every process (Linux /proc): its state, parent and process group."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # ended meanwhile
        found[int(stat.parent.name)] = (state, int(parent), int(group))
    return found


def group_alive(group: int) -> bool:
    return any(g == group and state != "Z" for state, _, g in processes().values())


def stop(process: subprocess.Popen) -> None:
    """Ends ``process`` and every process it started (its own session, which the Celery worker
    stays in after the CLI that started it exits): SIGTERM, then SIGKILL."""
    if process.poll() is not None and not group_alive(process.pid):
        return
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while (process.poll() is None or group_alive(process.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if process.poll() is not None and not group_alive(process.pid):
            break
    process.wait(timeout=5)


def executor_file(tmp_path: Path) -> Path:
    """deploy/executor.celery.yaml with the filesystem transport's folders (the one thing a
    filesystem broker needs beyond its URL), for the worker's ``-y`` and the run's ``-c``."""
    config = yaml.safe_load(DEPLOY_FILE.read_text())
    folders = {}
    for option, name in (("data_folder_in", "queue"), ("control_folder", "control")):
        folders[option] = str(tmp_path / "broker" / name)
        Path(folders[option]).mkdir(parents=True, exist_ok=True)
    folders["data_folder_out"] = folders["data_folder_in"]  # producers and consumers alike
    config["execution"]["config"]["config_source"] = {"broker_transport_options": folders}
    path = tmp_path / "executor.celery.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def descendants(pid: int) -> set[int]:
    """The processes under ``pid``: the Celery worker and its pool's processes."""
    parents = {p: parent for p, (_, parent, _) in processes().items()}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in a session of its own (so that :func:`stop` ends its whole group), its
    output in ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            command, cwd=REPOSITORY, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def wait_until_ready(worker: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    """Until Celery logs that the worker consumes (``celery@<name> ready.``)."""
    deadline = time.monotonic() + timeout
    while "ready." not in log.read_text():
        if worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}):\n{tail(log.read_text())}")
        if time.monotonic() > deadline:
            pytest.fail(f"the worker was not ready after {timeout} s:\n{tail(log.read_text())}")
        time.sleep(0.5)


def wait_for_run(launch: subprocess.Popen, worker: subprocess.Popen, log: Path) -> None:
    """Until the launching process ends; fails early if the worker dies (the run
    would wait for its tasks for ever) or the run outlasts RUN_TIMEOUT."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while launch.poll() is None:
        if worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}):\n{tail(log.read_text())}")
        if time.monotonic() > deadline:
            pytest.fail(f"the run took more than {RUN_TIMEOUT} s:\n{tail(log.read_text())}")
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_celery_worker_runs_the_training_steps(state_home: Path, tmp_path: Path) -> None:
    ingest_france(("2021", "2022"), accidents=1500)
    # A persistent sqlite instance that the run and the worker share, its tables made first: the
    # worker's CLI and the run's both open it at start, and two processes creating the same
    # sqlite tables at once fail ("table alembic_version already exists").
    dagster_home = ensure_dagster_home()
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    executor = executor_file(tmp_path)
    ops = tmp_path / "ops.yaml"
    ops.write_text(yaml.safe_dump(quick_run_config(FRANCE, n_trials=1).to_config_dict()))
    (tmp_path / "results").mkdir()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ACCIDENT_ASSETS_HOME": str(state_home),
        "DAGSTER_HOME": str(dagster_home),
        "ACCIDENT_ASSETS_EXECUTOR": "celery",
        "DAGSTER_CELERY_BROKER_URL": "filesystem://",
        "DAGSTER_CELERY_BACKEND_URL": f"file://{tmp_path / 'results'}",
    }
    env.pop("MLFLOW_TRACKING_URI", None)  # training's default: the state directory's sqlite

    worker_log = tmp_path / "worker.log"
    started = time.monotonic()
    worker = spawn([*WORKER_COMMAND, "-y", str(executor), "-n", WORKER_NAME], env, worker_log)
    try:
        wait_until_ready(worker, worker_log)
        run_log = tmp_path / "run.log"
        launch = spawn(
            [*RUN_COMMAND, "-c", str(executor), "-c", str(ops), "--tags", PARTITION], env, run_log
        )
        try:
            wait_for_run(launch, worker, worker_log)
        finally:
            stop(launch)
        elapsed = time.monotonic() - started
        assert launch.returncode == 0, (
            f"{tail(run_log.read_text())}\n--- worker:\n{tail(worker_log.read_text())}"
        )
        worker_processes = descendants(worker.pid)  # the pool's processes live until it stops
    finally:
        stop(worker)
    print(f"celery run: {elapsed:.0f} s")

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
    step_starts = [e for e in events if e.event_type == dg.DagsterEventType.STEP_START]
    steps = {e.step_key for e in step_starts}
    assert len(steps) >= 5, steps  # training set, fits, tuned fits, champion, ...
    # Every step ran in a process of the worker's pool, none in the launching one.
    step_pids = {e.pid for e in step_starts}
    assert step_pids <= worker_processes, (step_pids, worker_processes)
    assert launch.pid not in step_pids and os.getpid() not in step_pids, step_pids
    # ... and the worker said so, step by step, and Celery ran each as its task.
    in_worker = {
        e.step_key
        for e in events
        if e.event_type == dg.DagsterEventType.ENGINE_EVENT
        and (e.message or "").endswith("in celery worker")
        and e.engine_event_data.metadata["Celery worker"].value.startswith(f"{WORKER_NAME}@")
    }
    assert in_worker == steps
    log = worker_log.read_text()
    assert log.count("Task execute_plan[") >= 2 * len(steps), tail(log)  # received + succeeded

    from accident_assets.training.mlflow_config import configure_mlflow

    champion = configure_mlflow().get_model_version_by_alias(FRANCE.name, "champion")
    assert champion.version
