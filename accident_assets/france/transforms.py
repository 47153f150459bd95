"""The interim merge: the four BAAC tables of a year -> one row per accident.

The French reference keeps the worst-injured user of each accident (it sorts by ``grav`` and
drops duplicates), which selects rows by the target. Here nothing is selected by ``grav``:

* user and vehicle attributes are aggregated per accident (counts by user category, pedestrians,
  ages, sexes, safety equipment, vehicle classes, obstacles, engines);
* the reference's single-user/single-vehicle columns (``place``, ``catu``, ``sexe``, ``secu1``,
  ``an_nais``, ``catv``, ``obsm``, ``motor``...) come from a *representative* user chosen without
  looking at the outcome: the driver of the first vehicle (``num_veh`` order, "A01" first), else
  the first user in (``num_veh``, ``place``) order; the representative vehicle is that user's;
* ``grav`` is used only for the target ``priority`` = 1 when anyone was killed (2) or
  hospitalized (3).

Several roads per accident: ``lieux`` has one row per road involved (17 of the first 40
accidents of 2024 have two or more). The merge keeps one row per accident:

* the *main road*'s columns (``catr``, ``vma``, ``circ``... as ``LIEUX_KEEP``) come from the row
  with the lowest road category code ``catr`` (1 motorway, 2 national, 3 departmental, 4 communal,
  5 off the public network, 6 car park, 7 urban metropolis road, 9 other — lower is the more
  important road network), ties broken by file order, an unknown ``catr`` last. The choice uses
  road attributes only, never ``grav`` or anything derived from the outcome;
* aggregates over all roads of the accident: ``nb_lieux`` (rows), ``vma_max`` (highest speed limit
  filled in, null when none is), ``any_motorway`` (1 when one road is ``catr`` 1) and
  ``nb_road_categories`` (distinct ``catr``).

Serving goes through the same function, so a full accident sent with several roads is merged the
same way.

Before anything of a year is stored, :func:`check_year` refuses a year whose tables do not hold
together (an accident without a road, a user or a vehicle; a user whose vehicle is not in
``vehicules``; a key not in ``caracteristiques``; a duplicate key), and :func:`year_warnings`
lists what is only suspicious (a low share of accidents with a filled ``grav``, a priority rate
outside a wide band, a row count far from the previous year's).
"""

from __future__ import annotations

import polars as pl

from accident_assets.france.feature_names import USER_COUNTS, VEHICLE_CLASSES, VEHICLE_COUNTS
from accident_assets.france.reader import BaacFormatError

PRIORITY_GRAV = (2, 3)  # killed, hospitalized
ADULT_AGE, SENIOR_AGE, MAX_AGE = 18, 70, 120

ELECTRIC_MOTOR = (2, 3, 4)  # hybrid, electric, hydrogen
FIXED_OBSTACLES = tuple(range(1, 18))

CARACTERISTIQUES_KEEP = [
    "jour", "mois", "an", "hrmn", "lum", "dep", "com", "agg", "int", "atm", "col", "lat", "long",
]  # fmt: skip
LIEUX_KEEP = ["catr", "v1", "circ", "nbv", "vosp", "prof", "plan", "larrout", "surf", "infra", "situ", "vma"]  # fmt: skip
USER_KEEP = ["place", "catu", "sexe", "secu1", "an_nais", "trajet", "locp", "actp", "etatp"]
VEHICLE_KEEP = ["catv", "obs", "obsm", "motor"]

AGE_STATS = ["age_min", "age_max", "age_mean"]
ROAD_AGGREGATES = ["vma_max", "any_motorway", "nb_road_categories"]
MOTORWAY = 1  # catr

# Wide bands for the WARN-level findings of a year: real years sit well inside them (2021: about
# 37 % priority, every accident with a grav); outside, the files are suspect, not surely wrong.
MIN_TARGET_SHARE = 0.95  # accidents with at least one user whose grav is filled in
PRIORITY_BAND = (0.15, 0.75)
ROW_CHANGE_FACTOR = 2.0  # rows of a table against the previous year, either way
EXAMPLES = 5


def _file(files: dict[str, str] | None, table: str, year: int | str) -> str:
    return (files or {}).get(table) or f"{table}-{year}.csv"


