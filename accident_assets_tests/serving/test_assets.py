"""Batch prediction assets, materialized with real Dagster against a real MLflow registry."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import polars as pl
import pytest
from upath import UPath

from accident_assets import settings
from accident_assets.io_manager import commit_partition
from accident_assets.resources import shared_resources
from accident_assets.serving import assets
from accident_assets.serving.models import load_model
from accident_assets_tests.serving import registry as reg

FRANCE_KEY = dg.AssetKey(["france_priority", "predictions"])
NYC_KEY = dg.AssetKey(["nyc_incidents", "predictions"])


def store(key: dg.AssetKey, partition: str, frame: pl.DataFrame) -> None:
    """Store a feature partition as its lane does, through a commit."""
    commit_partition(settings.storage_root(), key.path[0], partition, {key: frame})


def stored(key: dg.AssetKey) -> pl.DataFrame:
    return pl.read_parquet(
        UPath(settings.storage_root()).joinpath(*key.path).with_suffix(".parquet").path
    )


def materialize(asset: dg.AssetsDefinition) -> dg.ExecuteInProcessResult:
    return dg.materialize([asset], resources=shared_resources(), raise_on_error=False)


def test_france_predictions_score_the_newest_year(mlflow_uri: str) -> None:
    features = reg.france_features()
    store(assets.FRANCE_FEATURES, "2020", features.head(10))
    store(assets.FRANCE_FEATURES, "2021", features)
    result = materialize(assets.france_predictions)
    assert result.success
    frame = stored(FRANCE_KEY)
    assert frame.height == features.height  # the 2021 partition, not the 2020 one
    assert frame.get_column("model_version").unique().to_list() == ["1"]
    pipeline = load_model("france_priority").pipeline
    expected = pipeline.predict_proba(features.select(reg.ff.FEATURE_COLUMNS).to_pandas())[:, 1]
    np.testing.assert_allclose(frame.get_column("probability").to_numpy(), expected)
    assert (frame["prediction"] == (frame["probability"] >= 0.4)).all()  # the logged threshold
    metadata = result.asset_materializations_for_node("france_priority__predictions")[0].metadata
    assert metadata["scored_partition"].value == "2021"
    assert metadata["model_version"].value == "1"


def test_nyc_predictions_cover_every_cell_hour(mlflow_uri: str) -> None:
    by_day = reg.nyc_features_by_day()
    for day, frame in by_day.items():
        store(assets.NYC_FEATURES, day, frame)
    result = materialize(assets.nyc_predictions)
    assert result.success
    frame = stored(NYC_KEY)
    newest = max(by_day)
    universe = reg.nf.cell_universe(pl.concat(list(by_day.values())))
    assert frame.height == len(universe) * 24
    assert frame.get_column("date").unique().to_list() == [dt.date.fromisoformat(newest)]
    assert frame.get_column("incidents").sum() == by_day[newest].get_column("incidents").sum()
    assert (frame.get_column("expected_incidents") >= 0).all()
    assert frame.get_column("model_version").unique().to_list() == ["1"]


def test_no_champion_skips(empty_mlflow: str) -> None:
    store(assets.FRANCE_FEATURES, "2021", reg.france_features())
    result = materialize(assets.france_predictions)
    assert result.success
    assert result.asset_materializations_for_node("france_priority__predictions") == []


def test_no_features_fails_naming_the_asset(mlflow_uri: str) -> None:
    result = materialize(assets.nyc_predictions)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "nyc/features: no stored partition" in failure.step_failure_data.error.message


def test_predictions_are_in_the_training_jobs() -> None:
    from accident_assets.definitions import build_defs

    defs = build_defs()
    for job, key in (("france_training_job", FRANCE_KEY), ("nyc_training_job", NYC_KEY)):
        assert key in defs.resolve_job_def(job).asset_layer.executable_asset_keys


@pytest.fixture(autouse=True)
def _fresh_storage(state_home) -> None:
    """Every test gets its own asset storage (state_home moves the storage root)."""
