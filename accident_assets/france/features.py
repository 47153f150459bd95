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

Serving: :func:`accidents_from_payload` turns the reference's flat 39-field record (one user, one
vehicle) or a full accident (lists of users and vehicles) into ``france/accidents`` rows through
the same merge as training (:func:`accident_assets.france.transforms.merge_accidents`), so the
aggregates of a flat record are those of a one-user, one-vehicle accident.
"""

from __future__ import annotations

import datetime
from typing import Any

import polars as pl

from accident_assets.features import cyclic_encoding
from accident_assets.france import transforms
from accident_assets.france.reader import COLUMNS

TARGET = "priority"
ID_COLUMNS = ["Num_Acc", "year"]

CATEGORICAL_FEATURES: list[str] = [
    "lum", "agg", "int", "atm_group", "col", "catr", "circ", "vosp", "prof", "plan", "surf",
    "infra", "situ", "catu", "sexe", "place_group", "secu_group", "catv_group", "obs_group",
    "obsm_group", "motor_group", "hour", "month", "day_of_week", "is_weekend", "season",
    "victim_age_binned", "hour_weekend", "atm_lum",
]  # fmt: skip
NUMERIC_FEATURES: list[str] = [
    "vma", "nbv", "larrout", "lat", "long", "dep_code", "nb_victim", "nb_vehicules",
    "victims_per_vehicle", "victim_age", "hour_sin", "hour_cos", "month_sin", "month_cos",
    "day_of_week_sin", "day_of_week_cos", "age_min", "age_max", "age_mean",
    *transforms.USER_COUNTS, *transforms.VEHICLE_COUNTS,
]  # fmt: skip
FEATURE_COLUMNS = CATEGORICAL_FEATURES + NUMERIC_FEATURES

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
        pl.when(pl.col("__age").is_null())
        .then(UNKNOWN)
        .otherwise(pl.col("__age").cut(AGE_BINS, labels=["0", "1", "2", "3", "4"]).cast(pl.Int16))
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


# --- serving ---------------------------------------------------------------------------------

# The French reference's flat record: one user and one vehicle of an accident, then the place and
# accident fields, then the accident's victim and vehicle counts. Name -> (type, default); a
# default of ``...`` means required (pydantic's convention, so serving can build its model with
# ``pydantic.create_model(**FLAT_RECORD_FIELDS)``). The optional ones default as in the
# reference's ``prepare_input_for_feature_engineering``.
FLAT_RECORD_FIELDS: dict[str, tuple[type, Any]] = {
    "place": (int, ...),
    "catu": (int, ...),
    "grav": (int | None, None),  # ignored for prediction
    "sexe": (int, ...),
    "secu1": (int, ...),
    "an_nais": (int | None, None),  # or victim_age, see FLAT_RECORD_ALIASES
    "locp": (int, 0),
    "actp": (str, "0"),
    "etatp": (int, 0),
    "catv": (int, ...),
    "obs": (int, 0),
    "obsm": (int, ...),
    "motor": (int, ...),
    "catr": (int, ...),
    "v1": (int, 0),
    "circ": (int, ...),
    "vosp": (int, 0),
    "prof": (int, 0),
    "plan": (int, 0),
    "larrout": (float, 0.0),
    "surf": (int, ...),
    "infra": (int, 0),
    "situ": (int, ...),
    "vma": (int, ...),
    "jour": (int, ...),
    "mois": (int, ...),
    "an": (int, ...),  # or year_acc
    "hrmn": (str, ...),  # "HH:MM", or hour
    "lum": (int, ...),
    "dep": (str | int, ...),  # "2A", "974"; the reference sends 77
    "com": (str | int, ...),
    "agg": (int, ...),  # or agg_
    "int": (int, ...),  # or int_
    "atm": (int, ...),
    "col": (int, ...),
    "lat": (float, ...),
    "long": (float, ...),
    "nb_victim": (int, ...),
    "nb_vehicules": (int, ...),
}
assert len(FLAT_RECORD_FIELDS) == 39
# Names the reference's example records use for the same fields.
FLAT_RECORD_ALIASES = {"year_acc": "an", "agg_": "agg", "int_": "int", "hour": "hrmn", "victim_age": "an_nais"}  # fmt: skip

ACCIDENT_FIELDS = list(COLUMNS["caracteristiques"]) + [
    c for c in COLUMNS["lieux"] if c != "Num_Acc"
]
USER_FIELDS = [c for c in COLUMNS["usagers"] if c != "Num_Acc"]
VEHICLE_FIELDS = [c for c in COLUMNS["vehicules"] if c != "Num_Acc"]
ROAD_FIELDS = [c for c in COLUMNS["lieux"] if c != "Num_Acc"]
MAX_COUNT = 1000  # victims or vehicles in one accident


def normalize_flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """Map the reference's aliases (year_acc, agg_, int_, hour, victim_age) to BAAC names.

    Raises ValueError naming the alias when it cannot be converted (``hour`` "x")."""
    out = {k: v for k, v in record.items() if k not in FLAT_RECORD_ALIASES}
    for alias, name in FLAT_RECORD_ALIASES.items():
        if alias not in record or out.get(name) is not None:
            continue
        value = record[alias]
        try:
            if alias == "hour" and value is not None:
                value = f"{_whole(value):02d}:00"
            elif alias == "victim_age" and value is not None:
                year = out.get("an")
                if year is not None:
                    try:
                        year = _whole(year)
                    except (TypeError, ValueError):
                        field = "an" if "an" in record else "year_acc"
                        raise ValueError(
                            f"field {field!r} must be a whole number, got {year!r}"
                        ) from None
                    value = year - _whole(value)
        except (TypeError, ValueError) as err:
            if str(err).startswith("field "):
                raise
            raise ValueError(f"field {alias!r} must be a whole number, got {value!r}") from None
        out[name] = value
    return out


def _whole(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def is_full_record(record: dict[str, Any]) -> bool:
    return "usagers" in record or "vehicules" in record


def accidents_from_payload(records: list[dict[str, Any]]) -> pl.DataFrame:
    """Flat or full records -> ``france/accidents`` rows (no target) for :func:`build_features`."""
    carac, lieux, users, vehicles, overrides = [], [], [], [], []
    full: set[int] = set()  # indices of full records, whose user/vehicle fields sit in lists
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f"record {index}: expected an object, got {type(record).__name__}")
        num_acc = index + 1
        if is_full_record(record):
            acc, usr, veh = _full_record(index, record)
            override = {}
            full.add(index)
        else:
            acc, usr, veh, override = _flat_record(index, record)
        acc["Num_Acc"] = num_acc
        carac.append({c: acc.get(c) for c in COLUMNS["caracteristiques"]})
        # Several roads (a full accident's "lieux" list) are merged as in training: main road by
        # catr, aggregates over all (transforms.pick_lieux); otherwise the record's own fields.
        roads = record.get("lieux") if is_full_record(record) and record.get("lieux") else [acc]
        lieux.extend({**{c: r.get(c) for c in ROAD_FIELDS}, "Num_Acc": num_acc} for r in roads)
        users.extend({**{c: u.get(c) for c in USER_FIELDS}, "Num_Acc": num_acc} for u in usr)
        vehicles.extend({**{c: v.get(c) for c in VEHICLE_FIELDS}, "Num_Acc": num_acc} for v in veh)
        overrides.append({"Num_Acc": num_acc, **override})
    tables = {
        name: _typed(rows, name, full)
        for name, rows in (
            ("caracteristiques", carac),
            ("lieux", lieux),
            ("usagers", users),
            ("vehicules", vehicles),
        )
    }
    for index, row in enumerate(tables["caracteristiques"].iter_rows(named=True)):
        _check_accident(index, row)
    for name, table in tables.items():
        _check_codes(name, table, full)
    year = tables["caracteristiques"].get_column("an")
    frame = transforms.merge_accidents(
        tables["caracteristiques"].with_columns(pl.col("an")),
        tables["lieux"],
        tables["usagers"],
        tables["vehicules"],
        year=0,
        with_target=False,
    ).with_columns(year.cast(pl.Int16).alias("year"))
    # A flat record states the accident's counts; its one user/vehicle only describe itself.
    counts = pl.DataFrame(
        overrides, schema={"Num_Acc": pl.Int64, "nb_victim": pl.Int16, "nb_vehicules": pl.Int16}
    )
    return (
        frame.join(counts, on="Num_Acc", how="left", suffix="__given")
        .with_columns(
            pl.coalesce(pl.col(f"{c}__given"), pl.col(c)).alias(c)
            for c in ("nb_victim", "nb_vehicules")
        )
        .select(frame.columns)
    )


def _flat_record(index: int, record: dict[str, Any]) -> tuple[dict, list[dict], list[dict], dict]:
    try:
        record = normalize_flat_record(record)
    except ValueError as err:
        raise ValueError(f"record {index}: {err}") from None
    unknown = sorted(set(record) - set(FLAT_RECORD_FIELDS))
    if unknown:
        raise ValueError(f"record {index}: unknown field(s) {unknown}")
    values: dict[str, Any] = {}
    for name, (_kind, default) in FLAT_RECORD_FIELDS.items():
        if record.get(name) is None:
            if default is ...:
                raise ValueError(f"record {index}: field {name!r} is required")
            values[name] = default
        else:
            values[name] = record[name]
    acc = {c: values.get(c) for c in ACCIDENT_FIELDS if c in values}
    user = {c: values.get(c) for c in USER_FIELDS if c in values}
    user.update(id_vehicule="serving", num_veh="A01")
    vehicle = {c: values.get(c) for c in VEHICLE_FIELDS if c in values}
    vehicle.update(id_vehicule="serving", num_veh="A01")
    for name in ("nb_victim", "nb_vehicules"):
        value = values[name]
        if isinstance(value, float) and value.is_integer():
            value = values[name] = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
            raise ValueError(
                f"record {index}: field {name!r} must be an integer from 1 to {MAX_COUNT}, "
                f"got {value!r}"
            )
    override = {"nb_victim": values["nb_victim"], "nb_vehicules": values["nb_vehicules"]}
    return acc, [user], [vehicle], override


def _full_record(index: int, record: dict[str, Any]) -> tuple[dict, list[dict], list[dict]]:
    users, vehicles = record.get("usagers"), record.get("vehicules")
    for name, rows in (("usagers", users), ("vehicules", vehicles)):
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"record {index}: field {name!r} must be a non-empty list of objects")
    acc = {k: v for k, v in record.items() if k not in ("usagers", "vehicules", "lieux")}
    unknown = sorted(set(acc) - set(ACCIDENT_FIELDS) - {"Num_Acc"})
    if unknown:
        raise ValueError(f"record {index}: unknown field(s) {unknown}")
    roads = record.get("lieux")
    if roads is not None:
        if not isinstance(roads, list) or not roads or not all(isinstance(r, dict) for r in roads):
            raise ValueError(f"record {index}: field 'lieux' must be a non-empty list of objects")
        given = sorted(set(acc) & set(ROAD_FIELDS))
        if given:
            raise ValueError(f"record {index}: road field(s) {given} given beside the 'lieux' list")
        for j, road in enumerate(roads):
            extra = sorted(set(road) - set(ROAD_FIELDS))
            if extra:
                raise ValueError(f"record {index}: unknown field(s) {extra} in lieux[{j}]")
    for name in ("jour", "mois", "an", "hrmn"):
        if acc.get(name) is None:
            raise ValueError(f"record {index}: field {name!r} is required")
    for name, rows, fields in (
        ("usagers", users, USER_FIELDS),
        ("vehicules", vehicles, VEHICLE_FIELDS),
    ):
        for j, row in enumerate(rows):
            extra = sorted(set(row) - set(fields))
            if extra:
                raise ValueError(f"record {index}: unknown field(s) {extra} in {name}[{j}]")
    vehicles = [
        {"id_vehicule": str(i), "num_veh": f"{chr(65 + i % 26)}01", **v}
        for i, v in enumerate(vehicles)
    ]
    for j, user in enumerate(users):
        if "id_vehicule" not in user and "num_veh" in user:
            match = next((v for v in vehicles if v["num_veh"] == user["num_veh"]), None)
            if match is None:
                raise ValueError(
                    f"record {index}: usagers[{j}].num_veh {user['num_veh']!r} names no vehicle"
                )
            users[j] = {**user, "id_vehicule": match["id_vehicule"]}
        elif "id_vehicule" not in user:
            users[j] = {
                **user,
                "id_vehicule": vehicles[0]["id_vehicule"],
                "num_veh": vehicles[0]["num_veh"],
            }
    return acc, users, vehicles


_FIELD_PREFIX = {"usagers": "usagers[].", "vehicules": "vehicules[]."}


def _field(table: str, name: str, index: int, full: set[int]) -> str:
    """How the record names a field: 'catu' in a flat record, 'usagers[].catu' in a full one."""
    return repr(
        f"{_FIELD_PREFIX[table]}{name}" if index in full and table in _FIELD_PREFIX else name
    )


def _check_codes(table: str, frame: pl.DataFrame, full: set[int]) -> None:
    """BAAC code ranges and required fields, as the raw tables' Pandera schema checks them."""
    from accident_assets.checks import validate
    from accident_assets.france.schemas import RAW_SCHEMAS  # schemas import this module

    schema = RAW_SCHEMAS[table]
    if table == "usagers":
        schema = schema.update_column("grav", nullable=True)  # the outcome is not an input
    failures = validate(schema, frame)
    if failures is None:
        return
    case = failures.filter(pl.col("index").is_not_null()).row(0, named=True)
    index = int(frame.get_column("Num_Acc")[int(case["index"])]) - 1
    raise ValueError(
        f"record {index}: field {_field(table, case['column'], index, full)} "
        f"fails {case['check']} (got {case['failure_case']!r})"
    )


