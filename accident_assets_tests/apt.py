"""Debian packages a test needs (chromium, postgresql), installed with apt-get on first use when
the tests run as root; the tests skip with the reason otherwise."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from accident_assets_tests.dagster_dev import tail

# Both xdist workers may need a package at once; dpkg allows one install at a time.
_LOCK = Path(tempfile.gettempdir()) / "accident-assets-apt.lock"


def apt_install(packages: list[str]) -> str | None:
    """Installs ``packages`` with apt-get; returns why it could not, or None on success."""
    if not shutil.which("apt-get"):
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "installing them needs root (apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [
        (["apt-get", "update"], 180),
        (["apt-get", "install", "-y", "--no-install-recommends", *packages], 420),
    ]
    with _LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for command, timeout in steps:
            try:
                done = subprocess.run(
                    command, env=env, capture_output=True, text=True, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired:
                return f"`{' '.join(command)}` took more than {timeout} s"
            if done.returncode != 0:
                return f"`{' '.join(command)}` failed ({done.returncode}):\n{tail(done.stdout + done.stderr)}"
    return None
