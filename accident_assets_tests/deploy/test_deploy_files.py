"""The deploy files are loaded the way Dagster loads them: each instance file (every
``deploy/dagster.*.yaml``) through the instance schema and then each class it names through that
class's own schema, and each executor file (``deploy/executor.<executor>.yaml``) as run config of
the training jobs built for that executor. No cluster runs here: this is what can be checked
without one, with every ``{env: ...}`` given a plausible value."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import ConfigurableClassData, class_from_code_pointer

from accident_assets.definitions import build_defs
from accident_assets.instance import POLICY
from accident_assets.settings import ExecutorName, Settings, env_name

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INSTANCE_FILES = sorted(DEPLOY.glob("dagster.*.yaml"))
EXECUTOR_FILES = sorted(DEPLOY.glob("executor.*.yaml"))
TRAINING_JOBS = ("france_training_job", "nyc_training_job")
# The block every instance shares with the local one (the run queue and pools are set there).


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def env_names(value: Any) -> Iterator[str]:
    """Every variable a Dagster config value reads (``{env: NAME}``)."""
    if isinstance(value, dict):
        if set(value) == {"env"}:
            yield value["env"]
        for item in value.values():
            yield from env_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from env_names(item)


def plausible(name: str) -> str:
    return "5432" if name.endswith("PORT") else f"value-of-{name.lower()}"


@pytest.fixture
def set_env(monkeypatch: pytest.MonkeyPatch):
    """Gives every variable the config reads a plausible value: Dagster resolves them only while
    processing config, and fails on an unset one."""

    def setter(config: Any) -> None:
        for name in env_names(config):
            monkeypatch.setenv(name, plausible(name))

    return setter


def instance_errors(path: Path, base_dir: Path) -> list[str]:
    """What Dagster says about an instance file: first the instance schema (which takes any
    ``config:`` of a named class), then each named class's own ``config_type()``."""
    try:
        ref = InstanceRef.from_dir(
            str(base_dir), config_dir=str(path.parent), config_filename=path.name
        )
    except DagsterInvalidConfigError as err:
        return [str(err)]
    errors = []
    for part, data in ref._asdict().items():
        if not isinstance(data, ConfigurableClassData):
            continue
        configurable = class_from_code_pointer(data.module_name, data.class_name)
        result = process_config(configurable.config_type(), yaml.safe_load(data.config_yaml))
        errors += [f"{part} ({data.class_name}): {e.message}" for e in result.errors or []]
    return errors


def test_there_are_instance_and_executor_files():
    assert DEPLOY / "dagster.k8s.yaml" in INSTANCE_FILES
    # Every executor a deployment can name, besides the default, has its documented run config.
    named = {path.name.split(".")[1] for path in EXECUTOR_FILES}
    assert named == set(get_args(ExecutorName)) - {"in_process"}


@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: p.name)
def test_an_instance_file_passes_dagsters_validation(path: Path, tmp_path: Path, set_env):
    set_env(load(path))
    assert instance_errors(path, tmp_path) == []


@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: p.name)
def test_the_postgres_url_names_an_installed_driver(path: Path, set_env):
    """Dagster's schema accepts any ``scheme``; SQLAlchemy 2.1 reads a bare ``postgresql`` as
    psycopg 3, which is not installed, and the instance would fail at its first connection."""
    import sqlalchemy
    from dagster_postgres import DagsterPostgresStorage
    from dagster_postgres.utils import pg_url_from_config

    config = load(path)
    set_env(config)
    result = process_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    assert result.success, result.errors
    engine = sqlalchemy.create_engine(pg_url_from_config(result.value))  # imports the driver
    assert engine.dialect.driver == "psycopg2"


@pytest.mark.parametrize(
    ("typo", "key"),
    [
        (lambda c: c.update(concurency=c["concurrency"]), "concurency"),  # the instance schema
        (lambda c: c["storage"]["postgres"].update(postgres_dbb={}), "postgres_dbb"),
        # The instance schema takes any `config:` of a class; only the class's own schema sees this.
        (lambda c: c["run_launcher"]["config"].update(job_namspace="x"), "job_namspace"),
    ],
    ids=["instance", "storage", "run_launcher"],
)
def test_a_typo_fails_naming_the_key(typo, key: str, tmp_path: Path, set_env):
    config = load(DEPLOY / "dagster.k8s.yaml")
    typo(config)
    (tmp_path / "dagster.k8s.yaml").write_text(yaml.safe_dump(config))
    set_env(config)
    errors = instance_errors(tmp_path / "dagster.k8s.yaml", tmp_path)
    assert errors and any(f'"{key}"' in e for e in errors), errors


