"""A bounded load test: thousands of mixed requests at concurrency 32 against uvicorn on 127.0.0.1.

Every request must be answered (no hang: each has a timeout and the whole run a deadline), none
with a 5xx, each with the status its kind expects, and ``/health`` must keep answering meanwhile.
France and NYC take about a third of the requests each, the rest is invalid input.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from accident_assets.serving.models import ChampionCache

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REQUESTS = 5_000
CONCURRENCY = 32
DEADLINE_SECONDS = 120.0
REQUEST_TIMEOUT_SECONDS = 30.0
HEALTH_EVERY_SECONDS = 0.25
HEALTH_TIMEOUT_SECONDS = 5.0
FRANCE_REQUESTS = 1_750


@dataclass(frozen=True)
class Case:
    kind: str
    path: str
    body: bytes
    expected: int


def _example(name: str):
    return json.loads((EXAMPLES / name).read_text())


def _cases(rng: random.Random, france_requests: int) -> list[Case]:
    """REQUESTS cases in random order: 30 % invalid (expecting 422), ``france_requests`` French
    ones, the rest NYC points, lists and routes."""
    france = _example("france_flat_record.json")
    accidents = _example("france_accidents.json")
    points = _example("nyc_points.json")
    route = _example("nyc_route.json")
    f, n = "/v1/france_priority/predict", "/v1/nyc_incidents/predict"

    def ok(kind: str, path: str, payload: Any) -> Callable[[], Case]:
        return lambda: Case(kind, path, json.dumps(payload).encode(), 200)

    def bad(kind: str, path: str, body: bytes) -> Callable[[], Case]:
        return lambda: Case(kind, path, body, 422)

    invalid = [
        bad("nyc outside", n, json.dumps({**points[0], "lat": 48.85}).encode()),
        bad("france missing", f, json.dumps({"catu": 3}).encode()),
        bad("not json", n, b'{"lat": 40.7,'),
        bad("nan", f, json.dumps({**france, "lat": float("nan")}).encode()),
    ]
    french = [ok("france record", f, france), ok("france record", f, france)]
    french.append(ok("france list", f, accidents))
    nyc = [
        lambda: ok("nyc point", n, rng.choice(points))(),
        lambda: ok("nyc points", n, rng.sample(points, rng.randint(2, len(points))))(),
        ok("nyc route", n, route),
    ]
    n_invalid = REQUESTS * 3 // 10
    n_nyc = REQUESTS - n_invalid - france_requests
    cases = [invalid[i % len(invalid)]() for i in range(n_invalid)]
    cases += [french[i % len(french)]() for i in range(france_requests)]
    cases += [nyc[i % len(nyc)]() for i in range(n_nyc)]
    rng.shuffle(cases)
    return cases


async def _run(url: str, cases: list[Case]) -> tuple[list[tuple[Case, int]], list[float], float]:
    """Send every case (CONCURRENCY at a time) while probing /health; returns the answers, the
    health latencies and the elapsed seconds. Raises on any request error or timeout."""
    queue: asyncio.Queue[Case] = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)
    answers: list[tuple[Case, int]] = []
    health: list[float] = []
    done = asyncio.Event()
    limits = httpx.Limits(max_connections=CONCURRENCY + 1, max_keepalive_connections=CONCURRENCY)
    headers = {"content-type": "application/json"}

    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                case = queue.get_nowait()
                response = await client.post(case.path, content=case.body, headers=headers)
                answers.append((case, response.status_code))

        async def probe_health() -> None:
            while not done.is_set():
                started = time.monotonic()
                response = await client.get("/health", timeout=HEALTH_TIMEOUT_SECONDS)
                assert response.status_code == 200, response.text
                health.append(time.monotonic() - started)
                await asyncio.sleep(HEALTH_EVERY_SECONDS)

        started = time.monotonic()
        prober = asyncio.create_task(probe_health())
        async with asyncio.timeout(DEADLINE_SECONDS):
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - started
        done.set()
        await prober
    return answers, health, elapsed


@pytest.mark.timeout(DEADLINE_SECONDS + 60)
def test_mixed_load_is_answered_without_errors(mlflow_uri: str) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    with serve_in_thread(create_app(ChampionCache(refresh_seconds=2))) as url:
        cases = _cases(random.Random(0), FRANCE_REQUESTS)
        answers, health, elapsed = asyncio.run(_run(url, cases))

    assert len(answers) == len(cases)  # every request answered (a hang would have timed out)
    statuses = Counter(status for _, status in answers)
    assert not [s for s in statuses if s >= 500], statuses
    wrong = Counter((c.kind, s) for c, s in answers if s != c.expected)
    assert not wrong, wrong
    assert health, "/health was never probed"
    # Client and server share this process's interpreter lock, so even an idle /health waits on
    # it: the bound says it keeps answering, not how fast a separate server would be.
    assert statistics.median(health) < 1.0 and max(health) < 5.0, (
        f"/health median {statistics.median(health):.2f} s, max {max(health):.2f} s under load"
    )
    kinds = Counter(c.kind for c in cases)
    print(
        f"\n{dict(kinds)}\n{len(answers)} requests at concurrency {CONCURRENCY} in {elapsed:.1f} s: "
        f"{len(answers) / elapsed:.0f} requests/s; statuses {dict(statuses)}; "
        f"/health {len(health)} probes, max {max(health) * 1000:.0f} ms"
    )
