"""Benchmark of the Dagster instance on sqlite against Postgres (Debian's, started here on
loopback by :class:`accident_assets.postgres.LocalPostgres`).

    .venv/bin/python bench/bench_instance.py               # prints a markdown section
    .venv/bin/python bench/bench_instance.py --days 5 --commands 3

For each backend, in a fresh state directory of its own:

- **ingest, in process**: one NYC sample day (``nyc_ingest_job``), run ``--days`` times on
  different days in one warm process against one instance: what the storage costs a run, the
  run's events (a few hundred) written one by one.
- **ingest, command**: ``dg launch --job nyc_ingest_job --partition <day>``, wall time from the
  shell: what a user waits for (interpreter, code location, instance, run).
- **validate**: ``dagster definitions validate -m accident_assets.definitions`` with
  ``DAGSTER_HOME`` on the instance.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import load_average, timed

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv" / "bin"
FIRST_DAY = dt.date(2023, 1, 2)


def _env(home: Path, tracking_uri: str | None) -> dict[str, str]:
    env = {**os.environ, "ACCIDENT_ASSETS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    env.pop("MLFLOW_TRACKING_URI", None)
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def _in_process(env: dict[str, str], days: list[dt.date]) -> tuple[list[float], int]:
    """Run times of one-day ingests in a child process (its own settings); the events per run."""
    script = f"""
import datetime as dt, json, time
import dagster as dg
from accident_assets.nyc.run import ingest_days
times = []
with dg.DagsterInstance.get() as instance:
    ingest_days(dt.date(2023, 1, 1), dt.date(2023, 1, 1), instance=instance)  # warm-up
    for day in {[d.isoformat() for d in days]!r}:
        day = dt.date.fromisoformat(day)
        started = time.perf_counter()
        result = ingest_days(day, day, instance=instance)
        times.append(time.perf_counter() - started)
        assert result.success
    events = len(instance.all_logs(result.run_id))
print(json.dumps({{"times": times, "events": events}}))
"""
    done = subprocess.run(
        [str(VENV / "python"), "-c", script], env=env, cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"in-process ingest failed:\n{done.stderr[-4000:]}")
    import json

    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["times"], answer["events"]


def measure(backend: str, days: int, commands: int) -> dict[str, object]:
    from accident_assets import instance
    from accident_assets.postgres import LocalPostgres, attach_instance

    with tempfile.TemporaryDirectory(prefix=f"bench-{backend}-") as tmp:
        home = Path(tmp)
        home.chmod(0o755)  # the server runs as the `postgres` user
        server = None
        tracking_uri = None
        if backend == "postgres":
            server = LocalPostgres(home / "postgres" / "data", port=55439)
            server.start()
            server.create_databases()
            attach_instance(server, home / "dagster", origin="bench")
            tracking_uri = server.url("mlflow")
        else:
            from accident_assets.settings import Settings

            instance.ensure_dagster_home(Settings(home=home, dagster_home_dir=home / "dagster"))
        env = _env(home, tracking_uri)
        try:
            run_days = [FIRST_DAY + dt.timedelta(days=k) for k in range(days)]
            in_process, events = _in_process(env, run_days)
            print(f"  {backend}: in-process {statistics.median(in_process):.2f} s", file=sys.stderr)
            command_days = [FIRST_DAY + dt.timedelta(days=days + k) for k in range(commands)]
            launch = [
                timed(
                    [
                        str(VENV / "dg"),
                        "launch",
                        "--job",
                        "nyc_ingest_job",
                        "--partition",
                        d.isoformat(),
                    ],
                    env,
                )
                for d in command_days
            ]
            validate_cmd = [str(VENV / "dagster"), "definitions", "validate"]
            validate = [
                timed([*validate_cmd, "-m", "accident_assets.definitions"], env)
                for _ in range(commands)
            ]
        finally:
            if server is not None:
                server.stop()
    return {"in_process": in_process, "events": events, "launch": launch, "validate": validate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=5, help="one-day ingests in one process")
    parser.add_argument("--commands", type=int, default=3, help="runs of each command")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load {load_average()}"
    )
    results = {b: measure(b, args.days, args.commands) for b in ("sqlite", "postgres")}

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"

    print("\n| median (min–max), s | sqlite | Postgres | Postgres / sqlite |\n|---|---|---|---|")
    for key, label in (
        ("in_process", f"one NYC day, in process ({args.days} days, one instance)"),
        ("launch", "`dg launch --job nyc_ingest_job --partition <day>`"),
        ("validate", "`dagster definitions validate`"),
    ):
        sqlite, postgres = results["sqlite"][key], results["postgres"][key]
        ratio = statistics.median(postgres) / statistics.median(sqlite)
        print(f"| {label} | {cell(sqlite)} | {cell(postgres)} | {ratio:.2f} |")
    print(
        f"\nEvents per one-day run: {results['sqlite']['events']} (sqlite), "
        f"{results['postgres']['events']} (Postgres)."
    )


if __name__ == "__main__":
    main()
