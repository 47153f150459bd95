"""The NYC forecast and its accuracy, materialized with real Dagster against a real MLflow
registry (the serving fixtures' champion, trained on the sample week 2023-01-02..08)."""

from __future__ import annotations

import datetime as dt
import math
from itertools import permutations

import dagster as dg
import numpy as np
import polars as pl
import pytest
from matplotlib.collections import PolyCollection

from accident_assets import settings
from accident_assets.io_manager import commit_partition, read_partitions, stored_partitions
from accident_assets.nyc import features as nf
from accident_assets.nyc import maps
from accident_assets.nyc.partitions import NYC_DAILY, NYC_FORECAST_DAILY
from accident_assets.nyc.run import ingest_days
from accident_assets.nyc.sources import SampleNycSource
from accident_assets.nyc_forecast import assets as fc
from accident_assets.nyc_forecast import frames
from accident_assets.resources import shared_resources
from accident_assets.training.metrics import capture_share
from accident_assets_tests.serving import registry as reg

DAY = dt.date(2023, 1, 9)  # the day after the champion's training week
KEY = DAY.isoformat()


def store_training_week() -> None:
    """The champion's training days, committed as features only (enough to forecast)."""
    root = settings.storage_root()
    for day, frame in reg.nyc_features_by_day().items():
        commit_partition(root, "nyc", day, {fc.NYC_FEATURES: frame})


