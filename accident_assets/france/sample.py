"""Deterministic synthetic BAAC years, written in the exact published format and calibrated on the
first 976 real accidents of 2021.

Format. The four tables of a year are written as the official files are: UTF-8, LF, ``;``
delimiter, every field double-quoted (header, numbers and empty values too), decimal commas,
``2A``/``2B``/``974`` départements with 5-character INSEE communes, ``id_vehicule`` with a
no-break space, ``num_veh`` ``A01``, ``B01``..., ``an_nais`` sometimes empty, ``actp`` sometimes a
letter, ``lartpc`` always empty. Keys are consistent across the four tables. The layout follows
the year, as published:

* years < 2022 (the 2021 files): ``" -1"`` with a leading space for "not filled in" and negative
  numbers in every table, ``lat``/``long`` with 10 decimals, ``N/A`` in ``adr``/``v2``, ``pr``/``pr1``
  ``"(1)"``, no ``id_usager``, one ``lieux`` row per accident, six-digit ``id_vehicule``
  (``"201 764"``);
* years >= 2022 (seen in the 2024 files): ``usagers`` has ``id_usager`` as its second column, ids
  have nine digits (``"203 988 581"``), ``lat``/``long`` 8 decimals, ``lieux`` writes ``"-1"``
  without the space (``usagers``/``vehicules`` keep ``" -1"``), ``v2`` is empty or a letter,
  ``pr``/``pr1`` are ``"-1"`` or numbers, ``pr1`` sometimes with a thousands separator
  (``"2 218"``), and an accident at an intersection (``int`` 2–9) has one ``lieux`` row per road:
  2 (3 at an intersection of more than four branches, ``int`` 5). In the real 2024 head exactly the
  17 accidents at an intersection have two rows (17 of 40); here ~37 % do, the real 2021 share of
  ``int`` 2–9. The first row is the main road: the others never have a higher speed limit or a
  lower road category, so the merge picks it and the features do not depend on the layout.

File names: ``caracteristiques-YYYY.csv``... by default; ``official_names=True`` writes the
published ones (``carcteristiques-2022.csv``, ``caract-2023.csv``, ``caract-2024.csv``).

Calibration (``bench/calibrate_france_sample.py`` measures it). The code tables below are counts
from the first 976 accidents of 2021 (976 accidents, 2,303 users, 1,613 vehicles): lighting per
hour class and agglomeration, intersection, road category and speed limit per agglomeration (and
road), surface per weather, collision type per number of vehicles and pedestrians, obstacles and
engine per vehicle kind, occupants per vehicle kind, user category, seat, sex, trip, safety
equipment per user kind, age quantiles per user category, and plain marginals for the rest.
Sizes follow: 2.36 users, 1.65 vehicles and 0.25 pedestrians per accident, 23 % of accidents with
a pedestrian, 43 % with one vehicle. Months follow national weights, not the 976 (numbered in
report order, they are mostly November-December).

Severity signal (documented so that the models have something real, and not more, to find). Each
accident gets ``P(priority) = sigmoid(score)``, with the coefficients of a logistic regression
fitted on the 976 real accidents (in-sample ROC AUC 0.70, 10-fold 0.68)::

    score = INTERCEPT + 0.26 pedestrian + 0.96 motorised two/three-wheeler + 0.82 bicycle/EDP
          + 1.08 heavy vehicle or bus + 1.07 outside agglomeration - 0.05 (vma - 50) / 10
          + 0.30 night without lighting + 0.77 a user aged 70+ + 0.63 single vehicle
          + 0.27 single vehicle hitting a fixed obstacle + 0.54 a user without safety equipment
          + 0.60 frontal collision - 0.26 rear-end collision + 0.25 per passenger

(each term an indicator of the accident unless stated), ``INTERCEPT`` set so that 37.4 % of the
accidents are "Priority", as in the real ones. Measured by ``bench/calibrate_france_sample.py``
with the training lane's default models, ROC AUC / F1 of class 1:

=====================  ==========================  ====================================
model                  976 real accidents, 70/30   sample, trained 2021, judged 2022
=====================  ==========================  ====================================
logistic_regression    0.651 / 0.541               0.693 / 0.570
lightgbm               0.722 / 0.527               0.687 / 0.500
xgboost                0.718 / 0.537               0.689 / 0.504
random_forest          0.703 / 0.489               0.695 / 0.493
=====================  ==========================  ====================================

(the previous sample gave ROC AUC ~0.91, F1 ~0.72). At 37.4 % priority, predicting "Priority"
for every accident already scores F1 0.544.

A priority accident has one user killed (16.5 % of severe users) or hospitalized, preferably its
most vulnerable (pedestrian, rider, oldest), sometimes more; the others are unharmed (1) or
lightly injured (4) with the real shares per user kind. Every accident
has at least one injured user, as in BAAC (injury accidents only).
"""

