"""The prediction API under uvicorn on loopback: single-request latency and batch throughput.

Usage::

    .venv/bin/python bench/bench_serving.py [--home var] [--requests 300] [--batch 1000]
        [--batches 5] [--france-accidents 4000] [--nyc-days 21] [--trials 2]

With ``--home`` pointing at a state directory that has champions (e.g. ``var`` after ``make
run``), those are served. Otherwise a fresh temporary state directory is filled the way ``make
run`` does it: the France sample years 2021-2022 and ``--nyc-days`` NYC sample days go through
their lanes, then both training jobs (default model parameters, ``--trials`` Optuna trials) crown
the champions. uvicorn runs in its own process (one worker), the client is this process with one
keep-alive connection, so client and server do not share a GIL. Figures:

* single-request latency (p50 / p99 / mean over ``--requests`` sequential POSTs of one record,
  after 20 warm-up requests): France one flat record, NYC one point;
* batch throughput: rows per second over ``--batches`` POSTs of ``--batch`` records (France:
  full accidents from the sample tables, with their users and vehicles, and flat records; NYC:
  points spread over the city and the week), and the same rows scored in-process without HTTP;
* in-process latency of one record (JSON text to prediction), the stages of a French record, and
  ``--concurrent-requests`` mixed single requests from ``--concurrency`` client threads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLES = ROOT / "examples"


def _bootstrap(france_accidents: int, nyc_days: int, trials: int) -> None:
    """Champions the way `make run` makes them, in the current (fresh) state directory."""
    import dagster as dg

    from accident_assets import settings
    from accident_assets.definitions import build_defs
    from accident_assets.france.assets import FRANCE_ASSETS
    from accident_assets.france.sources import SampleFranceSource
    from accident_assets.nyc.run import ingest_days
    from accident_assets.resources import AssetStorage, shared_resources
    from accident_assets.training.factory import run_config
    from accident_assets.training.tasks import FRANCE, NYC

    instance = dg.DagsterInstance.get()
    for year in ("2021", "2022"):
        dg.materialize(
            FRANCE_ASSETS,
            partition_key=year,
            resources={
                **shared_resources(),
                "france_source": SampleFranceSource(sample_accidents=france_accidents),
            },
            instance=instance,
        )
    first = dt.date(2023, 1, 1)
    ingest_days(first, first + dt.timedelta(days=nyc_days - 1), instance=instance)
    defs = build_defs()
    for spec in (FRANCE, NYC):
        started = time.perf_counter()
        as_of = spec.newest_as_of(
            AssetStorage(root=settings.storage_root()).partitions(spec.feature_asset)
        )
        result = defs.resolve_job_def(spec.job_name).execute_in_process(
            instance=instance, run_config=run_config(spec, n_trials=trials), partition_key=as_of
        )
        if not result.success:
            raise SystemExit(f"{spec.job_name} failed; see run {result.run_id}")
        print(f"{spec.job_name}: {time.perf_counter() - started:.0f} s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_api(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "uvicorn"),
            "accident_assets.serving.api:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ready", timeout=2).status_code == 200:
                return server, url
        except requests.ConnectionError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the API was not ready (/ready) within 120 s")


def _latency(session: requests.Session, url: str, body: object, n: int) -> dict[str, float]:
    for _ in range(20):
        session.post(url, json=body, timeout=60).raise_for_status()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        session.post(url, json=body, timeout=60).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "mean_ms": statistics.fmean(times),
    }


def _throughput(session: requests.Session, url: str, rows: list, batches: int) -> float:
    session.post(url, json=rows[:10], timeout=600).raise_for_status()
    started = time.perf_counter()
    for _ in range(batches):
        response = session.post(url, json=rows, timeout=600)
        response.raise_for_status()
        assert len(response.json()["predictions"]) == len(rows)
    return len(rows) * batches / (time.perf_counter() - started)


def _france_batch(n: int) -> list[dict]:
    """Full accidents (users and vehicles) from the France sample tables."""
    from accident_assets.france import sample

    tables = sample.generate_year(2022, n)

    def grouped(table: str) -> dict[int, list[dict]]:
        out: dict[int, list[dict]] = {}
        for row in tables[table].iter_rows(named=True):
            num = row.pop("Num_Acc")
            out.setdefault(num, []).append({k: v for k, v in row.items() if v is not None})
        return out

    users, vehicles = grouped("usagers"), grouped("vehicules")
    places = {r["Num_Acc"]: r for r in tables["lieux"].iter_rows(named=True)}
    records = []
    for acc in tables["caracteristiques"].iter_rows(named=True):
        num = acc["Num_Acc"]
        record = {**acc, **places[num]}
        record.pop("Num_Acc")
        record = {k: v for k, v in record.items() if v is not None}
        records.append({**record, "usagers": users[num], "vehicules": vehicles[num]})
    return records[:n]


def _nyc_batch(n: int) -> list[dict]:
    rng = np.random.default_rng(7)
    lat = rng.uniform(40.60, 40.85, n)
    lon = rng.uniform(-74.02, -73.78, n)
    start = dt.datetime(2024, 7, 1)
    minutes = rng.integers(0, 7 * 24 * 60, n)
    return [
        {
            "lat": float(a),
            "lon": float(o),
            "timestamp": (start + dt.timedelta(minutes=int(m))).isoformat(),
        }
        for a, o, m in zip(lat, lon, minutes, strict=True)
    ]


def _in_process(task: str, rows: list, batches: int) -> float:
    from accident_assets.serving import models, schemas
    from accident_assets.serving import predict as scoring

    model = models.load_model(task)
    started = time.perf_counter()
    for _ in range(batches):
        if task == "france_priority":
            records = schemas.france_records(schemas.FRANCE_REQUEST.validate_python(rows))
            scoring.score_france(model, records)
        else:
            points = schemas.nyc_points(schemas.NYC_REQUEST.validate_python(rows))
            scoring.score_nyc(model, points)
    return len(rows) * batches / (time.perf_counter() - started)


def _timed(stage, n: int) -> dict[str, float]:
    stage()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        stage()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def _in_process_single(task: str, body: object, n: int) -> dict[str, float]:
    """One record from JSON text to its prediction, in-process: the API's work without HTTP."""
    from accident_assets.serving import models, schemas
    from accident_assets.serving import predict as scoring

    model = models.load_model(task)
    text = json.dumps(body)
    if task == "france_priority":
        return _timed(
            lambda: scoring.score_france(
                model, schemas.france_records(schemas.FRANCE_REQUEST.validate_json(text))
            ),
            n,
        )
    return _timed(
        lambda: scoring.score_nyc(
            model, schemas.nyc_points(schemas.NYC_REQUEST.validate_json(text))
        ),
        n,
    )


