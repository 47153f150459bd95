"""The retraining trigger: fires when enough new feature partitions landed, never on unchanged data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import mlflow
import polars as pl
from sklearn.dummy import DummyRegressor

from accident_assets import settings
from accident_assets.io_manager import (
    asset_storage_path,
    commit_partition,
    committed_lane,
    write_parquet_atomic,
)
from accident_assets.resources import AssetStorage
from accident_assets.training import champion as rules
from accident_assets.training.mlflow_config import configure_mlflow
from accident_assets.training.sensors import build_retrain_sensor, retrain_check
from accident_assets.training.tasks import FRANCE, NYC
from accident_assets.training.tracking import MlflowTracking


def versions(keys: list[str], version: str = "v1") -> dict[str, str]:
    return dict.fromkeys(keys, version)


def test_retrain_check_rules():
    days = versions([f"2023-01-{d:02d}" for d in range(1, 23)])
    days = list(days)
    assert not retrain_check(versions(days[:10]), None, None, min_new=7, min_total=15).request
    assert retrain_check(versions(days[:15]), None, None, min_new=7, min_total=15).request
    assert not retrain_check(versions(days[:21]), days[:15], None, min_new=7, min_total=15).request
    check = retrain_check(versions(days[:22]), days[:15], None, min_new=7, min_total=15)
    assert check.request and check.new_partitions == days[15:22]
    # Already requested for this data (and the retrain kept the old champion): not again.
    assert not retrain_check(
        versions(days[:22]), days[:15], days[:22], min_new=7, min_total=15
    ).request
    assert retrain_check(versions(["2021", "2022"]), ["2021"], None, min_new=1, min_total=1).request
    assert not retrain_check(versions(["2021"]), ["2021"], None, min_new=1, min_total=1).request
    # Seven days revised since the last request are new data; the same versions are not.
    revised = {**versions(days[:22]), **versions(days[8:15], "v2")}
    check = retrain_check(revised, days[:22], versions(days[:22]), min_new=7, min_total=15)
    assert check.request and check.new_partitions == days[8:15]
    assert not retrain_check(revised, days[:22], revised, min_new=7, min_total=15).request
    # An older cursor (a plain list) still works.
    assert not retrain_check(
        versions(days[:22]), days[:15], days[:22], min_new=7, min_total=15
    ).request


def _store(asset: dg.AssetKey, keys: list[str], value: int = 1) -> None:
    """Store partitions as the lanes do: NYC days through a commit, France years as files."""
    root = settings.storage_root()
    for key in keys:
        frame = pl.DataFrame({"x": [value]})
        if committed_lane(asset):
            commit_partition(root, asset.path[0], key, {asset: frame})
        else:
            write_parquet_atomic(frame, asset_storage_path(root, asset) / f"{key}.parquet")


def _champion(task: str, partitions: list[str]) -> None:
    client = configure_mlflow()
    with MlflowTracking().start_run(task, "dummy", {}) as run:
        info = mlflow.sklearn.log_model(
            DummyRegressor().fit([[0]], [0]), name="model", pip_requirements=[]
        )
    rules.promote(
        client,
        task,
        info.model_uri,
        run.info.run_id,
        {"trained_on_partitions": ",".join(partitions)},
    )


def _evaluate(sensor: dg.SensorDefinition, cursor: str | None):
    context = dg.build_sensor_context(
        cursor=cursor,
        resources={
            "asset_storage": AssetStorage(root=settings.storage_root()),
            "mlflow": MlflowTracking(),
        },
    )
    result = sensor(context)
    return result, context.cursor


def test_nyc_sensor_requests_training_after_seven_new_days_only(state_home: Path):
    sensor = build_retrain_sensor(NYC)
    days = [(dt.date(2023, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(22)]
    _store(NYC.feature_asset, days[:15])
    _champion(NYC.name, days[:15])

    result, cursor = _evaluate(sensor, None)
    assert isinstance(result, dg.SkipReason)

    _store(NYC.feature_asset, days[15:21])  # six new days: not yet
    result, cursor = _evaluate(sensor, cursor)
    assert isinstance(result, dg.SkipReason) and "6 new" in result.skip_message

    _store(NYC.feature_asset, days[21:])  # the seventh
    result, cursor = _evaluate(sensor, cursor)
    assert isinstance(result, dg.RunRequest)
    assert result.job_name in (None, NYC.job_name) and sensor.job_name == "nyc_training_job"
    assert result.tags["new_partitions"].split(",") == days[15:22]

    result, _ = _evaluate(sensor, cursor)  # unchanged data, e.g. the retrain kept the champion
    assert isinstance(result, dg.SkipReason)

    _store(NYC.feature_asset, days[:7])  # re-ingested with the same content: not new data
    assert isinstance(_evaluate(sensor, cursor)[0], dg.SkipReason)
    _store(NYC.feature_asset, days[:7], value=2)  # seven days revised by late reports
    result, cursor = _evaluate(sensor, cursor)
    assert isinstance(result, dg.RunRequest)
    assert result.tags["new_partitions"].split(",") == days[:7]


def test_france_sensor_requests_training_for_a_new_year(state_home: Path):
    sensor = build_retrain_sensor(FRANCE)
    _store(FRANCE.feature_asset, ["2021"])
    _champion(FRANCE.name, ["2021"])
    result, cursor = _evaluate(sensor, None)
    assert isinstance(result, dg.SkipReason)
    _store(FRANCE.feature_asset, ["2022"])
    result, cursor = _evaluate(sensor, cursor)
    assert isinstance(result, dg.RunRequest) and sensor.job_name == "france_training_job"
    assert isinstance(_evaluate(sensor, cursor)[0], dg.SkipReason)