from __future__ import annotations

import calendar
from pathlib import Path

import numpy as np
import polars as pl

from accident_assets.france.keys import SAMPLE_ACCIDENTS, SAMPLE_SEED, SAMPLE_YEARS
from accident_assets.france.reader import COLUMNS
from accident_assets.france.transforms import FIXED_OBSTACLES, SENIOR_AGE, VEHICLE_CLASSES

NEW_LAYOUT_YEAR = 2022  # id_usager, several lieux rows, 8 decimals, "-1" in lieux

NBSP = "\u00a0"
Table = dict[int, int] | dict[str, int]

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
MONTH_WEIGHTS = [7, 7, 8, 8, 9, 10, 10, 8, 9, 9, 8, 7]  # national, not the 976 (see docstring)

# --- fitted on the 976 real accidents of 2021 (counts) ----------------------------------------
HOUR = [22, 19, 13, 8, 14, 10, 19, 37, 50, 37, 33, 52, 46, 55, 38, 61, 89, 89, 105, 63, 40, 27, 27, 22]  # fmt: skip
AGG = {2: 695, 1: 281}
# Lighting per hour class, then agg; day 8-17 h, dusk 6-7 h and 18-20 h, night 21-5 h.
LUM = {
    "day": {1: {1: 133, 2: 13, 3: 6, 4: 1}, 2: {1: 337, 2: 36, 5: 18, 3: 4, 4: 2}},
    "dusk": {1: {3: 39, 1: 16, 5: 8, 2: 5, 4: 1}, 2: {5: 116, 1: 45, 2: 24, 3: 6, 4: 4}},
    "night": {1: {3: 51, 5: 5, 4: 2, 2: 1}, 2: {5: 90, 3: 9, 4: 4}},
}
INT = {
    1: {1: 234, 9: 14, 2: 12, 3: 8, 6: 8, 8: 3, 4: 2},
    2: {1: 380, 2: 94, 3: 84, 6: 54, 9: 49, 4: 17, 8: 8, 7: 5, 5: 4},
}
ATM = {1: 757, 2: 100, 8: 47, 3: 20, 5: 19, 7: 18, -1: 6, 9: 5, 4: 4}
CATR = {
    1: {3: 120, 1: 59, 2: 38, 7: 36, 4: 21, 9: 6, 6: 1},
    2: {4: 411, 3: 183, 7: 57, 2: 18, 9: 12, 6: 10, 1: 4},
}
# Speed limit per agg, then road: road 1 motorway (catr 1), 2 national/departmental (2, 3), 3 other.
VMA = {
    1: {
        1: {130: 18, 90: 17, 110: 10, 70: 9, -1: 2, 30: 2, 50: 1},
        2: {80: 83, 90: 25, 70: 23, 110: 10, 50: 10, -1: 4, 30: 2, 60: 1},
        3: {80: 19, 50: 15, 70: 10, 90: 9, -1: 5, 30: 2, 10: 2, 110: 2},
    },
    2: {
        1: {50: 2, 90: 1, -1: 1},
        2: {50: 168, 30: 18, 70: 5, 80: 3, 40: 2, -1: 2, 90: 2, 10: 1},
        3: {50: 375, 30: 82, -1: 9, 70: 7, 10: 4, 5: 3, 40: 2, 80: 2, 20: 2, 15: 1, 25: 1, 1: 1, 90: 1},
    },
}  # fmt: skip
NBV = {
    1: {4: 21, 3: 14, 6: 7, 2: 6, 8: 5, 1: 4, -1: 2, 5: 2, 0: 1, 7: 1},
    2: {2: 257, 4: 39, 1: 26, 3: 17, 0: 10, -1: 5, 5: 2, 7: 2, 6: 1},
    3: {2: 330, 1: 82, 4: 42, 3: 36, 0: 25, -1: 20, 6: 10, 5: 8, 10: 1},
}
WET_ATM = (2, 3, 4, 5)  # rain, snow, fog
SURF = {
    True: {2: 122, 1: 12, 7: 3, 3: 2, 9: 2, 5: 1, 4: 1},
    False: {1: 746, 2: 70, 9: 9, -1: 4, 7: 2, 6: 1, 8: 1},
}
CIRC = {2: 623, 1: 148, 3: 133, -1: 63, 4: 9}
VOSP = {0: 828, 3: 48, 2: 37, -1: 33, 1: 30}
PROF = {1: 790, 2: 164, 3: 12, 4: 10}
PLAN = {1: 784, 3: 91, 2: 90, 4: 10, -1: 1}
INFRA = {0: 772, 5: 62, 9: 53, 6: 18, 3: 16, 2: 15, 4: 15, -1: 12, 1: 6, 8: 6, 7: 1}
SITU = {1: 821, 3: 48, 8: 44, 4: 29, 6: 18, 5: 11, 2: 4, -1: 1}
V1 = {0: 800, -1: 176}
LARROUT = {-1.0: 930, 4.0: 24, 5.5: 5, 5.0: 4, 3.0: 2, 10.0: 2, 7.0: 2, 13.5: 1, 9.0: 1, 12.0: 1, 3.5: 1}  # fmt: skip
PEDESTRIANS = {0: 752, 1: 209, 2: 14, 3: 1}
VEHICLES = {True: {1: 220, 2: 4}, False: {2: 497, 1: 197, 3: 45, 4: 8, 5: 4, 7: 1}}  # by pedestrian
# Collision type per (vehicles, pedestrian): "1ped", "1", "2", "3+".
COL = {
    "1ped": {6: 194, 1: 13, 3: 6, 7: 4, 2: 2, -1: 1},
    "1": {6: 124, 7: 61, 1: 4, 3: 4, 5: 3, 2: 1},
    "2": {3: 283, 2: 116, 1: 80, 6: 14, 7: 5, 5: 3},
    "3+": {4: 26, 5: 23, 6: 5, 2: 4},
}
CATV = {7: 1021, 10: 99, 33: 78, 1: 75, 2: 61, 30: 55, 32: 41, 50: 25, 31: 25, 99: 22, 34: 19,
        15: 12, 80: 10, 0: 9, 39: 9, 3: 9, 43: 8, 40: 6, 37: 5, 13: 5, 60: 4, 14: 4, 17: 4, 38: 3,
        36: 2, 35: 1, 20: 1}  # fmt: skip