def _typed(rows: list[dict[str, Any]], table: str, full: set[int]) -> pl.DataFrame:
    schema = COLUMNS[table]
    strings = {c: pl.Utf8 for c in schema}
    text = pl.DataFrame(
        [{c: _as_text(c, r.get(c)) for c in schema} for r in rows],
        schema=strings,
        orient="row",
    )
    exprs = []
    for name, dtype in schema.items():
        exprs.append(pl.col(name).cast(dtype, strict=False))
    typed = text.select(exprs)
    for name, dtype in schema.items():
        bad = typed.get_column(name).is_null() & text.get_column(name).is_not_null()
        if bad.any():
            position = bad.arg_true()[0]
            index = int(text.get_column("Num_Acc")[position]) - 1
            raise ValueError(
                f"record {index}: field {_field(table, name, index, full)} expects "
                f"{dtype}, got {text.get_column(name)[position]!r}"
            )
    return typed


def _as_text(name: str, value: Any) -> str | None:
    """JSON values as the file would spell them (the reference sends codes as 0.0, dep as 77)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and name not in ("lat", "long", "larrout"):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if name == "dep":
            return f"{value:02d}"
        if name == "com":
            return f"{value:05d}"
    return str(value)


def _check_accident(index: int, row: dict[str, Any]) -> None:
    hrmn = row.get("hrmn") or ""
    parts = hrmn.split(":")
    if (
        len(parts) != 2
        or not all(p.isdigit() for p in parts)
        or not (0 <= int(parts[0]) < 24 and 0 <= int(parts[1]) < 60)
    ):
        raise ValueError(f"record {index}: field 'hrmn' must be 'HH:MM', got {hrmn!r}")
    try:
        datetime.date(int(row["an"]), int(row["mois"]), int(row["jour"]))
    except (TypeError, ValueError):
        raise ValueError(
            f"record {index}: fields 'jour', 'mois', 'an' are not a date: {row.get('jour')}/{row.get('mois')}/{row.get('an')}"
        ) from None
