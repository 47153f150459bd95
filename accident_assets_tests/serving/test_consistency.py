"""The key property: a record gets the same score from the API, from the CLI and inside training.

Serving repeats no preprocessing: the request goes through the France module's payload and
feature functions and then the logged pipeline, exactly as the training rows did.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
import requests
from typer.testing import CliRunner

from accident_assets.serving.cli import app as cli_app
from accident_assets_tests.serving import registry as reg


def api_probabilities(url: str, records: list[dict]) -> np.ndarray:
    response = requests.post(f"{url}/v1/france_priority/predict", json=records, timeout=60)
    assert response.status_code == 200, response.text
    return np.array([p["probability"] for p in response.json()["predictions"]])


def cli_probabilities(records: list[dict], folder: Path) -> np.ndarray:
    path = folder / "accidents.json"
    path.write_text(json.dumps(records))
    result = CliRunner().invoke(cli_app, ["--task", "france_priority", "--json", str(path)])
    assert result.exit_code == 0, result.output
    return np.array([p["probability"] for p in json.loads(result.stdout)["predictions"]])


def test_api_cli_and_training_rows_agree(api_url: str, tmp_path: Path) -> None:
    """Registry fixture: the champion's probability of a training feature row equals what the API
    and the CLI return for the same accident sent as JSON (users and vehicles as lists)."""
    num_accs = reg.sample_num_accs(6)
    records = [reg.full_accident_record(n) for n in num_accs]
    pipeline = reg.champion_pipeline("france_priority")
    training = np.array([reg.france_row_probability(pipeline, n) for n in num_accs])
    np.testing.assert_allclose(api_probabilities(api_url, records), training, rtol=1e-12)
    np.testing.assert_allclose(cli_probabilities(records, tmp_path), training, rtol=1e-12)
    assert len(set(training.round(6))) > 1  # the records are not all alike


def test_nyc_api_cli_and_training_rows_agree(api_url: str, tmp_path: Path) -> None:
    """A training cell-hour and a point inside that cell at that hour get the same expectation."""
    import h3

    frame = reg.nyc_training_frame().filter(pl.col("incidents") > 0).head(5)
    pipeline = reg.champion_pipeline("nyc_incidents")
    training = pipeline.predict(frame.select(reg.nf.FEATURE_COLUMNS).to_pandas())
    points = []
    for row in frame.iter_rows(named=True):
        lat, lon = h3.cell_to_latlng(row["cell"])
        stamp = f"{row['date'].isoformat()}T{row['hour']:02d}:17:00"
        points.append({"lat": lat, "lon": lon, "timestamp": stamp})
    api = requests.post(f"{api_url}/v1/nyc_incidents/predict", json=points, timeout=60).json()
    assert [p["cell"] for p in api["predictions"]] == frame.get_column("cell").to_list()
    np.testing.assert_allclose([p["expected_incidents"] for p in api["predictions"]], training)
    path = tmp_path / "points.json"
    path.write_text(json.dumps(points))
    result = CliRunner().invoke(cli_app, ["--task", "nyc_incidents", "--json", str(path)])
    assert result.exit_code == 0, result.output
    cli = [p["expected_incidents"] for p in json.loads(result.stdout)["predictions"]]
    np.testing.assert_allclose(cli, training)


def tiny_run_config() -> dg.RunConfig:
    """The smallest France training run that still crowns a champion on the sample."""
    from accident_assets.training.factory import run_config
    from accident_assets.training.tasks import FRANCE

    params = {
        "xgboost": {"n_estimators": 30},
        "lightgbm": {"n_estimators": 30},
        "random_forest": {"n_estimators": 15},
    }
    return run_config(FRANCE, n_trials=1, params=params)


@pytest.mark.slow
def test_real_training_job_api_cli_and_batch_agree(
    state_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real France lane and france_training_job (small config) crown a champion; its holdout
    probabilities computed by training's own code equal the API's, the CLI's and the batch
    prediction asset's for the same accidents sent from the raw BAAC tables."""
    from accident_assets.resources import AssetStorage
    from accident_assets.serving.api import create_app
    from accident_assets.serving.models import ChampionCache
    from accident_assets.training.factory import op_name
    from accident_assets.training.tasks import FRANCE
    from accident_assets_tests.serving.server import serve_in_thread
    from accident_assets_tests.training.lanes import ingest_france

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # training's default: the state dir
    ingest_france(accidents=600)
    from accident_assets.definitions import build_defs

    defs = build_defs()
    result = defs.resolve_job_def(FRANCE.job_name).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config=tiny_run_config(), partition_key="2022"
    )
    assert result.success
    decision = result.output_for_node(op_name(FRANCE.key("champion"))).row(0, named=True)
    assert decision["promoted"], decision

    # Inside training: its holdout rows, its input conversion, its predict, the champion.
    training_set = result.output_for_node(op_name(FRANCE.key("training_set")))
    holdout = training_set.holdout
    picks = np.linspace(0, holdout.height - 1, 6).astype(int)
    rows = holdout[picks]
    pipeline = reg.champion_pipeline(FRANCE.name)
    X, _ = FRANCE.xy(rows)
    inside = np.asarray(FRANCE.predict(pipeline, X))

    # The same accidents, from the stored raw tables of their year, as full-accident JSON.
    storage = AssetStorage(root=str(state_home / "storage"))
    year = str(rows.get_column("year")[0])
    assert (rows.get_column("year").cast(pl.Utf8) == year).all()
    tables = {
        t: storage.read(dg.AssetKey(["france", f"raw_{t}"]), [year])[year]
        for t in ("caracteristiques", "lieux", "usagers", "vehicules")
    }
    records = [reg.full_accident_record(n, tables) for n in rows.get_column("Num_Acc")]
    with serve_in_thread(create_app(ChampionCache(refresh_seconds=0))) as url:
        np.testing.assert_allclose(api_probabilities(url, records), inside, rtol=1e-12)
    np.testing.assert_allclose(cli_probabilities(records, tmp_path), inside, rtol=1e-12)

    # The batch asset ran in the same job (it is in the task's group) and scored that year.
    batch = pl.read_parquet(state_home / "storage" / "france_priority" / "predictions.parquet")
    by_id = dict(zip(batch["Num_Acc"].to_list(), batch["probability"].to_list(), strict=True))
    np.testing.assert_allclose([by_id[n] for n in rows["Num_Acc"]], inside, rtol=1e-12)
    assert batch.get_column("model_version").unique().to_list() == [
        str(decision["champion_version"])
    ]
