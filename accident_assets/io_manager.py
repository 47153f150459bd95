"""Parquet per partition, on a local folder or ``s3://`` through universal-pathlib.

``dagster-polars`` breaks on polars 2.x, and this is all we need from it: one file per partition,
written atomically so that a failed or interrupted write never replaces a good partition.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping
from typing import Any

import dagster as dg
import polars as pl
from upath import UPath


class ParquetIOManager(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame, path: UPath) -> None:
        write_parquet_atomic(obj, path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame:
        return pl.read_parquet(path)

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, dg.RawMetadataValue]:
        if not isinstance(obj, pl.DataFrame):
            return {}
        return {
            "dagster/row_count": obj.height,
            "dagster/column_schema": table_schema(obj),
        }

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        # A single-run backfill hands us {partition_key: frame}; write each partition on its own.
        if context.has_asset_partitions and len(context.asset_partition_keys) > 1:
            if not isinstance(obj, Mapping):
                raise TypeError(
                    f"{context.asset_key.to_user_string()}: a run over several partitions must "
                    "return a dict of partition key to DataFrame"
                )
            paths = self._get_paths_for_partitions(context)
            for key, frame in obj.items():
                self.make_directory(paths[key].parent)
                self.dump_to_path(context, frame, paths[key])
            context.add_output_metadata(
                {"dagster/row_count": sum(frame.height for frame in obj.values())}
            )
            return
        super().handle_output(context, obj)


def write_parquet_atomic(frame: pl.DataFrame, path: UPath) -> None:
    """Write next to the target, then rename: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.protocol in ("", "file", "local"):
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            frame.write_parquet(tmp.path)
            tmp.rename(path)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        # An object store publishes an object in one PUT. Serializing first means a failure
        # while writing never reaches the store (a file handle would upload what it has on close).
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        path.write_bytes(buffer.getvalue())


def table_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
    )


def asset_storage_path(root: str, asset_key: dg.AssetKey) -> UPath:
    return UPath(root).joinpath(*asset_key.path)


def stored_partitions(root: str, asset_key: dg.AssetKey) -> list[str]:
    """Partition keys of ``asset_key`` present in storage, sorted."""
    folder = asset_storage_path(root, asset_key)
    if not folder.exists():
        return []
    return sorted(p.name.removesuffix(".parquet") for p in folder.glob("*.parquet"))


def read_partitions(root: str, asset_key: dg.AssetKey, keys: list[str]) -> dict[str, pl.DataFrame]:
    folder = asset_storage_path(root, asset_key)
    return {key: pl.read_parquet(folder / f"{key}.parquet") for key in keys}
