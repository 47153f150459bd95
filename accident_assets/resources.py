"""Resources shared by every domain: asset storage, the IO managers built on it, and the base
class of the source resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import dagster as dg
from dagster._core.definitions.definition_config_schema import DefinitionConfigSchema
from pydantic import ConfigDict

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
from accident_assets.settings import Settings, get_settings

if TYPE_CHECKING:
    import polars as pl


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


def shared_resources(settings: Settings | None = None) -> dict[str, object]:
    """Asset storage and the IO managers every domain uses, rooted where ``settings`` (by default
    the environment's) say."""
    settings = settings or get_settings()
    return {
        "parquet_io_manager": ParquetIOManagerFactory(root=settings.storage_root),
        "io_manager": PickleIOManagerFactory(root=settings.pickle_root),
        "asset_storage": AssetStorage(root=settings.storage_root),
    }


class SourceResource(dg.ConfigurableResource):
    """Base of a source interface (``NycSource``, ``FranceSource``) with one subclass per backend.

    The interface class names its backends in ``bind`` and cannot itself be bound. A field of
    another backend is an error, as it is in run config, not silently dropped.
    """

    model_config = ConfigDict(extra="forbid")
    bind: ClassVar[str] = ""

    def __init__(self, **data: Any) -> None:
        if "bind" in type(self).__dict__:
            raise TypeError(f"{type(self).__name__} is the interface; bind {type(self).bind}")
        super().__init__(**data)
        # Dagster makes the bound values the default of the *whole* config dict, so a run config
        # naming one field resets every other field to its class default (a loopback or proxy
        # base_url back to production, a tuned retry count back to 5). Make each bound value the
        # default of its own field instead, so run config only changes what it names.
        state = self._state__internal__
        bound = state.resolved_config_dict
        fields = {
            name: dg.Field(
                field.config_type,
                default_value=bound[name],
                is_required=False,
                description=field.description,
            )
            if name in bound
            else field
            for name, field in state.schema.config_type.fields.items()
        }
        schema = dg.Field(dg.Shape(fields), is_required=False)
        self._state__internal__ = state._replace(config_schema=DefinitionConfigSchema(schema))
