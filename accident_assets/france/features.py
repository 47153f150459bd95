"""Row-wise features of the French task, identical at training and serving time.

``build_features`` turns rows of the ``france/accidents`` schema into model inputs. It is pure and
row-wise: nothing is fitted here (encoders, scalers, SMOTE live inside the trained pipeline).

It reproduces the French reference's features — temporal parts and cyclic encodings, victim age
and its bins, vehicle/obstacle/safety/engine groupings, ``victims_per_vehicle``, ``hour_weekend``,
``atm_lum`` — and fixes its known bugs:

* the target: the reference remaps ``grav`` 1,2,3,4 -> 1,3,4,2 and then 2,3,4 -> 0,1,1, so the
  unharmed (1) end up "Priority"; here ``priority`` is 1 only for killed (2) or hospitalized (3)
  (computed in :mod:`accident_assets.france.transforms`);
* ``catv`` is regrouped once (the reference regroups it in make_dataset and again in
  build_features, which turns cars into two-wheelers);
* ``victims_per_vehicle`` divides by ``max(nb_vehicules, 1)`` instead of adding 1e-6 (which blew
  up to 10^6 for zero vehicles), and age 0 falls in the first age bin instead of none.

Missing values never reach the model: BAAC's "not filled in" code -1 stays a category of its own,
and unknown ages become -1 with ``victim_age_binned`` -1 (a constant, not a fitted statistic).

Serving computes the same features for one accident at a time in plain Python
(:mod:`accident_assets.france.records`); a test holds the two equal on every sample accident.
"""

from __future__ import annotations

import polars as pl

from accident_assets.features import cyclic_encoding
from accident_assets.france import transforms
from accident_assets.france.feature_names import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    ID_COLUMNS,
    NUMERIC_FEATURES,
    TARGET,
)

UNKNOWN = -1

# The reference's catv regrouping (applied once): 1 two/three-wheelers and personal mobility,
# 2 light vehicles, 3 public transport, 4 heavy/special, 5 obsolete pre-2019 codes, 6 quads and
# tractors, 0 other.
CATV_GROUPS: dict[int, int] = dict(
    zip(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 30, 31,
         32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 50, 60, 80, 99],
        [0, 1, 1, 2, 1, 1, 6, 2, 5, 5, 5, 5, 5, 4, 4, 4, 4, 4, 3, 3, 4, 4, 1, 1, 1, 1, 1, 6, 6,
         3, 3, 3, 3, 1, 1, 1, 1, 1, 0, 0],
        strict=True,
    )
)  # fmt: skip
# The reference's atm grouping: normal (1 normal, 8 other, 9 overcast) 0, risky (rain, snow,
# fog, wind, dazzle) 1.
ATM_GROUPS = {1: 0, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 0, 9: 0}
# secu1: 0 none; 1 belt, 3 child seat -> 1 restraint; 2 helmet, 5 airbag, 6 gloves, 7 both
# -> 2 rider protection; 4 vest, 9 other -> 3 other; 8 not determinable -> unknown.
SECU_GROUPS = {0: 0, 1: 1, 3: 1, 2: 2, 5: 2, 6: 2, 7: 2, 4: 3, 9: 3}
# obsm: 0 none, 1 pedestrian, 2 vehicle, 4 rail vehicle -> 2, 5 pet, 6 wild animal -> 3, 9 other.
OBSM_GROUPS = {0: 0, 1: 1, 2: 2, 4: 2, 5: 3, 6: 3, 9: 9}
# motor: 1 hydrocarbon, 2 hybrid, 3 electric, 4 hydrogen -> 2 alternative, 5 human, 6 other;
# 0 unknown.
MOTOR_GROUPS = {0: UNKNOWN, 1: 1, 2: 2, 3: 2, 4: 2, 5: 3, 6: 4}
# place: 1 driver, 2 front passenger, 3-9 other passenger seats, 10 pedestrian.
PLACE_GROUPS = {1: 1, 2: 2, **{p: 3 for p in range(3, 10)}, 10: 10}
AGE_BINS = [18, 30, 50, 70]  # (0,18] (18,30] (30,50] (50,70] (70,120] -> 0..4, as the reference


def _group(col: str, mapping: dict[int, int]) -> pl.Expr:
    return (
        pl.col(col)
        .replace_strict(mapping, default=UNKNOWN, return_dtype=pl.Int16)
        .fill_null(UNKNOWN)
    )


