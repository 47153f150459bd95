"""A real `dagster dev` of the code location over a state home, and its GraphQL API.

Used by the browser test, the run-queue tests (``accident_assets_tests/instance``) and
``bench/bench_code_location.py`` (a run launched through the UI's API, from launch to success).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

STARTUP_TIMEOUT_S = 180.0
STOP_GRACE_S = 5.0
RUN_TIMEOUT_S = 300.0

WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message stack } } } } } }
"""

LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on RunConflict { message }
  }
}
"""

RUN_STATUS = "query RunStatus($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"

RUN_TIMES = """
query RunTimes($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { status creationTime startTime endTime } }
}
"""

RUN_ERRORS = """
query RunErrors($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level }
        ... on ExecutionStepFailureEvent { stepKey error { message stack } }
        ... on RunFailureEvent { error { message stack } }
      }
    }
  }
}
"""


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DagsterDev:
    url: str
    home: Path
    log: Path
    location: str
    process: subprocess.Popen

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def launch(self, job: str, partition: str, run_config: Mapping[str, Any] | None = None) -> str:
        """Launches one partition of ``job``, as the UI's Materialize button does; the run id."""
        params = {
            "selector": {
                "repositoryLocationName": self.location,
                "repositoryName": "__repository__",
                "jobName": job,
            },
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
            "runConfigData": dict(run_config or {}),
        }
        result = self.graphql(LAUNCH_RUN, {"executionParams": params})["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", f"launchRun answered {result}"
        return result["run"]["runId"]

    def wait_for_run(self, run_id: str, timeout_s: float = RUN_TIMEOUT_S) -> str:
        """The run's final status, or why there is none yet after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                return status
            time.sleep(0.2)
        return f"still not finished after {timeout_s:.0f} s"

    def run_times(self, run_id: str) -> dict[str, Any]:
        """Status, creation, start and end times (Unix seconds) of a run."""
        return self.graphql(RUN_TIMES, {"runId": run_id})["runOrError"]

    def run_errors(self, run_id: str) -> str:
        events = self.graphql(RUN_ERRORS, {"runId": run_id})["logsForRun"].get("events", [])
        lines = []
        for event in events:
            if event.get("error"):
                lines.append(
                    f"{event['__typename']} {event.get('stepKey') or ''}: {event['error']['message']}"
                )
                lines.append("".join(event["error"].get("stack") or []))
            elif event.get("level") in ("ERROR", "CRITICAL"):
                lines.append(f"{event['__typename']}: {event['message']}")
        return "\n".join(lines) or "(no error events)"


def _loaded_location(dev: DagsterDev) -> str | None:
    """The code location's name once it is loaded; fails at once when it failed to load."""
    try:
        data = dev.graphql(WORKSPACE_QUERY)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    entries = data["workspaceOrError"].get("locationEntries") or []
    for entry in entries:
        loaded = entry.get("locationOrLoadError") or {}
        if loaded.get("__typename") == "PythonError":
            raise AssertionError(
                f"code location {entry['name']} failed to load: {loaded['message']}\n{loaded['stack']}"
            )
        if entry["loadStatus"] == "LOADED" and loaded.get("__typename") == "RepositoryLocation":
            return entry["name"]
    return None


def _stop(process: subprocess.Popen) -> None:
    """Stops dagster dev and everything it started (webserver, daemon, code server, run workers)."""
    try:
        family = [
            process.pid,
            *(c.pid for c in psutil.Process(process.pid).children(recursive=True)),
        ]
    except psutil.NoSuchProcess:
        family = [process.pid]
    # SIGTERM to the group first, a clean stop; dagster dev 1.13 can hang in its shutdown (seen
    # here: the daemon stopped, the rest kept running), so the group is killed after a grace.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    # A child that left the group (a run worker in its own session) is ended by its own id.
    for pid in family[1:]:
        with contextlib.suppress(psutil.NoSuchProcess):
            child = psutil.Process(pid)
            child.kill()
            child.wait(timeout=10)


@contextlib.contextmanager
def running_dagster_dev(
    workdir: Path, env: Mapping[str, str] | None = None
) -> Iterator[DagsterDev]:
    """`dagster dev` of the code location over the state home ``workdir/state`` (fresh unless
    the caller prepared it, e.g. with a dagster.yaml), on a free port of 127.0.0.1, with ``env``
    added to the environment; every process it started is stopped on exit."""
    home = workdir / "state"
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    base = {**os.environ}
    for name in ("MLFLOW_TRACKING_URI", "ACCIDENT_ASSETS_STORAGE"):
        base.pop(name, None)
    env = {
        **base,
        "ACCIDENT_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        # The offline, deterministic sample: the run needs no network.
        "ACCIDENT_ASSETS_NYC_SOURCE": "sample",
        **(env or {}),
    }
    port = free_port()
    log = workdir / "dagster-dev.log"
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port)]
    command += ["-m", "accident_assets.definitions"]
    started = time.monotonic()
    # An empty working directory: whatever dagster dev writes beside itself stays out of the
    # repository, and its `python -m` children (which put the cwd on sys.path) import nothing
    # stray (a gql.py there once shadowed the gql package and killed the webserver).
    cwd = workdir / "cwd"
    cwd.mkdir()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    dev = DagsterDev(f"http://127.0.0.1:{port}", home, log, "", process)
    try:
        while (location := _loaded_location(dev)) is None:
            if process.poll() is not None:
                raise AssertionError(
                    f"dagster dev exited with {process.returncode}:\n{tail(dev.log_text(), 200)}"
                )
            if time.monotonic() - started > STARTUP_TIMEOUT_S:
                raise AssertionError(
                    f"dagster dev did not load the code location within {STARTUP_TIMEOUT_S:.0f} s:\n"
                    f"{tail(dev.log_text(), 200)}"
                )
            time.sleep(0.5)
        dev.location = location
        print(f"dagster dev on {dev.url} ready in {time.monotonic() - started:.1f} s")
        yield dev
    finally:
        _stop(process)
