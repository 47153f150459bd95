"""Drift of feature partitions: the pure Evidently comparison, and the ``<task>/drift`` assets
materialized against stored sample partitions and a real registered champion."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from accident_assets.io_manager import commit_partition
from accident_assets.monitoring import drift
from accident_assets.monitoring.assets import (
    CHECK_NAME,
    FRANCE_DRIFT,
    NO_CHAMPION,
    NYC_DAY_CONSTANT,
    NYC_DRIFT,
    DriftConfig,
)
from accident_assets.nyc import features as nf
from accident_assets.resources import AssetStorage, shared_resources
from accident_assets.training.tasks import FRANCE, NYC
from accident_assets.training.tracking import MlflowTracking
from accident_assets_tests.serving import registry as reg
from accident_assets_tests.training.lanes import ingest_france, ingest_nyc

NYC_NUMERIC = [c for c in NYC.numeric if c not in NYC_DAY_CONSTANT]


def _nyc_reference_and_day() -> tuple[pl.DataFrame, pl.DataFrame]:
    """A weekday (Thursday 2023-01-05) and the other weekdays of its week: like with like. A
    weekend day has another hour profile (as in the city: 28 % of Sunday's crashes fall between
    0:00 and 5:59, 11 % of a weekday's), so against weekdays its hours rightly drift."""
    days = reg.nyc_features_by_day()
    weekdays = [k for k in sorted(days) if dt.date.fromisoformat(k).weekday() < 5]
    day = "2023-01-05"
    return pl.concat([days[k] for k in weekdays if k != day]), days[day]


# --- the pure comparison ---------------------------------------------------------------------


def test_a_resample_of_the_same_rows_does_not_drift() -> None:
    frame = reg.france_features()
    resample = frame.sample(fraction=1.0, with_replacement=True, seed=7)
    report = drift.compute_drift(frame, resample, FRANCE.numeric, FRANCE.categorical)
    assert report.table.columns == list(drift.TABLE_SCHEMA)
    assert report.table.height == len(FRANCE.feature_columns)
    assert report.share_drifted <= 0.1, report.drifted_columns
    assert not report.exceeds(0.3)
    assert set(report.table.get_column("test")) == {
        "Wasserstein distance (normed)",
        "Jensen-Shannon distance",
    }
    assert report.plot.startswith(b"\x89PNG")


def test_a_changed_category_share_and_scaled_numbers_drift_by_name() -> None:
    frame = reg.france_features()
    # Every accident by night without lighting (lum 5) and at twice the speed limit.
    shifted = frame.with_columns(pl.lit(5, dtype=pl.Int16).alias("lum"), pl.col("vma") * 2)
    report = drift.compute_drift(frame, shifted, FRANCE.numeric, FRANCE.categorical)
    assert {"lum", "vma"} <= set(report.drifted_columns)
    assert report.share_drifted < 0.1  # the other columns are the same rows
    row = report.table.filter(pl.col("column") == "lum").row(0, named=True)
    assert row["kind"] == "categorical" and row["score"] >= row["threshold"] == 0.1
    assert report.exceeds(0.0) and not report.exceeds(0.3)
    assert not report.exceeds(report.share_drifted)  # warns above the share, not at it


def test_nyc_hours_shifted_drift_and_the_share_crosses_the_threshold() -> None:
    reference, day = _nyc_reference_and_day()
    late = day.with_columns(((pl.col("hour") + 12) % 24).alias("hour"))
    report = drift.compute_drift(reference, late, NYC_NUMERIC, NYC.categorical)
    assert "hour" in report.drifted_columns
    same_day = drift.compute_drift(reference, day, NYC_NUMERIC, NYC.categorical)
    assert "hour" not in same_day.drifted_columns
    # Moved far away, every spatial and hour column drifts: the check's share is exceeded.
    moved = late.with_columns(
        pl.col("cell_lat") + 1, pl.col("cell_lng") - 1, pl.lit("x").alias("cell")
    )
    assert {"cell", "cell_lat", "cell_lng", "hour"} <= set(
        drift.compute_drift(reference, moved, NYC_NUMERIC, NYC.categorical).drifted_columns
    )


def test_large_references_are_sampled_with_a_fixed_seed() -> None:
    frame = reg.france_features()
    sampled = drift.sample_rows(frame, 100)
    assert sampled.height == 100
    assert sampled.equals(drift.sample_rows(frame, 100))
    assert not sampled.equals(drift.sample_rows(frame, 100, seed=1))
    assert drift.sample_rows(frame, 10_000) is frame
    report = drift.compute_drift(
        frame, frame.head(200), FRANCE.numeric, FRANCE.categorical, max_reference_rows=150
    )
    assert (report.reference_rows, report.reference_rows_total) == (150, frame.height)


def test_a_constant_column_scores_zero_not_nan() -> None:
    frame = reg.france_features()
    report = drift.compute_drift(frame, frame, ["vma"], ["catu"])  # catu is 1 on every row
    assert frame.get_column("catu").n_unique() == 1
    assert not any(math.isnan(s) for s in report.table.get_column("score"))
    assert report.drifted_columns == ()


# --- the assets ------------------------------------------------------------------------------


def _materialize(asset: dg.AssetsDefinition, partition: str, **config) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [asset],
        partition_key=partition,
        resources={**shared_resources(), "mlflow": MlflowTracking()},
        run_config=dg.RunConfig(ops={asset.op.name: DriftConfig(**config)}),
        instance=dg.DagsterInstance.ephemeral(),
    )


