"""A Postgres server of the project's own: Debian's ``postgresql`` binaries driven by ``initdb``
and ``pg_ctl`` on a data directory, on loopback.

``accident-assets postgres start`` (``make postgres``) runs one under ``<home>/postgres`` for the
Dagster instance (database ``dagster``) and MLflow's tracking store and registry (database
``mlflow``); the tests start throw-away ones. It listens on 127.0.0.1 only and trusts every local
connection: it is a development server, not a deployment (``docs/deploy.md``).

Postgres refuses to run as root, so as root the binaries run as the ``postgres`` user that
Debian's package creates, and the data directory is given to it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DATABASES = ("dagster", "mlflow")
DEFAULT_PORT = 5433  # beside, not on, a system Postgres's 5432
SERVER_USER = "postgres"


class PostgresError(RuntimeError):
    """A Postgres binary is missing or a server command failed (the message says which)."""


def find_bindir() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: on the PATH, else Debian's newest
    ``/usr/lib/postgresql/<version>/bin``."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3])
    )
    if not versions:
        raise PostgresError(
            "no Postgres server binaries (initdb, pg_ctl): install Debian's `postgresql` "
            "package (apt-get install postgresql)"
        )
    return Path(versions[-1]).parent


@dataclass(frozen=True)
class LocalPostgres:
    """One server: its data directory and the loopback port it listens on."""

    data_dir: Path
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    timeout_seconds: int = 60

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database``, which Dagster and MLflow both take. It names the
        driver: SQLAlchemy 2.1's default for ``postgresql://`` is psycopg 3, not installed."""
        return f"postgresql+psycopg2://{SERVER_USER}@{self.host}:{self.port}/{database}"

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Creates the cluster (superuser ``postgres``, trusted on loopback) if there is none."""
        if self.initialized:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._give_to_server_user(self.data_dir)
        self._check_reachable()
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", SERVER_USER, "--auth=trust", "-E", "UTF8"
        )

    def start(self) -> None:
        """Starts the server and waits until it accepts connections; a running one is kept."""
        self.init()
        if self.running():
            if self.running_port() != self.port:
                raise PostgresError(
                    f"the Postgres of {self.data_dir} already runs on port {self.running_port()}, "
                    f"not {self.port}: stop it first, or use that port"
                )
            return
        self.log_file.touch()
        self._give_to_server_user(self.log_file)
        # No Unix socket: its default folder (/var/run/postgresql) may not exist or be writable.
        options = f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories=''"
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options,
            "-w", "-t", str(self.timeout_seconds), "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stops the server (fast shutdown: open sessions are ended, committed data is kept)."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", "fast", "stop")

    def running(self) -> bool:
        if not self.initialized:
            return False
        done = self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False)
        # 3 is "no server running"; anything else but 0 (e.g. 4, an unreadable data directory)
        # says nothing about the server, and reading it as "stopped" would hide a live one.
        if done.returncode not in (0, 3):
            raise PostgresError(
                f"`pg_ctl status` on {self.data_dir} failed ({done.returncode}): "
                f"{(done.stdout + done.stderr).strip()}"
            )
        return done.returncode == 0

    def running_port(self) -> int | None:
        """The port the running server listens on (line 4 of its ``postmaster.pid``)."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, IndexError, ValueError):
            return None

    def create_databases(self, names: tuple[str, ...] = DATABASES) -> None:
        """Creates each database that does not exist yet."""
        import psycopg2

        connection = psycopg2.connect(
            host=self.host, port=self.port, user=SERVER_USER, dbname="postgres", connect_timeout=10
        )
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        try:
            with connection.cursor() as cursor:
                for name in names:
                    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                    if cursor.fetchone() is None:
                        cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()

    def _run(self, binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(find_bindir() / binary), *args]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=self.timeout_seconds + 30,
                check=False,
                user=SERVER_USER if os.geteuid() == 0 else None,
                cwd="/",
            )
        except subprocess.TimeoutExpired:
            raise PostgresError(
                f"`{' '.join(command)}` did not finish in {self.timeout_seconds + 30} s "
                f"(log: {self.log_file})"
            ) from None
        if check and done.returncode != 0:
            log = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise PostgresError(
                f"`{' '.join(command)}` failed ({done.returncode}): "
                f"{(done.stdout + done.stderr).strip()[-2000:]}\n{log}".strip()
            )
        return done

    def _check_reachable(self) -> None:
        """As root, the server runs as ``postgres``, which must be able to reach its data
        directory: a private folder on the way (root's home is 700) fails initdb obscurely."""
        if os.geteuid() != 0:
            return
        for folder in reversed(self.data_dir.parents):
            reach = subprocess.run(["test", "-x", str(folder)], user=SERVER_USER, check=False)
            if reach.returncode != 0:
                raise PostgresError(
                    f"the `{SERVER_USER}` user, which the server runs as, cannot enter {folder}: "
                    "put the state directory (ACCIDENT_ASSETS_HOME) where other users can reach "
                    f"it, or allow them to (chmod o+x {folder})"
                )

    @staticmethod
    def _give_to_server_user(path: Path) -> None:
        if os.geteuid() != 0:
            return
        try:
            server = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresError(
                f"Postgres refuses to run as root and there is no `{SERVER_USER}` user: "
                "install Debian's `postgresql` package, which creates it"
            ) from None
        os.chown(path, server.pw_uid, server.pw_gid)
        if path.is_dir():
            path.chmod(0o700)


def attach_instance(
    server: LocalPostgres, dagster_home: Path, database: str = "dagster", *, origin: str
) -> Path:
    """Creates ``database`` on ``server`` if needed and points the instance in ``dagster_home``
    at it (runs, event logs, schedules); the dagster.yaml written."""
    from accident_assets import instance

    server.create_databases((database,))
    storage = instance.postgres_storage(server.url(database))
    return instance.write_instance_yaml(dagster_home, storage, origin=origin)
