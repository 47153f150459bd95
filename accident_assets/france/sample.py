"""Deterministic synthetic BAAC years, written in the exact published format.

The four tables of a year are written as the official files are: UTF-8, LF, ``;`` delimiter,
every field double-quoted (header, numbers and empty values too), ``" -1"`` with a leading space
for "not filled in" and for negative numbers, decimal commas with 10 decimals for ``lat``/``long``
(``" -21,1151000000"`` in La Réunion), ``N/A`` in ``adr``/``v2``, ``2A``/``2B``/``974``
départements with 5-character INSEE communes, ``id_vehicule`` (and ``id_usager`` from 2022) with a
no-break space (``"201\u00a0764"``), ``num_veh`` ``A01``, ``B01``..., ``an_nais`` sometimes empty,
``actp`` sometimes a letter, ``lartpc`` always empty. The 2021 ``usagers`` file has no
``id_usager``; later years have it, as published. Keys are consistent across the four tables.

Code distributions follow the real files (2021: ~65 % cars, ~10 % motorised two-wheelers,
~6 % bicycles, ~12 % accidents with a pedestrian, ~1.8 vehicles and ~2.3 users per accident,
speed limit tied to road category and agglomeration, lighting tied to the hour...).

Severity signal (documented so that the models have something real to find). Each accident gets a
latent score, ``P(priority) = sigmoid(score)``::

    score = -5.6
          + 3.8 * pedestrian involved          + 2.6 * motorised two/three-wheeler involved
          + 1.8 * bicycle / e-scooter involved + 1.2 * heavy vehicle or bus involved
          + 0.06 * (speed limit vma - 50)      + 1.4 * outside agglomeration (agg 1)
          + 1.2 * night without lighting (lum 3, 4) + 0.4 * night with lighting (lum 5)
          + 1.6 * a user aged 70+              + 1.5 * single vehicle hitting a fixed obstacle
          + 1.1 * an occupant without safety equipment (secu1 0)
          + 0.9 * frontal collision (col 1)    - 1.1 * rear-end collision (col 2)
          + 0.7 * weekend night (Sat/Sun, 21h-6h) + N(0, 0.35)

which gives about 27 % "Priority" accidents. At the default size, xgboost (300 trees, depth 5)
trained on 2021 reaches F1 ~0.72 on class 1 of 2022, a scaled logistic regression ~0.71; the
majority class scores 0. A priority accident has one user killed (grav 2, ~12 %) or hospitalized
(grav 3), preferably its most vulnerable user (pedestrian, rider, oldest); the others are
unharmed (1) or lightly injured (4). Every accident has at least one injured user,
as in BAAC (injury accidents only).
"""

from __future__ import annotations

import calendar
from pathlib import Path

import numpy as np
import polars as pl

from accident_assets.france.reader import COLUMNS

DEFAULT_YEARS = (2021, 2022)
DEFAULT_ACCIDENTS = 4_000
SEED = 20210

NBSP = "\u00a0"

# (département, centre lat, centre long, weight)
DEPARTEMENTS = [
    ("75", 48.857, 2.352, 10), ("93", 48.91, 2.48, 5), ("92", 48.85, 2.22, 4),
    ("94", 48.78, 2.45, 4), ("13", 43.40, 5.20, 7), ("69", 45.76, 4.84, 5), ("59", 50.50, 3.20, 5),
    ("33", 44.84, -0.58, 4), ("31", 43.60, 1.44, 3), ("06", 43.70, 7.20, 4), ("34", 43.61, 3.88, 3),
    ("44", 47.22, -1.55, 3), ("38", 45.19, 5.72, 3), ("62", 50.45, 2.50, 2), ("85", 46.70, -1.40, 2),
    ("29", 48.20, -4.10, 2), ("67", 48.58, 7.75, 2), ("30", 44.00, 4.35, 2), ("07", 44.75, 4.40, 1),
    ("51", 49.04, 4.03, 1), ("74", 46.00, 6.40, 2), ("2A", 41.93, 8.74, 1), ("2B", 42.55, 9.30, 1),
    ("974", -21.12, 55.53, 2), ("971", 16.25, -61.55, 1), ("972", 14.64, -61.02, 1),
]  # fmt: skip
STREETS = [
    "RUE DE LA REPUBLIQUE", "AVENUE JEAN JAURES", "CARNOT (AVENUE)", "AV FRANCOIS MITTERRAND",
    "Route de Mitry", "CD 981", "rue de Flacé", "chemin saint gens", "BOULEVARD PÉRIPHÉRIQUE",
    "Autoroute A7", "N/A", "RN 7", "voie verte", "15 rue François Nicolas",
]  # fmt: skip
CATV = {7: 640, 10: 60, 33: 45, 1: 45, 2: 25, 30: 20, 31: 12, 32: 14, 34: 8, 50: 20, 60: 5,
        80: 8, 14: 8, 15: 10, 17: 6, 13: 3, 37: 8, 38: 3, 40: 2, 3: 6, 21: 4, 99: 14, 43: 2,
        36: 2, 0: 2, -1: 3}  # fmt: skip
