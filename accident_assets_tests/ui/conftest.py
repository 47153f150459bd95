"""Fixtures of the browser test: Debian's chromium, a real `dagster dev`, and a headless driver.

Only Debian's chromium and chromedriver work on our machines (downloaded browser builds lack
libraries), so the browser is found at /usr/bin or installed with apt-get when we are root, and
the tests are skipped with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ["chromium", "chromium-driver"]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS_ENV = "ACCIDENT_ASSETS_UI_ARTIFACTS"
STARTUP_TIMEOUT_S = 180.0
STOP_GRACE_S = 5.0


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _apt_install() -> str | None:
    """Installs chromium with apt-get; returns why it could not, or None on success."""
    if not shutil.which("apt-get"):
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "installing them needs root (apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [
        (["apt-get", "update"], 180),
        (["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES], 420),
    ]
    for command, timeout in steps:
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return f"`{' '.join(command)}` took more than {timeout} s"
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed ({done.returncode}):\n{_tail(done.stdout + done.stderr)}"
    return None


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    """(chromium, chromedriver) of Debian, installed on first use when we may."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = _apt_install()
        if reason is not None:
            pytest.skip(f"Debian's chromium and chromedriver are absent and {reason}")
        if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
            pytest.skip(
                f"apt-get installed {APT_PACKAGES} but {CHROMIUM} or {CHROMEDRIVER} is absent"
            )
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the screenshots go: $ACCIDENT_ASSETS_UI_ARTIFACTS, else var/ui-artifacts (git-ignored)."""
    path = Path(os.environ.get(ARTIFACTS_ENV) or REPO / "var" / "ui-artifacts").absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
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


WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message stack } } } } } }
"""


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


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[DagsterDev]:
    """`dagster dev` of the code location over a fresh state home, on a free port of 127.0.0.1."""
    home = tmp_path / "state"
    (home / "dagster").mkdir(parents=True)
    env = {**os.environ}
    for name in ("MLFLOW_TRACKING_URI", "ACCIDENT_ASSETS_STORAGE"):
        env.pop(name, None)
    env.update(
        ACCIDENT_ASSETS_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        # The offline, deterministic sample: the run needs no network.
        ACCIDENT_ASSETS_NYC_SOURCE="sample",
    )
    port = _free_port()
    log = tmp_path / "dagster-dev.log"
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port)]
    command += ["-m", "accident_assets.definitions"]
    started = time.monotonic()
    # An empty working directory: whatever dagster dev writes beside itself stays out of the
    # repository, and its `python -m` children (which put the cwd on sys.path) import nothing
    # stray (a gql.py there once shadowed the gql package and killed the webserver).
    cwd = tmp_path / "cwd"
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
                    f"dagster dev exited with {process.returncode}:\n{_tail(dev.log_text(), 200)}"
                )
            if time.monotonic() - started > STARTUP_TIMEOUT_S:
                raise AssertionError(
                    f"dagster dev did not load the code location within {STARTUP_TIMEOUT_S:.0f} s:\n"
                    f"{_tail(dev.log_text(), 200)}"
                )
            time.sleep(0.5)
        dev.location = location
        print(f"dagster dev on {dev.url} ready in {time.monotonic() - started:.1f} s")
        yield dev
    finally:
        _stop(process)


@pytest.fixture
def driver(chromium: tuple[Path, Path]):
    """Headless chromium through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, chromedriver = chromium
    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1600,1000",
    ):
        options.add_argument(argument)
    options.binary_location = str(binary)
    browser = webdriver.Chrome(service=Service(str(chromedriver)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test that used dagster dev shows the end of its log beside the failure."""
    report = yield
    dev = getattr(item, "funcargs", {}).get("dagster_dev")
    if report.failed and isinstance(dev, DagsterDev):
        report.sections.append(("dagster dev log (last 200 lines)", _tail(dev.log_text(), 200)))
    return report