def check_keys(
    caracteristiques: pl.DataFrame,
    others: dict[str, pl.DataFrame],
    year: int | str,
    files: dict[str, str] | None = None,
) -> None:
    """Every Num_Acc of lieux/usagers/vehicules must be an accident of caracteristiques, and
    caracteristiques' Num_Acc must be unique. ``files`` names the files read (table -> name)."""
    known = caracteristiques.get_column("Num_Acc")
    carac = _file(files, "caracteristiques", year)
    for table, frame in others.items():
        orphans = frame.filter(~pl.col("Num_Acc").is_in(known.implode())).get_column("Num_Acc")
        if orphans.len():
            examples = orphans.unique(maintain_order=True).head(EXAMPLES).to_list()
            raise BaacFormatError(
                f"BAAC {table} {year} ({_file(files, table, year)}): column 'Num_Acc' has "
                f"{orphans.len()} row(s) whose accident is not in {carac.removesuffix('.csv')}, "
                f"e.g. {examples}"
            )
    dupes = caracteristiques.filter(pl.col("Num_Acc").is_duplicated()).get_column("Num_Acc")
    if dupes.len():
        raise BaacFormatError(
            f"BAAC caracteristiques {year} ({carac}): column 'Num_Acc' is not unique: "
            f"{dupes.n_unique()} key(s) on {dupes.len()} rows, e.g. "
            f"{dupes.unique(maintain_order=True).head(EXAMPLES).to_list()}"
        )


def check_year(
    tables: dict[str, pl.DataFrame], year: int | str, files: dict[str, str] | None = None
) -> None:
    """The blocking invariants of one year's four tables; BaacFormatError names year, file and
    examples. Beyond :func:`check_keys`: every accident has at least one road, one user and one
    vehicle, and every user's vehicle (Num_Acc, id_vehicule) is in vehicules."""
    carac = tables["caracteristiques"]
    check_keys(carac, {t: tables[t] for t in ("lieux", "usagers", "vehicules")}, year, files)
    accidents = carac.get_column("Num_Acc")
    for table, what in (("lieux", "road"), ("usagers", "user"), ("vehicules", "vehicle")):
        present = tables[table].get_column("Num_Acc").unique().implode()
        lacking = accidents.filter(~accidents.is_in(present))
        if lacking.len():
            raise BaacFormatError(
                f"BAAC {table} {year} ({_file(files, table, year)}): {lacking.len()} of "
                f"{accidents.len()} accidents of {_file(files, 'caracteristiques', year)} have no "
                f"{what} row (column 'Num_Acc'), e.g. {lacking.head(EXAMPLES).to_list()}"
                + (" — the file holds only its header" if tables[table].is_empty() else "")
            )
    keys = ["Num_Acc", "id_vehicule"]
    stray = tables["usagers"].join(tables["vehicules"].select(keys), on=keys, how="anti")
    if stray.height:
        examples = [
            tuple(r) for r in stray.select(keys).unique(maintain_order=True).head(EXAMPLES).rows()
        ]
        raise BaacFormatError(
            f"BAAC usagers {year} ({_file(files, 'usagers', year)}): {stray.height} user(s) whose "
            f"vehicle (columns 'Num_Acc', 'id_vehicule') is not in "
            f"{_file(files, 'vehicules', year)}, e.g. {examples}"
        )


def year_warnings(
    tables: dict[str, pl.DataFrame],
    year: int | str,
    previous_rows: dict[str, int] | None = None,
) -> list[str]:
    """WARN-level findings of one year (suspicious, not surely wrong): messages, empty when none.
    ``previous_rows`` is the previous year's row count per table, when known."""
    found = []
    accidents = tables["caracteristiques"].height
    users = tables["usagers"]
    if accidents:
        filled = users.filter(pl.col("grav").is_not_null() & (pl.col("grav") != -1))
        share = filled.get_column("Num_Acc").n_unique() / accidents
        if share < MIN_TARGET_SHARE:
            found.append(
                f"BAAC usagers {year}: only {share:.1%} of the {accidents} accidents have a user "
                f"with a filled 'grav' (expected at least {MIN_TARGET_SHARE:.0%}): the target is "
                "missing for the others"
            )
        severe = users.filter(pl.col("grav").is_in(PRIORITY_GRAV)).get_column("Num_Acc")
        rate = severe.n_unique() / accidents
        low, high = PRIORITY_BAND
        if not low <= rate <= high:
            found.append(
                f"BAAC usagers {year}: priority rate {rate:.1%} is outside {low:.0%}-{high:.0%} "
                "(anyone killed or hospitalized); real years are near 37 %"
            )
    for table, frame in tables.items():
        before = (previous_rows or {}).get(table)
        if before and frame.height:
            ratio = frame.height / before
            if not 1 / ROW_CHANGE_FACTOR <= ratio <= ROW_CHANGE_FACTOR:
                found.append(
                    f"BAAC {table} {year}: {frame.height} rows against {before} the year before "
                    f"(x{ratio:.2f}, beyond a factor {ROW_CHANGE_FACTOR:g})"
                )
    return found


