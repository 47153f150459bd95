"""A throw-away Postgres of Debian's binaries per test module (installed with apt-get when absent
and we are root; the tests skip with the reason otherwise), and a state home whose Dagster
instance and MLflow store are on it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from accident_assets.postgres import LocalPostgres, PostgresError, attach_instance, find_bindir
from accident_assets_tests.apt import apt_install
from accident_assets_tests.dagster_dev import free_port


def _ensure_binaries() -> None:
    try:
        find_bindir()
        return
    except PostgresError as missing:
        reason = apt_install(["postgresql"])
        if reason is not None:
            pytest.skip(f"{missing}, and {reason}")
    try:
        find_bindir()
    except PostgresError as still_missing:
        pytest.skip(f"apt-get installed postgresql but {still_missing}")


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    """A running server on a free loopback port, with the ``dagster`` and ``mlflow`` databases;
    stopped and deleted after the module."""
    _ensure_binaries()
    # Not under pytest's tmp_path: the server runs as the `postgres` user, which must be able
    # to reach its data directory, and pytest's folders are private to root.
    base = Path(tempfile.mkdtemp(prefix="accident-assets-pg-"))
    base.chmod(0o755)
    server = LocalPostgres(base / "data", port=free_port())
    server.start()
    try:
        server.create_databases()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class PostgresHome:
    """A state home whose instance and MLflow store are one database each on ``server``."""

    home: Path
    server: LocalPostgres
    dagster_db: str
    mlflow_db: str

    @property
    def tracking_uri(self) -> str:
        return self.server.url(self.mlflow_db)


@pytest.fixture
def postgres_home(
    postgres: LocalPostgres, state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> PostgresHome:
    """The test's state home on the module's server, in databases of its own (tests of a module
    share the server, never a database)."""
    suffix = state_home.parent.name.replace("-", "_").lower()[-40:]
    dagster_db, mlflow_db = f"dagster_{suffix}", f"mlflow_{suffix}"
    postgres.create_databases((mlflow_db,))
    attach_instance(postgres, state_home / "dagster", dagster_db, origin="test")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", postgres.url(mlflow_db))
    return PostgresHome(state_home, postgres, dagster_db, mlflow_db)
