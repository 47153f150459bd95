"""A kill at any moment of a year's ingest leaves the old year or the new one, complete.

A real-size synthetic year (56,000 accidents, as many as a published BAAC year) is ingested in a
subprocess over a stored small year, and the process is killed with SIGKILL at several points:
while reading, at the first table file of the commit, at the first temporary file, and when the
manifest is being switched. After each kill every stored table of the year must come from one
commit and agree with the others.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from upath import UPath

from accident_assets.france import sample
from accident_assets.io_manager import current_commit

SMALL, LARGE = 600, 56_000

INGEST = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from accident_assets.france.definitions import FRANCE_CHECKS
    from accident_assets.france.assets import FRANCE_ASSETS
    from accident_assets.france.sources import LocalFranceSource
    from accident_assets.resources import shared_resources

    print("started", flush=True)
    dg.materialize(
        [*FRANCE_ASSETS, *FRANCE_CHECKS],
        partition_key="2021",
        resources={**shared_resources(), "france_source": LocalFranceSource(folder=sys.argv[1])},
        instance=dg.DagsterInstance.ephemeral(),
    )
    print("done", flush=True)
    """
)


def _ingest(folder: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", INGEST, str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ.copy(),
    )


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _consistent_year(root: Path) -> int:
    """The year as stored is one complete commit; returns its number of accidents."""
    commit = current_commit(str(root), "france", "2021")
    assert commit is not None
    frames = {name: pl.read_parquet(UPath(root) / path) for name, path in commit.tables.items()}
    assert {name: f.height for name, f in frames.items()} == commit.rows
    accidents = frames["france/raw_caracteristiques"]["Num_Acc"]
    assert frames["france/accidents"]["Num_Acc"].sort().equals(accidents.sort())
    assert frames["france/features"]["Num_Acc"].sort().equals(accidents.sort())
    assert set(frames["france/raw_usagers"]["Num_Acc"]) <= set(accidents)
    return accidents.len()


def _after_seconds(seconds: float) -> Callable[[set[str], set[str]], bool]:
    deadline = time.monotonic() + seconds
    return lambda _before, _now: time.monotonic() >= deadline


def _new_table_file(before: set[str], now: set[str]) -> bool:
    return any(f.endswith(".parquet") for f in now - before)


def _temporary_file(before: set[str], now: set[str]) -> bool:
    return any(f.endswith(".tmp") for f in now - before)


def _manifest_switch(before: set[str], now: set[str]) -> bool:
    return any(f.startswith("_commits") and f.endswith(".tmp") for f in now - before)


@pytest.mark.slow
def test_a_killed_ingest_leaves_a_complete_year(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "state"
    monkeypatch.setenv("ACCIDENT_ASSETS_HOME", str(home))
    root = home / "storage"
    small, large = tmp_path / "small", tmp_path / "large"
    sample.write_year(small, 2021, SMALL)
    sample.write_year(large, 2021, LARGE, seed=11)

    first = _ingest(small)
    assert first.wait(timeout=240) == 0
    assert _consistent_year(root) == SMALL

    kill_points = {
        "while reading": _after_seconds(0.3),
        "at the first table file": _new_table_file,
        "at the first temporary file": _temporary_file,
        "while switching the manifest": _manifest_switch,
    }
    outcomes = {}
    for name, when in kill_points.items():
        process = _ingest(large)
        assert process.stdout is not None and process.stdout.readline().strip() == "started"
        before, deadline = _files(root), time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if when(before, _files(root)):
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        process.wait(timeout=30)
        outcomes[name] = (process.returncode, _consistent_year(root))
    # Every kill left a whole year, the old one or the new one.
    assert all(rows in (SMALL, LARGE) for _, rows in outcomes.values()), outcomes
    assert any(rc == -signal.SIGKILL for rc, _ in outcomes.values()), outcomes

    last = _ingest(large)
    assert last.wait(timeout=240) == 0
    assert _consistent_year(root) == LARGE
    leftovers = [f for f in _files(root) if f.endswith(".tmp")]
    assert len(leftovers) <= len(kill_points)  # stale ones go once older than the sweep age
