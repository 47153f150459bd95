"""No MLflow run is left RUNNING, whether a fit raises or a step dies between open and close."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from mlflow.tracking import MlflowClient

from accident_assets import settings
from accident_assets.training.mlflow_config import configure_mlflow
from accident_assets.training.tracking import MlflowTracking


def _statuses(client: MlflowClient, experiment: str) -> list[str]:
    exp = client.get_experiment_by_name(experiment)
    return [r.info.status for r in client.search_runs([exp.experiment_id])]


def test_run_that_raises_ends_failed(state_home: Path):
    tracking = MlflowTracking()
    with pytest.raises(RuntimeError), tracking.start_run("t", "boom", {"k": "v"}):
        raise RuntimeError("fit failed")
    assert _statuses(configure_mlflow(), "t") == ["FAILED"]


def test_end_run_terminates_runs_left_open(state_home: Path):
    """What the resource's teardown calls when a step failed outside our context managers."""
    tracking = MlflowTracking()
    opened = tracking.start_run("t2", "left open", {})
    opened.__enter__()
    assert _statuses(configure_mlflow(), "t2") == ["RUNNING"]
    tracking.end_run(status="FAILED")
    assert _statuses(configure_mlflow(), "t2") == ["FAILED"]


def test_failed_fit_asset_leaves_no_running_run(state_home: Path):
    from accident_assets_tests.training.lanes import build_defs, ingest_france

    ingest_france(years=("2021",), accidents=300)
    defs = build_defs()
    job = defs.resolve_job_def("france_training_job")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        partition_key="2021",
        raise_on_error=False,
        # A forest with zero trees raises inside fit, after the MLflow run was opened.
        run_config=dg.RunConfig(
            ops={"france_priority__model_fits__random_forest": {"config": {"n_estimators": 0}}}
        ),
        asset_selection=[
            dg.AssetKey(["france_priority", "training_set"]),
            dg.AssetKey(["france_priority", "model_fits", "random_forest"]),
        ],
    )
    assert not result.success
    statuses = _statuses(configure_mlflow(), "france_priority")
    assert statuses and "RUNNING" not in statuses and "FAILED" in statuses


def test_explicit_tracking_uri_is_where_runs_go(state_home: Path, tmp_path: Path):
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    with MlflowTracking(tracking_uri=elsewhere).start_run("t3", "run", {}):
        pass
    assert _statuses(MlflowClient(elsewhere), "t3") == ["FINISHED"]
    default_store = MlflowClient(f"sqlite:///{settings.mlflow_root() / 'mlflow.db'}")
    assert default_store.get_experiment_by_name("t3") is None


def test_resource_teardown_ends_a_run_a_step_left_open(state_home: Path):
    """A step that opened an MLflow run and never closed it (interrupted between the two): the
    resource's teardown ends it FAILED, without any hook on the job."""
    left_open = []

    @dg.asset
    def leaves_a_run_open(mlflow: MlflowTracking) -> None:
        # Held, so that dropping the context manager does not close the run by itself.
        left_open.append(mlflow.start_run("t4", "interrupted", {}))
        left_open[-1].__enter__()
        raise RuntimeError("interrupted after opening the run")

    result = dg.materialize(
        [leaves_a_run_open],
        resources={"mlflow": MlflowTracking()},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    assert _statuses(configure_mlflow(), "t4") == ["FAILED"]


def test_resource_teardown_leaves_the_callers_run_alone(state_home: Path):
    """A run the caller opened around an in-process job is the caller's to end."""
    import mlflow

    @dg.asset
    def reads_the_registry(mlflow: MlflowTracking) -> None:
        mlflow.client().search_registered_models()

    configure_mlflow()
    with mlflow.start_run(run_name="the caller's") as callers:
        result = dg.materialize(
            [reads_the_registry],
            resources={"mlflow": MlflowTracking()},
            instance=dg.DagsterInstance.ephemeral(),
        )
        assert result.success
        assert mlflow.active_run().info.run_id == callers.info.run_id
    assert configure_mlflow().get_run(callers.info.run_id).info.status == "FINISHED"
