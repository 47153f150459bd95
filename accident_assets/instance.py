"""The Dagster instance: its policy (run monitoring, run concurrency) and its ``dagster.yaml``.

Every instance this project writes or ships has the same policy: the local sqlite one that
``accident-assets init`` writes, the Postgres one of ``accident-assets postgres start``, and the
files under ``deploy/`` (a test holds them equal to :data:`POLICY`).

**Run concurrency** uses Dagster's concurrency pools at *run* granularity: the run queue does not
start a run while a pool of one of its assets is full. Pools belong to the assets, so the limits
hold however a run was launched (a job, the UI's Materialize button, a sensor burst, a backfill),
which run tags would not: a run of an asset selection carries no job tags.

- every training asset of a task is in the pool ``training_<task>``, whose limit is the default,
  1: two trainings of the same task never run at once, two tasks may;
- every ingest asset is in the pool ``ingest``, limited to :data:`INGEST_RUN_LIMIT` runs.

Dagster keeps a pool's own limit in the instance's database, not in ``dagster.yaml``, so
:func:`apply_pool_limits` (called by ``accident-assets init``) sets every pool's limit there. It
sets the pools at the default limit too: Dagster's queue gives a pool its default limit only in
the pass that first sees it queued, and starts every run of that pass as if it had none (seen
here: two trainings of the same task launched at once both started).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from accident_assets.settings import Settings, get_settings

if TYPE_CHECKING:
    import dagster as dg

INGEST_POOL = "ingest"
# Ingest runs wait on the source and on Parquet writes more than on a core: two at a time keep
# both cores busy on this size of machine without one day's backfill starving the others.
INGEST_RUN_LIMIT = 2
DEFAULT_POOL_LIMIT = 1


def training_pool(task: str) -> str:
    """The pool of a task's training assets: one training run of the task at a time."""
    return f"training_{task}"


# Run monitoring (evaluated by the daemon) marks a run whose process died, e.g. killed
# mid-ingest, as failed instead of leaving it STARTED forever.
POLICY: dict[str, Any] = {
    "run_monitoring": {
        "enabled": True,
        "start_timeout_seconds": 180,
        "cancel_timeout_seconds": 180,
        "max_resume_run_attempts": 0,
        "poll_interval_seconds": 60,
    },
    "concurrency": {"pools": {"granularity": "run", "default_limit": DEFAULT_POOL_LIMIT}},
}

WRITTEN_BY = "# Written by accident_assets"
_ORIGIN = re.compile(re.escape(WRITTEN_BY) + r" \((.*)\)\.$")


def instance_yaml(storage: Mapping[str, Any] | None = None, *, origin: str) -> str:
    """A ``dagster.yaml`` with :data:`POLICY` and ``storage`` (None: Dagster's local sqlite)."""
    config = {**({"storage": dict(storage)} if storage else {}), **POLICY}
    return f"{WRITTEN_BY} ({origin}).\n" + yaml.safe_dump(config, sort_keys=False)


def postgres_storage(url: str) -> dict[str, Any]:
    """The ``storage`` block for runs, event logs and schedules on the Postgres at ``url``."""
    return {"postgres": {"postgres_url": url}}


LOCAL_ORIGIN = "DAGSTER_HOME had no dagster.yaml; local sqlite"


def ensure_dagster_home(settings: Settings | None = None) -> Path:
    """DAGSTER_HOME with a dagster.yaml of the current policy. A user's own file is kept as it
    is; one this project wrote (an older version's, say, without the pools) is written again
    with the same storage."""
    home = (settings or get_settings()).dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    text = config.read_text() if config.exists() else ""
    if not text.strip():
        config.write_text(instance_yaml(origin=LOCAL_ORIGIN))
    elif text.startswith(WRITTEN_BY):
        storage = (yaml.safe_load(text) or {}).get("storage")
        origin = _ORIGIN.match(text.splitlines()[0])
        current = instance_yaml(storage, origin=origin.group(1) if origin else LOCAL_ORIGIN)
        if current != text:
            config.write_text(current)
    return home


def write_instance_yaml(home: Path, storage: Mapping[str, Any], *, origin: str) -> Path:
    """Points the instance at ``storage``; a dagster.yaml this project did not write is kept
    beside it as ``dagster.yaml.bak`` rather than lost."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if config.exists() and not config.read_text().startswith(WRITTEN_BY):
        config.replace(home / "dagster.yaml.bak")
    config.write_text(instance_yaml(storage, origin=origin))
    return config


def pool_limits(defs: dg.Definitions) -> dict[str, int]:
    """The limit of every pool the code location's assets are in."""
    graph = defs.resolve_asset_graph()
    pools = {pool for key in graph.get_all_asset_keys() for pool in graph.get(key).pools or ()}
    return {
        pool: INGEST_RUN_LIMIT if pool == INGEST_POOL else DEFAULT_POOL_LIMIT
        for pool in sorted(pools)
    }


def detach_instance(home: Path) -> Path:
    """Undoes :func:`write_instance_yaml`: the user's file set aside comes back, else a local
    sqlite instance replaces ours; a user's own file is never removed."""
    config, kept = home / "dagster.yaml", home / "dagster.yaml.bak"
    if kept.exists():
        kept.replace(config)
    elif config.exists() and config.read_text().startswith(WRITTEN_BY):
        config.write_text(instance_yaml(origin=LOCAL_ORIGIN))
    return config


def apply_pool_limits(instance: dg.DagsterInstance, limits: Mapping[str, int]) -> dict[str, int]:
    """Sets each pool's limit unless the instance already has one, set in the UI, with
    ``dagster instance concurrency set``, or by an earlier call; returns the limits in force.
    So a new :data:`INGEST_RUN_LIMIT` reaches only new instances: change an existing one with
    ``dagster instance concurrency set ingest <n>``."""
    storage = instance.event_log_storage
    explicit = {
        pool.name: pool.limit for pool in storage.get_pool_limits() if not pool.from_default
    }
    for pool, limit in limits.items():
        if pool not in explicit:
            storage.set_concurrency_slots(pool, limit)
            explicit[pool] = limit
    return {pool: explicit[pool] for pool in limits}