OBS = {
    "single": {0: 45, 13: 23, 2: 20, 1: 15, 6: 15, 3: 15, 8: 11, 4: 11, 12: 11, 14: 7, 16: 5,
               15: 5, 9: 4, 7: 4, 5: 2, 10: 2, 17: 1, 11: 1},
    "other": {0: 1320, 1: 27, 3: 10, 9: 7, 14: 7, 6: 7, 8: 6, 13: 6, 2: 4, 7: 4, 15: 4, 16: 3,
              -1: 3, 12: 3, 4: 2, 10: 1, 5: 1, 11: 1},
}  # fmt: skip
OBSM = {
    "pedestrian": {1: 212, 0: 5, 2: 5, -1: 1, 9: 1},  # the vehicle that hit the pedestrian(s)
    "single": {0: 186, 2: 6, 6: 4, 9: 1},
    "other": {2: 1074, 0: 91, 9: 14, -1: 3, 1: 3, 4: 2, 6: 1},
}
BICYCLE, EDP = (1,), (50, 60, 80)
MOTOR = {
    "bicycle": {5: 63, 0: 9, -1: 3},
    "edp": {3: 33, 5: 5, -1: 1},
    "other": {1: 1332, 0: 76, 2: 30, 3: 30, -1: 22, 6: 8, 5: 1},
}
CHOC = {1: 617, 3: 251, 2: 211, 4: 145, 8: 104, 0: 97, 7: 77, 5: 41, 6: 41, 9: 23, -1: 6}
MANV = {1: 663, 15: 145, 2: 140, 0: 98, 13: 73, 26: 71, 9: 57, 19: 52, 17: 49, 23: 46, 16: 45,
        21: 39, 14: 33, 5: 15, 11: 12, 20: 11, 3: 11, 10: 10, 12: 8, 4: 7, 22: 6, 25: 6, 18: 6,
        7: 3, 24: 2, 6: 2, -1: 2, 8: 1}  # fmt: skip
