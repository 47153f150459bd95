"""The API under uvicorn on 127.0.0.1 (real HTTP), backed by a real MLflow registry."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

import pytest
import requests

from accident_assets.serving.models import ChampionCache
from accident_assets_tests.serving import registry as reg

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 30
T = TypeVar("T")
START_END = {
    "start": {"lat": 40.7061, "lon": -73.9969},
    "end": {"lat": 40.758, "lon": -73.9855},
    "timestamp": "2024-07-08T17:30:00",
}


def example(name: str):
    return json.loads((EXAMPLES / name).read_text())


def eventually(probe: Callable[[], T], done: Callable[[T], bool], within: float = 20.0) -> T:
    """Call ``probe`` until ``done`` holds for its result; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {within} s"
        time.sleep(0.05)


def test_health_and_models(api_url: str) -> None:
    health = requests.get(f"{api_url}/health", timeout=TIMEOUT)
    assert health.status_code == 200
    # The lifespan loaded both champions before the first request.
    assert health.json() == {
        "status": "ok",
        "loaded": {"france_priority": "1", "nyc_incidents": "1"},
    }

    models = requests.get(f"{api_url}/v1/models", timeout=TIMEOUT).json()["models"]
    by_task = {m["task"]: m for m in models}
    france = by_task["france_priority"]["champion"]
    assert france["version"] == "1"
    assert france["metrics"]["f1"] == pytest.approx(0.71)
    assert france["trained_on_partitions"] == ["2021"]
    assert france["feature_fingerprint"] == "abc123"
    assert france["threshold"] == pytest.approx(0.4)
    nyc = by_task["nyc_incidents"]["champion"]
    assert nyc["trained_on_partitions"] == list(reg.nyc_features_by_day())
    assert nyc["h3_resolution"] == 7
    assert set(nyc["metrics"]) == {"rmse", "mae", "poisson_deviance"}