TWO_WHEEL = {2, 30, 31, 32, 33, 34, 41, 42, 43}
BICYCLE = {1, 50, 60, 80}
HEAVY = {13, 14, 15, 16, 17, 20, 21, 37, 38, 39, 40}


def _choice(rng: np.random.Generator, weights: dict, size: int) -> np.ndarray:
    keys = np.array(list(weights))
    p = np.array(list(weights.values()), dtype=float)
    return rng.choice(keys, size=size, p=p / p.sum())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_year(
    year: int, n_accidents: int = DEFAULT_ACCIDENTS, seed: int = SEED
) -> dict[str, pl.DataFrame]:
    """The four tables of ``year`` as typed frames (the reader's schema), deterministic per seed."""
    rng = np.random.default_rng([seed, year, n_accidents])
    n = n_accidents
    acc_ids = year * 100_000_000 + np.arange(1, n + 1, dtype=np.int64)

    # --- accidents ----------------------------------------------------------------------
    month = rng.choice(np.arange(1, 13), size=n, p=_norm([7, 7, 8, 8, 9, 10, 10, 8, 9, 9, 8, 7]))
    days_in = np.array([calendar.monthrange(year, int(m))[1] for m in range(1, 13)])
    day = (rng.random(n) * days_in[month - 1]).astype(int) + 1
    hour = rng.choice(np.arange(24), size=n, p=_norm(
        [2, 1.5, 1.2, 1, 1, 1.5, 3, 6, 7, 5, 5, 5.5, 6, 5.5, 5.5, 6.5, 7.5, 8.5, 8, 6, 4.5, 3.5, 3, 2.5]
    ))  # fmt: skip
    minute = rng.integers(0, 60, size=n)
    weekday = np.array(
        [calendar.weekday(year, int(m), int(d)) for m, d in zip(month, day, strict=True)]
    )
    night = (hour >= 21) | (hour <= 5)
    dusk = np.isin(hour, [6, 7, 19, 20])
    agg = np.where(rng.random(n) < 0.36, 1, 2)
    lum = np.where(
        night,
        np.where(agg == 2, rng.choice([5, 3, 4], size=n, p=[0.85, 0.1, 0.05]),
                 rng.choice([3, 5, 4], size=n, p=[0.75, 0.2, 0.05])),
        np.where(dusk & (rng.random(n) < 0.5), 2, 1),
    )  # fmt: skip
    lum = np.where(rng.random(n) < 0.003, -1, lum)
    dep_idx = rng.choice(len(DEPARTEMENTS), size=n, p=_norm([d[3] for d in DEPARTEMENTS]))
    dep = np.array([DEPARTEMENTS[i][0] for i in dep_idx])
    lat = np.array([DEPARTEMENTS[i][1] for i in dep_idx]) + rng.normal(0, 0.15, n)
    lon = np.array([DEPARTEMENTS[i][2] for i in dep_idx]) + rng.normal(0, 0.2, n)
    com = np.array(
        [
            d + f"{c % 10 ** (5 - len(d)):0{5 - len(d)}d}"
            for d, c in zip(dep, rng.integers(1, 300, n), strict=True)
        ]
    )
    atm = _choice(rng, {1: 790, 2: 100, 3: 22, 4: 6, 5: 8, 6: 5, 7: 15, 8: 45, 9: 6, -1: 3}, n)
    inter = _choice(rng, {1: 650, 2: 110, 3: 80, 4: 20, 5: 10, 6: 60, 7: 10, 8: 3, 9: 57}, n)

    # --- places -------------------------------------------------------------------------
    catr = np.where(agg == 1, _choice(rng, {1: 20, 2: 12, 3: 58, 4: 8, 7: 1, 9: 1}, n),
                    _choice(rng, {1: 2, 2: 4, 3: 22, 4: 60, 5: 2, 6: 2, 7: 6, 9: 2}, n))  # fmt: skip
    vma = np.select(
        [catr == 1, agg == 1, catr == 7],
        [_choice(rng, {130: 60, 110: 30, 90: 10}, n), _choice(rng, {80: 60, 90: 15, 70: 15, 50: 10}, n),
         _choice(rng, {70: 40, 50: 40, 90: 20}, n)],
        default=_choice(rng, {50: 70, 30: 20, 70: 5, 20: 3, 80: 2}, n),
    )  # fmt: skip
    vma = np.where(rng.random(n) < 0.012, -1, vma)
    surf = np.where(np.isin(atm, [2, 3]), _choice(rng, {2: 85, 1: 10, 3: 5}, n),
                    _choice(rng, {1: 900, 2: 60, 7: 10, 5: 5, 9: 10, 8: 5, -1: 10}, n))  # fmt: skip

    # --- vehicles -----------------------------------------------------------------------
    nveh = _choice(rng, {1: 28, 2: 62, 3: 8, 4: 2}, n)
    ped_count = np.where(rng.random(n) < 0.13, _choice(rng, {1: 90, 2: 8, 3: 2}, n), 0)
    nveh = np.where(ped_count > 0, np.minimum(nveh, 1 + (rng.random(n) < 0.1)), nveh)
    v_acc = np.repeat(np.arange(n), nveh)
    v_rank = _rank_within(v_acc)
    nv = len(v_acc)
    catv = _choice(rng, CATV, nv)
    motor = np.select(
        [np.isin(catv, [1, 60]), catv == 80, np.isin(catv, [50])],
        [np.full(nv, 5), np.full(nv, 3), np.full(nv, 3)],
        default=_choice(rng, {1: 840, 2: 40, 3: 40, 0: 50, -1: 25, 6: 5}, nv),
    )
    single = nveh[v_acc] == 1
    has_ped_v = (ped_count[v_acc] > 0) & (v_rank == 0)
    obs = np.where(single & ~has_ped_v & (rng.random(nv) < 0.55),
                   _choice(rng, {1: 10, 2: 25, 3: 10, 4: 12, 5: 5, 6: 8, 13: 10, 14: 10, 16: 8, 8: 5}, nv), 0)  # fmt: skip
    obsm = np.select([has_ped_v, ~single], [np.full(nv, 1), np.where(rng.random(nv) < 0.93, 2, 0)],
                     default=_choice(rng, {0: 80, 6: 6, 9: 6, 5: 3, -1: 5}, nv))  # fmt: skip

    # --- users --------------------------------------------------------------------------
    occupants = 1 + np.where(np.isin(catv, list(TWO_WHEEL | BICYCLE)), rng.random(nv) < 0.06,
                             rng.poisson(0.38, nv))  # fmt: skip
    occupants = np.where(np.isin(catv, [37, 38]), 1 + rng.poisson(2.0, nv), occupants)
    ped_of_vehicle = np.where(v_rank == 0, ped_count[v_acc], 0)
    per_vehicle = occupants + ped_of_vehicle
    u_veh = np.repeat(np.arange(nv), per_vehicle)
    u_rank = _rank_within(u_veh)
    nu = len(u_veh)
    u_acc = v_acc[u_veh]
    is_ped = u_rank >= occupants[u_veh]
    catu = np.where(is_ped, 3, np.where(u_rank == 0, 1, 2))
    place = np.where(is_ped, 10, np.where(u_rank == 0, 1, _choice(rng, {2: 55, 4: 15, 3: 12, 5: 8, 9: 5, 8: 5}, nu)))  # fmt: skip
    driver_age = np.clip(rng.gamma(5.5, 7.2, nu) + 14, 14, 98)
    other_age = np.clip(rng.gamma(2.2, 17.0, nu) + 1, 0, 99)
    age = np.where(catu == 1, driver_age, other_age).astype(int)
    an_nais = year - age
    sexe = np.where(rng.random(nu) < np.where(catu == 1, 0.72, 0.5), 1, 2)
    sexe = np.where(rng.random(nu) < 0.005, -1, sexe)
    u_catv = catv[u_veh]
    secu1 = np.select(
        [is_ped, np.isin(u_catv, list(TWO_WHEEL)), np.isin(u_catv, list(BICYCLE))],
        [_choice(rng, {0: 40, -1: 50, 8: 10}, nu), _choice(rng, {2: 86, 6: 6, 0: 4, 8: 4}, nu),
         _choice(rng, {0: 50, 2: 35, 8: 10, 4: 5}, nu)],
        default=_choice(rng, {1: 850, 0: 35, 8: 70, 3: 15, 9: 10, -1: 20}, nu),
    )  # fmt: skip

    # --- severity signal ----------------------------------------------------------------
    def any_per_accident(mask: np.ndarray, owner: np.ndarray) -> np.ndarray:
        return np.bincount(owner, weights=mask.astype(float), minlength=n) > 0

    has_ped = ped_count > 0
    has_2w = any_per_accident(np.isin(catv, list(TWO_WHEEL)), v_acc)
    has_bike = any_per_accident(np.isin(catv, list(BICYCLE)), v_acc)
    has_heavy = any_per_accident(np.isin(catv, list(HEAVY)), v_acc)
    has_senior = any_per_accident(age >= 70, u_acc)
    no_safety = any_per_accident((secu1 == 0) & ~is_ped, u_acc)
    fixed_obs = any_per_accident(obs > 0, v_acc) & (nveh == 1)
    col = np.where(nveh == 1, np.where(has_ped, _choice(rng, {6: 85, 7: 10, -1: 5}, n), _choice(rng, {7: 60, 6: 40}, n)),
                   _choice(rng, {3: 38, 2: 22, 1: 14, 6: 12, 4: 6, 5: 6, -1: 2}, n))  # fmt: skip
    weekend_night = (weekday >= 5) & night
    vma_eff = np.where(vma < 0, 50, vma)
    score = (
        -5.6 + 3.8 * has_ped + 2.6 * has_2w + 1.8 * has_bike + 1.2 * has_heavy
        + 0.06 * (vma_eff - 50) + 1.4 * (agg == 1) + 1.2 * np.isin(lum, [3, 4])
        + 0.4 * (lum == 5) + 1.6 * has_senior + 1.5 * fixed_obs + 1.1 * no_safety
        + 0.9 * (col == 1) - 1.1 * (col == 2) + 0.7 * weekend_night + rng.normal(0, 0.35, n)
    )  # fmt: skip
    priority = rng.random(n) < _sigmoid(score)

    # The victim of a priority accident: the most vulnerable user (pedestrian, rider, oldest).
    vulnerability = (
        3.0 * is_ped + 2.0 * np.isin(u_catv, list(TWO_WHEEL | BICYCLE)) + age / 40.0
        + 0.8 * (secu1 == 0) + rng.random(nu)
    )  # fmt: skip
    victim = _argmax_within(u_acc, vulnerability, n)
    grav = np.where(
        rng.random(nu) < np.where(is_ped | np.isin(u_catv, list(TWO_WHEEL | BICYCLE)), 0.75, 0.4),
        4,
        1,
    )
    grav[victim] = np.where(priority, np.where(rng.random(n) < 0.12, 2, 3), 4)
    extra = priority[u_acc] & (rng.random(nu) < 0.08)
    grav = np.where(extra, 3, grav)
    grav = np.where(rng.random(nu) < 0.002, -1, grav)
    grav[victim] = np.where(priority, grav[victim], 4)
    grav[victim] = np.where(priority & ~np.isin(grav[victim], [2, 3]), 3, grav[victim])

    # --- assemble typed frames ------------------------------------------------------------
    veh_base = 150_000 + (year - 2019) * 120_000
    id_vehicule = np.array([_spaced(veh_base + i) for i in range(nv)])
    num_veh = np.array([f"{chr(65 + r % 26)}{1 + r // 26:02d}" for r in v_rank])
    caracteristiques = pl.DataFrame(
        {
            "Num_Acc": acc_ids,
            "jour": day,
            "mois": month,
            "an": np.full(n, year),
            "hrmn": [f"{h:02d}:{m:02d}" for h, m in zip(hour, minute, strict=True)],
            "lum": lum,
            "dep": dep,
            "com": com,
            "agg": agg,
            "int": inter,
            "atm": atm,
            "col": col,
            "adr": rng.choice(STREETS, size=n),
            "lat": np.round(lat, 10),
            "long": np.round(lon, 10),
        }
    )
    ones = np.ones(n, dtype=int)
    lieux = pl.DataFrame(
        {
            "Num_Acc": acc_ids,
            "catr": catr,
            "voie": np.where(np.isin(catr, [1, 2, 3]), rng.integers(1, 999, n).astype(str), rng.choice(STREETS, size=n)),
            "v1": _choice(rng, {0: 70, -1: 27, 2: 3}, n),
            "v2": np.where(rng.random(n) < 0.95, "N/A", rng.choice(["A", "D", "E"], size=n)),
            "circ": _choice(rng, {2: 68, 1: 14, 3: 10, -1: 7, 4: 1}, n),
            "nbv": np.where(catr == 1, _choice(rng, {2: 50, 3: 40, 4: 10}, n), _choice(rng, {2: 65, 1: 14, 4: 9, 3: 6, 0: 3, -1: 3}, n)),
            "vosp": _choice(rng, {0: 84, -1: 8, 1: 3, 2: 3, 3: 2}, n),
            "prof": _choice(rng, {1: 80, 2: 17, 3: 2, 4: 1}, n),
            "pr": np.where(rng.random(n) < 0.5, "(1)", rng.integers(0, 80, n).astype(str)),
            "pr1": np.where(rng.random(n) < 0.5, "(1)", (rng.integers(0, 10, n) * 100).astype(str)),
            "plan": _choice(rng, {1: 80, 2: 9, 3: 10, 4: 1}, n),
            "lartpc": pl.Series([None] * n, dtype=pl.Float64),
            "larrout": np.where(rng.random(n) < 0.9, -1.0, rng.choice([3.0, 4.0, 5.5, 6.0, 7.0, 7.5, 10.0], size=n)),
            "surf": surf,
            "infra": _choice(rng, {0: 70, 9: 9, 5: 8, 2: 4, 6: 3, 3: 3, 1: 2, -1: 1}, n),
            "situ": _choice(rng, {1: 82, 8: 8, 4: 3, 3: 3, 5: 2, 6: 1, -1: 1}, n),
            "vma": vma * ones,
        }
    )  # fmt: skip
    vehicules = pl.DataFrame(
        {
            "Num_Acc": acc_ids[v_acc],
            "id_vehicule": id_vehicule,
            "num_veh": num_veh,
            "senc": _choice(rng, {1: 45, 2: 25, 3: 20, 0: 9, -1: 1}, nv),
            "catv": catv,
            "obs": obs,
            "obsm": obsm,
            "choc": _choice(rng, {1: 43, 3: 13, 2: 13, 8: 6, 4: 6, 7: 6, 0: 5, 5: 2, 6: 2, 9: 3, -1: 1}, nv),
            "manv": _choice(rng, {1: 45, 19: 7, 0: 7, 2: 7, 26: 5, 15: 5, 13: 4, 17: 3, 9: 3, 21: 3, 23: 3, 16: 2, -1: 1, 3: 5}, nv),
            "motor": motor,
            "occutc": _with_nulls(occupants, ~np.isin(catv, [37, 38, 39, 40])),
        }
    )  # fmt: skip
    missing_birth = rng.random(nu) < 0.012
    usagers = pl.DataFrame(
        {
            "Num_Acc": acc_ids[u_acc],
            "id_usager": [_spaced(900_000 + (year - 2019) * 300_000 + i) for i in range(nu)] if year >= 2022 else [None] * nu,
            "id_vehicule": id_vehicule[u_veh],
            "num_veh": num_veh[u_veh],
            "place": place,
            "catu": catu,
            "grav": grav,
            "sexe": sexe,
            "an_nais": _with_nulls(an_nais, missing_birth),
            "trajet": _choice(rng, {5: 45, 0: 20, 1: 13, 9: 7, 4: 5, -1: 4, 2: 3, 3: 3}, nu),
            "secu1": secu1,
            "secu2": np.where(rng.random(nu) < 0.55, -1, _choice(rng, {0: 70, 8: 20, 6: 6, 4: 4}, nu)),
            "secu3": np.where(rng.random(nu) < 0.98, -1, 9),
            "locp": np.where(is_ped, _choice(rng, {3: 30, 2: 20, 1: 15, 5: 10, 9: 10, 4: 5, 6: 5, 0: 5}, nu), np.where(rng.random(nu) < 0.6, -1, 0)),
            "actp": np.where(is_ped, rng.choice(["3", "1", "2", "5", "9", "B", "A", "4", "0"], size=nu), np.where(rng.random(nu) < 0.6, " -1", "0")),
            "etatp": np.where(is_ped, _choice(rng, {1: 80, 2: 12, 3: 8}, nu), -1),
        }
    )  # fmt: skip
    frames = {
        "caracteristiques": caracteristiques,
        "lieux": lieux,
        "usagers": usagers,
        "vehicules": vehicules,
    }
    # Published files are not in date order; the generator's order is already arbitrary.
    return {name: _conform(frame, name) for name, frame in frames.items()}