SENC = {1: 684, 2: 467, 3: 323, 0: 133, -1: 6}
# Users other than pedestrians per vehicle (the driver included).
OCCUPANTS = {
    "rider": {1: 353, 2: 48},
    "bus": {1: 21, 4: 1, 5: 1},
    "other": {1: 928, 2: 178, 3: 44, 4: 29, 5: 8, 6: 2},
}
PASSENGER_PLACE = {2: 286, 4: 61, 3: 54, 5: 14, 9: 13, 7: 9, 8: 6, 6: 5, 1: 2}
UNKNOWN_DRIVER = 65 / 1613  # sexe -1 and no birth year: mostly drivers who left the scene
# Per user category: 1 driver, 2 passenger, 3 pedestrian.
SEXE = {1: {1: 1121, 2: 427}, 2: {1: 226, 2: 224}, 3: {2: 124, 1: 116}}
TRAJET = {
    1: {5: 548, 0: 454, 1: 191, 4: 132, 9: 131, -1: 81, 3: 57, 2: 19},
    2: {5: 234, 0: 126, 9: 44, 3: 15, 4: 14, 1: 13, 2: 4},
    3: {5: 87, 0: 74, 9: 21, 3: 19, 2: 18, 1: 13, 4: 5, -1: 3},
}
# Age at 0, 5, 10... 100 % of each category (inverse-CDF sampling between them).
AGE_QUANTILES = {
    1: [7, 18, 20, 21, 23, 25, 27, 29, 31, 34, 37, 40, 42, 46, 49, 52, 56, 60, 66, 75, 97],
    2: [0, 4, 9, 13, 15, 17, 18, 19, 20, 22, 23, 25, 26, 29, 35, 39, 45, 51, 58, 67, 94],
    3: [0, 6, 12, 14, 17, 21, 26, 31, 36, 43, 48, 53, 56, 60, 63, 68, 71, 74, 77, 84, 101],
}
# Safety equipment per user kind: pedestrian, motorised two-wheeler, bicycle/EDP, other.
SECU1 = {
    "pedestrian": {0: 207, 8: 25, -1: 7, 4: 1},
    "two_wheel": {2: 298, 8: 20, 0: 5, 1: 5, -1: 3, 6: 1},
    "bicycle": {2: 47, 8: 46, 0: 21, -1: 2, 9: 1},
    "other": {1: 1327, 8: 180, -1: 59, 0: 32, 3: 13, 2: 3},
}
SECU2 = {
    "pedestrian": {-1: 212, 8: 23, 0: 5},
    "two_wheel": {6: 127, 0: 89, -1: 67, 8: 43, 4: 3},
    "bicycle": {-1: 54, 0: 50, 8: 6, 4: 5},
    "other": {0: 693, -1: 656, 8: 194, 5: 52, 4: 10, 9: 3},
}
SECU3 = {-1: 2282, 9: 10, 0: 8, 5: 2, 6: 1}
LOCP = {3: 77, 2: 51, 1: 37, 4: 30, 5: 18, 9: 14, 8: 6, 6: 4, 0: 3}  # pedestrians
ACTP = {"3": 175, "1": 16, "9": 14, "B": 12, "2": 11, "5": 6, "4": 2, "0": 2, "8": 1, "A": 1}
ETATP = {1: 184, 2: 45, 3: 9, -1: 2}
LOCP_OTHER = {-1: 1400, 0: 663}  # non-pedestrians: locp -1/0, actp " -1"/"0" alike
# Injury of the users who are not the accident's severe ones: P(light injury, grav 4) per kind.
LIGHT_INJURY = {"pedestrian": 129 / 132, "two_wheel": 193 / 221, "bicycle": 71 / 77, "other": 529 / 1454}  # fmt: skip
KILLED_SHARE = 69 / 417  # of the killed or hospitalized users
EXTRA_SEVERE = 0.06  # other users of a priority accident also severe: 1.14 severe users on average

# The fitted severity model (see the module docstring).
INTERCEPT = -2.13  # 37.4 % priority over 2 x 56,000 sample accidents
SEVERITY = {
    "pedestrian": 0.26, "two_wheel": 0.96, "bicycle": 0.82, "heavy": 1.08, "outside_agg": 1.07,
    "vma_per_10_over_50": -0.05, "dark": 0.30, "senior": 0.77, "single": 0.63,
    "single_fixed_obstacle": 0.27, "no_safety": 0.54, "frontal": 0.60, "rear_end": -0.26,
    "passengers": 0.25,
}  # fmt: skip

