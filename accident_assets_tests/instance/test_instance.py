"""The instance's policy: the dagster.yaml files it writes and ships, and the pool limits."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from accident_assets import instance
from accident_assets.training.tasks import FRANCE, NYC

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_local_instance_has_the_policy(state_home: Path):
    from dagster._core.instance.config import PoolGranularity

    home = instance.ensure_dagster_home()
    with dg.DagsterInstance.from_config(str(home)) as local:
        assert local.run_monitoring_enabled
        pools = local.get_concurrency_config().pool_config
        assert pools.pool_granularity == PoolGranularity.RUN
        assert pools.default_pool_limit == instance.DEFAULT_POOL_LIMIT
        assert local.event_log_storage.supports_global_concurrency_limits


@pytest.mark.parametrize("path", sorted(DEPLOY.glob("dagster.*.yaml")), ids=lambda p: p.name)
def test_every_shipped_instance_has_the_policy(path: Path):
    config = yaml.safe_load(path.read_text())
    assert config["concurrency"] == instance.POLICY["concurrency"]
    monitoring = dict(config["run_monitoring"])
    # A run pod may wait for a node and an image pull: a deployment may give a run longer to
    # start, never less.
    assert (
        monitoring.pop("start_timeout_seconds")
        >= (instance.POLICY["run_monitoring"]["start_timeout_seconds"])
    )
    expected = {
        k: v for k, v in instance.POLICY["run_monitoring"].items() if k != "start_timeout_seconds"
    }
    assert monitoring == expected


def test_an_older_instance_of_ours_gets_the_current_policy(state_home: Path):
    """The dagster.yaml an earlier version wrote had run monitoring and no pools: without the
    rewrite, the run-level limits would not hold on an upgraded state directory."""
    config = state_home / "dagster" / "dagster.yaml"
    older = "# Written by accident_assets when DAGSTER_HOME had no dagster.yaml; default local storage.\n"
    config.write_text(older + "run_monitoring:\n  enabled: true\n")
    instance.ensure_dagster_home()
    assert yaml.safe_load(config.read_text())["concurrency"] == instance.POLICY["concurrency"]
    # A storage of ours is kept through the rewrite; a user's own file is never touched.
    storage = instance.postgres_storage("postgresql+psycopg2://u@127.0.0.1:1/d")
    instance.write_instance_yaml(state_home / "dagster", storage, origin="test")
    instance.ensure_dagster_home()
    assert yaml.safe_load(config.read_text())["storage"] == storage
    assert config.read_text().startswith("# Written by accident_assets (test).")
    config.write_text("telemetry:\n  enabled: false\n")
    instance.ensure_dagster_home()
    assert config.read_text() == "telemetry:\n  enabled: false\n"


def test_detach_brings_back_the_users_file_or_a_local_one(tmp_path: Path):
    home = tmp_path / "dagster"
    home.mkdir()
    storage = instance.postgres_storage("postgresql+psycopg2://u@127.0.0.1:1/d")
    instance.write_instance_yaml(home, storage, origin="test")
    instance.detach_instance(home)
    assert "storage" not in yaml.safe_load((home / "dagster.yaml").read_text())
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance.detach_instance(home)  # a user's file without a copy set aside stays
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_write_instance_yaml_keeps_a_users_file(tmp_path: Path):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    url = "postgresql+psycopg2://u@127.0.0.1:1/d"
    config = instance.write_instance_yaml(home, instance.postgres_storage(url), origin="test")
    assert (home / "dagster.yaml.bak").read_text() == "telemetry:\n  enabled: false\n"
    assert yaml.safe_load(config.read_text())["storage"] == {"postgres": {"postgres_url": url}}
    # Ours is replaced in place, and the user's copy stays as it was.
    instance.write_instance_yaml(home, instance.postgres_storage(url + "2"), origin="test")
    assert (home / "dagster.yaml.bak").read_text() == "telemetry:\n  enabled: false\n"
    assert url + "2" in config.read_text()


def test_every_training_and_ingest_asset_is_in_its_pool():
    from accident_assets.definitions import build_defs
    from accident_assets.training import definitions as training

    defs = build_defs()
    graph = defs.resolve_asset_graph()
    training_keys = {key for assets in training.defs.assets for key in assets.keys}
    assert len(training_keys) >= 20
    for key in graph.get_all_asset_keys():
        pools = graph.get(key).pools or set()
        if graph.get(key).group_name in ("france", "nyc"):
            assert pools == {instance.INGEST_POOL}, key
        elif key in training_keys:
            assert pools == {instance.training_pool(key.path[0])}, key
        else:  # predictions, drift, forecasts: they read the champion, they do not train
            assert not pools, key
    assert instance.pool_limits(defs) == {
        instance.INGEST_POOL: instance.INGEST_RUN_LIMIT,
        instance.training_pool(FRANCE.name): 1,
        instance.training_pool(NYC.name): 1,
    }


def test_apply_pool_limits_keeps_a_limit_someone_set(state_home: Path):
    limits = {instance.INGEST_POOL: 2, "training_x": 1}
    with dg.DagsterInstance.from_config(str(instance.ensure_dagster_home())) as local:
        local.event_log_storage.set_concurrency_slots(instance.INGEST_POOL, 5)
        assert instance.apply_pool_limits(local, limits) == {
            instance.INGEST_POOL: 5,
            "training_x": 1,
        }
        stored = {p.name: p.limit for p in local.event_log_storage.get_pool_limits()}
        assert stored == {instance.INGEST_POOL: 5, "training_x": 1}
