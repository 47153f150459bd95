"""Both training jobs on the sample data, end to end, as the main command runs them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import mlflow
import numpy as np
import polars as pl
import pytest

from accident_assets.serving.predict import score_france, score_nyc
from accident_assets.serving.pyfunc import AccidentModel
from accident_assets.serving.schemas import FRANCE_REQUEST, NYC_REQUEST, france_records, nyc_points
from accident_assets.training import champion_model
from accident_assets.training.factory import op_name
from accident_assets.training.mlflow_config import configure_mlflow
from accident_assets.training.tasks import FRANCE, NYC, TaskSpec
from accident_assets.training.tracking import (
    artifact_url,
    mlflow_ui_url,
    model_version_url,
    run_url,
)
from accident_assets_tests.training.lanes import (
    as_of_tags,
    build_defs,
    ingest_france,
    ingest_nyc,
    quick_run_config,
)

# One worker trains both lanes once for the whole module; under --dist loadgroup the other worker
# would otherwise repeat the module fixture (two trainings competing for two cores).
pytestmark = pytest.mark.xdist_group("training_lanes")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("training_lanes")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIDENT_ASSETS_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        (home / "dagster").mkdir()
        ingest_france()
        # Monday weeks: 2023-01-09 (trained on 8 days) and 2023-01-16 (15 days), the newest.
        ingest_nyc(dt.date(2023, 1, 1), dt.date(2023, 1, 22))
        defs = build_defs()
        instance = dg.DagsterInstance.ephemeral()
        results = {}
        for task, tags in (
            (FRANCE, as_of_tags("2022")),
            (NYC, as_of_tags(*NYC_AS_OF)),
        ):
            results[task.name] = defs.resolve_job_def(task.job_name).execute_in_process(
                instance=instance, run_config=quick_run_config(task), tags=tags
            )
        yield home, defs, instance, results


NYC_AS_OF = ("2023-01-09", "2023-01-16")
NEWEST = {FRANCE.name: "2022", NYC.name: NYC_AS_OF[-1]}


def _output(result: dg.ExecuteInProcessResult, task: TaskSpec, *path: str, as_of: str = ""):
    """An asset's value in a run; of one as-of partition (the newest by default) in a range run."""
    value = result.output_for_node(op_name(task.key(*path)))
    if isinstance(value, dict) and NEWEST[task.name] in value:
        return value[as_of or NEWEST[task.name]]
    return value


def _decision(result: dg.ExecuteInProcessResult, task: TaskSpec, as_of: str = "") -> dict:
    return _output(result, task, "champion", as_of=as_of).row(0, named=True)


def test_both_jobs_end_with_a_champion_and_no_running_mlflow_run(trained):
    home, *_, results = trained
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIDENT_ASSETS_HOME", str(home))
        client = configure_mlflow()
        for task in (FRANCE, NYC):
            assert results[task.name].success
            decision = _decision(results[task.name], task)
            assert decision["promoted"] and decision["newest"], decision
            version = client.get_model_version_by_alias(task.name, "champion")
            assert version.tags["as_of"] == NEWEST[task.name]
            assert version.tags["trained_on_partitions"]
            assert version.tags["feature_fingerprint"]
            run = client.get_run(version.run_id)
            if task is NYC:  # serving builds cells at the resolution the model was trained on
                assert version.tags["h3_resolution"] == run.data.tags["h3_resolution"] == "7"
            assert set(task.metrics) <= set(run.data.metrics)
            assert run.data.tags["dagster_run_id"] == results[task.name].run_id
            experiment = client.get_experiment_by_name(task.name)
            runs = client.search_runs([experiment.experiment_id], max_results=500)
            assert runs and all(r.info.status == "FINISHED" for r in runs)
            # trials are nested under their study
            assert any("mlflow.parentRunId" in r.data.tags for r in runs)


