"""One accident sent for prediction -> its ``france/accidents`` row -> its feature row, in plain
Python (no polars, no Pandera): the serving fast path.

Training builds features for whole years with polars (:func:`transforms.merge_accidents`, then
:func:`features.build_features`). A request holds one accident or a few, for which polars' per-call
overhead and thread pool cost more than the work; here the same merge and the same row-wise
features are written for one accident at a time. The two implementations are held equal by
``accident_assets_tests/france/test_records.py``, which runs both over every accident of the
sample years (and of the real files when present) and compares every column.

Records arrive validated by the API's request models (:mod:`accident_assets.serving.schemas`):
codes in range, ``hrmn`` "HH:MM", a real date, aliases resolved. Two kinds:

* the French reference's **flat record** (``FLAT_RECORD_FIELDS``): one user and one vehicle with
  the accident's place and time, and the accident's victim and vehicle counts;
* a **full accident**: the caracteristiques fields, its road (lieux fields) or a ``lieux`` list,
  and lists of ``usagers`` and ``vehicules``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from accident_assets.france import features as F
from accident_assets.france import transforms as T
from accident_assets.france.reader import COLUMNS

# The French reference's flat record: one user and one vehicle of an accident, then the place and
# accident fields, then the accident's victim and vehicle counts. Name -> (type, default); a
# default of ``...`` means required (pydantic's convention). The optional ones default as in the
# reference's ``prepare_input_for_feature_engineering``.
FLAT_RECORD_FIELDS: dict[str, tuple[Any, Any]] = {
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
    "dep": (str, ...),  # "2A", "974"; the reference sends 77
    "com": (str, ...),
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
MAX_COUNT = 1000  # victims or vehicles in one accident

ACCIDENT_FIELDS = [*COLUMNS["caracteristiques"], *(c for c in COLUMNS["lieux"] if c != "Num_Acc")]
USER_FIELDS = [c for c in COLUMNS["usagers"] if c != "Num_Acc"]
VEHICLE_FIELDS = [c for c in COLUMNS["vehicules"] if c != "Num_Acc"]
ROAD_FIELDS = [c for c in COLUMNS["lieux"] if c != "Num_Acc"]
# The one user and one vehicle of a flat record are linked by these keys.
FLAT_VEHICLE_KEYS = {"id_vehicule": "serving", "num_veh": "A01"}


def is_full_record(record: Mapping[str, Any]) -> bool:
    return "usagers" in record or "vehicules" in record


def vehicle_plates(given: Sequence[str | None]) -> list[str]:
    """Each vehicle's ``num_veh``: the one given, else A01, B01 ... Z01, A02 ... by position."""
    return [f"{chr(65 + i % 26)}{i // 26 + 1:02d}" if p is None else p for i, p in enumerate(given)]


def vehicle_ids(given: Sequence[str | None]) -> list[str]:
    """Each vehicle's ``id_vehicule``: the one given, else its position."""
    return [str(i) if v is None else v for i, v in enumerate(given)]


def _nulls_last(*values: Any) -> tuple[tuple[bool, Any], ...]:
    """A sort key ordering each value ascending with missing ones last (polars' nulls_last)."""
    return tuple((v is None, 0 if v is None else v) for v in values)


def _parts(
    record: Mapping[str, Any],
) -> tuple[Mapping, list[Mapping], list[Mapping], list[Mapping]]:
    """(caracteristiques, roads, users, vehicles) of one validated record. Each part is read by
    column name only, so the record itself serves as the parts it holds (no copies)."""
    if not is_full_record(record):
        # One user in one vehicle: the record is its accident, its road, its user and vehicle.
        linked = {**record, **FLAT_VEHICLE_KEYS}
        return record, [record], [linked], [linked]
    roads = record.get("lieux") or [record]
    given = record["vehicules"]
    ids = vehicle_ids([v.get("id_vehicule") for v in given])
    plates = vehicle_plates([v.get("num_veh") for v in given])
    vehicles = [
        {**v, "id_vehicule": i, "num_veh": plate}
        for v, i, plate in zip(given, ids, plates, strict=True)
    ]
    users = []
    for user in record["usagers"]:
        # A user names its vehicle by id_vehicule or by num_veh (the request models checked that
        # it exists); naming none, it rides in the first. The key not given is then the
        # vehicle's, as in the files, where both are always filled.
        if user.get("id_vehicule") is not None:
            vehicle = next(v for v in vehicles if v["id_vehicule"] == user["id_vehicule"])
        elif user.get("num_veh") is not None:
            vehicle = next(v for v in vehicles if v["num_veh"] == user["num_veh"])
        else:
            vehicle = vehicles[0]
        users.append(
            {
                **user,
                "id_vehicule": _or(user.get("id_vehicule"), vehicle["id_vehicule"]),
                "num_veh": _or(user.get("num_veh"), vehicle["num_veh"]),
            }
        )
    return record, list(roads), users, vehicles


