"""The registered model is the serving pyfunc: raw records in, the API's numbers out, wherever
MLflow loads it (in process, through MLflow's scoring server, without accident_assets installed)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.pyfunc.scoring_server import invocations

from accident_assets.serving import models, schemas
from accident_assets.serving import predict as scoring
from accident_assets.serving.pyfunc import AccidentModel
from accident_assets.training import champion_model
from accident_assets.training.mlflow_config import configure_mlflow
from accident_assets_tests.serving import registry as reg

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CASES = [
    ("france_priority", "france_flat_record.json"),
    ("france_priority", "france_accidents.json"),
    ("nyc_incidents", "nyc_points.json"),
    ("nyc_incidents", "nyc_route.json"),
]


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


def api_rows(model: Any, task: str, payload: Any) -> pd.DataFrame:
    """What the API computes for ``payload`` with ``model`` (anything with pipeline/threshold/
    h3_resolution), as a frame."""
    if task == "france_priority":
        records = schemas.france_records(schemas.FRANCE_REQUEST.validate_python(payload))
        rows = scoring.score_france(model, records)
    else:
        rows = scoring.score_nyc(
            model, schemas.nyc_points(schemas.NYC_REQUEST.validate_python(payload))
        )
    return pd.DataFrame([r.as_dict() for r in rows])


@pytest.fixture
def mlflow_uri(mlflow_uri: str) -> str:
    """The private registry copy, also as MLflow's current tracking and registry URI (the
    ``models:/`` URIs below are resolved there)."""
    configure_mlflow(mlflow_uri)
    return mlflow_uri


def champion(task: str) -> mlflow.pyfunc.PyFuncModel:
    return mlflow.pyfunc.load_model(f"models:/{task}@champion")


@pytest.mark.parametrize(("task", "name"), CASES)
def test_registered_champion_scores_raw_records_like_the_api(
    mlflow_uri: str, task: str, name: str
) -> None:
    payload = example(name)
    got = champion(task).predict(payload)
    pd.testing.assert_frame_equal(got, api_rows(models.load_model(task), task, payload))
    # ...and like the pipeline as it was fitted, before the registry's round trip.
    fitted = reg.fit_france()[0] if task == "france_priority" else reg.fit_nyc()[0]
    logged_with = SimpleNamespace(pipeline=fitted, threshold=0.4, h3_resolution=7)
    pd.testing.assert_frame_equal(got, api_rows(logged_with, task, payload))


def test_the_champion_carries_its_threshold_and_resolution(mlflow_uri: str) -> None:
    france = champion("france_priority").unwrap_python_model()
    nyc = champion("nyc_incidents").unwrap_python_model()
    assert isinstance(france, AccidentModel) and isinstance(nyc, AccidentModel)
    assert (france.task, france.threshold) == ("france_priority", 0.4)  # the run's param
    assert (nyc.task, nyc.h3_resolution) == ("nyc_incidents", 7)  # the version's tag
    served = models.load_model("france_priority")
    assert served.threshold == 0.4 and served.pipeline is not None


def serve(model: mlflow.pyfunc.PyFuncModel, body: dict[str, Any]) -> tuple[int, Any]:
    """One request through MLflow's scoring server (``mlflow models serve``), without HTTP."""
    response = invocations(json.dumps(body), "application/json", model, None)
    return response.status, json.loads(response.response)


@pytest.mark.parametrize(("task", "name"), CASES)
@pytest.mark.parametrize("key", ["dataframe_records", "inputs"])
def test_scoring_server_requests_give_the_same_numbers(
    mlflow_uri: str, task: str, name: str, key: str
) -> None:
    """``dataframe_records`` arrive as a DataFrame (NaN where a record lacks a field, nested
    lists as cells), ``inputs`` as dicts of numpy arrays: both score as the JSON itself."""
    payload = example(name)
    body = {key: payload if key == "inputs" or isinstance(payload, list) else [payload]}
    status, answer = serve(champion(task), body)
    assert status == 200, answer
    expected = api_rows(models.load_model(task), task, payload)
    got = pd.DataFrame(answer["predictions"])
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_a_bad_record_is_a_client_error_naming_the_field(mlflow_uri: str) -> None:
    records = [
        example("france_flat_record.json"),
        {**example("france_flat_record.json"), "mois": 13},
    ]
    with pytest.raises(MlflowException) as raised:
        serve(champion("france_priority"), {"dataframe_records": records})
    # What the server answers (its error handler maps the exception's code to the status).
    assert raised.value.get_http_status_code() == 400
    assert "1.mois: Input should be less than or equal to 12" in raised.value.message


