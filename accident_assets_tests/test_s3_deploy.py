"""Beyond one machine: asset storage, pickled objects and MLflow artifacts all on S3 (moto's real
S3 API on loopback), the tracking store a sqlite file. The France lane is ingested and trained
through the code location's jobs, and the API's loader serves the champion from the bucket."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pytest

from accident_assets_tests.training.lanes import quick_run_config

BUCKET = "accident-assets-test"
pytestmark = pytest.mark.slow


def _keys(s3, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def on_s3(moto_s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The settings of a deployment on S3: storage and artifacts in the bucket, under a fresh
    prefix (moto keeps buckets across servers in one process); state home and cwd local."""
    from mlflow.store.artifact import s3_artifact_repo
    from s3fs import S3FileSystem

    prefix = uuid.uuid4().hex
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    (home / "dagster").mkdir(parents=True)
    cwd.mkdir()
    for name, value in {
        "ACCIDENT_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "ACCIDENT_ASSETS_STORAGE": f"s3://{BUCKET}/{prefix}/storage",
        "ACCIDENT_ASSETS_MLFLOW_ARTIFACTS": f"s3://{BUCKET}/{prefix}/mlflow",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'tracking' / 'mlflow.db'}",
    }.items():
        monkeypatch.setenv(name, value)
    # A database store without an artifact location would write to ./mlruns of the cwd.
    monkeypatch.chdir(cwd)
    # MLflow reaches moto through AWS_ENDPOINT_URL alone, as the README tells users; its boto3
    # clients and s3fs's filesystems are cached per options, not per endpoint in the
    # environment, so one cached by another test would point at a stopped server.
    s3_artifact_repo._cached_get_s3_client.cache_clear()
    S3FileSystem.clear_instance_cache()
    yield moto_s3, prefix, home
    s3_artifact_repo._cached_get_s3_client.cache_clear()
    S3FileSystem.clear_instance_cache()


def test_france_lane_on_s3_trains_and_serves_from_the_bucket(on_s3, tmp_path: Path):
    from accident_assets.definitions import build_defs
    from accident_assets.france.sources import SampleFranceSource
    from accident_assets.serving.models import load_model
    from accident_assets.serving.predict import score_france
    from accident_assets.serving.schemas import FRANCE_REQUEST, france_records
    from accident_assets.training.champion_model import INPUT_EXAMPLES
    from accident_assets.training.mlflow_config import configure_mlflow
    from accident_assets.training.tasks import FRANCE

    s3, prefix, home = on_s3
    defs = build_defs(resources={"france_source": SampleFranceSource(sample_accidents=1500)})
    instance = dg.DagsterInstance.ephemeral()
    for year in ("2021", "2022"):
        ingest = defs.resolve_job_def("france_ingest_job").execute_in_process(
            instance=instance, tags={"dagster/partition": year}
        )
        assert ingest.success
    training = defs.resolve_job_def(FRANCE.job_name).execute_in_process(
        instance=instance,
        run_config=quick_run_config(FRANCE),
        tags={"dagster/partition": "2022"},
    )
    assert training.success

    # Tables and objects are in the bucket, on the same store...
    storage = _keys(s3, f"{prefix}/storage/")
    for year in ("2021", "2022"):
        assert f"{prefix}/storage/_commits/france/{year}.json" in storage
        assert any(k.startswith(f"{prefix}/storage/france/features/{year}/") for k in storage)
    assert f"{prefix}/storage/{FRANCE.name}/model_comparison/2022.parquet" in storage
    objects = f"{prefix}/storage/objects/{FRANCE.name}"
    assert f"{objects}/training_set/2022.pkl" in storage
    assert any(k.startswith(f"{objects}/model_fits/") and k.endswith("2022.pkl") for k in storage)
    # ...and nothing of them, nor of MLflow's artifacts, on the local disk.
    assert not [f for f in _files(home) if f.endswith((".parquet", ".pkl", "MLmodel"))]
    assert not {"storage", "objects", "mlflow"} & {p.name for p in home.iterdir()}
    assert _files(tmp_path / "cwd") == []
    assert [f for f in _files(tmp_path / "tracking") if not f.startswith("mlflow.db")] == []

    # The champion's model is in the bucket, under its experiment's location.
    client = configure_mlflow()
    experiment = client.get_experiment_by_name(FRANCE.name)
    assert experiment.artifact_location == f"s3://{BUCKET}/{prefix}/mlflow/{FRANCE.name}"
    version = client.get_model_version_by_alias(FRANCE.name, "champion")
    model_location = client.get_model_version_download_uri(FRANCE.name, version.version)
    assert model_location.startswith(f"{experiment.artifact_location}/")
    assert f"{model_location.removeprefix(f's3://{BUCKET}/')}/MLmodel" in _keys(s3, prefix)

    # The API's loader reads the champion from there and scores a request.
    served = load_model(FRANCE.name)
    assert served.version == str(version.version)
    record = FRANCE_REQUEST.validate_python(INPUT_EXAMPLES[FRANCE.name])
    [prediction] = score_france(served, france_records(record))
    assert 0.0 <= prediction.probability <= 1.0