def _age(year: int | None, born: int | None) -> int | None:
    if year is None or born is None:
        return None
    age = year - born
    return age if 0 <= age <= T.MAX_AGE else None


def _roads(roads: list[dict]) -> dict[str, Any]:
    """The main road's columns and the aggregates over all roads (``transforms.pick_lieux``)."""
    main = min(enumerate(roads), key=lambda ir: _nulls_last(ir[1].get("catr"), ir[0]))[1]
    speeds = [r["vma"] for r in roads if r.get("vma") is not None and r["vma"] > 0]
    categories = {r["catr"] for r in roads if r.get("catr") is not None}
    return {
        "nb_lieux": len(roads),
        **{c: main.get(c) for c in T.LIEUX_KEEP},
        "vma_max": max(speeds) if speeds else None,
        "any_motorway": int(T.MOTORWAY in categories),
        "nb_road_categories": len(categories),
    }


def _representative(users: list[dict], vehicles: list[dict]) -> dict[str, Any]:
    """The representative user and its vehicle (``transforms.representative``)."""
    user = min(
        enumerate(users),
        key=lambda iu: _nulls_last(
            iu[1].get("num_veh"),
            None if iu[1].get("catu") is None else iu[1]["catu"] != 1,
            iu[1].get("place"),
            iu[0],
        ),
    )[1]
    first = min(enumerate(vehicles), key=lambda iv: _nulls_last(iv[1].get("num_veh"), iv[0]))[1]
    own = next(
        (
            v
            for v in vehicles
            if user.get("id_vehicule") is not None and v.get("id_vehicule") == user["id_vehicule"]
        ),
        None,
    )
    vehicle = {
        c: own[c] if own is not None and own.get(c) is not None else first.get(c)
        for c in T.VEHICLE_KEEP
    }
    return {**{c: user.get(c) for c in T.USER_KEEP}, **vehicle}


# (count, column, codes): a row counts when its column holds one of the codes (missing: not).
USER_RULES: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("nb_drivers", "catu", frozenset({1})),
    ("nb_passengers", "catu", frozenset({2})),
    ("nb_pedestrians", "catu", frozenset({3})),
    ("nb_male", "sexe", frozenset({1})),
    ("nb_female", "sexe", frozenset({2})),
    ("nb_no_safety", "secu1", frozenset({0})),
    ("nb_belt", "secu1", frozenset({1, 3})),  # belt or child seat
    ("nb_helmet", "secu1", frozenset({2})),
)
_CLASSIFIED = frozenset(code for codes in T.VEHICLE_CLASSES.values() for code in codes)
VEHICLE_RULES: tuple[tuple[str, str, frozenset[int]], ...] = (
    *((f"nb_veh_{name}", "catv", frozenset(codes)) for name, codes in T.VEHICLE_CLASSES.items()),
    ("nb_veh_other", "catv", frozenset(range(-1, 100)) - _CLASSIFIED),  # every other code
    ("nb_veh_electric", "motor", frozenset(T.ELECTRIC_MOTOR)),
    ("nb_obs_fixed", "obs", frozenset(T.FIXED_OBSTACLES)),
    ("nb_obsm_pedestrian", "obsm", frozenset({1})),
    ("nb_obsm_vehicle", "obsm", frozenset({2, 4})),
    ("nb_obsm_animal", "obsm", frozenset({5, 6})),
)


def _counts(rows: list[dict], rules: tuple[tuple[str, str, frozenset[int]], ...]) -> dict[str, int]:
    counts = dict.fromkeys((name for name, _, _ in rules), 0)
    for row in rows:
        for name, column, codes in rules:
            if row.get(column) in codes:
                counts[name] += 1
    return counts


def _user_counts(users: list[dict], year: int | None) -> dict[str, Any]:
    """Per-accident user counts and age statistics (``transforms.aggregate_users``)."""
    ages = [_age(year, u.get("an_nais")) for u in users]
    known = [a for a in ages if a is not None]
    return {
        "nb_victim": len(users),
        **_counts(users, USER_RULES),
        "nb_minors": sum(1 for a in known if a < T.ADULT_AGE),
        "nb_seniors": sum(1 for a in known if a >= T.SENIOR_AGE),
        "nb_age_unknown": len(ages) - len(known),
        "age_min": min(known) if known else None,
        "age_max": max(known) if known else None,
        "age_mean": sum(known) / len(known) if known else None,
    }


def _vehicle_counts(vehicles: list[dict]) -> dict[str, Any]:
    """Per-accident vehicle counts (``transforms.aggregate_vehicles``)."""
    return {"nb_vehicules": len(vehicles), **_counts(vehicles, VEHICLE_RULES)}