def pick_lieux(lieux: pl.DataFrame) -> pl.DataFrame:
    """One row per accident: the main road (lowest ``catr``, then file order) and the aggregates
    over all its roads (see the module docstring)."""
    main = (
        lieux.with_row_index("__row")
        .sort(["Num_Acc", "catr", "__row"], nulls_last=True)
        .unique(subset="Num_Acc", keep="first", maintain_order=True)
        .select(["Num_Acc", *LIEUX_KEEP])
    )
    vma = pl.col("vma")
    roads = lieux.group_by("Num_Acc").agg(
        pl.len().cast(pl.Int16).alias("nb_lieux"),
        vma.filter(vma > 0).max().cast(pl.Int16).alias("vma_max"),
        (pl.col("catr") == MOTORWAY).fill_null(False).any().cast(pl.Int8).alias("any_motorway"),
        pl.col("catr").drop_nulls().n_unique().cast(pl.Int16).alias("nb_road_categories"),
    )
    return main.join(roads, on="Num_Acc")


def user_ages(usagers: pl.DataFrame, year_of: pl.DataFrame) -> pl.DataFrame:
    """Users with ``age`` = accident year - birth year, null when unknown or outside 0..120."""
    age = pl.col("an") - pl.col("an_nais")
    return usagers.join(year_of, on="Num_Acc", how="left").with_columns(
        pl.when(age.is_between(0, MAX_AGE)).then(age).otherwise(None).cast(pl.Int16).alias("age")
    )


def _count_where(condition: pl.Expr, name: str) -> pl.Expr:
    """Rows of the group where ``condition`` holds (a null condition counts as false)."""
    return condition.fill_null(False).sum().cast(pl.Int16).alias(name)


def aggregate_users(users: pl.DataFrame) -> pl.DataFrame:
    """Per-accident user counts and age statistics (``users`` carries ``age``); no ``grav``."""
    age = pl.col("age")
    return users.group_by("Num_Acc").agg(
        pl.len().cast(pl.Int16).alias("nb_victim"),
        _count_where(pl.col("catu") == 1, "nb_drivers"),
        _count_where(pl.col("catu") == 2, "nb_passengers"),
        _count_where(pl.col("catu") == 3, "nb_pedestrians"),
        _count_where(age < ADULT_AGE, "nb_minors"),
        _count_where(age >= SENIOR_AGE, "nb_seniors"),
        _count_where(age.is_null(), "nb_age_unknown"),
        _count_where(pl.col("sexe") == 1, "nb_male"),
        _count_where(pl.col("sexe") == 2, "nb_female"),
        _count_where(pl.col("secu1") == 0, "nb_no_safety"),
        _count_where(pl.col("secu1").is_in([1, 3]), "nb_belt"),  # belt or child seat
        _count_where(pl.col("secu1") == 2, "nb_helmet"),
        age.min().alias("age_min"),
        age.max().alias("age_max"),
        age.mean().alias("age_mean"),
    )


def aggregate_vehicles(vehicules: pl.DataFrame) -> pl.DataFrame:
    catv = pl.col("catv")
    classified = [code for codes in VEHICLE_CLASSES.values() for code in codes]
    return vehicules.group_by("Num_Acc").agg(
        pl.len().cast(pl.Int16).alias("nb_vehicules"),
        *(
            _count_where(catv.is_in(codes), f"nb_veh_{name}")
            for name, codes in VEHICLE_CLASSES.items()
        ),
        _count_where(~catv.is_in(classified), "nb_veh_other"),
        _count_where(pl.col("motor").is_in(ELECTRIC_MOTOR), "nb_veh_electric"),
        _count_where(pl.col("obs").is_in(FIXED_OBSTACLES), "nb_obs_fixed"),
        _count_where(pl.col("obsm") == 1, "nb_obsm_pedestrian"),
        _count_where(pl.col("obsm").is_in([2, 4]), "nb_obsm_vehicle"),
        _count_where(pl.col("obsm").is_in([5, 6]), "nb_obsm_animal"),
    )


