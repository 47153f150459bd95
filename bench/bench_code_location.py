"""Benchmark of the code location: import time, and asset selections against jobs.

    .venv/bin/python bench/bench_code_location.py              # prints a markdown section
    .venv/bin/python bench/bench_code_location.py --launches 0 # import time only

- **import**: a fresh interpreter importing ``accident_assets.definitions`` (and building the
  definitions, as every ``dagster``/``dg`` command and run process does), against one importing
  ``dagster`` alone; the median of ``--imports`` runs each. Target: at most 1.5×.
- **launch**: ``dg launch --assets 'group:france' --partition 2021`` (what the UI's Materialize
  button and ``dagster asset materialize`` run: the code location's default executor) against
  ``dg launch --job france_ingest_job --partition 2021``, interleaved, each in a fresh state
  directory, wall time from the shell. Target: ratio at most 1.3.
- **ui**: one NYC sample day launched through the UI's GraphQL API (``launchRun``, what the
  Materialize button sends) on a real ``dagster dev``, from the launch to SUCCESS; the run's
  queued and running parts come from its creation, start and end times.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average, timed

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv" / "bin"
LOCATION = "import accident_assets.definitions as d; d.defs()"


def _env(home: Path) -> dict[str, str]:
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    return {**os.environ, "ACCIDENT_ASSETS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}


def import_times(repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp))
        python = str(VENV / "python")
        timed([python, "-c", LOCATION], env)  # warm the file cache and the bytecode
        dagster, location = [], []
        for _ in range(repeats):
            dagster.append(timed([python, "-c", "import dagster"], env))
            location.append(timed([python, "-c", LOCATION], env))
    return {"dagster": statistics.median(dagster), "location": statistics.median(location)}


def launch_times(repeats: int) -> dict[str, list[float]]:
    commands = {
        "assets": [str(VENV / "dg"), "launch", "--assets", "group:france", "--partition", "2021"],
        "job": [str(VENV / "dg"), "launch", "--job", "france_ingest_job", "--partition", "2021"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(repeats):
        # Interleaved, so a slower minute of the machine hits both alike.
        for name, cmd in commands.items():
            with tempfile.TemporaryDirectory() as tmp:
                times[name].append(timed(cmd, _env(Path(tmp))))
            print(f"  launch {i + 1}/{repeats} {name}: {times[name][-1]:.1f} s", file=sys.stderr)
    return times


def ui_launch_times(days: list[str]) -> list[dict[str, float]]:
    sys.path.insert(0, str(REPO))
    from accident_assets_tests.dagster_dev import running_dagster_dev

    rows = []
    with tempfile.TemporaryDirectory() as tmp, running_dagster_dev(Path(tmp)) as dev:
        for day in days:
            started = time.time()
            run_id = dev.launch("nyc_ingest_job", day)
            status = dev.wait_for_run(run_id)
            done = time.time()
            if status != "SUCCESS":
                raise SystemExit(f"{day}: run {run_id} {status}\n{dev.run_errors(run_id)}")
            times = dev.run_times(run_id)
            rows.append(
                {
                    "day": day,
                    "launch_to_success": done - started,
                    "queued": times["startTime"] - times["creationTime"],
                    "running": times["endTime"] - times["startTime"],
                }
            )
            print(f"  ui launch {day}: {rows[-1]['launch_to_success']:.1f} s", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imports", type=int, default=7, help="fresh imports of each kind")
    parser.add_argument("--launches", type=int, default=3, help="launches of each kind")
    parser.add_argument("--ui-days", type=int, default=3, help="NYC days launched from the UI")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load {load_average()}"
    )
    imports = import_times(args.imports)
    ratio = imports["location"] / imports["dagster"]
    print("\n| import (median of fresh interpreters) | s |\n|---|---|")
    print(f"| `import dagster` | {imports['dagster']:.2f} |")
    print(f"| code location (import + build the definitions) | {imports['location']:.2f} |")
    print(f"| ratio (target ≤ 1.5) | {ratio:.2f} |")
    if args.launches:
        launches = launch_times(args.launches)
        assets, job = statistics.median(launches["assets"]), statistics.median(launches["job"])
        print("\n| `dg launch … --partition 2021` (France sample year) | runs (s) | median (s) |")
        print("|---|---|---|")
        for name, label in (
            ("assets", "`--assets group:france`"),
            ("job", "`--job france_ingest_job`"),
        ):
            shown = ", ".join(f"{t:.1f}" for t in launches[name])
            print(f"| {label} | {shown} | {statistics.median(launches[name]):.1f} |")
        print(f"| ratio assets / job (target ≤ 1.3) | | {assets / job:.2f} |")
    if args.ui_days:
        rows = ui_launch_times([f"2023-01-{d:02d}" for d in range(5, 5 + args.ui_days)])
        print(
            "\n| NYC day launched from the UI (GraphQL) | launch → success (s) | queued (s) "
            "| running (s) |\n|---|---|---|---|"
        )
        for row in rows:
            print(
                f"| {row['day']} | {row['launch_to_success']:.1f} | {row['queued']:.1f} "
                f"| {row['running']:.1f} |"
            )


if __name__ == "__main__":
    main()