def _france_stages(record: dict, n: int = 300) -> dict[str, float]:
    """Median in-process milliseconds of each stage of scoring one France record."""
    import pandas as pd

    from accident_assets.france import records as fr
    from accident_assets.serving import models, schemas
    from accident_assets.serving import predict as scoring

    model = models.load_model("france_priority")
    text = json.dumps(record)
    records = schemas.france_records(schemas.FRANCE_REQUEST.validate_json(text))
    columns = fr.feature_columns(records)
    stages = {
        "request model (pydantic, from JSON text)": lambda: schemas.FRANCE_REQUEST.validate_json(
            text
        ),
        "features (records.feature_columns)": lambda: fr.feature_columns(records),
        "pipeline, encoding as lookup tables": lambda: scoring.france_probabilities(
            model.pipeline, columns
        ),
        "pipeline through sklearn (for comparison)": lambda: model.pipeline.predict_proba(
            pd.DataFrame(columns)
        ),
    }
    return {name: _timed(stage, n)["p50_ms"] for name, stage in stages.items()}


def _concurrent(url: str, bodies: list[tuple[str, object]], workers: int) -> dict[str, float]:
    """``bodies`` (path, body) POSTed by ``workers`` threads, each with its own keep-alive
    connection: latency percentiles, requests per second and the status codes seen."""
    import threading
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def post(item: tuple[str, object]) -> tuple[int, float]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        started = time.perf_counter()
        response = local.session.post(f"{url}{item[0]}", json=item[1], timeout=60)
        return response.status_code, (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        answers = list(pool.map(post, bodies))
    elapsed = time.perf_counter() - started
    times = [ms for _, ms in answers]
    return {
        "requests": len(answers),
        "rps": len(answers) / elapsed,
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "statuses": dict(Counter(code for code, _ in answers)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="state directory with champions (else: fresh)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--france-accidents", type=int, default=4000)
    parser.add_argument("--nyc-days", type=int, default=21)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--concurrent-requests", type=int, default=4000)
    args = parser.parse_args()

    home = args.home.absolute() if args.home else Path(tempfile.mkdtemp(prefix="bench_serving_"))
    os.environ["ACCIDENT_ASSETS_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.platform()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; python {platform.python_version()}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"state: {home}")

    from accident_assets.serving.models import ModelNotFoundError, NoChampionError, load_model

    try:
        champions = {t: load_model(t) for t in ("france_priority", "nyc_incidents")}
    except (NoChampionError, ModelNotFoundError):
        if args.home:
            raise SystemExit(f"{home} has no champions; run `make run` or omit --home") from None
        _bootstrap(args.france_accidents, args.nyc_days, args.trials)
        champions = {t: load_model(t) for t in ("france_priority", "nyc_incidents")}
    for task, model in champions.items():
        print(f"{task}: champion v{model.version} {model.tags.get('model', '')} ({model.uri})")

    env = {**os.environ, "ACCIDENT_ASSETS_CHAMPION_REFRESH_SECONDS": "10"}
    server, url = _start_api(env)
    try:
        session = requests.Session()
        flat = json.loads((EXAMPLES / "france_flat_record.json").read_text())
        point = json.loads((EXAMPLES / "nyc_points.json").read_text())[0]
        france_rows, nyc_rows = _france_batch(args.batch), _nyc_batch(args.batch)
        results = {
            "france_priority": (
                _latency(session, f"{url}/v1/france_priority/predict", flat, args.requests),
                _throughput(
                    session, f"{url}/v1/france_priority/predict", france_rows, args.batches
                ),
                _in_process("france_priority", france_rows, args.batches),
            ),
            "france_priority (flat records)": (
                _latency(session, f"{url}/v1/france_priority/predict", flat, args.requests),
                _throughput(
                    session, f"{url}/v1/france_priority/predict", [flat] * args.batch, args.batches
                ),
                _in_process("france_priority", [flat] * args.batch, args.batches),
            ),
            "nyc_incidents": (
                _latency(session, f"{url}/v1/nyc_incidents/predict", point, args.requests),
                _throughput(session, f"{url}/v1/nyc_incidents/predict", nyc_rows, args.batches),
                _in_process("nyc_incidents", nyc_rows, args.batches),
            ),
        }
        mixed = [
            ("/v1/france_priority/predict", flat)
            if i % 2
            else ("/v1/nyc_incidents/predict", nyc_rows[i % len(nyc_rows)])
            for i in range(args.concurrent_requests)
        ]
        concurrent = _concurrent(url, mixed, args.concurrency)
    finally:
        server.terminate()
        server.wait(30)
    flat = json.loads((EXAMPLES / "france_flat_record.json").read_text())
    stages = _france_stages(flat)
    single = {
        "france_priority": _in_process_single("france_priority", flat, args.requests),
        "nyc_incidents": _in_process_single("nyc_incidents", point, args.requests),
    }
    # Other work on the machine skews latency: say how busy it was.
    print(f"load average (1, 5, 15 min) at the end: {psutil.getloadavg()}")

    print(
        f"\n| task | model | 1-record p50 ms | p99 ms | mean ms | batch of {args.batch}: rows/s "
        "over HTTP | rows/s in-process |"
    )
    print("|---|---|---|---|---|---|---|")
    for task, (lat, http_rps, direct_rps) in results.items():
        model = champions[task.split(" ")[0]]
        name = f"v{model.version} {model.tags.get('model', '')}".strip()
        print(
            f"| {task} | {name} | {lat['p50_ms']:.1f} | {lat['p99_ms']:.1f} | "
            f"{lat['mean_ms']:.1f} | {http_rps:,.0f} | {direct_rps:,.0f} |"
        )
    print("\n| task | in-process 1 record p50 ms | p99 ms |\n|---|---|---|")
    for task, lat in single.items():
        print(f"| {task} | {lat['p50_ms']:.2f} | {lat['p99_ms']:.2f} |")
    print(
        f"\nConcurrency {args.concurrency}, {concurrent['requests']} mixed single requests "
        f"(half France, half NYC) over HTTP: {concurrent['rps']:,.0f} requests/s, p50 "
        f"{concurrent['p50_ms']:.1f} ms, p99 {concurrent['p99_ms']:.1f} ms, statuses "
        f"{concurrent['statuses']}"
    )
    print("\nOne France record in-process, median ms per stage:\n")
    print("| stage | ms |\n|---|---|")
    for name, ms in stages.items():
        print(f"| {name} | {ms:.2f} |")


if __name__ == "__main__":
    main()