def _metadata(result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition) -> dict:
    [event] = result.asset_materializations_for_node(asset.op.name)
    return {k: v.value for k, v in event.metadata.items()}


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


@pytest.fixture(scope="module")
def nyc_days_stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nyc/features 2023-01-02..09 ingested once: the champion's seven days and a new one."""
    home = tmp_path_factory.mktemp("nyc-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ACCIDENT_ASSETS_HOME", str(home))
        ingest_nyc(dt.date(2023, 1, 2), dt.date(2023, 1, 9))
    return home / "storage"


@pytest.fixture
def nyc_storage(nyc_days_stored: Path, state_home: Path) -> Path:
    """This test's state directory with a copy of the stored NYC days."""
    shutil.copytree(nyc_days_stored, state_home / "storage")
    return state_home / "storage"


def _store_night_shifted_new_day(storage: Path) -> None:
    """2023-01-09 again, every crash 12 hours later: a day that drifts. (The sample's own
    Monday does not: like the city's, its days differ from each other by noise alone.)"""
    key = "2023-01-09"
    frame = AssetStorage(root=str(storage)).read(NYC.feature_asset, [key])[key]
    shifted = frame.with_columns(((pl.col("hour") + 12) % 24).alias("hour"))
    shifted = nf.add_feature_columns(shifted)  # hour_sin/hour_cos follow the hour
    commit_partition(str(storage), "nyc", key, {NYC.feature_asset: shifted.select(frame.columns)})


CHAMPION_DAYS = [f"2023-01-0{d}" for d in range(2, 9)]