def _with_nulls(values: np.ndarray, mask: np.ndarray) -> pl.Series:
    return pl.Series(values).set(pl.Series(mask), None)


def _norm(weights: list[float]) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return p / p.sum()


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... within each run of equal consecutive group ids."""
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    sizes = np.diff(np.r_[starts, len(groups)])
    return np.arange(len(groups)) - np.repeat(starts, sizes)


def _argmax_within(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of the largest value of each group (groups sorted, every group non-empty)."""
    order = np.lexsort((-values, groups))
    starts = np.r_[0, np.flatnonzero(np.diff(groups[order])) + 1]
    assert len(starts) == n_groups
    return order[starts]


def _spaced(number: int) -> str:
    """Thousands separated by a no-break space, as the published identifiers: '201 764'."""
    return f"{number:,}".replace(",", NBSP)


def _conform(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    return frame.select(pl.col(name).cast(dtype) for name, dtype in COLUMNS[table].items())


# --- writing the published format ---------------------------------------------------------


def to_published_csv(frame: pl.DataFrame, table: str, year: int) -> bytes:
    """A typed table as the published file: every field quoted, ' -1', decimal commas."""
    columns = [
        c for c in COLUMNS[table] if not (table == "usagers" and c == "id_usager" and year < 2022)
    ]
    text = frame.select(_published(name, frame.schema[name]) for name in columns)
    return text.write_csv(separator=";", quote_style="always", line_terminator="\n").encode("utf-8")


def _published(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if dtype == pl.Utf8:
        out = col
    elif dtype.is_float():
        if name in ("lat", "long"):
            digits = col.abs().mul(10**10).round(0).cast(pl.Int64)
            whole = (digits // 10**10).cast(pl.Utf8)
            frac = (digits % 10**10).cast(pl.Utf8).str.zfill(10)
            out = whole + "," + frac
        else:
            whole = col.abs().floor().cast(pl.Int64).cast(pl.Utf8)
            tenths = (col.abs() * 10).round(0).cast(pl.Int64) % 10
            out = pl.when(tenths == 0).then(whole).otherwise(whole + "," + tenths.cast(pl.Utf8))
        out = pl.when(col < 0).then(" -" + out).otherwise(out)
    elif name == "mois":
        out = col.cast(pl.Utf8).str.zfill(2)  # "09": the month is zero-padded, the day is not
    else:
        out = pl.when(col < 0).then(" " + col.cast(pl.Utf8)).otherwise(col.cast(pl.Utf8))
    return out.fill_null("").alias(name)


def published_filename(table: str, year: int) -> str:
    """The sample uses the regular names; the official misspellings are the http backend's."""
    return f"{table}-{year}.csv"


def write_year(
    folder: Path, year: int, n_accidents: int = DEFAULT_ACCIDENTS, seed: int = SEED
) -> dict[str, Path]:
    """Write the four files of ``year`` into ``folder`` (atomically per file); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for table, frame in generate_year(year, n_accidents, seed).items():
        path = folder / published_filename(table, year)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(to_published_csv(frame, table, year))
        tmp.replace(path)
        paths[table] = path
    return paths


def _complete(folder: Path, year: int) -> bool:
    return all((folder / published_filename(t, year)).exists() for t in COLUMNS)


def ensure_sample(
    folder: Path,
    years: tuple[int, ...] | list[int] = DEFAULT_YEARS,
    n_accidents: int = DEFAULT_ACCIDENTS,
    seed: int = SEED,
) -> Path:
    """Generate the sample years into ``folder`` unless already there (same size and seed)."""
    wanted = f"{n_accidents} {seed}"
    for year in years:
        stamp = folder / f".generated-{year}"
        current = stamp.read_text() if stamp.exists() else None
        if current != wanted or not _complete(folder, int(year)):
            write_year(folder, int(year), n_accidents, seed)
            stamp.write_text(wanted)
    return folder
