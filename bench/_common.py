"""Helpers shared by the ``bench/*.py`` scripts.

The scripts run as ``.venv/bin/python bench/<script>.py``, which puts this folder on ``sys.path``
(and spawned children inherit it), so they import this module as ``_common``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all its threads): unlike wall time, it
    hardly moves when other processes share the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall time of a command run from the repository; a failure stops the benchmark with its
    output."""
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


class RssSampler:
    """Samples this process's resident set size and CPU time every ``interval_s`` in a daemon
    thread, so the peak memory and the CPU seconds of a time window (one step of a job) can be
    read afterwards: ``ru_maxrss`` only knows the peak of the whole process."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.samples: list[tuple[float, float, float]] = []  # (unix time, MiB, CPU s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.samples.append((time.time(), process.memory_info().rss / 2**20, cpu_seconds()))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mb(self, start: float, end: float) -> float:
        """The largest sample between two unix times (NaN when none fell inside)."""
        inside = [mb for t, mb, _ in self.samples if start <= t <= end]
        return max(inside) if inside else float("nan")

    def cpu_s(self, start: float, end: float) -> float:
        """CPU seconds between the samples nearest two unix times (within one interval)."""
        inside = [cpu for t, _, cpu in self.samples if start <= t <= end]
        return inside[-1] - inside[0] if len(inside) > 1 else float("nan")
