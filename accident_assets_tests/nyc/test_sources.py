"""One resource class per NYC backend: run config tunes the bound backend, never switches it."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from accident_assets.nyc.sources import (
    CsvExportNycSource,
    DayStat,
    NycSource,
    SampleNycSource,
    SocrataNycSource,
    source_from_settings,
)
from accident_assets.settings import get_settings
from accident_assets_tests.nyc.soql_server import SoqlServer

DAY = dt.date(2023, 1, 5)


def run_with(source: NycSource, config: dict) -> tuple[dg.ExecuteInProcessResult, dict]:
    seen: dict = {}

    @dg.asset
    def day_rows(nyc_source: NycSource) -> int:
        seen["source"] = nyc_source
        return len(nyc_source.fetch_day(DAY))

    defs = dg.Definitions(assets=[day_rows], resources={"nyc_source": source})
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        run_config={"resources": {"nyc_source": {"config": config}}}
    )
    return result, seen


def test_partial_run_config_keeps_the_bound_backend_and_its_other_fields(soql_server: SoqlServer):
    bound = SocrataNycSource(base_url=soql_server.url, retries=1, backoff_factor=0.01)
    result, seen = run_with(bound, {"page_size": 50})
    assert result.output_for_node("day_rows") == 2500
    source = seen["source"]
    assert type(source) is SocrataNycSource
    # Dagster alone would reset every field the run config does not name to its class default
    # (base_url back to the production API): the loopback server answering proves it did not.
    assert (source.base_url, source.page_size, source.retries) == (soql_server.url, 50, 1)
    pages = [r for r in soql_server.requests if "$offset" in r.params]
    assert len(pages) == 51 and {r.params["$limit"] for r in pages} == {"50"}


def test_a_field_of_another_backend_is_rejected(soql_server: SoqlServer):
    bound = SocrataNycSource(base_url=soql_server.url)
    for config in ({"path": "/tmp/exports"}, {"seed": 3}, {"backend": "sample"}):
        with pytest.raises(
            dg.DagsterInvalidConfigError, match=f'unexpected config entry "{next(iter(config))}"'
        ):
            run_with(bound, config)
    assert soql_server.requests == []


def test_build_resources_with_partial_config_keeps_the_sample_backend():
    with dg.build_resources(
        {"nyc_source": SampleNycSource(last_day="2023-01-04")},
        resource_config={"nyc_source": {"config": {"seed": 3}}},
    ) as resources:
        source = resources.nyc_source
    assert type(source) is SampleNycSource and (source.seed, source.last_day) == (3, "2023-01-04")
    assert source.fetch_day(DAY) == []  # still stops at the bound last day


@pytest.mark.parametrize(
    ("env", "cls", "described"),
    [
        ({}, SampleNycSource, "sample seed 7"),
        (
            {
                "ACCIDENT_ASSETS_NYC_SOURCE": "socrata",
                "ACCIDENT_ASSETS_NYC_SOCRATA_URL": "http://127.0.0.1:9/x.json",
            },
            SocrataNycSource,
            "socrata http://127.0.0.1:9/x.json",
        ),
        (
            {
                "ACCIDENT_ASSETS_NYC_SOURCE": "csv_export",
                "ACCIDENT_ASSETS_NYC_CSV": "/data/exports",
            },
            CsvExportNycSource,
            "csv_export /data/exports",
        ),
    ],
)
def test_source_from_settings_binds_the_backend_class(monkeypatch, env, cls, described):
    for name in (
        "ACCIDENT_ASSETS_NYC_SOURCE",
        "ACCIDENT_ASSETS_NYC_SOCRATA_URL",
        "ACCIDENT_ASSETS_NYC_CSV",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    source = source_from_settings(get_settings())
    assert type(source) is cls and source.describe() == described


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ACCIDENT_ASSETS_NYC_SOURCE": "csv_export"}, "needs ACCIDENT_ASSETS_NYC_CSV"),
        (
            {"ACCIDENT_ASSETS_NYC_SOURCE": "ftp"},
            "ACCIDENT_ASSETS_NYC_SOURCE='ftp': Input should be 'sample', 'socrata' or 'csv_export'",
        ),
    ],
)
def test_source_from_settings_refuses_incomplete_or_unknown_backends(monkeypatch, env, message):
    monkeypatch.delenv("ACCIDENT_ASSETS_NYC_CSV", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        source_from_settings(get_settings())


def test_sample_day_stats_follow_its_rows():
    source = SampleNycSource(last_day="2023-01-06")
    stats = source.day_stats(dt.date(2023, 1, 1), dt.date(2023, 1, 10))
    assert sorted(stats) == [dt.date(2023, 1, d) for d in range(1, 7)]  # nothing after last_day
    rows = source.fetch_day(DAY)
    located = sum(bool(r.get("latitude")) for r in rows)
    assert stats[DAY] == DayStat(count=len(rows), geocoded=located, updated_at=None)
    assert 0 < located < len(rows)  # the sample, like the city, has crashes without a point


def test_the_interface_cannot_be_bound_and_foreign_fields_are_errors():
    with pytest.raises(TypeError, match="NycSource is the interface; bind SampleNycSource"):
        NycSource()
    with pytest.raises(ValueError, match="path\n  Extra inputs are not permitted"):
        SocrataNycSource(path="/tmp/exports")
