"""The Dagster instance and MLflow's store on a real Postgres: runs, events and the registered
champion are read back from the server, and a restart of the server loses nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from accident_assets.postgres import LocalPostgres
from accident_assets.training.tasks import FRANCE
from accident_assets_tests.instance.conftest import PostgresHome

pytestmark = pytest.mark.slow

DAY = dt.date(2023, 1, 3)
FRANCE_YEARS = ("2021", "2022")


def query(server: LocalPostgres, database: str, sql: str) -> list[tuple]:
    """Rows straight from the server, not through Dagster or MLflow."""
    import psycopg2

    connection = psycopg2.connect(
        host=server.host, port=server.port, user="postgres", dbname=database, connect_timeout=10
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall() if cursor.description else []
        connection.commit()
        return rows
    finally:
        connection.close()


def materialized_partitions(db: PostgresHome, asset: str) -> set[str]:
    rows = query(
        db.server,
        db.dagster_db,
        "SELECT partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
        f"AND asset_key = '{dg.AssetKey.from_user_string(asset).to_string()}'",
    )
    return {partition for (partition,) in rows}


def test_instance_is_on_postgres(postgres_home: PostgresHome):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert instance.event_log_storage.supports_global_concurrency_limits


def test_nyc_day_and_french_training_are_read_back_from_postgres(postgres_home: PostgresHome):
    from mlflow.tracking import MlflowClient

    from accident_assets.definitions import build_defs
    from accident_assets.france.sources import SampleFranceSource
    from accident_assets.nyc.run import ingest_days
    from accident_assets_tests.training.lanes import quick_run_config

    defs = build_defs(resources={"france_source": SampleFranceSource(sample_accidents=1500)})
    with dg.DagsterInstance.get() as instance:
        assert ingest_days(DAY, DAY, instance=instance).success
        for year in FRANCE_YEARS:
            ingest = defs.resolve_job_def("france_ingest_job")
            assert ingest.execute_in_process(partition_key=year, instance=instance).success
        training = defs.resolve_job_def(FRANCE.job_name).execute_in_process(
            partition_key=FRANCE_YEARS[-1], run_config=quick_run_config(FRANCE), instance=instance
        )
        assert training.success

    # What another process sees: a fresh instance over the same dagster.yaml.
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == sorted(
            ["nyc_ingest_job", "france_ingest_job", "france_ingest_job", FRANCE.job_name]
        )
        assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
        champion_key = FRANCE.key("champion")
        latest = instance.get_latest_materialization_event(champion_key)
        assert latest is not None and latest.run_id == training.run_id

    # The rows themselves, on the server.
    stored_runs = query(postgres_home.server, postgres_home.dagster_db, "SELECT run_id FROM runs")
    assert {run_id for (run_id,) in stored_runs} == {r.run_id for r in runs}
    assert materialized_partitions(postgres_home, "nyc/crashes") == {DAY.isoformat()}
    assert materialized_partitions(postgres_home, "france/accidents") == set(FRANCE_YEARS)
    assert materialized_partitions(postgres_home, champion_key.to_user_string()) == {
        FRANCE_YEARS[-1]
    }
    checks = query(
        postgres_home.server,
        postgres_home.dagster_db,
        "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_CHECK_EVALUATION'",
    )
    assert checks[0][0] > 0

    # The registered champion, through MLflow and on the server.
    client = MlflowClient(
        tracking_uri=postgres_home.tracking_uri, registry_uri=postgres_home.tracking_uri
    )
    version = client.get_model_version_by_alias(FRANCE.name, "champion")
    assert client.get_run(version.run_id).info.status == "FINISHED"
    aliases = query(
        postgres_home.server,
        postgres_home.mlflow_db,
        "SELECT name, alias, version FROM registered_model_aliases",
    )
    assert (FRANCE.name, "champion", int(version.version)) in aliases

    # Artifacts under the state home: a database store names no artifact folder of its own.
    experiment = client.get_experiment_by_name(FRANCE.name)
    artifacts = (postgres_home.home / "mlflow" / "artifacts").as_uri()
    assert experiment.artifact_location.startswith(artifacts), experiment.artifact_location

    # Nothing went to the local sqlite files.
    assert not (postgres_home.home / "mlflow" / "mlflow.db").exists()
    assert not (postgres_home.home / "dagster" / "history").exists()


def _counts(db: PostgresHome) -> dict[str, int]:
    server = db.server
    return {
        "runs": query(server, db.dagster_db, "SELECT count(*) FROM runs")[0][0],
        "events": query(server, db.dagster_db, "SELECT count(*) FROM event_logs")[0][0],
        "experiments": query(server, db.mlflow_db, "SELECT count(*) FROM experiments")[0][0],
    }


def test_a_postgres_restart_between_two_runs_loses_nothing(postgres_home: PostgresHome):
    from mlflow.tracking import MlflowClient

    from accident_assets.nyc.run import ingest_days
    from accident_assets.training.mlflow_config import configure_mlflow, ensure_experiment

    first, second = DAY, DAY + dt.timedelta(days=1)
    # One long-lived instance and MLflow client across the restart, as the webserver, the
    # daemon and the prediction API hold theirs.
    with dg.DagsterInstance.get() as instance:
        client: MlflowClient = configure_mlflow()
        ensure_experiment(client, "before_restart")
        assert ingest_days(first, first, instance=instance).success
        before = _counts(postgres_home)
        first_run = instance.get_runs()[0]

        postgres_home.server.stop()
        postgres_home.server.start()

        assert _counts(postgres_home) == before
        assert instance.get_run_by_id(first_run.run_id).status == dg.DagsterRunStatus.SUCCESS
        assert client.get_experiment_by_name("before_restart") is not None
        assert ingest_days(second, second, instance=instance).success
        ensure_experiment(client, "after_restart")

    after = _counts(postgres_home)
    assert after["runs"] == before["runs"] + 1
    assert after["events"] > before["events"]
    assert after["experiments"] == before["experiments"] + 1
    assert materialized_partitions(postgres_home, "nyc/features") == {
        first.isoformat(),
        second.isoformat(),
    }


def test_a_second_start_keeps_the_data(postgres: LocalPostgres, tmp_path: Path):
    """``start`` on a running server and ``create_databases`` again change nothing."""
    postgres.create_databases(("kept",))
    query(postgres, "kept", "CREATE TABLE IF NOT EXISTS marker (x int)")
    postgres.start()
    postgres.create_databases(("kept",))
    assert query(postgres, "kept", "SELECT count(*) FROM marker") == [(0,)]


def test_the_deploy_file_runs_an_ingest_day_on_postgres(
    postgres: LocalPostgres, state_home: Path, monkeypatch: pytest.MonkeyPatch
):
    """deploy/dagster.postgres.yaml as shipped, pointed at the server by its variables."""
    from accident_assets.nyc.run import ingest_days

    postgres.create_databases(("dagster_deploy_file",))
    shipped = Path(__file__).resolve().parents[2] / "deploy" / "dagster.postgres.yaml"
    (state_home / "dagster" / "dagster.yaml").write_text(shipped.read_text())
    for name, value in {
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USERNAME": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": "dagster_deploy_file",
    }.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        run = ingest_days(DAY, DAY, instance=instance)
        assert run.success
    stored = query(postgres, "dagster_deploy_file", "SELECT run_id FROM runs")
    assert stored == [(run.run_id,)]


def test_the_command_line_starts_points_the_instance_and_stops(
    postgres: LocalPostgres, tmp_path: Path
):
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    import yaml

    from accident_assets_tests.dagster_dev import free_port

    home = Path(tempfile.mkdtemp(prefix="accident-assets-cli-"))
    home.chmod(0o755)  # the server runs as the `postgres` user
    env = {**os.environ, "ACCIDENT_ASSETS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    command = [str(Path(sys.executable).with_name("accident-assets")), "postgres"]
    port = str(free_port())
    users_config = "telemetry:\n  enabled: false\n"
    (home / "dagster").mkdir()
    (home / "dagster" / "dagster.yaml").write_text(users_config)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], env=env, capture_output=True, text=True, timeout=180, check=False
        )

    try:
        started = cli("start", "--port", port)
        assert started.returncode == 0, started.stderr
        config = yaml.safe_load((home / "dagster" / "dagster.yaml").read_text())
        url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
        assert config["storage"] == {"postgres": {"postgres_url": f"{url}/dagster"}}
        assert (home / "dagster" / "dagster.yaml.bak").read_text() == users_config
        env_mk = (home / "postgres" / "env.mk").read_text()
        assert env_mk == f"export MLFLOW_TRACKING_URI ?= {url}/mlflow\n"
        assert "'ingest': 2" in started.stdout
        status = cli("status")
        assert status.returncode == 0 and f"{url}/mlflow" in status.stdout, status.stdout

        # Errors name the port, without a traceback: this home's server runs on another one...
        elsewhere = cli("start", "--port", str(postgres.port))
        assert elsewhere.returncode == 1
        assert f"already runs on port {port}" in elsewhere.stderr, elsewhere.stderr
        assert f"{url}/dagster" in (home / "dagster" / "dagster.yaml").read_text()
        # ... or the port is another server's.
        assert cli("stop").returncode == 0
        clash = cli("start", "--port", str(postgres.port))
        assert clash.returncode == 1
        assert clash.stderr.startswith("postgres: ") and "Traceback" not in clash.stderr
        assert str(postgres.port) in clash.stderr

        # Back to sqlite: the user's own dagster.yaml returns, and MLflow's store with it.
        stopped = cli("stop", "--sqlite")
        assert stopped.returncode == 0, stopped.stderr
        assert cli("status").returncode == 1
        assert (home / "dagster" / "dagster.yaml").read_text() == users_config
        assert not (home / "dagster" / "dagster.yaml.bak").exists()
        assert not (home / "postgres" / "env.mk").exists()
    finally:
        cli("stop")
        shutil.rmtree(home, ignore_errors=True)


def test_a_data_directory_the_server_user_cannot_reach_is_named(tmp_path: Path):
    """pytest's folders are private to root: the server, run as `postgres`, could not enter."""
    import os

    from accident_assets.postgres import PostgresError

    if os.geteuid() != 0:
        pytest.skip("only root runs the server as another user")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(PostgresError, match="user, which the server runs as, cannot enter /"):
        LocalPostgres(private / "data").init()
    assert not (private / "data" / "PG_VERSION").exists()
