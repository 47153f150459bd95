import errno
import io
import os
import uuid

import dagster as dg
import pandera.polars as pa
import polars as pl
import pytest
from upath import UPath

from accident_assets.checks import pandera_check
from accident_assets.io_manager import stored_partitions
from accident_assets.resources import AssetStorage, ParquetIOManagerFactory

days = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(partitions_def=days, io_manager_key="parquet_io_manager", key_prefix="demo")
def table(context: dg.AssetExecutionContext) -> pl.DataFrame:
    return pl.DataFrame(
        {"part": [context.partition_key], "value": [1 if context.partition_key == "a" else -1]}
    )


schema = pa.DataFrameSchema(
    {"part": pa.Column(str), "value": pa.Column(int, pa.Check.ge(0))}, name="demo_schema"
)
table_check = pandera_check(table, schema, blocking=True)


@pytest.fixture
def s3_root(moto_s3):
    """An empty storage root on moto's S3, one per test.

    moto keeps its buckets in process memory across servers, hence a fresh prefix each time; and
    fsspec caches one S3 filesystem per set of options while the endpoint comes from the
    environment, so a filesystem cached by an earlier test would point at its stopped server."""
    from s3fs import S3FileSystem

    S3FileSystem.clear_instance_cache()
    yield f"s3://accident-assets-test/{uuid.uuid4().hex}/storage"
    S3FileSystem.clear_instance_cache()


def _resources(root: str) -> dict:
    return {"parquet_io_manager": ParquetIOManagerFactory(root=root)}


def test_partitions_are_stored_and_listed(tmp_path):
    root = str(tmp_path / "storage")
    for key in ["a", "b"]:
        dg.materialize([table], partition_key=key, resources=_resources(root))
    assert stored_partitions(root, table.key) == ["a", "b"]
    frames = AssetStorage(root=root).read(table.key, ["a", "b"])
    assert frames["b"]["value"].to_list() == [-1]


def _crash_halfway_through_the_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polars writes the first half of the real Parquet bytes to its destination, then fails as a
    full disk or a dropped connection would; everything above the writer (the IO manager, its
    temp file and rename, UPath) stays real."""
    write_parquet = pl.DataFrame.write_parquet

    def crashing_write_parquet(frame: pl.DataFrame, file, *args, **kwargs) -> None:
        encoded = io.BytesIO()
        write_parquet(frame, encoded)
        half = encoded.getvalue()[: len(encoded.getvalue()) // 2]
        if isinstance(file, str | os.PathLike):
            with open(file, "wb") as fh:
                fh.write(half)
        else:
            file.write(half)
        raise OSError(errno.ENOSPC, "injected: no space left halfway through the Parquet write")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", crashing_write_parquet)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_write_crashing_midway_leaves_previous_partition_untouched(
    tmp_path, backend, request, monkeypatch
):
    root = request.getfixturevalue("s3_root") if backend == "s3" else str(tmp_path / "storage")
    folder = UPath(root) / "demo" / "table"
    dg.materialize([table], partition_key="b", resources=_resources(root))
    before = (folder / "b.parquet").read_bytes()

    _crash_halfway_through_the_write(monkeypatch)
    result = dg.materialize(
        [table], partition_key="b", resources=_resources(root), raise_on_error=False
    )

    assert not result.success
    # The step failed in the IO manager's write, not anywhere before it.
    [failure] = result.get_step_failure_events()
    assert "injected: no space left" in str(failure.step_failure_data.error)
    assert (folder / "b.parquet").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["b.parquet"]  # no temp file left behind


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


def test_parquet_io_manager_on_s3(s3_root):
    root = s3_root
    dg.materialize([table], partition_key="a", resources=_resources(root))
    assert stored_partitions(root, table.key) == ["a"]


three = dg.StaticPartitionsDefinition(["a", "b", "c"])


@dg.asset(
    partitions_def=three,
    io_manager_key="parquet_io_manager",
    key_prefix="demo",
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def ranged(context: dg.AssetExecutionContext) -> dict[str, pl.DataFrame]:
    # Partition "a" has 1 row, "b" 2, "c" 3.
    return {
        key: pl.DataFrame({"value": list(range(" abc".index(key)))})
        for key in context.partition_keys
    }


def test_a_range_run_records_each_partitions_own_row_count(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [ranged],
        instance=instance,
        resources={"parquet_io_manager": ParquetIOManagerFactory(root=str(tmp_path))},
        tags={
            "dagster/asset_partition_range_start": "a",
            "dagster/asset_partition_range_end": "c",
        },
    )
    assert result.success
    rows = {
        m.partition: m.metadata["dagster/row_count"].value
        for m in result.asset_materializations_for_node("demo__ranged")
    }
    # Not the run's total (6) on every partition.
    assert rows == {"a": 1, "b": 2, "c": 3}
    schema = result.asset_materializations_for_node("demo__ranged")[0].metadata
    assert "dagster/column_schema" in schema