TWO_WHEEL = VEHICLE_CLASSES["motorized_2_3_wheel"]
RIDER = (*VEHICLE_CLASSES["motorized_2_3_wheel"], *VEHICLE_CLASSES["bicycle_edp"])
BUS = VEHICLE_CLASSES["public_transport"]
HEAVY = (*VEHICLE_CLASSES["heavy"], *BUS)

# Which columns the calibration tests and bench compare with the real files.
CALIBRATED_COLUMNS = {
    "caracteristiques": ["lum", "agg", "int", "atm", "col"],
    "lieux": ["catr", "circ", "vosp", "prof", "plan", "surf", "infra", "situ", "vma"],
    "usagers": ["place", "catu", "sexe", "trajet", "secu1", "secu2", "secu3"],
    "vehicules": ["catv", "obs", "obsm", "choc", "manv", "motor"],
}


def _choice(rng: np.random.Generator, weights: Table, size: int) -> np.ndarray:
    keys = np.array(list(weights))
    p = np.array(list(weights.values()), dtype=float)
    return rng.choice(keys, size=size, p=p / p.sum())


def _by_group(
    rng: np.random.Generator, tables: dict, group: np.ndarray, *more: np.ndarray
) -> np.ndarray:
    """One draw per row from ``tables[group][more[0]]...`` (nested tables, one level per group)."""
    out = np.zeros(len(group), dtype=int)
    for key, table in tables.items():
        rows = np.flatnonzero(group == key)
        if len(rows):
            sub = [g[rows] for g in more]
            out[rows] = _by_group(rng, table, *sub) if more else _choice(rng, table, len(rows))
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_year(
    year: int, n_accidents: int = SAMPLE_ACCIDENTS, seed: int = SAMPLE_SEED
) -> dict[str, pl.DataFrame]:
    """The four tables of ``year`` as typed frames (the reader's schema), deterministic per seed."""
    rng = np.random.default_rng([seed, year, n_accidents])
    n = n_accidents
    new_layout = year >= NEW_LAYOUT_YEAR
    acc_ids = year * 100_000_000 + np.arange(1, n + 1, dtype=np.int64)

    # --- accidents ----------------------------------------------------------------------
    month = rng.choice(np.arange(1, 13), size=n, p=_norm(MONTH_WEIGHTS))
    days_in = np.array([calendar.monthrange(year, m)[1] for m in range(1, 13)])
    day = (rng.random(n) * days_in[month - 1]).astype(int) + 1
    hour = rng.choice(np.arange(24), size=n, p=_norm(HOUR))
    minute = rng.integers(0, 60, size=n)
    hour_class = np.where(
        (hour >= 8) & (hour <= 17), "day", np.where(np.isin(hour, [6, 7, 18, 19, 20]), "dusk", "night")
    )  # fmt: skip
    agg = _choice(rng, AGG, n)
    lum = _by_group(rng, LUM, hour_class, agg)
    inter = _by_group(rng, INT, agg)
    atm = _choice(rng, ATM, n)
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

    # --- the main road of each accident -------------------------------------------------
    catr = _by_group(rng, CATR, agg)
    road = np.select([catr == 1, np.isin(catr, [2, 3])], [1, 2], default=3)
    vma = _by_group(rng, VMA, agg, road)
    surf = _by_group(rng, SURF, np.isin(atm, WET_ATM))

    # --- vehicles -----------------------------------------------------------------------
    ped_count = _choice(rng, PEDESTRIANS, n)
    has_ped = ped_count > 0
    nveh = _by_group(rng, VEHICLES, has_ped)
    v_acc = np.repeat(np.arange(n), nveh)
    v_rank = _rank_within(v_acc)
    nv = len(v_acc)
    catv = _choice(rng, CATV, nv)
    motor = _by_group(
        rng, MOTOR, np.select([np.isin(catv, BICYCLE), np.isin(catv, EDP)], ["bicycle", "edp"], "other")
    )  # fmt: skip
    single = nveh == 1
    obs = _by_group(rng, OBS, np.where(single[v_acc] & ~has_ped[v_acc], "single", "other"))
    hit_ped = has_ped[v_acc] & (v_rank == 0)
    obsm = _by_group(
        rng, OBSM, np.select([hit_ped, single[v_acc]], ["pedestrian", "single"], "other")
    )
    col = _by_group(
        rng, COL, np.select([single & has_ped, single, nveh == 2], ["1ped", "1", "2"], "3+")
    )

    # --- users --------------------------------------------------------------------------
    vehicle_kind = np.select([np.isin(catv, RIDER), np.isin(catv, BUS)], ["rider", "bus"], "other")  # fmt: skip
    occupants = _by_group(rng, OCCUPANTS, vehicle_kind)
    per_vehicle = occupants + np.where(v_rank == 0, ped_count[v_acc], 0)  # pedestrians: vehicle A
    u_veh = np.repeat(np.arange(nv), per_vehicle)
    u_rank = _rank_within(u_veh)
    nu = len(u_veh)
    u_acc = v_acc[u_veh]
    is_ped = u_rank >= occupants[u_veh]
    catu = np.where(is_ped, 3, np.where(u_rank == 0, 1, 2))
    place = np.where(is_ped, 10, np.where(u_rank == 0, 1, _choice(rng, PASSENGER_PLACE, nu)))
    quantiles = np.array([AGE_QUANTILES[c] for c in catu], dtype=float)
    grid = np.linspace(0, 1, quantiles.shape[1])
    u = rng.random(nu) * (len(grid) - 1)  # inverse CDF, linear between the fitted quantiles
    low = np.minimum(u.astype(int), len(grid) - 2)
    rows = np.arange(nu)
    age = (quantiles[rows, low] + (u - low) * (quantiles[rows, low + 1] - quantiles[rows, low])).astype(int)  # fmt: skip
    unknown = (catu == 1) & (rng.random(nu) < UNKNOWN_DRIVER)
    sexe = np.where(unknown, -1, _by_group(rng, SEXE, catu))
    u_catv = catv[u_veh]
    user_kind = np.select(
        [is_ped, np.isin(u_catv, TWO_WHEEL), np.isin(u_catv, RIDER)],
        ["pedestrian", "two_wheel", "bicycle"],
        "other",
    )
    secu1 = _by_group(rng, SECU1, user_kind)

    # --- severity signal ----------------------------------------------------------------
    def any_of(mask: np.ndarray, owner: np.ndarray) -> np.ndarray:
        return np.bincount(owner, weights=mask.astype(float), minlength=n) > 0

    vma_known = np.where(vma < 0, 50, vma)
    terms = {
        "pedestrian": has_ped,
        "two_wheel": any_of(np.isin(catv, TWO_WHEEL), v_acc),
        "bicycle": any_of(np.isin(catv, VEHICLE_CLASSES["bicycle_edp"]), v_acc),
        "heavy": any_of(np.isin(catv, HEAVY), v_acc),
        "outside_agg": agg == 1,
        "vma_per_10_over_50": (vma_known - 50) / 10,
        "dark": np.isin(lum, [3, 4]),
        "senior": any_of(~unknown & (age >= SENIOR_AGE), u_acc),
        "single": single,
        "single_fixed_obstacle": single & any_of(np.isin(obs, FIXED_OBSTACLES), v_acc),
        "no_safety": any_of(secu1 == 0, u_acc),
        "frontal": col == 1,
        "rear_end": col == 2,
        "passengers": np.bincount(u_acc, weights=(catu == 2).astype(float), minlength=n),
    }
    score = INTERCEPT + sum(SEVERITY[name] * np.asarray(x, float) for name, x in terms.items())
    priority = rng.random(n) < _sigmoid(score)

    # The severe user of a priority accident: the most vulnerable (pedestrian, rider, oldest).
    vulnerability = 3.0 * is_ped + 2.0 * np.isin(u_catv, RIDER) + age / 40.0 + rng.random(nu)
    victim = _argmax_within(u_acc, vulnerability, n)
    light = rng.random(nu) < _by_group_value(LIGHT_INJURY, user_kind)
    grav = np.where(light, 4, 1)
    grav = np.where(priority[u_acc] & (rng.random(nu) < EXTRA_SEVERE), 3, grav)
    grav = np.where(rng.random(nu) < 0.001, -1, grav)
    grav[victim] = np.where(priority, 3, 4)  # a non-priority accident still injures someone
    grav = np.where((grav == 3) & (rng.random(nu) < KILLED_SHARE), 2, grav)

    # --- assemble typed frames ------------------------------------------------------------
    if new_layout:  # nine-digit ids from 2022 on ("155 781 758", "203 988 581")
        veh_base, user_base = 155_781_758 + (year - 2022) * 2_000_000, 203_988_581 + (year - 2022) * 3_000_000  # fmt: skip
    else:
        veh_base, user_base = 150_000 + (year - 2019) * 120_000, 0
    id_vehicule = np.array([_spaced(veh_base + i) for i in range(nv)])
    num_veh = np.array([f"{chr(65 + r % 26)}{1 + r // 26:02d}" for r in v_rank])
    decimals = 8 if new_layout else 10
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
            "lat": np.round(lat, decimals),
            "long": np.round(lon, decimals),
        }
    )
    lieux = _lieux(rng, acc_ids, agg, inter, catr, vma, surf, new_layout)
    vehicules = pl.DataFrame(
        {
            "Num_Acc": acc_ids[v_acc],
            "id_vehicule": id_vehicule,
            "num_veh": num_veh,
            "senc": _choice(rng, SENC, nv),
            "catv": catv,
            "obs": obs,
            "obsm": obsm,
            "choc": _choice(rng, CHOC, nv),
            "manv": _choice(rng, MANV, nv),
            "motor": motor,
            "occutc": _with_nulls(occupants, ~np.isin(catv, BUS)),
        }
    )
    locp_other = _choice(rng, LOCP_OTHER, nu)
    usagers = pl.DataFrame(
        {
            "Num_Acc": acc_ids[u_acc],
            "id_usager": [_spaced(user_base + i) for i in range(nu)] if new_layout else [None] * nu,
            "id_vehicule": id_vehicule[u_veh],
            "num_veh": num_veh[u_veh],
            "place": place,
            "catu": catu,
            "grav": grav,
            "sexe": sexe,
            "an_nais": _with_nulls(year - age, unknown),
            "trajet": _by_group(rng, TRAJET, catu),
            "secu1": secu1,
            "secu2": _by_group(rng, SECU2, user_kind),
            "secu3": _choice(rng, SECU3, nu),
            "locp": np.where(is_ped, _choice(rng, LOCP, nu), locp_other),
            "actp": np.where(is_ped, _choice(rng, ACTP, nu), np.where(locp_other < 0, " -1", "0")),
            "etatp": np.where(is_ped, _choice(rng, ETATP, nu), -1),
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


def _lieux(
    rng: np.random.Generator,
    acc_ids: np.ndarray,
    agg: np.ndarray,
    inter: np.ndarray,
    catr: np.ndarray,
    vma: np.ndarray,
    surf: np.ndarray,
    new_layout: bool,
) -> pl.DataFrame:
    """The lieux rows: the main road, then (2022+) one row per other road of an intersection."""
    n = len(acc_ids)
    roads = 1 + (new_layout & (inter >= 2)) + (new_layout & (inter == 5))
    owner = np.repeat(np.arange(n), roads)
    main = _rank_within(owner) == 0
    m = len(owner)
    # Another road never outranks the main one (speed limit, then road category): the merge keeps
    # the main road whichever layout the year has.
    other_catr = np.maximum(catr[owner], _by_group(rng, CATR, agg[owner]))
    other_vma = np.minimum(vma[owner], _by_group(rng, VMA, agg[owner], np.full(m, 3)))
    named = np.isin(catr[owner], [1, 2, 3])
    voie = np.where(named, rng.integers(1, 999, m).astype(str), rng.choice(STREETS, size=m))
    if new_layout:
        no_pr = rng.random(m) < 0.55
        pr = np.where(no_pr, "-1", rng.integers(0, 60, m).astype(str))
        # Metres past the marker; from 2022 a spreadsheet-formatted "2 218" now and then.
        pr1 = np.where(no_pr, "-1", [_spaced(int(v)) for v in rng.integers(0, 1300, m)])
        v2 = np.where(rng.random(m) < 0.95, None, rng.choice(["A", "D", "E"], size=m))
        # No "N/A" from 2022: an unknown road name is empty, as for some second roads.
        voie = np.where((voie == "N/A") | (~main & (rng.random(m) < 0.15)), None, voie)
    else:
        pr = np.where(rng.random(m) < 0.35, "(1)", rng.integers(0, 80, m).astype(str))
        pr1 = np.where(rng.random(m) < 0.35, "(1)", (rng.integers(0, 10, m) * 100).astype(str))
        v2 = np.where(rng.random(m) < 0.94, "N/A", rng.choice(["A", "D", "E"], size=m))
    road = np.select([catr[owner] == 1, np.isin(catr[owner], [2, 3])], [1, 2], default=3)
    return pl.DataFrame(
        {
            "Num_Acc": acc_ids[owner],
            "catr": np.where(main, catr[owner], other_catr),
            "voie": voie.tolist(),
            "v1": _choice(rng, V1, m),
            "v2": v2.tolist(),
            "circ": _choice(rng, CIRC, m),
            "nbv": _by_group(rng, NBV, road),
            "vosp": _choice(rng, VOSP, m),
            "prof": _choice(rng, PROF, m),
            "pr": pr,
            "pr1": pr1,
            "plan": _choice(rng, PLAN, m),
            "lartpc": pl.Series([None] * m, dtype=pl.Float64),
            "larrout": _choice(rng, LARROUT, m),
            "surf": surf[owner],  # one weather for all the roads of an accident
            "infra": _choice(rng, INFRA, m),
            "situ": _choice(rng, SITU, m),
            "vma": np.where(main, vma[owner], other_vma),
        }
    )


def _by_group_value(values: dict[str, float], group: np.ndarray) -> np.ndarray:
    return np.select([group == key for key in values], list(values.values()), default=0.0)


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
    """A typed table as the published file of ``year``: every field quoted, decimal commas, and
    the year's layout (see the module docstring)."""
    new_layout = year >= NEW_LAYOUT_YEAR
    columns = [c for c in COLUMNS[table] if new_layout or (table, c) != ("usagers", "id_usager")]
    # From 2022 only lieux drops the space of " -1"; usagers and vehicules keep it.
    spaced_negatives = not (new_layout and table == "lieux")
    decimals = 8 if new_layout else 10
    text = frame.select(
        _published(name, frame.schema[name], spaced_negatives, decimals) for name in columns
    )
    return text.write_csv(separator=";", quote_style="always", line_terminator="\n").encode("utf-8")


def _published(name: str, dtype: pl.DataType, spaced_negatives: bool, decimals: int) -> pl.Expr:
    col = pl.col(name)
    if dtype == pl.Utf8:
        out = col
    elif dtype.is_float():
        if name in ("lat", "long"):
            digits = col.abs().mul(10**decimals).round(0).cast(pl.Int64)
            whole = (digits // 10**decimals).cast(pl.Utf8)
            frac = (digits % 10**decimals).cast(pl.Utf8).str.zfill(decimals)
            out = whole + "," + frac
        else:
            whole = col.abs().floor().cast(pl.Int64).cast(pl.Utf8)
            tenths = (col.abs() * 10).round(0).cast(pl.Int64) % 10
            out = pl.when(tenths == 0).then(whole).otherwise(whole + "," + tenths.cast(pl.Utf8))
        # Coordinates keep the space in every year (" -0,39851000"); codes follow the table.
        sign = " -" if spaced_negatives or name in ("lat", "long") else "-"
        out = pl.when(col < 0).then(sign + out).otherwise(out)
    elif name == "mois":
        out = col.cast(pl.Utf8).str.zfill(2)  # "09": the month is zero-padded, the day is not
    elif spaced_negatives:
        out = pl.when(col < 0).then(" " + col.cast(pl.Utf8)).otherwise(col.cast(pl.Utf8))
    else:
        out = col.cast(pl.Utf8)
    return out.fill_null("").alias(name)


def official_filename(table: str, year: int) -> str:
    """The name data.gouv.fr gives the file: the characteristics file is renamed from 2022."""
    if table == "caracteristiques" and year == 2022:
        return "carcteristiques-2022.csv"  # sic, as published
    if table == "caracteristiques" and year >= 2023:
        return f"caract-{year}.csv"
    return f"{table}-{year}.csv"


def published_filename(table: str, year: int, official_names: bool = False) -> str:
    """Regular names by default (what the sample backend reads); the published ones on request."""
    return official_filename(table, year) if official_names else f"{table}-{year}.csv"


def write_year(
    folder: Path,
    year: int,
    n_accidents: int = SAMPLE_ACCIDENTS,
    seed: int = SAMPLE_SEED,
    *,
    official_names: bool = False,
) -> dict[str, Path]:
    """Write the four files of ``year`` into ``folder`` (atomically per file); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for table, frame in generate_year(year, n_accidents, seed).items():
        path = folder / published_filename(table, year, official_names)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(to_published_csv(frame, table, year))
        tmp.replace(path)
        paths[table] = path
    return paths


def _complete(folder: Path, year: int) -> bool:
    return all((folder / published_filename(t, year)).exists() for t in COLUMNS)


def ensure_sample(
    folder: Path,
    years: tuple[int, ...] | list[int] = SAMPLE_YEARS,
    n_accidents: int = SAMPLE_ACCIDENTS,
    seed: int = SAMPLE_SEED,
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