def test_nyc_drift_of_a_new_day_against_the_champions_days(
    mlflow_uri: str, nyc_storage: Path
) -> None:
    result = _materialize(NYC_DRIFT, "2023-01-09")
    assert result.success
    meta = _metadata(result, NYC_DRIFT)
    assert meta["status"] == "compared"
    assert meta["champion_version"] == "1"
    assert meta["reference_partitions_tag"] == "trained_on_partitions"
    assert meta["reference_partitions"] == CHAMPION_DAYS
    assert meta["current_in_reference"] is False
    assert set(meta["columns_not_compared"]) == set(NYC_DAY_CONSTANT)
    storage = AssetStorage(root=str(nyc_storage))
    features = storage.read(NYC.feature_asset, ["2023-01-09", *CHAMPION_DAYS])
    # Like with like: observed cell-hours of the stored partitions, not zero-filled frames.
    assert meta["current_rows"] == features["2023-01-09"].height
    assert meta["reference_rows_stored"] == sum(features[k].height for k in CHAMPION_DAYS)
    assert "seed" in meta["reference_sampling"] or "all" in meta["reference_sampling"]
    assert meta["plot"].startswith("![Per-column drift](data:image/png;base64,")
    table = storage.read(NYC_DRIFT.key, ["2023-01-09"])["2023-01-09"]
    assert table.get_column("column").to_list() == ["cell", *NYC_NUMERIC]
    assert sorted(meta["drifted_columns"]) == sorted(
        table.filter(pl.col("drifted")).get_column("column").to_list()
    )
    assert [r.data["column"] for r in meta["drift_table"].records] == table["column"].to_list()
    check = _check(result)
    assert check.check_name == CHECK_NAME
    assert check.partition == "2023-01-09"
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.passed == (meta["drifted_share"] <= 0.3)


def test_the_check_warns_above_the_configured_share(mlflow_uri: str, nyc_storage: Path) -> None:
    _store_night_shifted_new_day(nyc_storage)
    strict = _check(_materialize(NYC_DRIFT, "2023-01-09", drift_share_threshold=0.0))
    lenient = _check(_materialize(NYC_DRIFT, "2023-01-09", drift_share_threshold=1.0))
    assert 0 < strict.metadata["drifted_share"].value < 1
    assert (strict.passed, lenient.passed) == (False, True)
    assert strict.severity == dg.AssetCheckSeverity.WARN


def test_train_partitions_tag_wins_over_trained_on_partitions(
    mlflow_uri: str, nyc_storage: Path, state_home: Path
) -> None:
    pipeline, _ = reg.fit_nyc()
    version = reg.register(
        reg.create_registry(state_home / "mlflow-copy"),
        "nyc_incidents",
        pipeline,
        tags={
            "trained_on_partitions": ",".join(CHAMPION_DAYS),
            "train_partitions": ",".join(CHAMPION_DAYS[:5]),
        },
    )
    meta = _metadata(_materialize(NYC_DRIFT, "2023-01-09", max_reference_rows=300), NYC_DRIFT)
    assert meta["champion_version"] == version == "2"
    assert meta["reference_partitions_tag"] == "train_partitions"
    assert meta["reference_partitions"] == CHAMPION_DAYS[:5]
    assert meta["reference_rows"] == 300 < meta["reference_rows_stored"]


def test_no_champion_materializes_a_no_champion_result(
    empty_mlflow: str, nyc_storage: Path
) -> None:
    result = _materialize(NYC_DRIFT, "2023-01-09")
    assert result.success
    assert _metadata(result, NYC_DRIFT)["status"] == NO_CHAMPION
    assert _check(result).passed
    table = AssetStorage(root=str(nyc_storage)).read(NYC_DRIFT.key, ["2023-01-09"])["2023-01-09"]
    assert table.height == 0 and table.columns == list(drift.TABLE_SCHEMA)


def test_france_drift_of_a_new_year(mlflow_uri: str, state_home: Path) -> None:
    ingest_france(("2021", "2022"), accidents=300)
    result = _materialize(FRANCE_DRIFT, "2022")
    meta = _metadata(result, FRANCE_DRIFT)
    assert meta["reference_partitions"] == ["2021"]
    assert meta["columns_compared"] == len(FRANCE.feature_columns)
    assert meta["columns_not_compared"] == []
    check = _check(result)
    assert check.partition == "2022"
    assert check.passed == (meta["drifted_share"] <= 0.3)


def test_size_aware_threshold_keeps_small_clean_partitions_quiet_and_still_flags_drift():
    """~200 rows over 80 categories are far from their own distribution by sampling noise alone
    (Jensen-Shannon ~0.25 > 0.1): the fixed threshold flags every clean partition, the size-aware
    one about as rarely as its quantile says, and a partition concentrated on a few categories is
    flagged by both."""
    import numpy as np

    rng = np.random.default_rng(7)
    cells = [f"c{i:02d}" for i in range(80)]
    reference = pl.DataFrame(
        {"cell": rng.choice(cells, 8000).tolist(), "hour": rng.integers(0, 24, 8000)}
    )
    null = drift.null_distances(reference, 200, ["hour"], ["cell"], drift.NULL_DRAWS)
    assert null is not None and null[0] > drift.COLUMN_THRESHOLD  # cell comes first
    flagged_fixed = flagged_aware = 0
    for _ in range(20):
        clean = pl.DataFrame(
            {"cell": rng.choice(cells, 200).tolist(), "hour": rng.integers(0, 24, 200)}
        )
        score = drift.column_drift(reference, clean, ["hour"], ["cell"])["score"][0]
        flagged_fixed += score >= drift.COLUMN_THRESHOLD
        flagged_aware += score >= max(drift.COLUMN_THRESHOLD, null[0])
    assert flagged_fixed == 20 and flagged_aware <= 4, (flagged_fixed, flagged_aware)
    shifted = pl.DataFrame(
        {"cell": rng.choice(cells[:8], 200).tolist(), "hour": rng.integers(0, 24, 200)}
    )
    report = drift.compute_drift(reference, shifted, ["hour"], ["cell"])
    assert "cell" in report.drifted_columns
    assert drift.compute_drift(reference, shifted, ["hour"], ["cell"], null_draws=0).drifted_columns


def test_drift_above_its_threshold_may_request_a_retrain_once(
    mlflow_uri: str, nyc_storage: Path
) -> None:
    from accident_assets.monitoring.sensors import build_drift_retrain_sensor

    sensor = build_drift_retrain_sensor(NYC)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED  # off by default
    _store_night_shifted_new_day(nyc_storage)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"asset_storage": AssetStorage(root=str(nyc_storage))}

    def evaluate(cursor: str | None):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        return sensor(context), context.cursor

    result, _ = evaluate(None)
    assert isinstance(result, dg.SkipReason) and "no new nyc_incidents/drift report" in str(
        result.skip_message
    )

    def materialize(threshold: float) -> None:
        dg.materialize(
            [NYC_DRIFT],
            partition_key="2023-01-09",
            resources={**shared_resources(), "mlflow": MlflowTracking()},
            run_config=dg.RunConfig(
                ops={NYC_DRIFT.op.name: DriftConfig(drift_share_threshold=threshold)}
            ),
            instance=instance,
        )

    materialize(1.0)  # within the threshold: nothing to do
    result, cursor = evaluate(None)
    assert isinstance(result, dg.SkipReason) and "below their threshold" in result.skip_message
    materialize(0.0)  # exceeded
    result, _ = evaluate(cursor)
    # 2023-01-02..09 hold no complete week with 7 training days before it.
    assert isinstance(result, dg.SkipReason) and "no as-of partition" in result.skip_message
    # More days stored: the newest as-of week is requested, once per report.
    for day in range(10, 16):
        key = f"2023-01-{day}"
        for path in (nyc_storage / "_commits" / "nyc").glob("2023-01-09.json"):
            shutil.copy(path, path.with_name(f"{key}.json"))
    materialize(0.0)  # drifted again...
    materialize(1.0)  # ...then a clean report before the next tick: the drifted one still counts
    result, cursor = evaluate(cursor)
    assert isinstance(result, dg.RunRequest) and result.partition_key == "2023-01-09"
    assert "drift of 2023-01-09" in result.tags["retrain_reason"]
    result, _ = evaluate(cursor)
    assert isinstance(result, dg.SkipReason) and "no new" in result.skip_message
