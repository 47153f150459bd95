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


def _days(count: int, first: dt.date = dt.date(2023, 1, 1)) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(count)]


def test_retrain_check_asks_for_the_newest_as_of_partition_once_per_data_version():
    days = _days(22)  # Sunday 2023-01-01 .. Sunday 2023-01-22
    # 8 days: no complete week with 7 training days before it.
    assert not retrain_check(NYC, versions(days[:8]), None, None).request
    first = retrain_check(NYC, versions(days[:15]), None, None)
    assert first.request and first.as_of == "2023-01-09" and first.new_partitions == days[:15]
    cursor = {"as_of": first.as_of, "versions": first.versions}
    assert not retrain_check(NYC, versions(days[:21]), None, cursor).request  # week incomplete
    second = retrain_check(NYC, versions(days[:22]), None, cursor)
    assert second.request and second.as_of == "2023-01-16"
    assert second.new_partitions == days[15:22]
    cursor = {"as_of": second.as_of, "versions": second.versions}
    assert not retrain_check(NYC, versions(days[:22]), None, cursor).request
    # Revised days inside the window are new data; the same versions are not.
    revised = {**versions(days[:22]), **versions(days[3:6], "v2")}
    check = retrain_check(NYC, revised, None, cursor)
    assert check.request and check.as_of == "2023-01-16" and check.new_partitions == days[3:6]
    # A champion trained as of the newest week on the same days needs no retrain.
    champion = {"as_of": "2023-01-16", "trained_on_partitions": ",".join(days[:22])}
    assert not retrain_check(NYC, versions(days[:22]), champion, None).request
    assert retrain_check(
        NYC, versions(days[:22]), {**champion, "as_of": "2023-01-09"}, None
    ).request
    # France: the newest year, once.
    check = retrain_check(FRANCE, versions(["2021", "2022"]), None, None)
    assert check.request and check.as_of == "2022"
    done = {"as_of": "2022", "trained_on_partitions": "2021,2022"}
    assert not retrain_check(FRANCE, versions(["2021", "2022"]), done, None).request


def _store(asset: dg.AssetKey, keys: list[str], value: int = 1) -> None:
    """Store partitions as the lanes do: NYC days through a commit, France years as files."""
    root = settings.storage_root()
    for key in keys:
        frame = pl.DataFrame({"x": [value]})
        if committed_lane(asset):
            commit_partition(root, asset.path[0], key, {asset: frame})
        else:
            write_parquet_atomic(frame, asset_storage_path(root, asset) / f"{key}.parquet")


def _champion(task: str, as_of: str, partitions: list[str]) -> None:
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
        {"as_of": as_of, "trained_on_partitions": ",".join(partitions)},
    )


def _evaluate(sensor: dg.SensorDefinition, cursor: str | None):
    # The mlflow resource has a teardown (it ends runs left open), so its context is a scope.
    with dg.build_sensor_context(
        cursor=cursor,
        resources={
            "asset_storage": AssetStorage(root=settings.storage_root()),
            "mlflow": MlflowTracking(),
        },
    ) as context:
        result = sensor(context)
        return result, context.cursor


def test_nyc_sensor_requests_the_newest_week_when_it_completes_and_never_on_unchanged_data(
    state_home: Path,
):
    sensor = build_retrain_sensor(NYC)
    days = _days(22)
    _store(NYC.feature_asset, days[:15])
    _champion(NYC.name, "2023-01-09", days[:15])

    result, cursor = _evaluate(sensor, None)
    assert isinstance(result, dg.SkipReason) and "same partitions" in result.skip_message

    _store(NYC.feature_asset, days[15:21])  # six days of the next week: not yet
    result, cursor = _evaluate(sensor, cursor)
    assert isinstance(result, dg.SkipReason)

    _store(NYC.feature_asset, days[21:])  # the week is complete
    result, cursor = _evaluate(sensor, cursor)
    assert isinstance(result, dg.RunRequest)
    assert result.partition_key == "2023-01-16" and sensor.job_name == "nyc_training_job"
    assert result.tags["new_partitions"].split(",") == days[15:22]

    result, _ = _evaluate(sensor, cursor)  # unchanged data, e.g. the retrain kept the champion
    assert isinstance(result, dg.SkipReason)

    _store(NYC.feature_asset, days[:7])  # re-ingested with the same content: not new data
    assert isinstance(_evaluate(sensor, cursor)[0], dg.SkipReason)
    _store(NYC.feature_asset, days[:7], value=2)  # seven days revised by late reports
    result, cursor = _evaluate(sensor, cursor)
    assert isinstance(result, dg.RunRequest) and result.partition_key == "2023-01-16"
    assert result.tags["new_partitions"].split(",") == days[:7]


def test_france_sensor_requests_training_for_a_new_year(state_home: Path):
    sensor = build_retrain_sensor(FRANCE)
    _store(FRANCE.feature_asset, ["2021"])
    _champion(FRANCE.name, "2021", ["2021"])
    result, cursor = _evaluate(sensor, None)
    assert isinstance(result, dg.SkipReason)
    _store(FRANCE.feature_asset, ["2022"])
    result, cursor = _evaluate(sensor, cursor)
    assert isinstance(result, dg.RunRequest) and sensor.job_name == "france_training_job"
    assert result.partition_key == "2022"
    assert isinstance(_evaluate(sensor, cursor)[0], dg.SkipReason)
