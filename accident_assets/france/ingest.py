"""Validate, then commit: a French year is read, merged and checked in memory, then stored whole.

The six tables of a year (the four raw BAAC tables, ``accidents``, ``features``) are built from
the four published files of the year, pass every blocking rule, and only then are committed
together (:func:`accident_assets.io_manager.commit_partition`): a failure, or a kill at any
moment, leaves the old year or the new one, complete — never new accidents joined with old
users. The commit records the size and SHA-256 of each source file, so every derived table
names the raw set it came from.

Blocking rules: the reader's format checks; every ``Num_Acc`` of lieux, usagers and vehicules is
an accident of caracteristiques, which has it once; every accident has a road, a user and a
vehicle, and every user's vehicle exists; every accident is of the partition's year; the Pandera
schemas of the six tables. Suspicious but possible years (few targets, an odd priority rate, far
fewer rows than the previous year) are WARN findings (:func:`year_findings`), logged and shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import polars as pl

from accident_assets import checks
from accident_assets.france import features as feature_module
from accident_assets.france import schemas
from accident_assets.france.keys import ACCIDENTS, FEATURES, RAW_KEYS
from accident_assets.france.layouts import TABLES
from accident_assets.france.reader import BaacFormatError, read_table
from accident_assets.france.transforms import check_year, merge_accidents, year_warnings
from accident_assets.io_manager import Commit

TABLE_SCHEMAS = {
    **{RAW_KEYS[t]: schemas.RAW_SCHEMAS[t] for t in TABLES},
    ACCIDENTS: schemas.ACCIDENTS,
    FEATURES: schemas.FEATURES,
}


@dataclass(frozen=True)
class SourceFile:
    table: str
    name: str  # the file name as published (or as found)
    where: str  # where it was read from, for messages
    data: bytes

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "where": self.where,
            "bytes": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }


@dataclass(frozen=True)
class YearTables:
    year: str
    raw: dict[str, pl.DataFrame]
    accidents: pl.DataFrame
    features: pl.DataFrame

    def tables(self) -> dict[dg.AssetKey, pl.DataFrame]:
        return {
            **{RAW_KEYS[t]: frame for t, frame in self.raw.items()},
            ACCIDENTS: self.accidents,
            FEATURES: self.features,
        }


def build_year(files: Mapping[str, SourceFile], year: str) -> YearTables:
    """Parse, cross-check (:func:`~accident_assets.france.transforms.check_year`) and merge the
    four files of a year; raises BaacFormatError."""
    raw = {t: read_table(files[t].data, t, year, files[t].name) for t in TABLES}
    check_year(raw, year, {t: f.name for t, f in files.items()})
    accidents = merge_accidents(
        raw["caracteristiques"], raw["lieux"], raw["usagers"], raw["vehicules"], year
    )
    return YearTables(year, raw, accidents, feature_module.build_features(accidents))


def validate_year(tables: YearTables, files: Mapping[str, SourceFile] | None = None) -> None:
    """The Pandera schemas of the six tables and the year of every accident; raises
    BaacFormatError naming the table (and its file), the column and the first failing values."""
    wrong_year = tables.raw["caracteristiques"].filter(pl.col("an") != int(tables.year))
    if wrong_year.height:
        name = files["caracteristiques"].name if files else "caracteristiques"
        raise BaacFormatError(
            f"BAAC caracteristiques {tables.year} ({name}): column 'an' is "
            f"{wrong_year['an'].unique().sort().head(3).to_list()} for {wrong_year.height} "
            f"accident(s), e.g. Num_Acc {wrong_year['Num_Acc'].head(3).to_list()}: "
            f"these are not the files of {tables.year}"
        )
    for key, frame in tables.tables().items():
        failures = checks.validate(TABLE_SCHEMAS[key], frame)
        if failures is not None:
            table = key.path[-1].removeprefix("raw_")
            origin = f" ({files[table].name})" if files and table in files else ""
            raise BaacFormatError(
                f"{key.to_user_string()} {tables.year}{origin}: "
                + checks.failure_summary(TABLE_SCHEMAS[key].name, failures)
            )


def year_findings(tables: YearTables, previous: Commit | None) -> list[str]:
    """WARN findings of a year, the row counts compared with the stored previous year."""
    rows = {t: previous.rows[RAW_KEYS[t].to_user_string()] for t in TABLES} if previous else None
    return year_warnings(tables.raw, tables.year, rows)