def pod_environment(launcher: dict[str, Any]) -> set[str]:
    """The variables a run or step pod gets: the keys of the ConfigMaps and Secrets the launcher
    names (their templates are deploy/k8s.env.yaml), and the Postgres password."""
    documents = {
        doc["metadata"]["name"]: doc
        for doc in yaml.safe_load_all((DEPLOY / "k8s.env.yaml").read_text())
    }
    names = {"DAGSTER_PG_PASSWORD"} if launcher.get("postgres_password_secret") else set()
    for name in launcher.get("env_config_maps", []):
        names |= set(documents[name]["data"])
    for name in launcher.get("env_secrets", []):
        names |= set(documents[name]["stringData"])
    return names


def test_a_run_pod_gets_every_variable_the_deployment_reads():
    """A run pod loads the instance and rebuilds the code location: a variable the instance or
    the executor reads must be there, a setting missing there is its default (e.g. the training
    steps in-process), and a misspelt one is not a setting at all."""
    instance = load(DEPLOY / "dagster.k8s.yaml")
    launcher = instance["run_launcher"]["config"]
    available = pod_environment(launcher)
    read = set(env_names(instance)) | set(env_names(load(DEPLOY / "executor.k8s.yaml")))
    assert read <= available, read - available
    # Names under env_vars must be set wherever a run is launched, or the launch fails.
    assert not launcher.get("env_vars"), launcher.get("env_vars")
    settings = {env_name(field) for field in Settings.model_fields}
    ours = {n for n in available if n.startswith(("ACCIDENT_ASSETS_", "MLFLOW_"))}
    assert ours <= settings, ours - settings
    shared = {"ACCIDENT_ASSETS_STORAGE", "ACCIDENT_ASSETS_MLFLOW_ARTIFACTS", "MLFLOW_TRACKING_URI"}
    assert {"ACCIDENT_ASSETS_EXECUTOR", *shared} <= available


def test_the_instance_loads_from_a_dagster_home(tmp_path: Path, set_env):
    """As a pod reads it: dagster.yaml in DAGSTER_HOME (the ConfigMap's mount)."""
    shutil.copy(DEPLOY / "dagster.k8s.yaml", tmp_path / "dagster.yaml")
    set_env(load(tmp_path / "dagster.yaml"))
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert config["concurrency"] == POLICY["concurrency"]


@pytest.mark.parametrize("path", EXECUTOR_FILES, ids=lambda p: p.name)
def test_an_executor_file_is_run_config_of_the_training_jobs(path: Path, set_env):
    name = path.name.split(".")[1]
    config = load(path)
    set_env(config)
    defs = build_defs(Settings(executor=name))
    for job_name in TRAINING_JOBS:
        job = defs.resolve_job_def(job_name)
        assert job.executor_def.name == name
        # The resolved config names the executor it configures.
        resolved = dg.validate_run_config(job, config)["execution"][name]
        assert resolved.keys() >= config["execution"]["config"].keys()


def test_an_executor_typo_fails_naming_the_key(set_env):
    config = load(DEPLOY / "executor.k8s.yaml")
    config["execution"]["config"]["max_concurent"] = 4
    set_env(config)
    job = build_defs(Settings(executor="k8s")).resolve_job_def("france_training_job")
    with pytest.raises(DagsterInvalidConfigError, match='"max_concurent"'):
        dg.validate_run_config(job, config)


def test_the_celery_workers_read_the_same_file(set_env):
    """`dagster-celery worker start -y` loads the file with the executor's schema: workers and
    runs then agree on the broker."""
    from dagster_celery.cli import get_validated_config

    path = DEPLOY / "executor.celery.yaml"
    set_env(load(path))
    config = get_validated_config(str(path))
    assert config["broker"] == plausible("DAGSTER_CELERY_BROKER_URL")
    assert config["backend"] == plausible("DAGSTER_CELERY_BACKEND_URL")


def test_a_celery_run_without_run_config_reads_the_broker_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
):
    """Sensors, schedules and the UI launch training runs with no run config: without the
    environment, they would try celery's default broker on localhost."""
    from accident_assets.definitions import build_defs

    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "pyamqp://guest@rabbitmq:5672//")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://redis:6379/0")
    job = build_defs(Settings(executor="celery")).resolve_job_def("france_training_job")
    resolved = dg.validate_run_config(job, {})["execution"]["celery"]
    assert resolved["broker"] == "pyamqp://guest@rabbitmq:5672//"
    assert resolved["backend"] == "redis://redis:6379/0"
    # A run's own config still wins.
    own = {"execution": {"config": {"backend": "rpc://"}}}
    assert dg.validate_run_config(job, own)["execution"]["celery"]["backend"] == "rpc://"
