"""The code location as a whole: what every asset declares, and how a selection runs."""

from __future__ import annotations

import dagster as dg

from accident_assets.definitions import build_defs


def test_every_asset_has_an_owner_a_domain_and_a_stage():
    graph = build_defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners in (["team:data"], ["team:ml"]), key
        assert node.tags.get("domain") in ("france", "nyc"), key
        assert node.tags.get("stage"), key


def test_an_asset_selection_runs_in_one_process_as_the_jobs_do():
    """The UI's Materialize button and `dg launch --assets` run the implicit asset job, whose
    executor is the code location's default: one process per step made them 8-11x slower."""
    defs = build_defs()
    assert defs.executor is dg.in_process_executor
    implicit = defs.resolve_implicit_global_asset_job_def()
    assert implicit.executor_def is dg.in_process_executor