def ingest(first: dt.date, last: dt.date) -> None:
    """The real NYC lane on its sample source (the champion's training data, same seed)."""
    result = ingest_days(
        first, last, source=SampleNycSource(), instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success


def materialize(asset: dg.AssetsDefinition, partition: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [asset],
        partition_key=partition,
        resources=shared_resources(),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def stored(key: dg.AssetKey, partition: str) -> pl.DataFrame:
    return read_partitions(settings.storage_root(), key, [partition])[partition]


def metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    (materialization,) = result.asset_materializations_for_node("__".join(key.path))
    return materialization.metadata


def hand_capture(y: list[float], predicted: list[float], fraction: float) -> float:
    """Top ``ceil(fraction * n)`` by prediction; rows tied at the cut share its slots."""
    k = max(1, math.ceil(round(fraction * len(y), 9)))
    cut = sorted(predicted, reverse=True)[k - 1]
    above = [t for t, p in zip(y, predicted, strict=True) if p > cut]
    tied = [t for t, p in zip(y, predicted, strict=True) if p == cut]
    return (sum(above) + sum(tied) * (k - len(above)) / len(tied)) / sum(y)


def test_forecast_before_the_day_then_its_accuracy(mlflow_uri: str) -> None:
    ingest(reg.NYC_FIRST_DAY, DAY - dt.timedelta(days=1))
    root = settings.storage_root()
    assert KEY not in stored_partitions(root, fc.NYC_FEATURES)

    result = materialize(fc.nyc_forecast, KEY)
    assert result.success
    forecast = stored(fc.FORECAST, KEY)
    universe = nf.cell_universe(pl.concat(list(reg.nyc_features_by_day().values())))
    assert forecast.columns == frames.FORECAST_COLUMNS
    assert forecast.height == len(universe) * 24
    assert sorted(forecast["cell"].unique()) == universe
    assert forecast["date"].unique().to_list() == [DAY]
    assert forecast["model_version"].unique().to_list() == ["1"]
    # Calendar and cell features only: the champion on the day's zero-filled grid.
    grid = nf.fill_zero_cell_hours(
        pl.DataFrame(
            schema={
                "date": pl.Date,
                "hour": pl.Int8,
                "cell": pl.Utf8,
                "incidents": pl.Int32,
                "borough": pl.Utf8,
            }
        ),
        universe,
        [DAY],
    )
    pipeline = reg.champion_pipeline("nyc_incidents")
    by_hand = np.clip(pipeline.predict(grid.select(nf.FEATURE_COLUMNS).to_pandas()), 0, None)
    np.testing.assert_allclose(forecast["expected_incidents"].to_numpy(), by_hand)
    meta = metadata(result, fc.FORECAST)
    assert meta["cells"].value == len(universe)
    assert meta["model_version"].value == "1"
    assert meta["expected_incidents"].value == pytest.approx(by_hand.sum(), abs=1e-3)
    assert meta["map"].value.startswith("![Expected incidents 2023-01-09](data:image/png;base64,")

    # The day comes in; forecasting it again gives the same numbers (nothing of it is read).
    ingest(DAY, DAY)
    assert materialize(fc.nyc_forecast, KEY).success
    assert stored(fc.FORECAST, KEY).equals(forecast)

    result = materialize(fc.nyc_forecast_accuracy, KEY)
    assert result.success
    row = stored(fc.ACCURACY, KEY)
    assert row.schema == pl.Schema(frames.ACCURACY_SCHEMA)
    assert row.columns == [
        "date", "model_version", "poisson_deviance", "rmse", "mae",
        "capture_1pct", "capture_5pct", "incidents", "expected_incidents",
    ]  # fmt: skip
    assert row.height == 1

    # By hand on the stored frames: every forecast cell-hour, 0 where nothing happened.
    features = stored(fc.NYC_FEATURES, KEY)
    observed = {(r["cell"], r["hour"]): r["incidents"] for r in features.iter_rows(named=True)}
    y = [float(observed.get((r["cell"], r["hour"]), 0)) for r in forecast.iter_rows(named=True)]
    mu = [float(v) for v in forecast["expected_incidents"]]
    n = len(y)
    clipped = [max(m, 1e-6) for m in mu]
    deviance = (
        sum(
            2 * ((t * math.log(t / m) if t > 0 else 0.0) - (t - m))
            for t, m in zip(y, clipped, strict=True)
        )
        / n
    )
    got = row.row(0, named=True)
    assert got["date"] == DAY and got["model_version"] == "1"
    assert got["incidents"] == sum(y) > 0
    assert got["expected_incidents"] == pytest.approx(sum(mu))
    assert got["poisson_deviance"] == pytest.approx(deviance)
    assert got["rmse"] == pytest.approx(
        math.sqrt(sum((t - m) ** 2 for t, m in zip(y, mu, strict=True)) / n)
    )
    assert got["mae"] == pytest.approx(sum(abs(t - m) for t, m in zip(y, mu, strict=True)) / n)
    assert got["capture_5pct"] == pytest.approx(hand_capture(y, mu, 0.05))
    assert got["capture_1pct"] == pytest.approx(hand_capture(y, mu, 0.01))
    meta = metadata(result, fc.ACCURACY)
    assert meta["rmse"].value == pytest.approx(got["rmse"], abs=1e-6)
    assert meta["incidents_outside_forecast_cells"].value == features["incidents"].sum() - sum(y)
    assert meta["map"].value.startswith("![Forecast vs actual 2023-01-09](data:image/png;base64,")


def test_capture_share_by_hand_with_ties() -> None:
    y = [5, 0, 3, 1, 1, 0, 0, 0, 0, 0]
    predicted = [0.9, 0.8, 0.8, 0.1, 0.1, 0, 0, 0, 0, 0]
    assert capture_share(y, predicted, 0.1) == pytest.approx(5 / 10)  # k = 1
    # k = 2: 0.9 in full, and the two rows tied at 0.8 share the one slot left: 5 + 3/2.
    assert capture_share(y, predicted, 0.2) == pytest.approx(6.5 / 10)
    assert capture_share(y, predicted, 0.3) == pytest.approx(8 / 10)  # both tied rows fit
    # k = 5: 9 of the 10 incidents in 0.9, 0.8, 0.8, 0.1, 0.1; the zeros tie for nothing.
    assert capture_share(y, predicted, 0.5) == pytest.approx(10 / 10)
    assert capture_share(y, predicted, 0.4) == pytest.approx((8 + 2 / 2) / 10)
    # The answer is the same whatever the order of the rows (no tie broken by position).
    for order in list(permutations(range(3)))[1:]:
        head = [y[i] for i in order] + y[3:]
        head_predicted = [predicted[i] for i in order] + predicted[3:]
        assert capture_share(head, head_predicted, 0.2) == pytest.approx(0.65)
    assert capture_share([1] * 20, [1.0] * 20, 0.05) == pytest.approx(1 / 20)  # 0.05*20 is 1 row
    assert math.isnan(capture_share([0, 0], [0.1, 0.2], 0.5))
    with pytest.raises(ValueError, match="top_fraction"):
        capture_share(y, predicted, 0)


def test_accuracy_without_a_forecast_fails_naming_the_day(state_home) -> None:
    commit_partition(
        settings.storage_root(),
        "nyc",
        KEY,
        {fc.NYC_FEATURES: reg.nyc_features_by_day()["2023-01-02"]},
    )
    result = materialize(fc.nyc_forecast_accuracy, KEY)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "nyc_incidents/forecast: nothing stored for 2023-01-09" in message
    assert not stored_partitions(settings.storage_root(), fc.ACCURACY)


def test_no_champion_skips_the_forecast(empty_mlflow: str) -> None:
    store_training_week()
    result = materialize(fc.nyc_forecast, KEY)
    assert result.success
    assert result.asset_materializations_for_node("nyc_incidents__forecast") == []


def test_map_has_one_hexagon_per_cell_and_is_a_png() -> None:
    cells = nf.cell_universe(reg.nyc_features_by_day()["2023-01-02"])[:30]
    forecast = {c: float(i) for i, c in enumerate(cells)}
    actual = {c: 1.0 for c in cells[:10]}
    fig = maps.hexagon_figure([("forecast", forecast), ("actual", actual)])
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    collections = [[c for c in ax.collections if isinstance(c, PolyCollection)] for ax in panels]
    assert [len(c) for c in collections] == [1, 1]
    (first,), (second,) = collections
    assert len(first.get_paths()) == len(cells) and len(second.get_paths()) == 10
    np.testing.assert_array_equal(first.get_array(), [forecast[c] for c in sorted(cells)])
    assert first.norm.vmax == second.norm.vmax == len(cells) - 1  # one shared scale
    png = maps.hexagon_map([("forecast", forecast)])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000


def test_schedule_asks_for_tomorrow_which_is_a_forecast_partition() -> None:
    from dagster._core.definitions.partitions.context import partition_loading_context

    at = dt.datetime(2024, 3, 10, 18, 0, tzinfo=dt.UTC)
    from accident_assets.nyc_forecast.definitions import defs

    context = dg.build_schedule_context(
        scheduled_execution_time=at,
        repository_def=dg.Definitions.merge(
            defs, dg.Definitions(resources=shared_resources())
        ).get_repository_def(),
    )
    (request,) = fc.nyc_forecast_schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2024-03-11"
    assert fc.nyc_forecast_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with partition_loading_context(effective_dt=at):
        assert NYC_FORECAST_DAILY.get_last_partition_key() == "2024-03-11"
        assert NYC_DAILY.get_last_partition_key() == "2024-03-09"


def test_definitions_load_beside_the_code_location() -> None:
    from accident_assets.definitions import build_defs

    merged = build_defs()
    dg.Definitions.validate_loadable(merged)
    assert (
        fc.FORECAST
        not in merged.resolve_job_def("nyc_training_job").asset_layer.executable_asset_keys
    )
    graph = merged.resolve_asset_graph()
    for key in (fc.FORECAST, fc.ACCURACY):
        assert graph.get(key).group_name == "nyc_incidents_forecast"
    assert merged.resolve_schedule_def("nyc_forecast_schedule").job_name == "nyc_forecast_job"


def test_predict_command_takes_a_start_and_an_end(mlflow_uri: str) -> None:
    """Start/end is one NYC request shape for every client; the command expands it too."""
    import json
    from pathlib import Path

    import h3
    from typer.testing import CliRunner

    from accident_assets.serving.cli import app

    path = Path(__file__).resolve().parents[2] / "examples" / "nyc_start_end.json"
    result = CliRunner().invoke(app, ["--task", "nyc_incidents", "--json", str(path)])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    request = json.loads(path.read_text())
    start, end = (
        h3.latlng_to_cell(request[k]["lat"], request[k]["lon"], 7) for k in ("start", "end")
    )
    assert [p["cell"] for p in body["predictions"]] == list(h3.grid_path_cells(start, end))
    assert body["path"]["cutoff"] == request["cutoff"]
    assert body["path"]["above_cutoff"] == [
        p for p in body["predictions"] if p["expected_incidents"] > request["cutoff"]
    ]


def test_a_forecast_of_a_training_day_takes_no_cell_from_that_day(mlflow_uri: str) -> None:
    """Backfilling the forecast of a day the champion's partitions include: a cell seen only on
    that day is not in the forecast (it would be known only from the day's own incidents)."""
    import h3

    root = settings.storage_root()
    day = "2023-01-05"
    frames = reg.nyc_features_by_day()
    resolution = h3.get_resolution(frames[day]["cell"][0])
    seen = {c for f in frames.values() for c in f["cell"].to_list()}
    # A Staten Island cell with no sample incident on any of the days (the nearest to a point).
    anchor = h3.latlng_to_cell(40.60, -74.15, resolution)
    lone = next(
        c
        for c in sorted(h3.grid_disk(anchor, 6), key=lambda c: (h3.grid_distance(anchor, c), c))
        if c not in seen
    )
    frames[day] = pl.concat(
        [frames[day], frames[day].head(1).with_columns(pl.lit(lone).alias("cell"))]
    )
    for key, frame in frames.items():
        commit_partition(root, "nyc", key, {fc.NYC_FEATURES: frame})

    assert materialize(fc.nyc_forecast, day).success
    assert lone not in stored(fc.FORECAST, day)["cell"].to_list()