def test_logged_model_has_no_signature_and_pins_the_scoring_packages(mlflow_uri: str) -> None:
    uri = "models:/france_priority@champion"
    info = mlflow.models.get_model_info(uri)
    assert info.signature is None
    assert set(info.flavors) == {"python_function"}
    requirements = Path(mlflow.artifacts.download_artifacts(f"{uri}/requirements.txt")).read_text()
    pinned = {line.split("==")[0] for line in requirements.splitlines() if "==" in line}
    assert {"mlflow", *champion_model.SCORING_PACKAGES} <= pinned
    assert "dagster" not in pinned  # a forest unpickles without the training package


def test_our_own_estimator_pins_what_its_module_imports() -> None:
    """The shrunk-rate baseline unpickles from accident_assets.training, which imports Dagster."""
    from accident_assets.training.models import NYC_MODELS

    baseline = NYC_MODELS["shrunk_rate"].build({}, [], [])
    assert any(r.startswith("dagster==") for r in champion_model.pip_requirements(baseline))


def test_a_served_class_prior_calls_every_record_priority() -> None:
    """Served at the threshold training scored it at (its positive rate), the constant baseline
    predicts what its holdout F1 assumed: everyone Priority."""
    from accident_assets.training.models import FRANCE_MODELS, decision_threshold
    from accident_assets.training.tasks import FRANCE as FRANCE_TASK

    X, y = FRANCE_TASK.xy(reg.france_features())
    pipeline = FRANCE_MODELS["class_prior"].build({}, [], []).fit(X, y)
    served = AccidentModel("france_priority", pipeline, threshold=decision_threshold(pipeline))
    got = served.predict(None, example("france_accidents.json"))
    assert len(got) > 1 and (got["prediction"] == 1).all()
    assert got["probability"].to_numpy() == pytest.approx(y.mean())


def test_input_examples_are_the_examples_files() -> None:
    assert champion_model.INPUT_EXAMPLES["france_priority"] == example("france_flat_record.json")
    assert champion_model.INPUT_EXAMPLES["nyc_incidents"] == example("nyc_points.json")[0]


def test_old_sklearn_versions_are_still_served(mlflow_uri: str) -> None:
    registry = reg.Registry(uri=mlflow_uri, root=Path(mlflow_uri.removeprefix("sqlite:///")).parent)
    pipeline, _ = reg.fit_france(seed=4, n_estimators=5)
    version = reg.register(
        registry, "france_priority", pipeline, params={"threshold": 0.3}, sklearn_flavor=True
    )
    served = models.load_model("france_priority")
    assert served.version == version and served.threshold == 0.3
    payload = example("france_accidents.json")
    reference = SimpleNamespace(pipeline=pipeline, threshold=0.3, h3_resolution=None)
    pd.testing.assert_frame_equal(
        api_rows(served, "france_priority", payload),
        api_rows(reference, "france_priority", payload),
    )


def venv_site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


# Run with -I -S: no PYTHONPATH, no user site, no .pth files — so not the editable install's
# .pth that puts the repository on sys.path; only the venv's site-packages is added by hand.
CLEAN_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    sys.path.append(sys.argv[1])
    assert importlib.util.find_spec("accident_assets") is None, "accident_assets is importable"
    import mlflow.pyfunc
    mlflow.set_tracking_uri(sys.argv[2])
    model = mlflow.pyfunc.load_model(sys.argv[3])
    out = model.predict(json.loads(sys.argv[4]))
    import accident_assets
    print(json.dumps({"from": accident_assets.__file__, "rows": out.to_dict(orient="records")}))
    """
)


@pytest.mark.parametrize(("task", "name"), [CASES[1], CASES[3]])
def test_loads_and_scores_where_accident_assets_is_not_installed(
    mlflow_uri: str, tmp_path: Path, task: str, name: str
) -> None:
    """The logged ``code`` folder is all the process has of the package."""
    payload = example(name)
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            CLEAN_SCRIPT,
            venv_site_packages(),
            mlflow_uri,
            f"models:/{task}@champion",
            json.dumps(payload),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    repository = Path(__file__).resolve().parents[2]
    assert not Path(answer["from"]).resolve().is_relative_to(repository), answer["from"]
    assert Path(answer["from"]).parent.parent.name == "code"  # the model's code folder
    expected = api_rows(models.load_model(task), task, payload)
    np.testing.assert_allclose(
        pd.DataFrame(answer["rows"]).select_dtypes("number"), expected.select_dtypes("number")
    )


def test_a_start_end_path_too_long_is_a_client_error() -> None:
    """As in the API (422), a path of more cells than a request may score is the client's
    error (400), not the server's (500)."""
    served = AccidentModel("nyc_incidents", pipeline=None, threshold=0.5, h3_resolution=12)
    request = {
        "start": {"lat": 40.58, "lon": -74.15},  # Staten Island
        "end": {"lat": 40.88, "lon": -73.85},  # the Bronx: thousands of resolution-12 cells
        "timestamp": "2024-07-08T17:30:00",
    }
    with pytest.raises(MlflowException) as raised:
        served.predict(None, request)
    assert raised.value.get_http_status_code() == 400
    assert "at most 2000 are scored" in raised.value.message
