"""The code location as a whole: what every asset declares, and how a selection runs."""

from __future__ import annotations

import dagster as dg

from accident_assets.definitions import build_defs


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