def test_french_models_rank_better_than_chance_and_the_champion_says_if_it_beats_the_baseline(
    trained,
):
    """The sample is calibrated on real accidents, where good models reach ROC AUC ~0.7 but F1 at
    the 0.5 threshold hardly beats predicting "Priority" for everyone: the class-prior baseline
    (everyone Priority) is a candidate on the same holdout, and the decision says who won."""
    _, _, _, results = trained
    result = results[FRANCE.name]
    ts = _output(result, FRANCE, "training_set")
    assert ts.split.startswith("test year 2022") and ts.train_partitions == ("2021",)
    rate = float(ts.holdout.get_column(FRANCE.target).mean())
    comparison: pl.DataFrame = _output(result, FRANCE, "model_comparison")
    assert set(comparison["model"]) == set(FRANCE.candidates)
    prior = comparison.filter(pl.col("model") == "class_prior").row(0, named=True)
    assert prior["baseline"] and prior["f1"] == pytest.approx(2 * rate / (1 + rate))
    models = comparison.filter(~pl.col("baseline"))
    assert (models["roc_auc"] > 0.6).all(), models.select("model", "roc_auc").rows()
    decision = _decision(result, FRANCE)
    best_base = comparison.filter(pl.col("baseline"))["f1"].max()
    assert decision["best_baseline_score"] == pytest.approx(best_base)
    assert decision["best_model_beats_best_baseline"] == (decision["best_model_score"] > best_base)
    assert decision["candidate_is_baseline"] == (not decision["best_model_beats_best_baseline"])


def test_baselines_are_candidates_and_gains_are_against_the_best_one(trained):
    _, _, _, results = trained
    for task in (FRANCE, NYC):
        comparison: pl.DataFrame = _output(results[task.name], task, "model_comparison")
        baselines = comparison.filter(pl.col("baseline"))
        assert set(baselines["model"]) == {m for m, k in task.candidates.items() if k.baseline}, (
            baselines["model"].to_list()
        )
        assert comparison.height == len(task.candidates) + task.top_k
        metric = comparison[task.primary_metric].to_numpy()
        best = (
            baselines[task.primary_metric].max()
            if task.greater_is_better
            else baselines[task.primary_metric].min()
        )
        gain = (metric - best) if task.greater_is_better else (best - metric)
        np.testing.assert_allclose(comparison["vs_best_baseline"].to_numpy(), gain / abs(best))
        assert comparison.filter(pl.col("baseline"))["vs_best_baseline"].max() == pytest.approx(0)


def test_rerun_on_the_same_data_keeps_the_champion(trained):
    home, defs, instance, _ = trained
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIDENT_ASSETS_HOME", str(home))
        client = configure_mlflow()
        before = client.get_model_version_by_alias(NYC.name, "champion").version
        rerun = defs.resolve_job_def(NYC.job_name).execute_in_process(
            instance=instance,
            asset_selection=[NYC.key("champion")],
            partition_key=NYC_AS_OF[-1],
        )
        decision = _decision(rerun, NYC)
        assert decision["newest"] and not decision["promoted"]
        assert decision["candidate_score"] == pytest.approx(decision["champion_score"])
        assert client.get_model_version_by_alias(NYC.name, "champion").version == before


def test_champion_loaded_from_the_registry_predicts_like_the_logged_candidate(trained):
    """The registered version is the serving pyfunc, logged in the winning fit's run around that
    fit's pipeline, with the threshold its metrics were computed at or its cells' resolution."""
    home, _, _, results = trained
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIDENT_ASSETS_HOME", str(home))
        client = configure_mlflow()
        for task in (FRANCE, NYC):
            ts = _output(results[task.name], task, "training_set")
            best = _output(results[task.name], task, "model_comparison").row(0, named=True)
            X, _ = task.xy(ts.holdout.head(200))
            version = client.get_model_version_by_alias(task.name, "champion")
            assert version.run_id == best["mlflow_run_id"]
            uri = f"models:/{task.name}@champion"
            assert set(mlflow.models.get_model_info(uri).flavors) == {"python_function"}
            served = mlflow.pyfunc.load_model(uri)
            model = served.unwrap_python_model()
            assert isinstance(model, AccidentModel) and model.task == task.name
            logged = mlflow.sklearn.load_model(best["model_uri"])
            np.testing.assert_allclose(task.predict(model.pipeline, X), task.predict(logged, X))
            assert list(X.columns) == task.feature_columns
            run = client.get_run(best["mlflow_run_id"])
            if task is FRANCE:
                assert model.threshold == run.data.metrics["threshold"]
            else:
                assert model.h3_resolution == int(version.tags["h3_resolution"]) == 7
            # A raw record scores through the registered model as the API scores it with the
            # logged candidate's pipeline.
            record = champion_model.INPUT_EXAMPLES[task.name]
            api = SimpleNamespace(pipeline=logged, threshold=model.threshold, h3_resolution=7)
            if task is FRANCE:
                expected = score_france(api, france_records(FRANCE_REQUEST.validate_python(record)))
            else:
                expected = score_nyc(api, nyc_points(NYC_REQUEST.validate_python(record)))
            got = served.predict([record]).to_dict(orient="records")
            assert got == [p.as_dict() for p in expected]


def test_comparison_file_and_plots_metadata(trained):
    home, _, instance, _ = trained
    for task in (FRANCE, NYC):
        stored = Path(home) / "storage" / task.name / "model_comparison"
        assert (stored / f"{NEWEST[task.name]}.parquet").exists()
        [record] = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                task.key("model_fits", "xgboost"), asset_partitions=[NEWEST[task.name]]
            ),
            limit=1,
        ).records
        metadata = record.asset_materialization.metadata
        assert any(k.startswith("plot_") for k in metadata)
        run_id = _output(trained[3][task.name], task, "model_fits", "xgboost").run_id
        # Shown in place from the MLflow UI (linked to the run), and embedded for when it is down.
        assert metadata["plot_feature_importance"].value.startswith(
            f"[![feature_importance]({artifact_url(run_id, 'plots/feature_importance.png')})]"
        )
        assert metadata["plot_feature_importance_embedded"].value.startswith(
            "![feature_importance](data:image/png;base64,"
        )
        assert f"/runs/{run_id}?" in metadata["mlflow_run"].value
        assert metadata["mlflow_model"].value.startswith(f"{mlflow_ui_url()}/#/experiments/")
        if task is NYC:  # calibration: header, rule and one row per decile of the prediction
            lines = metadata["calibration"].value.splitlines()
            assert (
                lines[0] == "| bin | rows | mean_predicted | mean_observed |" and len(lines) == 12
            )


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What a reviewer looks for in a fit's MLflow run (fitting.diagnostic_plots); ROC and PR share one
# figure. Feature importance only comes with estimators that have importances of their own.
FIT_PLOTS = {
    FRANCE.name: {"confusion_matrix", "roc_pr_curves"},
    NYC.name: {"predicted_vs_actual", "error_by_hour"},
}


