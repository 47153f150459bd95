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
from accident_assets.training.metrics import baseline_f1
from accident_assets.training.mlflow_config import configure_mlflow
from accident_assets.training.tasks import FRANCE, NYC, TaskSpec
from accident_assets_tests.training.lanes import (
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
        ingest_nyc(dt.date(2023, 1, 1), dt.date(2023, 1, 21))
        defs = build_defs()
        instance = dg.DagsterInstance.ephemeral()
        results = {}
        for task, config in (
            (FRANCE, quick_run_config(FRANCE)),
            (NYC, quick_run_config(NYC, validation_days=7)),
        ):
            results[task.name] = defs.resolve_job_def(task.job_name).execute_in_process(
                instance=instance, run_config=config
            )
        yield home, defs, instance, results


def _output(result: dg.ExecuteInProcessResult, task: TaskSpec, *path: str):
    return result.output_for_node(op_name(task.key(*path)))


def test_both_jobs_end_with_a_champion_and_no_running_mlflow_run(trained):
    home, *_, results = trained
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIDENT_ASSETS_HOME", str(home))
        client = configure_mlflow()
        for task in (FRANCE, NYC):
            assert results[task.name].success
            decision = _output(results[task.name], task, "champion")
            assert decision["promoted"], decision
            version = client.get_model_version_by_alias(task.name, "champion")
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
    the 0.5 threshold hardly beats predicting "Priority" for everyone: the champion states which."""
    _, _, _, results = trained
    result = results[FRANCE.name]
    ts = _output(result, FRANCE, "training_set")
    naive = baseline_f1(ts.holdout.get_column(FRANCE.target).to_numpy())
    bar = max(naive["all_positive"], naive["stratified"], naive["majority"])
    comparison: pl.DataFrame = _output(result, FRANCE, "model_comparison")
    assert set(comparison["model"]) == set(FRANCE.candidates)
    assert (comparison["roc_auc"] > 0.6).all(), comparison.select("model", "roc_auc").rows()
    decision = _output(result, FRANCE, "champion")
    assert decision["best_simple_baseline"] == {"all_positive": pytest.approx(bar)}
    assert decision["beats_best_simple_baseline"] == (decision["candidate_score"] > bar)


def test_best_nyc_model_beats_the_seasonal_mean(trained):
    _, _, _, results = trained
    comparison: pl.DataFrame = _output(results[NYC.name], NYC, "model_comparison")
    baseline = comparison.filter(pl.col("model") == "seasonal_mean")["rmse"].item()
    best = comparison.row(0, named=True)
    assert best["model"] != "seasonal_mean" and best["rmse"] < baseline
    assert comparison.height == len(NYC.candidates) + 3


def test_rerun_on_the_same_data_keeps_the_champion(trained):
    home, defs, instance, _ = trained
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIDENT_ASSETS_HOME", str(home))
        client = configure_mlflow()
        before = client.get_model_version_by_alias(NYC.name, "champion").version
        rerun = defs.resolve_job_def(NYC.job_name).execute_in_process(
            instance=instance,
            asset_selection=[NYC.key("champion")],
        )
        decision = _output(rerun, NYC, "champion")
        assert not decision["promoted"]
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
                assert model.threshold == run.data.metrics["threshold"] == 0.5
            else:
                assert model.h3_resolution == int(version.tags["h3_resolution"]) == 7
            # A raw record scores through the registered model as the API scores it with the
            # logged candidate's pipeline.
            record = champion_model.INPUT_EXAMPLES[task.name]
            api = SimpleNamespace(pipeline=logged, threshold=0.5, h3_resolution=7)
            if task is FRANCE:
                expected = score_france(api, france_records(FRANCE_REQUEST.validate_python(record)))
            else:
                expected = score_nyc(api, nyc_points(NYC_REQUEST.validate_python(record)))
            got = served.predict([record]).to_dict(orient="records")
            assert got == [p.as_dict() for p in expected]


def test_comparison_file_and_plots_metadata(trained):
    home, _, instance, _ = trained
    for task in (FRANCE, NYC):
        assert (Path(home) / "storage" / task.name / "model_comparison.parquet").exists()
        event = instance.get_latest_materialization_event(task.key("model_fits", "xgboost"))
        metadata = event.asset_materialization.metadata
        assert any(k.startswith("plot_") for k in metadata)
        assert metadata["plot_feature_importance"].value.startswith(
            "![feature_importance](data:image/png;base64,"
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
                f"tags.kind = 'model_comparison' AND tags.dagster_run_id = '{result.run_id}'",
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