def test_france_flat_record(api_url: str) -> None:
    response = requests.post(
        f"{api_url}/v1/france_priority/predict",
        json=example("france_flat_record.json"),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "1"
    assert body["threshold"] == pytest.approx(0.4)
    (p,) = body["predictions"]
    assert 0 <= p["probability"] <= 1
    assert p["prediction"] == int(p["probability"] >= 0.4)
    assert p["interpretation"] == ("Priority" if p["prediction"] else "Non-priority")


def test_france_list_and_reference_aliases(api_url: str) -> None:
    records = example("france_accidents.json")
    response = requests.post(f"{api_url}/v1/france_priority/predict", json=records, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert [p["index"] for p in response.json()["predictions"]] == [0, 1]


def test_nyc_points_and_route(api_url: str) -> None:
    points = requests.post(
        f"{api_url}/v1/nyc_incidents/predict", json=example("nyc_points.json"), timeout=TIMEOUT
    )
    assert points.status_code == 200, points.text
    body = points.json()
    assert body["h3_resolution"] == 7
    assert [p["hour"] for p in body["predictions"]] == [22, 8, 14]
    # An offset is converted to New York time: 14:00-04:00 is 14:00 local in July.
    assert body["predictions"][2]["timestamp"] == "2024-07-06T14:00:00"
    assert all(
        p["cell"].startswith("87") and p["expected_incidents"] >= 0 for p in body["predictions"]
    )

    route = requests.post(
        f"{api_url}/v1/nyc_incidents/predict", json=example("nyc_route.json"), timeout=TIMEOUT
    ).json()
    predictions = route["predictions"]
    assert len(predictions) == 6
    distinct = {(p["cell"], p["date"], p["hour"]): p["expected_incidents"] for p in predictions}
    assert route["expected_incidents_total"] == pytest.approx(sum(distinct.values()))


@pytest.mark.parametrize(
    ("path", "payload", "loc"),
    [
        ("france_priority", {"catu": 3}, ["body", "place"]),  # missing required field
        ("france_priority", [{}, {"place": "x"}], ["body", 1, "place"]),
        ("france_priority", {"unknown_field": 1}, ["body", "unknown_field"]),
        (
            "nyc_incidents",
            {"lat": 48.85, "lon": 2.35, "timestamp": "2024-07-01T08:00:00"},
            ["body", "lat"],
        ),
        (
            "nyc_incidents",
            [{"lat": 40.7, "lon": -73.9, "timestamp": "yesterday"}],
            ["body", 0, "timestamp"],
        ),
        ("nyc_incidents", {"route": []}, ["body", "route"]),
        (
            "nyc_incidents",
            {**START_END, "start": {"lat": 48.85, "lon": 2.35}},
            ["body", "start", "lat"],
        ),
        ("nyc_incidents", {**START_END, "end": {"lat": 40.75}}, ["body", "end", "lon"]),
        (
            "nyc_incidents",
            {k: v for k, v in START_END.items() if k != "end"},
            ["body", "end"],
        ),
        ("nyc_incidents", {**START_END, "cutoff": -1}, ["body", "cutoff"]),
        ("nyc_incidents", {**START_END, "cutoff": "high"}, ["body", "cutoff"]),
        ("nyc_incidents", {**START_END, "timestamp": "soon"}, ["body", "timestamp"]),
    ],
)
def test_bad_input_is_422_naming_the_field(api_url: str, path: str, payload, loc) -> None:
    response = requests.post(f"{api_url}/v1/{path}/predict", json=payload, timeout=TIMEOUT)
    assert response.status_code == 422, response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert loc in locations, locations


def test_nyc_start_end_scores_the_grid_path(api_url: str) -> None:
    import h3

    request = example("nyc_start_end.json")
    start = h3.latlng_to_cell(request["start"]["lat"], request["start"]["lon"], 7)
    end = h3.latlng_to_cell(request["end"]["lat"], request["end"]["lon"], 7)
    path = list(h3.grid_path_cells(start, end))
    assert len(path) > 3

    def post(body: dict) -> dict:
        r = requests.post(f"{api_url}/v1/nyc_incidents/predict", json=body, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        return r.json()

    no_cutoff = post({k: v for k, v in request.items() if k != "cutoff"})
    predictions = no_cutoff["predictions"]
    assert [p["cell"] for p in predictions] == path  # start cell first, end cell last
    assert [p["index"] for p in predictions] == list(range(len(path)))
    assert {(p["date"], p["hour"]) for p in predictions} == {("2024-07-08", 17)}
    assert no_cutoff["path"] == {
        "start_cell": start,
        "end_cell": end,
        "cells": len(path),
        "cutoff": None,
        "above_cutoff": None,
    }
    assert no_cutoff["expected_incidents_total"] == pytest.approx(
        sum(p["expected_incidents"] for p in predictions)
    )
    # Each cell is scored as a point at its centre at that time would be.
    centres = [
        {"lat": lat, "lon": lon, "timestamp": request["timestamp"]}
        for lat, lon in map(h3.cell_to_latlng, path)
    ]
    as_points = post(centres)["predictions"]
    assert [p["expected_incidents"] for p in as_points] == pytest.approx(
        [p["expected_incidents"] for p in predictions]
    )
    values = sorted({p["expected_incidents"] for p in predictions})
    assert len(values) > 1, values
    cutoff = values[0]  # the lowest cell value: strictly above it leaves the others
    with_cutoff = post({**request, "cutoff": cutoff})
    above = with_cutoff["path"]["above_cutoff"]
    assert above == [p for p in with_cutoff["predictions"] if p["expected_incidents"] > cutoff]
    assert 0 < len(above) < len(path)
    assert with_cutoff["path"]["cutoff"] == cutoff


def test_forecast_is_served_from_storage(api_url: str) -> None:
    import dagster as dg
    import polars as pl

    from accident_assets import settings
    from accident_assets.io_manager import commit_partition, read_partitions
    from accident_assets.nyc_forecast import assets as fc
    from accident_assets.resources import shared_resources

    for day, frame in reg.nyc_features_by_day().items():
        commit_partition(settings.storage_root(), "nyc", day, {fc.NYC_FEATURES: frame})
    result = dg.materialize(
        [fc.nyc_forecast],
        partition_key="2023-01-09",
        resources=shared_resources(),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    stored = read_partitions(settings.storage_root(), fc.FORECAST, ["2023-01-09"])["2023-01-09"]
    url = f"{api_url}/v1/forecast/nyc_incidents"

    full = requests.get(f"{url}/2023-01-09", timeout=TIMEOUT)
    assert full.status_code == 200, full.text
    body = full.json()
    assert body["date"] == "2023-01-09" and body["model_version"] == "1"
    assert body["model_uri"] == stored["model_uri"][0]
    cells = stored["cell"].n_unique()
    assert body["cells_in_forecast"] == len(body["cells"]) == cells
    assert body["expected_incidents_total"] == pytest.approx(stored["expected_incidents"].sum())
    served = {(r["cell"], r["hour"]): r["expected_incidents"] for r in body["cell_hours"]}
    assert served == pytest.approx(
        {(r["cell"], r["hour"]): r["expected_incidents"] for r in stored.iter_rows(named=True)}
    )
    totals = stored.group_by("cell").agg(pl.col("expected_incidents").sum())
    ranked = totals.sort(["expected_incidents", "cell"], descending=[True, False])

    top = requests.get(f"{url}/2023-01-09", params={"top": 3}, timeout=TIMEOUT).json()
    assert [c["cell"] for c in top["cells"]] == ranked["cell"].head(3).to_list()
    assert [c["rank"] for c in top["cells"]] == [1, 2, 3]
    assert [c["expected_incidents"] for c in top["cells"]] == pytest.approx(
        ranked["expected_incidents"].head(3).to_list()
    )
    assert [(h["cell"], h["hour"]) for h in top["cell_hours"]] == [
        (c, h) for c in ranked["cell"].head(3) for h in range(24)
    ]
    assert top["expected_incidents_total"] == body["expected_incidents_total"]  # the whole day

    missing = requests.get(f"{url}/2023-01-10", timeout=TIMEOUT)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no nyc_incidents forecast is stored for 2023-01-10"}
    for bad, loc in (("2023-13-01", ["path", "date"]), ("2023-01-09?top=0", ["query", "top"])):
        response = requests.get(f"{url}/{bad}", timeout=TIMEOUT)
        assert response.status_code == 422, response.text
        assert loc in [e["loc"] for e in response.json()["detail"]]


def test_france_module_rejection_is_422_naming_the_record(api_url: str) -> None:
    record = example("france_flat_record.json")
    bad_date = {**record, "jour": 31, "mois": 2}
    response = requests.post(
        f"{api_url}/v1/france_priority/predict", json=[record, bad_date], timeout=TIMEOUT
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"][:2] == ["body", 1]
    assert "jour" in error["msg"]


def test_not_json_is_422(api_url: str) -> None:
    response = requests.post(
        f"{api_url}/v1/nyc_incidents/predict",
        data="{not json",
        headers={"content-type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 422


def test_no_champion_is_503(empty_mlflow: str) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    with serve_in_thread(create_app(ChampionCache(refresh_seconds=0))) as url:
        response = requests.post(
            f"{url}/v1/france_priority/predict",
            json=example("france_flat_record.json"),
            timeout=TIMEOUT,
        )
        assert response.status_code == 503
        assert "no champion model for task 'france_priority'" in response.json()["detail"]
        # Bad input is still a 422: the request is checked before the model is needed.
        assert (
            requests.post(f"{url}/v1/nyc_incidents/predict", json={}, timeout=TIMEOUT).status_code
            == 422
        )
        models = requests.get(f"{url}/v1/models", timeout=TIMEOUT).json()["models"]
        assert all(m["champion"] is None and "no champion" in m["error"] for m in models)
        assert requests.get(f"{url}/health", timeout=TIMEOUT).status_code == 200


def test_new_champion_is_served_without_restart(
    api_url: str, mlflow_uri: str, state_home: Path
) -> None:
    record = example("france_flat_record.json")

    def predict() -> dict:
        r = requests.post(f"{api_url}/v1/france_priority/predict", json=record, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        return r.json()

    assert predict()["model_version"] == "1"
    pipeline, _ = reg.fit_france(seed=1, n_estimators=5)
    registry = reg.Registry(uri=mlflow_uri, root=Path(mlflow_uri.removeprefix("sqlite:///")).parent)
    version = reg.register(registry, "france_priority", pipeline, metrics={"f1": 0.9})
    assert version == "2"
    # The background refresher notices the alias moved; requests never ask the registry.
    after = eventually(predict, lambda body: body["model_version"] == "2")
    (p,) = after["predictions"]
    assert p["probability"] == pytest.approx(
        float(pipeline.predict_proba(_flat_features(record))[:, 1][0])
    )
    assert (
        requests.get(f"{api_url}/health", timeout=TIMEOUT).json()["loaded"]["france_priority"]
        == "2"
    )


def test_alias_is_checked_on_an_interval_and_on_demand(mlflow_uri: str) -> None:
    """With a long interval the cache keeps its model until asked to refresh."""
    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    registry = reg.Registry(uri=mlflow_uri, root=Path(mlflow_uri.removeprefix("sqlite:///")).parent)
    with serve_in_thread(create_app(ChampionCache(refresh_seconds=3600))) as url:
        pipeline, _ = reg.fit_france(seed=2, n_estimators=5)
        reg.register(registry, "france_priority", pipeline)
        body = example("france_flat_record.json")
        first = requests.post(f"{url}/v1/france_priority/predict", json=body, timeout=TIMEOUT)
        assert first.json()["model_version"] == "1"
        refreshed = requests.post(f"{url}/v1/models/refresh", timeout=TIMEOUT).json()
        assert refreshed == {"champions": {"france_priority": "2", "nyc_incidents": "1"}}
        second = requests.post(f"{url}/v1/france_priority/predict", json=body, timeout=TIMEOUT)
        assert second.json()["model_version"] == "2"


def _flat_features(record: dict):
    from accident_assets.france.records import feature_frame
    from accident_assets.serving import schemas

    return feature_frame(schemas.france_records(schemas.FRANCE_REQUEST.validate_python(record)))


def test_registry_outage_keeps_serving_the_loaded_champion(mlflow_uri: str) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    db = Path(mlflow_uri.removeprefix("sqlite:///"))
    with serve_in_thread(create_app(ChampionCache(refresh_seconds=0))) as url:
        body = example("france_flat_record.json")
        before = requests.post(f"{url}/v1/france_priority/predict", json=body, timeout=TIMEOUT)
        assert before.status_code == 200
        db.write_bytes(b"this is not a database any more" * 100)
        during = requests.post(f"{url}/v1/france_priority/predict", json=body, timeout=TIMEOUT)
        assert during.status_code == 200, during.text
        assert during.json()["predictions"] == before.json()["predictions"]


def test_unreachable_registry_with_nothing_loaded_is_503(empty_mlflow: str) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    Path(empty_mlflow.removeprefix("sqlite:///")).write_bytes(b"not a database" * 100)
    with serve_in_thread(create_app(ChampionCache(refresh_seconds=0))) as url:
        response = requests.post(
            f"{url}/v1/nyc_incidents/predict", json=example("nyc_points.json"), timeout=TIMEOUT
        )
        assert response.status_code == 503
        assert "MLflow registry unavailable" in response.json()["detail"]
        assert requests.get(f"{url}/v1/models", timeout=TIMEOUT).status_code == 200


class RegistryLock:
    """An exclusive sqlite lock on the store: every registry query blocks (up to ~20 s, sqlite's
    busy timeout here) until it is released, like a registry that stopped answering."""

    def __init__(self, uri: str) -> None:
        self._connection: sqlite3.Connection | None = sqlite3.connect(
            uri.removeprefix("sqlite:///"), isolation_level=None
        )
        self._connection.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute("ROLLBACK")
            self._connection.close()
            self._connection = None

    def __enter__(self) -> RegistryLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _timed_get(url: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(url, timeout=TIMEOUT)
    return response, time.monotonic() - started


def test_requests_never_wait_on_a_hung_registry(mlflow_uri: str) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    cache = ChampionCache(refresh_seconds=0)
    body = example("france_flat_record.json")
    with serve_in_thread(create_app(cache)) as url:
        assert requests.get(f"{url}/ready", timeout=TIMEOUT).status_code == 200
        with RegistryLock(mlflow_uri):
            # The refresher is now stuck inside a registry query.
            eventually(cache.checking_for, lambda seconds: seconds is not None and seconds > 1)
            started = time.monotonic()
            response = requests.post(f"{url}/v1/france_priority/predict", json=body, timeout=5)
            assert response.status_code == 200, response.text
            assert time.monotonic() - started < 3
            for path in ("/health", "/ready", "/v1/models"):
                answer, seconds = _timed_get(f"{url}{path}")
                assert answer.status_code == 200, (path, answer.text)
                assert seconds < 1, (path, seconds)
            assert cache.checking_for() is not None  # still hung: the answers did not wait


def test_startup_does_not_wait_for_a_hung_registry(mlflow_uri: str) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    cache = ChampionCache(refresh_seconds=0, startup_wait_seconds=0.5)
    with RegistryLock(mlflow_uri) as lock:
        started = time.monotonic()
        with serve_in_thread(create_app(cache)) as url:
            assert time.monotonic() - started < 10
            assert requests.get(f"{url}/health", timeout=5).json()["loaded"] == {
                "france_priority": None,
                "nyc_incidents": None,
            }
            ready = requests.get(f"{url}/ready", timeout=5)
            assert ready.status_code == 503
            missing = ready.json()["missing"]
            assert "first registry check has not finished" in missing["france_priority"]
            predict = requests.post(
                f"{url}/v1/nyc_incidents/predict", json=example("nyc_points.json"), timeout=5
            )
            assert predict.status_code == 503
            # Released: the refresher gets its answer and the API becomes ready by itself.
            lock.release()
            eventually(
                lambda: requests.get(f"{url}/ready", timeout=5).status_code,
                lambda code: code == 200,
                within=40,
            )


def test_missing_store_is_503_and_recovers_when_it_appears(
    champions_registry: reg.Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets.serving.models import RETRY_SECONDS
    from accident_assets_tests.serving.server import serve_in_thread

    db = tmp_path / "store" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    body = example("nyc_points.json")
    with serve_in_thread(create_app(ChampionCache(refresh_seconds=0.2))) as url:
        response = requests.post(f"{url}/v1/nyc_incidents/predict", json=body, timeout=TIMEOUT)
        assert response.status_code == 503
        assert response.json()["detail"] == (
            f"MLflow store {db} does not exist; run the training job or set MLFLOW_TRACKING_URI"
        )
        ready = requests.get(f"{url}/ready", timeout=TIMEOUT)
        assert ready.status_code == 503
        assert set(ready.json()["missing"]) == {"france_priority", "nyc_incidents"}
        assert "does not exist" in ready.json()["missing"]["france_priority"]
        assert not db.parent.exists()  # the reader created nothing, not even the folder

        db.parent.mkdir()
        shutil.copy(champions_registry.root / "mlflow.db", db)
        ok = eventually(
            lambda: requests.post(f"{url}/v1/nyc_incidents/predict", json=body, timeout=TIMEOUT),
            lambda r: r.status_code == 200,
            within=RETRY_SECONDS + 20,
        )
        assert ok.json()["model_version"] == "1"
        assert requests.get(f"{url}/ready", timeout=TIMEOUT).status_code == 200


def test_ready_names_the_tasks_without_a_champion(empty_mlflow: str) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    with serve_in_thread(create_app(ChampionCache(refresh_seconds=0))) as url:
        ready = requests.get(f"{url}/ready", timeout=TIMEOUT)
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not ready"
        assert body["champions"] == {"france_priority": None, "nyc_incidents": None}
        assert "no champion model for task 'nyc_incidents'" in body["missing"]["nyc_incidents"]


def test_removed_alias_stops_serving_the_old_model(api_url: str, mlflow_uri: str) -> None:
    import mlflow

    url = f"{api_url}/v1/france_priority/predict"
    body = example("france_flat_record.json")
    assert requests.post(url, json=body, timeout=TIMEOUT).status_code == 200
    mlflow.MlflowClient(mlflow_uri, mlflow_uri).delete_registered_model_alias(
        "france_priority", "champion"
    )
    gone = eventually(
        lambda: requests.post(url, json=body, timeout=TIMEOUT), lambda r: r.status_code == 503
    )
    assert "no champion model for task 'france_priority'" in gone.json()["detail"]
    ready = requests.get(f"{api_url}/ready", timeout=TIMEOUT).json()
    assert list(ready["missing"]) == ["france_priority"]
    assert ready["champions"]["nyc_incidents"] == "1"


def test_health_answers_while_every_scoring_thread_is_busy(mlflow_uri: str) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    app = create_app(ChampionCache(), scoring_threads=2)
    limiter = app.state.scoring_limiter
    # Probes run on the event loop itself, so no thread pool (scoring's or FastAPI's) holds them.
    probes = {r.path: r.endpoint for r in app.routes if r.path in ("/health", "/ready")}
    assert len(probes) == 2 and all(map(inspect.iscoroutinefunction, probes.values()))
    records = [example("france_flat_record.json")] * 50
    stop = threading.Event()

    def flood(url: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                session.post(f"{url}/v1/france_priority/predict", json=records, timeout=TIMEOUT)

    with serve_in_thread(app) as url, ThreadPoolExecutor(6) as pool:
        clients = [pool.submit(flood, url) for _ in range(6)]
        try:
            eventually(
                limiter.statistics,
                lambda s: s.borrowed_tokens == s.total_tokens and s.tasks_waiting > 0,
            )
            for _ in range(5):
                health, seconds = _timed_get(f"{url}/health")
                assert health.status_code == 200
                assert seconds < 1, seconds
                stats = limiter.statistics()
                assert stats.borrowed_tokens == stats.total_tokens, stats
        finally:
            stop.set()
        for client in clients:
            client.result(timeout=TIMEOUT)  # a client that failed fails the test


# --- bodies ----------------------------------------------------------------------------------


def raw_http(url: str, request: bytes, *chunks: bytes, timeout: float = 10) -> tuple[int, bytes]:
    """Send bytes as they are and read the answer until the server closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        for chunk in chunks:
            sock.sendall(chunk)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture
def small_body_api(mlflow_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from accident_assets.serving.api import MAX_BODY_ENV, create_app
    from accident_assets_tests.serving.server import serve_in_thread

    monkeypatch.setenv(MAX_BODY_ENV, "1000")
    with serve_in_thread(create_app(ChampionCache())) as url:
        yield url


def test_declared_length_over_the_limit_is_413_before_the_body(small_body_api: str) -> None:
    # Only the headers are sent: an answer proves the server did not wait for the body.
    status, body = raw_http(
        small_body_api,
        b"POST /v1/nyc_incidents/predict HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n",
    )
    assert status == 413
    assert json.loads(body) == {"detail": "request body is larger than 1000 bytes"}


def test_streamed_body_over_the_limit_is_413_without_reading_it_all(small_body_api: str) -> None:
    chunk = b"12c\r\n" + b" " * 300 + b"\r\n"  # 300 bytes per chunk; the body never ends
    status, _ = raw_http(
        small_body_api,
        b"POST /v1/nyc_incidents/predict HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        *[chunk] * 4,
    )
    assert status == 413


def test_streamed_body_under_the_limit_is_scored(small_body_api: str) -> None:
    point = json.dumps(example("nyc_points.json")[0]).encode()
    response = requests.post(
        f"{small_body_api}/v1/nyc_incidents/predict",
        data=iter([point[:10], point[10:]]),  # a generator: requests sends it chunked
        headers={"content-type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    assert response.request.headers["transfer-encoding"] == "chunked"


def test_default_body_limit_is_2_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    from accident_assets.serving.api import MAX_BODY_ENV, max_body_bytes_from_env

    monkeypatch.delenv(MAX_BODY_ENV, raising=False)
    assert max_body_bytes_from_env() == 2 * 1024 * 1024
    monkeypatch.setenv(MAX_BODY_ENV, "0")
    with pytest.raises(ValueError, match=MAX_BODY_ENV):
        max_body_bytes_from_env()


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_other_content_types_are_415(api_url: str, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = requests.post(
        f"{api_url}/v1/france_priority/predict",
        data=json.dumps(example("france_flat_record.json")).encode(),
        headers=headers,
        timeout=TIMEOUT,
    )
    assert response.status_code == 415
    assert "content type must be application/json" in response.json()["detail"]


def test_json_content_type_with_charset_is_accepted(api_url: str) -> None:
    response = requests.post(
        f"{api_url}/v1/nyc_incidents/predict",
        data=json.dumps(example("nyc_points.json")).encode(),
        headers={"content-type": "application/json; charset=utf-8"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("france_priority", example("france_flat_record.json"), "lat"),
        ("france_priority", example("france_flat_record.json"), "larrout"),
        ("nyc_incidents", example("nyc_points.json")[0], "lon"),
    ],
)
def test_nan_and_infinity_are_422(
    api_url: str, path: str, payload: dict, field: str, literal: str
) -> None:
    # json.dumps writes NaN / Infinity literals, which pydantic's JSON parser reads as floats.
    text = json.dumps({**payload, field: float(literal.replace("Infinity", "inf"))})
    assert literal in text
    response = requests.post(
        f"{api_url}/v1/{path}/predict",
        data=text,
        headers={"content-type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 422, response.text
    assert ["body", field] in [error["loc"] for error in response.json()["detail"]]


def test_not_json_names_the_body(api_url: str) -> None:
    response = requests.post(
        f"{api_url}/v1/france_priority/predict",
        data=b"\xff\xfe not json",
        headers={"content-type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body"] and error["type"] == "json_invalid"


# --- docs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_from_the_api_itself(api_url: str, page: str) -> None:
    html = requests.get(f"{api_url}{page}", timeout=TIMEOUT)
    assert html.status_code == 200
    assert "://" not in html.text, "the page refers to another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts, html.text
    for asset in assets:
        assert asset.startswith("/"), asset
        response = requests.get(f"{api_url}{asset}", timeout=TIMEOUT)
        assert response.status_code == 200, asset
        if asset.endswith(".js"):
            assert "javascript" in response.headers["content-type"]
            assert len(response.content) > 500_000, (asset, len(response.content))
    assert requests.get(f"{api_url}/openapi.json", timeout=TIMEOUT).status_code == 200


def test_unloadable_new_champion_keeps_the_loaded_one(mlflow_uri: str) -> None:
    import mlflow

    from accident_assets.serving.api import create_app
    from accident_assets_tests.serving.server import serve_in_thread

    registry = reg.Registry(uri=mlflow_uri, root=Path(mlflow_uri.removeprefix("sqlite:///")).parent)
    client = mlflow.MlflowClient(mlflow_uri, mlflow_uri)
    with serve_in_thread(create_app(ChampionCache(refresh_seconds=3600))) as url:
        pipeline, _ = reg.fit_france(seed=4, n_estimators=5)
        version = reg.register(registry, "france_priority", pipeline, champion=False)
        artifacts = client.get_model_version_download_uri("france_priority", version)
        shutil.rmtree(urlparse(artifacts).path)
        client.set_registered_model_alias("france_priority", "champion", version)

        refreshed = requests.post(f"{url}/v1/models/refresh", timeout=TIMEOUT).json()
        assert refreshed["champions"]["france_priority"] == "1"
        ready = requests.get(f"{url}/ready", timeout=TIMEOUT)
        assert ready.status_code == 200
        assert (
            "cannot load model 'models:/france_priority/2'"
            in (ready.json()["warnings"]["france_priority"])
        )
        response = requests.post(
            f"{url}/v1/france_priority/predict",
            json=example("france_flat_record.json"),
            timeout=TIMEOUT,
        )
        assert response.status_code == 200
        assert response.json()["model_version"] == "1"


def test_an_unloadable_champion_is_not_reloaded_on_every_check(
    mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from accident_assets.serving import models

    registry = reg.Registry(uri=mlflow_uri, root=Path(mlflow_uri.removeprefix("sqlite:///")).parent)
    client = mlflow.MlflowClient(mlflow_uri, mlflow_uri)
    pipeline, _ = reg.fit_france(seed=5, n_estimators=5)
    version = reg.register(registry, "france_priority", pipeline, champion=False)
    shutil.rmtree(urlparse(client.get_model_version_download_uri("france_priority", version)).path)
    client.set_registered_model_alias("france_priority", "champion", version)
    tries: list[str] = []
    real_load = models.load

    def counted(client, ref):  # the real load, counted
        tries.append(ref.version)
        return real_load(client, ref)

    monkeypatch.setattr(models, "load", counted)
    cache = ChampionCache(refresh_seconds=0)
    for _ in range(3):  # three background rounds in a row
        cache._check_all()
    assert tries.count(version) == 1
    (france,) = [s for s in cache.status() if s.task == "france_priority"]
    assert "cannot load model" in (france.problem or "")
    cache.refresh()  # asked explicitly: tried again
    assert tries.count(version) == 2


def test_refresh_is_bounded_while_the_registry_hangs(mlflow_uri: str) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets.serving.models import RegistryUnavailableError
    from accident_assets_tests.serving.server import serve_in_thread

    cache = ChampionCache(refresh_seconds=3600)
    with serve_in_thread(create_app(cache)), RegistryLock(mlflow_uri):
        started = time.monotonic()
        with pytest.raises(RegistryUnavailableError, match=r"did not answer within 0.5 s"):
            cache.refresh(timeout=0.5)
        assert time.monotonic() - started < 3
        assert cache.loaded() == {"france_priority": "1", "nyc_incidents": "1"}