def test_comparison_table_and_plots_are_mlflow_artifacts(trained, tmp_path):
    home, _, _, results = trained
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIDENT_ASSETS_HOME", str(home))
        client = configure_mlflow()
        for task in (FRANCE, NYC):
            result = results[task.name]
            comparison: pl.DataFrame = _output(result, task, "model_comparison")
            experiment = client.get_experiment_by_name(task.name)
            [comparison_run] = client.search_runs(
                [experiment.experiment_id],
                f"tags.kind = 'model_comparison' AND tags.dagster_run_id = '{result.run_id}' "
                f"AND tags.as_of = '{NEWEST[task.name]}'",
            )
            run_id = comparison_run.info.run_id
            logged = {a.path for a in client.list_artifacts(run_id)}
            assert {"model_comparison.csv", "model_comparison.parquet"} <= logged, logged
            # The artifacts are this run's table, not merely files with the right names.
            ranked = ["model", "variant", "mlflow_run_id"]
            for name, read in (("csv", pl.read_csv), ("parquet", pl.read_parquet)):
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id,
                    artifact_path=f"model_comparison.{name}",
                    dst_path=str(tmp_path / task.name),
                )
                assert read(local).select(ranked).rows() == comparison.select(ranked).rows()
            assert "plots/comparison.png" in {
                a.path for a in client.list_artifacts(run_id, "plots")
            }

            # The tuned winner may be one without importances (NYC's hist_gradient_boosting).
            for fit, names in (
                (
                    _output(result, task, "model_fits", "xgboost"),
                    FIT_PLOTS[task.name] | {"feature_importance"},
                ),
                (_output(result, task, "tuned_fits", "top1"), FIT_PLOTS[task.name]),
            ):
                plots = {a.path for a in client.list_artifacts(fit.run_id, "plots")}
                expected = {f"plots/{name}.png" for name in names}
                assert expected <= plots, (task.name, fit.model, fit.variant, plots)
                for path in expected:
                    local = mlflow.artifacts.download_artifacts(
                        run_id=fit.run_id, artifact_path=path, dst_path=str(tmp_path / fit.run_id)
                    )
                    assert Path(local).read_bytes().startswith(PNG_SIGNATURE), path


def test_each_as_of_partition_reads_only_the_days_before_its_week_and_the_week(trained):
    _, _, instance, results = trained
    for as_of in NYC_AS_OF:
        ts = _output(results[NYC.name], NYC, "training_set", as_of=as_of)
        week = [str(dt.date.fromisoformat(as_of) + dt.timedelta(days=i)) for i in range(7)]
        assert ts.holdout_partitions == tuple(week)
        assert ts.train_partitions and max(ts.train_partitions) < as_of
        assert ts.partitions == (*ts.train_partitions, *week)
        assert ts.train.get_column("date").max() < dt.date.fromisoformat(as_of)
        assert sorted({str(d) for d in ts.holdout.get_column("date").unique()}) == week
        assert ts.newest == (as_of == NYC_AS_OF[-1])
        # Each partition's materialization carries its own window, not the run's.
        event = instance.get_latest_materialization_event(NYC.key("training_set"))
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(NYC.key("training_set"), asset_partitions=[as_of]), limit=1
        ).records
        metadata = records[0].asset_materialization.metadata
        assert metadata["holdout_partitions"].value == week, (as_of, event)
    # 2023-01-09 trains on 2023-01-01..08 only: never on its own week or a later one.
    first = _output(results[NYC.name], NYC, "training_set", as_of=NYC_AS_OF[0])
    assert first.train_partitions == tuple(f"2023-01-0{d}" for d in range(1, 9))


