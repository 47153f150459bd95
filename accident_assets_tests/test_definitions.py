"""The code location as a whole: what every asset declares, and how a selection runs."""

from __future__ import annotations

import dagster as dg
import dagster_celery
import dagster_k8s
import pytest

from accident_assets.definitions import build_defs
from accident_assets.settings import ExecutorName, Settings


def test_every_asset_has_an_owner_a_domain_and_a_stage():
    graph = build_defs().resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert len(keys) > 40
    for key in keys:
        node = graph.get(key)
        assert node.tags.get("domain") in ("france", "nyc"), key
        assert node.tags.get("stage"), key
        if key.path[0] in ("france", "nyc"):  # the ingest lanes
            assert node.owners == ["team:data"], key
        else:  # a task's models, monitoring, predictions and forecasts
            assert node.owners == ["team:ml"] and node.tags["task"] == key.path[0], key


def test_an_asset_selection_runs_in_one_process_as_the_jobs_do():
    """The UI's Materialize button and `dg launch --assets` run the implicit asset job, whose
    executor is the code location's default: one process per step made them 8-11x slower."""
    defs = build_defs()
    assert defs.executor is dg.in_process_executor
    implicit = defs.resolve_implicit_global_asset_job_def()
    assert implicit.executor_def is dg.in_process_executor


def test_the_training_jobs_run_in_process_by_default():
    assert Settings.model_fields["executor"].default == "in_process"
    defs = build_defs(Settings(executor="in_process"))
    for job in ("france_training_job", "nyc_training_job"):
        assert defs.resolve_job_def(job).executor_def is dg.in_process_executor


@pytest.mark.parametrize(
    ("name", "executor"),
    [
        ("multiprocess", dg.multiprocess_executor),
        ("k8s", dagster_k8s.k8s_job_executor),
        ("celery", dagster_celery.celery_executor),
    ],
)
def test_the_executor_setting_moves_only_the_training_jobs(
    name: ExecutorName, executor: dg.ExecutorDefinition
):
    """The fit steps are long and independent: they go where the deployment says. Ingest,
    forecast and asset selections keep one process: their steps are shorter than a pod's start."""
    defs = build_defs(Settings(executor=name))
    for job in ("france_training_job", "nyc_training_job"):
        chosen = defs.resolve_job_def(job).executor_def
        # The celery one is configured (broker from the environment): the same executor inside.
        assert chosen.executor_creation_fn is executor.executor_creation_fn, job
    for job in ("france_ingest_job", "nyc_ingest_job", "nyc_forecast_job"):
        assert defs.resolve_job_def(job).executor_def is dg.in_process_executor, job
    assert defs.executor is dg.in_process_executor
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor
