"""The API under uvicorn on 127.0.0.1 (real HTTP), backed by a real MLflow registry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import requests

from accident_assets.serving.models import ChampionCache
from accident_assets_tests.serving import registry as reg

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 30
T = TypeVar("T")


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
    ],
)
def test_bad_input_is_422_naming_the_field(api_url: str, path: str, payload, loc) -> None:
    response = requests.post(f"{api_url}/v1/{path}/predict", json=payload, timeout=TIMEOUT)
    assert response.status_code == 422, response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert loc in locations, locations


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
    from accident_assets.serving.server import serve_in_thread

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
    pipeline, X = reg.fit_france(seed=1, n_estimators=5)
    registry = reg.Registry(uri=mlflow_uri, root=Path(mlflow_uri.removeprefix("sqlite:///")).parent)
    version = reg.register(registry, "france_priority", pipeline, X, metrics={"f1": 0.9})
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
    from accident_assets.serving.server import serve_in_thread

    registry = reg.Registry(uri=mlflow_uri, root=Path(mlflow_uri.removeprefix("sqlite:///")).parent)
    with serve_in_thread(create_app(ChampionCache(refresh_seconds=3600))) as url:
        pipeline, X = reg.fit_france(seed=2, n_estimators=5)
        reg.register(registry, "france_priority", pipeline, X)
        body = example("france_flat_record.json")
        first = requests.post(f"{url}/v1/france_priority/predict", json=body, timeout=TIMEOUT)
        assert first.json()["model_version"] == "1"
        refreshed = requests.post(f"{url}/v1/models/refresh", timeout=TIMEOUT).json()
        assert refreshed == {"champions": {"france_priority": "2", "nyc_incidents": "1"}}
        second = requests.post(f"{url}/v1/france_priority/predict", json=body, timeout=TIMEOUT)
        assert second.json()["model_version"] == "2"


def _flat_features(record: dict):
    from accident_assets.france import features as ff
    from accident_assets.serving import schemas

    records = schemas.france_records(schemas.FRANCE_REQUEST.validate_python(record))
    frame = ff.build_features(ff.accidents_from_payload(records))
    return frame.select(ff.FEATURE_COLUMNS).to_pandas()


def test_registry_outage_keeps_serving_the_loaded_champion(mlflow_uri: str) -> None:
    from accident_assets.serving.api import create_app
    from accident_assets.serving.server import serve_in_thread

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
    from accident_assets.serving.server import serve_in_thread

    Path(empty_mlflow.removeprefix("sqlite:///")).write_bytes(b"not a database" * 100)
    with serve_in_thread(create_app(ChampionCache(refresh_seconds=0))) as url:
        response = requests.post(
            f"{url}/v1/nyc_incidents/predict", json=example("nyc_points.json"), timeout=TIMEOUT
        )
        assert response.status_code == 503
        assert "MLflow registry unavailable" in response.json()["detail"]
        assert requests.get(f"{url}/v1/models", timeout=TIMEOUT).status_code == 200
