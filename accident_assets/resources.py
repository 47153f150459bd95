"""Resources shared by every domain: asset storage and the IO managers built on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import polars as pl

from accident_assets import settings
from accident_assets.io_manager import (
    Commit,
    ParquetIOManager,
    PickleIOManager,
    commit_partition,
    current_commit,
    read_partitions,
    stored_partitions,
    stored_versions,
)


class AssetStorage(dg.ConfigurableResource):
    """Read access to stored partitions, for assets that gather whatever partitions exist.

    Loading ``AllPartitionMapping`` through the IO manager would expect every partition since the
    start date and fail on gaps; this reads only what is there.
    """

    root: str

    def partitions(self, asset_key: dg.AssetKey) -> list[str]:
        return stored_partitions(self.root, asset_key)

    def versions(self, asset_key: dg.AssetKey) -> dict[str, str]:
        return stored_versions(self.root, asset_key)

    def read(self, asset_key: dg.AssetKey, keys: list[str]) -> dict[str, pl.DataFrame]:
        return read_partitions(self.root, asset_key, keys)

    def commit(
        self,
        lane: str,
        partition: str,
        tables: Mapping[dg.AssetKey, pl.DataFrame],
        source: Mapping[str, Any] | None = None,
    ) -> Commit:
        """Store the validated tables of one partition of a lane together (all or nothing)."""
        return commit_partition(self.root, lane, partition, tables, source=source)

    def current(self, lane: str, partition: str) -> Commit | None:
        return current_commit(self.root, lane, partition)


class ParquetIOManagerFactory(dg.ConfigurableIOManagerFactory):
    root: str

    def create_io_manager(self, context: dg.InitResourceContext) -> ParquetIOManager:
        from upath import UPath

        return ParquetIOManager(base_path=UPath(self.root))


class PickleIOManagerFactory(dg.ConfigurableIOManagerFactory):
    """Python objects (training sets, fits); unlike Dagster's FilesystemIOManager it stores a run
    over several partitions, which the training lanes' backtests are."""

    root: str

    def create_io_manager(self, context: dg.InitResourceContext) -> PickleIOManager:
        from upath import UPath

        return PickleIOManager(base_path=UPath(self.root))


def shared_resources() -> dict[str, object]:
    """Resources every domain uses; paths come from the state directory at load time."""
    root = settings.storage_root()
    return {
        "parquet_io_manager": ParquetIOManagerFactory(root=root),
        "io_manager": PickleIOManagerFactory(root=settings.pickle_root()),
        "asset_storage": AssetStorage(root=root),
    }