def test_a_backtest_partition_never_moves_the_alias(trained):
    home, defs, instance, results = trained
    older = _decision(results[NYC.name], NYC, as_of=NYC_AS_OF[0])
    assert older["backtest"] and not older["promoted"] and older["decision"] == "backtest"
    assert "not the newest" in older["reason"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIDENT_ASSETS_HOME", str(home))
        client = configure_mlflow()
        before = client.get_model_version_by_alias(NYC.name, "champion")
        versions = len(client.search_model_versions(f"name = '{NYC.name}'"))
        # Re-judging the older week alone, even with no margin, is still a backtest.
        rerun = defs.resolve_job_def(NYC.job_name).execute_in_process(
            instance=instance,
            asset_selection=[NYC.key("champion")],
            partition_key=NYC_AS_OF[0],
            run_config={"ops": {op_name(NYC.key("champion")): {"config": {"margin": 0.0}}}},
        )
        assert _decision(rerun, NYC)["backtest"]
        after = client.get_model_version_by_alias(NYC.name, "champion")
        assert after.version == before.version and after.tags["as_of"] == NYC_AS_OF[-1]
        assert len(client.search_model_versions(f"name = '{NYC.name}'")) == versions


def test_performance_history_covers_every_as_of_partition(trained):
    _, _, instance, results = trained
    history: pl.DataFrame = _output(results[NYC.name], NYC, "performance_history")
    assert sorted(history["as_of"].unique()) == list(NYC_AS_OF)
    per_partition = history.group_by("as_of").agg(pl.len(), pl.col("is_candidate").sum())
    assert per_partition["len"].to_list() == [len(NYC.candidates) + NYC.top_k] * 2
    assert per_partition["is_candidate"].to_list() == [1, 1]
    promoted = history.filter(pl.col("promoted"))
    assert promoted["as_of"].to_list() == [NYC_AS_OF[-1]]
    metadata = instance.get_latest_materialization_event(
        NYC.key("performance_history")
    ).asset_materialization.metadata
    backtest = {
        r.data["model"]: r.data
        for r in metadata["backtest"].value.records
        if r.data["variant"] == "default"
    }
    lgbm = history.filter((pl.col("model") == "lightgbm") & (pl.col("variant") == "default"))
    assert backtest["lightgbm"]["partitions"] == 2
    assert backtest["lightgbm"]["mean"] == pytest.approx(lgbm[NYC.primary_metric].mean(), abs=1e-5)
    assert backtest["lightgbm"]["spread"] == pytest.approx(lgbm[NYC.primary_metric].std(), abs=1e-5)
    assert metadata["plot_history"].value.startswith("![history](data:image/png;base64,")


def test_forecast_accuracy_is_part_of_the_nyc_history(trained):
    from accident_assets.nyc_forecast import assets as forecast
    from accident_assets.resources import shared_resources

    home, defs, instance, _ = trained
    day = "2023-01-22"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIDENT_ASSETS_HOME", str(home))
        for asset in (forecast.nyc_forecast, forecast.nyc_forecast_accuracy):
            assert dg.materialize(
                [asset], partition_key=day, resources=shared_resources(), instance=instance
            ).success
        rerun = defs.resolve_job_def(NYC.job_name).execute_in_process(
            instance=instance,
            asset_selection=[NYC.key("performance_history")],
            partition_key=NYC_AS_OF[-1],
        )
    assert rerun.success
    metadata = instance.get_latest_materialization_event(
        NYC.key("performance_history")
    ).asset_materialization.metadata
    assert metadata["forecast_days"].value == 1
    [row] = [r.data for r in metadata["forecast_accuracy"].value.records]
    assert row["date"] == day and row["model_version"] == "1"
    assert 0 <= row["capture_5pct"] <= 1 and row["poisson_deviance"] > 0
    assert metadata["plot_forecast_accuracy"].value.startswith("![forecast_accuracy](data:")


def test_the_champion_shows_its_links_and_the_winners_plots(trained):
    home, _, instance, _ = trained
    for task, first_plot in ((FRANCE, "confusion_matrix"), (NYC, "predicted_vs_actual")):
        [record] = instance.fetch_materializations(
            dg.AssetRecordsFilter(task.key("champion"), asset_partitions=[NEWEST[task.name]]),
            limit=1,
        ).records
        metadata = record.asset_materialization.metadata
        run_id = metadata["mlflow_run"].value.split("?")[0].rsplit("/", 1)[-1]
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("ACCIDENT_ASSETS_HOME", str(home))
            run = configure_mlflow().get_run(run_id)
        assert metadata["mlflow_run"].value == run_url(run.info.experiment_id, run_id)
        assert metadata["candidate"].value.startswith(run.data.tags["model"])
        assert metadata["champion_model_version"].value == (
            model_version_url(task.name, metadata["champion_version"].value)
        )
        winner = metadata["winning_fit"].value
        assert winner.to_user_string() == run.data.tags["dagster_asset_key"]
        assert winner.path[1] in ("model_fits", "tuned_fits")
        names = [first_plot]
        if not task.candidates[run.data.tags["model"]].baseline:  # a baseline may have none
            names.append("feature_importance")
        for name in names:
            assert artifact_url(run_id, f"plots/{name}.png") in metadata[f"plot_{name}"].value
            assert metadata[f"plot_{name}_embedded"].value.startswith(f"![{name}](data:image/png")
