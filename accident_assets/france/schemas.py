"""Pandera (polars) schemas of every France table, run as asset checks.

Raw schemas follow the BAAC codebook (2019 layout) as :mod:`accident_assets.france.codes` states
it once for the reader and the API (column meanings included); the reader has already rejected
anything that is not a number where a number belongs.

The schemas are :class:`~accident_assets.checks.LazySchema`: pandera is imported when a frame is
first validated, not when the code location loads.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import polars as pl

from accident_assets.checks import LazySchema
from accident_assets.france import codes, features, keys, transforms
from accident_assets.france.reader import COLUMNS

if TYPE_CHECKING:
    import pandera.polars as pa

RAW_REQUIRED = codes.REQUIRED


def _codes(low: float, high: float) -> list[pa.Check]:
    import pandera.polars as pa

    return [pa.Check.in_range(low, high)]


@functools.cache
def _column_checks(table: str) -> dict[str, list[pa.Check]]:
    """The checks of one raw table, from the one definition in :mod:`codes`."""
    import pandera.polars as pa

    checks: dict[str, list[pa.Check]] = {}
    for name, (low, high) in {
        **codes.CODE_RANGES.get(table, {}),
        **codes.REAL_RANGES.get(table, {}),
    }.items():
        checks[name] = _codes(low, high)
    for name, pattern in codes.TEXT_PATTERNS.get(table, {}).items():
        checks[name] = [pa.Check.str_matches(pattern)]
    return checks


def raw_schema(table: str) -> pa.DataFrameSchema:
    import pandera.polars as pa

    checks = _column_checks(table)
    columns = {
        name: pa.Column(
            dtype,
            checks=checks.get(name, []),
            nullable=name not in RAW_REQUIRED[table],
            unique=(table == "caracteristiques" and name == "Num_Acc"),
            description=codes.DESCRIPTIONS[table][name],
        )
        for name, dtype in COLUMNS[table].items()
    }
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=f"france_raw_{table}")


RAW_SCHEMAS = {
    table: LazySchema(keys.SCHEMA_NAMES[keys.RAW_KEYS[table]], functools.partial(raw_schema, table))
    for table in COLUMNS
}

_ACCIDENT_TYPES: dict[str, pl.DataType] = {
    **{c: COLUMNS["caracteristiques"][c] for c in ["Num_Acc", *transforms.CARACTERISTIQUES_KEEP]},
    **{c: COLUMNS["lieux"][c] for c in transforms.LIEUX_KEEP},
    **{c: COLUMNS["usagers"][c] for c in transforms.USER_KEEP},
    **{c: COLUMNS["vehicules"][c] for c in transforms.VEHICLE_KEEP},
    "year": pl.Int16(),
    "nb_lieux": pl.Int16(),
    "vma_max": pl.Int16(),
    "any_motorway": pl.Int8(),
    "nb_road_categories": pl.Int16(),
    "nb_victim": pl.Int16(),
    "nb_vehicules": pl.Int16(),
    **{c: pl.Int16() for c in [*transforms.USER_COUNTS, *transforms.VEHICLE_COUNTS]},
    "age_min": pl.Int16(),
    "age_max": pl.Int16(),
    "age_mean": pl.Float64(),
    "priority": pl.Int8(),
}
_ACCIDENT_REQUIRED = {
    "Num_Acc", "year", "jour", "mois", "an", "hrmn", "nb_lieux", "any_motorway",
    "nb_road_categories", "nb_victim", "nb_vehicules",
    *transforms.USER_COUNTS, *transforms.VEHICLE_COUNTS, "priority",
}  # fmt: skip


def _accidents() -> pa.DataFrameSchema:
    import pandera.polars as pa

    accident_checks: dict[str, list[pa.Check]] = {
        "priority": [pa.Check.isin([0, 1])],
        "nb_victim": [pa.Check.ge(0)],
        "nb_vehicules": [pa.Check.ge(0)],
        "nb_lieux": [pa.Check.ge(0)],
        "any_motorway": [pa.Check.isin([0, 1])],
        "nb_road_categories": [pa.Check.ge(0)],
        "age_min": _codes(0, transforms.MAX_AGE),
        "age_max": _codes(0, transforms.MAX_AGE),
        **{c: [pa.Check.ge(0)] for c in [*transforms.USER_COUNTS, *transforms.VEHICLE_COUNTS]},
        **{
            k: v
            for k, v in _column_checks("caracteristiques").items()
            if k in transforms.CARACTERISTIQUES_KEEP
        },
    }
    return pa.DataFrameSchema(
        {
            name: pa.Column(
                _ACCIDENT_TYPES[name],
                checks=accident_checks.get(name, []),
                nullable=name not in _ACCIDENT_REQUIRED,
                unique=name == "Num_Acc",
            )
            for name in transforms.accident_columns()
        },
        strict=True,
        ordered=True,
        name="france_accidents",
        checks=[
            # The year of the partition is the year of every accident (Num_Acc starts with it).
            pa.Check(
                lambda data: data.lazyframe.select(
                    (pl.col("Num_Acc") // 100_000_000 == pl.col("year")).all()
                ),
                name="num_acc_year",
            ),
        ],
    )


def _features() -> pa.DataFrameSchema:
    import pandera.polars as pa

    return pa.DataFrameSchema(
        {
            "Num_Acc": pa.Column(pl.Int64, unique=True),
            "year": pa.Column(pl.Int16),
            **{c: pa.Column(pl.Int16) for c in features.CATEGORICAL_FEATURES},
            **{
                c: pa.Column(
                    pl.Float64,
                    checks=[
                        pa.Check(
                            lambda data: data.lazyframe.select(pl.col(data.key).is_finite().all()),
                            name="finite",
                        )
                    ],
                )
                for c in features.NUMERIC_FEATURES
            },
            features.TARGET: pa.Column(pl.Int8, checks=[pa.Check.isin([0, 1])]),
        },
        strict=True,
        ordered=True,
        name="france_features",
    )


ACCIDENTS = LazySchema(keys.SCHEMA_NAMES[keys.ACCIDENTS], _accidents)
FEATURES = LazySchema(keys.SCHEMA_NAMES[keys.FEATURES], _features)