def dep_code(dep: pl.Expr) -> pl.Expr:
    """Département as a number, Corsica 2A/2B -> 201/202 as the reference does."""
    return (
        dep.str.strip_chars()
        .replace({"2A": "201", "2B": "202"})
        .cast(pl.Int32, strict=False)
        .fill_null(UNKNOWN)
    )


def build_features(accidents: pl.DataFrame) -> pl.DataFrame:
    """``france/accidents`` rows -> ID_COLUMNS + FEATURE_COLUMNS (+ TARGET when present)."""
    hour = pl.col("hrmn").str.slice(0, 2).cast(pl.Int16, strict=False).fill_null(0)
    date = pl.date(pl.col("an"), pl.col("mois"), pl.col("jour"))
    age = pl.col("an").cast(pl.Int32) - pl.col("an_nais").cast(pl.Int32)
    age = pl.when(age.is_between(0, transforms.MAX_AGE)).then(age).otherwise(None)
    count_cols = [*transforms.USER_COUNTS, *transforms.VEHICLE_COUNTS]

    staged = accidents.with_columns(
        hour.alias("hour"),
        pl.col("mois").cast(pl.Int16).alias("month"),
        (date.dt.weekday() - 1).cast(pl.Int16).alias("day_of_week"),  # 0 = Monday, as pandas
        age.cast(pl.Float64).alias("__age"),
        _group("atm", ATM_GROUPS).alias("atm_group"),
        _group("catv", CATV_GROUPS).alias("catv_group"),
        _group("secu1", SECU_GROUPS).alias("secu_group"),
        _group("obsm", OBSM_GROUPS).alias("obsm_group"),
        _group("motor", MOTOR_GROUPS).alias("motor_group"),
        _group("place", PLACE_GROUPS).alias("place_group"),
        pl.when(pl.col("obs") < 0)
        .then(UNKNOWN)
        .otherwise((pl.col("obs") > 0).cast(pl.Int16))
        .fill_null(UNKNOWN)
        .cast(pl.Int16)
        .alias("obs_group"),
    ).with_columns(
        (pl.col("day_of_week") >= 5).cast(pl.Int16).alias("is_weekend"),
        ((pl.col("month") % 12 + 3) // 3).cast(pl.Int16).alias("season"),
    )
    out = staged.with_columns(
        *cyclic_encoding("hour", 24),
        *cyclic_encoding("month", 12),
        *cyclic_encoding("day_of_week", 7),
        pl.col("__age").fill_null(UNKNOWN).alias("victim_age"),
        # The bin is the number of edges below the age: (-inf, 18] -> 0 ... (70, inf) -> 4. Not
        # ``cut``: casting its categories to integers is deprecated, and the warning, raised from
        # a polars worker thread that needs the interpreter lock, deadlocked the API.
        pl.when(pl.col("__age").is_null())
        .then(UNKNOWN)
        .otherwise(pl.sum_horizontal(pl.col("__age") > edge for edge in AGE_BINS))
        .cast(pl.Int16)
        .alias("victim_age_binned"),
        (pl.col("hour") * pl.col("is_weekend")).cast(pl.Int16).alias("hour_weekend"),
        pl.when((pl.col("atm_group") < 0) | (pl.col("lum") < 0))
        .then(UNKNOWN)
        .otherwise(pl.col("atm_group") * pl.col("lum"))
        .cast(pl.Int16)
        .alias("atm_lum"),
        (
            pl.col("nb_victim").cast(pl.Float64)
            / pl.max_horizontal(pl.col("nb_vehicules"), pl.lit(1)).cast(pl.Float64)
        ).alias("victims_per_vehicle"),
        dep_code(pl.col("dep")).alias("dep_code"),
        *(
            pl.col(c).cast(pl.Int16).fill_null(UNKNOWN)
            for c in CATEGORICAL_FEATURES
            if c in accidents.columns
        ),
        pl.col(["age_min", "age_max", "age_mean"]).cast(pl.Float64).fill_null(UNKNOWN),
        pl.col(["lat", "long"]).fill_null(0.0),
        pl.col(["vma", "nbv", "larrout"]).cast(pl.Float64).fill_null(UNKNOWN),
        pl.col(["nb_victim", "nb_vehicules", *count_cols]).cast(pl.Float64).fill_null(0),
    )
    out = out.with_columns(
        pl.col(CATEGORICAL_FEATURES).cast(pl.Int16),
        pl.col(NUMERIC_FEATURES).cast(pl.Float64),
    )
    columns = [*ID_COLUMNS, *FEATURE_COLUMNS]
    if TARGET in accidents.columns:
        columns.append(TARGET)
    return out.select(columns)
