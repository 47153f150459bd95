"""Parquet per partition, on a local folder or ``s3://`` through universal-pathlib.

``dagster-polars`` breaks on polars 2.x, and this is all we need from it: one file per partition,
written atomically so that a failed or interrupted write never replaces a good partition. The
ingestion lanes go one step further (see "Committed partitions" below): the tables of one
partition are validated in memory and committed together through a manifest.

polars is imported where a frame is read: the resources built on this module are defined when the
code location loads, which must not load polars (a frame to write already has it loaded).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import pickle
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import dagster as dg
from upath import UPath

from accident_assets.checks import column_schema

if TYPE_CHECKING:
    import polars as pl


class ManyPartitionsIOManager(dg.UPathIOManager):
    """A UPath IO manager that also stores a run over several partitions (a single-run backfill):
    the asset returns ``{partition_key: value}`` and each partition is written on its own."""

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if context.has_asset_partitions and len(context.asset_partition_keys) > 1:
            if not isinstance(obj, Mapping) or set(obj) != set(context.asset_partition_keys):
                raise TypeError(
                    f"{context.asset_key.to_user_string()}: a run over several partitions must "
                    "return a dict with one value per partition key"
                )
            paths = self._get_paths_for_partitions(context)
            for key, value in obj.items():
                self.make_directory(paths[key].parent)
                self.dump_to_path(context, value, paths[key])
                # Output metadata lands on every partition's materialization alike; a partition's
                # row count and schema are its own.
                metadata = self.get_metadata(context, value)
                if metadata:
                    context.step_context.add_asset_metadata(
                        metadata, asset_key=context.asset_key, partition_key=key
                    )
            return
        super().handle_output(context, obj)


class ParquetIOManager(ManyPartitionsIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame, path: UPath) -> None:
        write_parquet_atomic(obj, path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame:
        return read_parquet(path)

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, dg.RawMetadataValue]:
        import polars as pl

        if not isinstance(obj, pl.DataFrame):
            return {}
        return {
            "dagster/row_count": obj.height,
            "dagster/column_schema": column_schema(obj.schema),
        }

    def load_input(self, context: dg.InputContext) -> Any:
        # A lane's tables are read through their commit, never from a half-switched file set.
        if committed_lane(context.asset_key) is None:
            return super().load_input(context)
        keys = context.asset_partition_keys if context.has_asset_partitions else []
        root = str(self._base_path)
        frames = {key: read_committed(root, context.asset_key, key) for key in keys}
        return frames[keys[0]] if len(keys) == 1 else frames

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None and committed_lane(context.asset_key) is not None:
            return  # the asset committed its partition itself, after validating it
        super().handle_output(context, obj)


class PickleIOManager(ManyPartitionsIOManager):
    """Python objects (fits, training sets), pickled; written atomically like the Parquet files."""

    extension = ".pkl"

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        _write_bytes_atomic(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        with path.open("rb") as file:
            return pickle.load(file)


# The protocols of a UPath on the local disk.
LOCAL_PROTOCOLS = ("", "file", "local")


def read_parquet(path: UPath) -> pl.DataFrame:
    """A Parquet file on any store: polars opens a local path itself, but takes a UPath of
    another store (``s3://``) for a file object and fails, so that one is opened through fsspec."""
    import polars as pl

    if path.protocol in LOCAL_PROTOCOLS:
        return pl.read_parquet(path.path)
    with path.open("rb") as file:
        return pl.read_parquet(file)


def write_parquet_atomic(frame: pl.DataFrame, path: UPath) -> None:
    """Serialize first, then publish in one step: a failure never replaces the good file."""
    _write_bytes_atomic(_parquet_bytes(frame), path)


def asset_storage_path(root: str, asset_key: dg.AssetKey) -> UPath:
    return UPath(root).joinpath(*asset_key.path)


def stored_partitions(root: str, asset_key: dg.AssetKey) -> list[str]:
    """Partition keys of ``asset_key`` present in storage, sorted (committed ones for a lane)."""
    lane = committed_lane(asset_key)
    if lane is not None:
        return committed_partitions(root, lane)
    folder = asset_storage_path(root, asset_key)
    if not folder.exists():
        return []
    return sorted(p.name.removesuffix(".parquet") for p in folder.glob("*.parquet"))


def read_partitions(root: str, asset_key: dg.AssetKey, keys: list[str]) -> dict[str, pl.DataFrame]:
    if committed_lane(asset_key) is not None:
        return {key: read_committed(root, asset_key, key) for key in keys}
    folder = asset_storage_path(root, asset_key)
    return {key: read_parquet(folder / f"{key}.parquet") for key in keys}


# --- Committed partitions: several tables of one partition, switched together -----------------
#
# A lane's partition (an NYC day: raw, crashes, features; a French year: four raw tables,
# accidents, features) must be all-or-nothing. Each table of a commit is written to an immutable,
# content-addressed file ``<asset path>/<partition>/<sha>.parquet``; the commit is the manifest
# ``_commits/<lane>/<partition>.json`` naming those files, written in one atomic step (rename on a
# local disk, one PUT on an object store). A kill at any moment leaves the old manifest or the new
# one, each pointing at complete files; readers only ever follow manifests.

COMMITTED_LANES = ("nyc", "france")
COMMITS_DIR = "_commits"
STALE_SECONDS = 3600  # an orphan or .tmp file this old belongs to no live writer


@dataclass(frozen=True)
class Commit:
    """One committed partition of a lane: which file holds each table, and what it came from."""

    lane: str
    partition: str
    version: str  # hash of the tables' bytes: the same content is the same version
    tables: dict[str, str]  # asset key ("nyc/crashes") -> file relative to the storage root
    rows: dict[str, int]
    committed_at: str
    source: dict[str, Any] = field(default_factory=dict)  # what the source said (counts...)
    previous_version: str | None = None


def committed_lane(asset_key: dg.AssetKey) -> str | None:
    lane = asset_key.path[0]
    return lane if lane in COMMITTED_LANES and len(asset_key.path) > 1 else None


def _manifest_path(root: str, lane: str, partition: str) -> UPath:
    return UPath(root) / COMMITS_DIR / lane / f"{partition}.json"


def current_commit(root: str, lane: str, partition: str) -> Commit | None:
    path = _manifest_path(root, lane, partition)
    if not path.exists():
        return None
    return Commit(**json.loads(path.read_text()))


def committed_partitions(root: str, lane: str) -> list[str]:
    folder = UPath(root) / COMMITS_DIR / lane
    if not folder.exists():
        return []
    return sorted(p.name.removesuffix(".json") for p in folder.glob("*.json"))


def commit_partition(
    root: str,
    lane: str,
    partition: str,
    tables: Mapping[dg.AssetKey, pl.DataFrame],
    *,
    source: Mapping[str, Any] | None = None,
) -> Commit:
    """Write every table of one partition, then switch the manifest to them in one step.

    Call it only with tables that passed every blocking check. Committing the same content again
    keeps the current version (a re-fetch that changed nothing is not new data).
    """
    blobs = {key.to_user_string(): _parquet_bytes(frame) for key, frame in tables.items()}
    version = hashlib.sha256(
        b"".join(hashlib.sha256(b).digest() for _, b in sorted(blobs.items()))
    ).hexdigest()[:20]
    previous = current_commit(root, lane, partition)
    if previous is not None and previous.version == version:
        return previous
    files = {}
    for key in tables:
        name = key.to_user_string()
        digest = hashlib.sha256(blobs[name]).hexdigest()[:20]
        relative = "/".join([*key.path, partition, f"{digest}.parquet"])
        target = UPath(root) / relative
        if not target.exists():
            _write_bytes_atomic(blobs[name], target)
        files[name] = relative
    commit = Commit(
        lane=lane,
        partition=partition,
        version=version,
        tables=files,
        rows={key.to_user_string(): frame.height for key, frame in tables.items()},
        committed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source=dict(source or {}),
        previous_version=previous.version if previous else None,
    )
    _write_bytes_atomic(
        json.dumps(asdict(commit), indent=1).encode(), _manifest_path(root, lane, partition)
    )
    _sweep(root, commit, previous)
    return commit


def stored_versions(root: str, asset_key: dg.AssetKey) -> dict[str, str]:
    """Partition -> version of what is stored; a re-fetch with the same content keeps its version.

    Tables outside the committed lanes have no versions (empty strings)."""
    lane = committed_lane(asset_key)
    if lane is None:
        return dict.fromkeys(stored_partitions(root, asset_key), "")
    commits = {p: current_commit(root, lane, p) for p in committed_partitions(root, lane)}
    return {p: c.version for p, c in commits.items() if c is not None}


def read_committed(root: str, asset_key: dg.AssetKey, partition: str) -> pl.DataFrame:
    lane = committed_lane(asset_key)
    assert lane is not None, f"{asset_key.to_user_string()} is not a committed table"
    commit = current_commit(root, lane, partition)
    name = asset_key.to_user_string()
    if commit is None or name not in commit.tables:
        raise FileNotFoundError(f"{name} partition {partition}: nothing committed under {root}")
    return read_parquet(UPath(root) / commit.tables[name])


def _sweep(root: str, commit: Commit, previous: Commit | None) -> None:
    """Keep the new files and the previous commit's (a reader may still be on them); remove
    older versions and stale temporary files of this partition."""
    keep = {*commit.tables.values(), *(previous.tables.values() if previous else ())}
    cutoff = time.time() - STALE_SECONDS
    for relative in commit.tables.values():
        folder = (UPath(root) / relative).parent
        for path in folder.iterdir():
            relative_path = "/".join([*relative.split("/")[:-1], path.name])
            if relative_path in keep:
                continue
            if path.name.endswith(".tmp") and _mtime(path) > cutoff:
                continue  # another writer may be finishing it
            path.unlink(missing_ok=True)


def _mtime(path: UPath) -> float:
    try:
        return path.stat().st_mtime
    except (AttributeError, FileNotFoundError):
        return 0.0


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _write_bytes_atomic(data: bytes, path: UPath) -> None:
    """Readers see the old object or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.protocol in LOCAL_PROTOCOLS:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp.path, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp.path, path.path)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        path.write_bytes(data)  # an object store publishes an object in one PUT