def accident_row(record: Mapping[str, Any], num_acc: int = 1) -> dict[str, Any]:
    """A validated record -> its row of ``france/accidents`` (no target; the columns of
    ``transforms.accident_columns`` in another order), as the merge gives it."""
    carac, roads, users, vehicles = _parts(record)
    row: dict[str, Any] = {
        "Num_Acc": num_acc,
        "year": carac["an"],
        **{c: carac.get(c) for c in T.CARACTERISTIQUES_KEEP},
        **_roads(roads),
        **_representative(users, vehicles),
        **_user_counts(users, carac["an"]),
        **_vehicle_counts(vehicles),
    }
    if not is_full_record(record):
        # A flat record states the accident's counts; its one user/vehicle only describe itself.
        row["nb_victim"], row["nb_vehicules"] = record["nb_victim"], record["nb_vehicules"]
    return row


def _grouped(value: int | None, mapping: Mapping[int, int]) -> int:
    return F.UNKNOWN if value is None else mapping.get(value, F.UNKNOWN)


def _or(value: Any, default: float) -> Any:
    return default if value is None else value


def _dep_code(dep: str | None) -> int:
    text = (dep or "").strip()
    text = {"2A": "201", "2B": "202"}.get(text, text)
    try:
        return int(text)
    except ValueError:
        return F.UNKNOWN


def _cyclic(name: str, value: int, period: int) -> dict[str, float]:
    angle = float(value) * (2 * math.pi / period)
    return {f"{name}_sin": math.sin(angle), f"{name}_cos": math.cos(angle)}


def feature_row(accident: Mapping[str, Any]) -> dict[str, Any]:
    """One ``france/accidents`` row -> its FEATURE_COLUMNS, by name (``features.build_features``)."""
    a = accident
    hrmn = a.get("hrmn") or ""
    hour = int(hrmn[:2]) if hrmn[:2].isdigit() else 0
    month = a["mois"]
    day_of_week = dt.date(a["an"], a["mois"], a["jour"]).weekday()  # 0 = Monday
    is_weekend = int(day_of_week >= 5)
    age = _age(a["an"], a.get("an_nais"))
    obs = a.get("obs")
    atm_group = _grouped(a.get("atm"), F.ATM_GROUPS)
    lum = a.get("lum")
    values: dict[str, Any] = {
        **{c: _or(a.get(c), F.UNKNOWN) for c in F.CATEGORICAL_FEATURES if c in a},
        "hour": hour,
        "month": month,
        "day_of_week": day_of_week,
        "is_weekend": is_weekend,
        "season": (month % 12 + 3) // 3,
        "atm_group": atm_group,
        "catv_group": _grouped(a.get("catv"), F.CATV_GROUPS),
        "secu_group": _grouped(a.get("secu1"), F.SECU_GROUPS),
        "obsm_group": _grouped(a.get("obsm"), F.OBSM_GROUPS),
        "motor_group": _grouped(a.get("motor"), F.MOTOR_GROUPS),
        "place_group": _grouped(a.get("place"), F.PLACE_GROUPS),
        "obs_group": F.UNKNOWN if obs is None or obs < 0 else int(obs > 0),
        "victim_age_binned": F.UNKNOWN if age is None else bisect.bisect_left(F.AGE_BINS, age),
        "hour_weekend": hour * is_weekend,
        "atm_lum": F.UNKNOWN if atm_group < 0 or lum is None or lum < 0 else atm_group * lum,
        **_cyclic("hour", hour, 24),
        **_cyclic("month", month, 12),
        **_cyclic("day_of_week", day_of_week, 7),
        "victim_age": F.UNKNOWN if age is None else age,
        "victims_per_vehicle": a["nb_victim"] / max(a["nb_vehicules"] or 0, 1),
        "dep_code": _dep_code(a.get("dep")),
        "lat": _or(a.get("lat"), 0.0),
        "long": _or(a.get("long"), 0.0),
        **{c: _or(a.get(c), F.UNKNOWN) for c in ("vma", "nbv", "larrout", *T.AGE_STATS)},
        **{
            c: _or(a.get(c), 0)
            for c in ("nb_victim", "nb_vehicules", *T.USER_COUNTS, *T.VEHICLE_COUNTS)
        },
    }
    return values


DTYPES = {
    **{c: np.int16 for c in F.CATEGORICAL_FEATURES},
    **{c: np.float64 for c in F.NUMERIC_FEATURES},
}


def feature_columns(records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Validated records -> FEATURE_COLUMNS as arrays of the dtypes training passes."""
    rows = [feature_row(accident_row(r, i + 1)) for i, r in enumerate(records)]
    # Every value is a small integer or a float64: one float64 matrix, then each column's type.
    matrix = np.array([[row[c] for c in F.FEATURE_COLUMNS] for row in rows], dtype=np.float64)
    matrix = matrix.reshape(len(rows), len(F.FEATURE_COLUMNS))
    return {c: matrix[:, j].astype(DTYPES[c]) for j, c in enumerate(F.FEATURE_COLUMNS)}


def feature_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Validated records -> the pipeline's input frame, as training passes it."""
    return pd.DataFrame(feature_columns(records))
