import dagster as dg
import pandera.polars as pa
import polars as pl
import pytest

from accident_assets.checks import pandera_check
from accident_assets.io_manager import stored_partitions
from accident_assets.resources import AssetStorage, ParquetIOManagerFactory

days = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(partitions_def=days, io_manager_key="parquet_io_manager", key_prefix="demo")
def table(context: dg.AssetExecutionContext) -> pl.DataFrame:
    if context.partition_key == "b" and context.run.tags.get("fail"):
        raise ValueError("bad input for partition b")
    return pl.DataFrame(
        {"part": [context.partition_key], "value": [1 if context.partition_key == "a" else -1]}
    )


schema = pa.DataFrameSchema(
    {"part": pa.Column(str), "value": pa.Column(int, pa.Check.ge(0))}, name="demo_schema"
)
table_check = pandera_check(table, schema, blocking=True)


def _resources(root: str) -> dict:
    return {"parquet_io_manager": ParquetIOManagerFactory(root=root)}


def test_partitions_are_stored_and_listed(tmp_path):
    root = str(tmp_path / "storage")
    for key in ["a", "b"]:
        dg.materialize([table], partition_key=key, resources=_resources(root))
    assert stored_partitions(root, table.key) == ["a", "b"]
    frames = AssetStorage(root=root).read(table.key, ["a", "b"])
    assert frames["b"]["value"].to_list() == [-1]


def test_failed_run_leaves_previous_partition_untouched(tmp_path):
    root = str(tmp_path / "storage")
    dg.materialize([table], partition_key="b", resources=_resources(root))
    before = (tmp_path / "storage" / "demo" / "table" / "b.parquet").read_bytes()
    result = dg.materialize(
        [table],
        partition_key="b",
        resources=_resources(root),
        tags={"fail": "1"},
        raise_on_error=False,
    )
    assert not result.success
    assert (tmp_path / "storage" / "demo" / "table" / "b.parquet").read_bytes() == before
    assert not list((tmp_path / "storage" / "demo" / "table").glob(".*tmp"))


def test_pandera_check_reports_failure_cases(tmp_path):
    root = str(tmp_path / "storage")
    ok = dg.materialize([table, table_check], partition_key="a", resources=_resources(root))
    assert all(e.passed for e in ok.get_asset_check_evaluations())
    bad = dg.materialize(
        [table, table_check], partition_key="b", resources=_resources(root), raise_on_error=False
    )
    [evaluation] = bad.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["failure_count"].value == 1
    assert "greater_than_or_equal_to(0)" in evaluation.metadata["failure_cases"].value


@pytest.mark.parametrize("bucket", ["accident-assets-test"])
def test_parquet_io_manager_on_s3(tmp_path, bucket, moto_s3):
    root = f"s3://{bucket}/storage"
    dg.materialize([table], partition_key="a", resources=_resources(root))
    assert stored_partitions(root, table.key) == ["a"]