def representative(users: pl.DataFrame, vehicules: pl.DataFrame) -> pl.DataFrame:
    """The representative user of each accident and its vehicle (never chosen by ``grav``)."""
    rep_user = (
        users.with_row_index("__row")
        .with_columns((pl.col("catu") != 1).alias("__not_driver"))
        .sort(["Num_Acc", "num_veh", "__not_driver", "place", "__row"], nulls_last=True)
        .unique(subset="Num_Acc", keep="first", maintain_order=True)
        .select(["Num_Acc", "id_vehicule", *USER_KEEP])
    )
    first_vehicle = (
        vehicules.with_row_index("__row")
        .sort(["Num_Acc", "num_veh", "__row"], nulls_last=True)
        .unique(subset="Num_Acc", keep="first", maintain_order=True)
        .select(["Num_Acc", *VEHICLE_KEEP])
    )
    own_vehicle = vehicules.select(
        "Num_Acc", "id_vehicule", *(pl.col(c).alias(f"__own_{c}") for c in VEHICLE_KEEP)
    ).unique(subset=["Num_Acc", "id_vehicule"], keep="first", maintain_order=True)
    merged = (
        rep_user.join(own_vehicle, on=["Num_Acc", "id_vehicule"], how="left")
        .join(first_vehicle, on="Num_Acc", how="full", coalesce=True)
        .with_columns(pl.coalesce(pl.col(f"__own_{c}"), pl.col(c)).alias(c) for c in VEHICLE_KEEP)
    )
    return merged.select(["Num_Acc", *USER_KEEP, *VEHICLE_KEEP])


def merge_accidents(
    caracteristiques: pl.DataFrame,
    lieux: pl.DataFrame,
    usagers: pl.DataFrame,
    vehicules: pl.DataFrame,
    year: int | str,
    *,
    with_target: bool = True,
) -> pl.DataFrame:
    """One row per accident of ``caracteristiques``, in ``Num_Acc`` order (schema: ACCIDENTS)."""
    check_keys(caracteristiques, {"lieux": lieux, "usagers": usagers, "vehicules": vehicules}, year)
    year_of = caracteristiques.select("Num_Acc", "an")
    users = user_ages(usagers, year_of)
    base = caracteristiques.select(["Num_Acc", *CARACTERISTIQUES_KEEP]).with_columns(
        pl.lit(int(year), pl.Int16).alias("year")
    )
    frame = (
        base.join(pick_lieux(lieux), on="Num_Acc", how="left")
        .join(representative(users, vehicules), on="Num_Acc", how="left")
        .join(aggregate_users(users), on="Num_Acc", how="left")
        .join(aggregate_vehicles(vehicules), on="Num_Acc", how="left")
        .with_columns(
            pl.col(["nb_lieux", "nb_victim", "nb_vehicules", *USER_COUNTS, *VEHICLE_COUNTS])
            .fill_null(0)
            .cast(pl.Int16),
            pl.col(["any_motorway"]).fill_null(0).cast(pl.Int8),
            pl.col(["nb_road_categories"]).fill_null(0).cast(pl.Int16),
        )
    )
    if with_target:
        target = usagers.group_by("Num_Acc").agg(
            pl.col("grav").is_in(PRIORITY_GRAV).any().cast(pl.Int8).alias("priority")
        )
        frame = frame.join(target, on="Num_Acc", how="left").with_columns(
            pl.col("priority").fill_null(0)
        )
    return frame.select(accident_columns(with_target)).sort("Num_Acc")


def accident_columns(with_target: bool = True) -> list[str]:
    cols = [
        "Num_Acc", "year", *CARACTERISTIQUES_KEEP, "nb_lieux", *LIEUX_KEEP, *ROAD_AGGREGATES,
        *USER_KEEP,
        *VEHICLE_KEEP, "nb_victim", "nb_vehicules", *USER_COUNTS, *AGE_STATS, *VEHICLE_COUNTS,
    ]  # fmt: skip
    return [*cols, "priority"] if with_target else cols
