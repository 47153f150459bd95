"""The offline sample: deterministic days of crashes in the Socrata API's JSON shape.

Same seed and day give the same rows, whichever run asks. Every figure below was fitted on the
real portal exports in ``../shared/data/nyc_collisions`` by ``bench/calibrate_nyc_sample.py``
(January 2023 citywide, 7,244 crashes in 31 days, unless said otherwise); that script also puts
31 generated days beside the real month, statistic by statistic (``docs/benchmarks.md``, "NYC
sample calibration").

- **Place.** 186 fixed H3 resolution-7 cells (the real month has 183 active ones), grown as
  compact blobs around a centre per borough with the real number of cells per borough. A cell's
  rate is its borough's real mean (crashes per active cell per day: Manhattan 2.29, Brooklyn
  1.73, Bronx 1.40, Queens 0.93, Staten Island 0.33) times a draw from the real distribution of
  a cell's rate over its borough's mean (quantile function below; coefficient of variation
  0.76, Gamma MLE shape 1.26, but at most 3.4×), fixed per seed. Real cells are skewed toward
  quiet ones but are *not* long-tailed at the top: the busiest 1 %/5 %/20 % of cells have
  4 %/18 %/50 % of the crashes (per-cell rates: Gamma shape 0.96, log-normal sigma 1.30,
  busiest cell 5.4× the median). A crash lies uniformly in a disk inside its cell.
- **Time.** Hour shares per day type (Monday–Friday, Saturday, Sunday) as fitted on the real
  month: weekday peaks at 8:00 and 16:00–18:00 (5.8× the 4:00 trough), weekend nights busy
  (28 % of Sunday's crashes between 0:00 and 5:59). One profile for every cell: in the real
  month no cell × hour pattern repeats from day to day (1/k of cell × hour sums over the month
  given the cell's share and the hour's share: -0.003, i.e. none).
- **Volume.** A day's crashes are Poisson around 281.4 × weekday factor × month factor (× 0.857
  on NY holidays) × a Gamma day multiplier of 1/k 0.0054 (real citywide January beyond its
  weekday factors). Weekday factors: citywide January with its holidays scaled up (0.93–1.09);
  month and holiday factors: the 566-day Manhattan series (Jan 0.84 .. Jun 1.13, without the
  Omicron January 2022 and the export's incomplete last month). The base makes January 2023
  average the real 233.7 crashes a day; over a year the mean is about 276 (5–95 %: 207–345).
- **Overdispersion.** Each cell-day gets a Gamma multiplier (1/k 0.022) and each cell-hour of
  it another (1/k 0.095), so counts given the day's total have the real excess over Poisson (as
  measured by the script: cell-day 1/k 0.013, cell-hour 0.096, which read -0.016 and -0.025 on
  pure Poisson days): noise no model can learn, as in the city.
- **Severity.** Persons hurt (injured + killed) per crash from the real frequencies (61 % none,
  31 % one, 8 % more); 2.3 killed per 1,000 crashes; 1.12 incidents per crash as in the city.
- **Data quality, as in the real exports.** 6.6 % of rows have no geocode (keys absent), 1.1 %
  the bogus ``0``/``0`` one; the borough (and ZIP) is absent in 30 % of geocoded rows and 80 %
  of the others (34 % in all).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import h3
import holidays
import numpy as np

from accident_assets.nyc import geo

# -- fitted by bench/calibrate_nyc_sample.py on ../shared/data/nyc_collisions ---------------------
# Month and holiday factors: Manhattan 2022-01..2023-07 (citywide data covers too few months);
# the base makes January 2023 average the real 233.7 crashes a day.
BASE_DAILY = 281.4
# Mon..Sun, citywide January 2023 with its holidays scaled by HOLIDAY_FACTOR (4-5 days each, so
# about ±5 %; Manhattan's 566 days give 0.883 .. 1.108, a stronger commuter week).
WEEKDAY_FACTOR = np.array([0.993, 1.005, 1.008, 1.091, 1.027, 0.927, 0.947])
MONTH_FACTOR = np.array(
    [0.843, 0.869, 0.990, 0.999, 1.099, 1.132, 1.033, 1.022, 1.107, 1.062, 0.906, 0.939]
)
HOLIDAY_FACTOR = 0.857
# Negative-binomial 1/k (squared coefficient of variation) of the Gamma multipliers.
# Day: citywide January beyond its weekday factors (Manhattan's 566 days: 0.011, but a borough
# varies more than the city it is part of). Cell-day and cell-hour: chosen so that the script's
# estimators, run on 31 sample days, average the real month's 0.0126 and 0.096 (8 seeds: 0.0125
# ± 0.012 and 0.089 ± 0.044). The estimators measure around shares fitted on the same month,
# which takes variance away: on pure Poisson days they read -0.016 and -0.025, not 0.
DAY_INVERSE_K = 0.0054
CELL_DAY_INVERSE_K = 0.022
CELL_HOUR_INVERSE_K = 0.095
# Hour shares per day type, January 2023 citywide.
# fmt: off
HOUR_SHARE = {
    "weekday": np.array([
        0.0307, 0.0205, 0.0121, 0.0127, 0.0117, 0.0191, 0.0418, 0.0456,
        0.0657, 0.0487, 0.0507, 0.0453, 0.0470, 0.0487, 0.0555, 0.0587,
        0.0621, 0.0665, 0.0678, 0.0492, 0.0430, 0.0337, 0.0331, 0.0301,
    ]),
    "saturday": np.array([
        0.0578, 0.0397, 0.0306, 0.0329, 0.0397, 0.0283, 0.0295, 0.0249,
        0.0272, 0.0295, 0.0454, 0.0397, 0.0601, 0.0431, 0.0476, 0.0420,
        0.0295, 0.0590, 0.0488, 0.0420, 0.0465, 0.0578, 0.0385, 0.0601,
    ]),
    "sunday": np.array([
        0.0611, 0.0490, 0.0342, 0.0500, 0.0416, 0.0426, 0.0231, 0.0204,
        0.0250, 0.0352, 0.0352, 0.0370, 0.0444, 0.0361, 0.0518, 0.0426,
        0.0435, 0.0537, 0.0509, 0.0509, 0.0500, 0.0389, 0.0426, 0.0407,
    ]),
}
# fmt: on
# Per borough: cells of the sample (the real active cells, plus those a Gamma draw leaves silent
# for a month), mean crashes per active cell per day, and the blob's centre (not fitted).
BOROUGHS: dict[str, tuple[int, float, float, float]] = {
    "MANHATTAN": (14, 2.286, 40.765, -73.975),
    "BRONX": (27, 1.403, 40.845, -73.875),
    "BROOKLYN": (43, 1.734, 40.650, -73.945),
    "QUEENS": (65, 0.932, 40.720, -73.830),
    "STATEN ISLAND": (37, 0.327, 40.585, -74.145),
}
# A cell's rate over its borough's mean: the real quantile function (linear between these
# points). Many quiet cells, as a Gamma of shape 1.26 has, but a short top (at most 3.4×): a
# Gamma would give the busiest cells twice their real share.
RATE_PROBS = np.array([0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0])
RATE_QUANTILES = np.array([0.019, 0.046, 0.117, 0.367, 0.865, 1.452, 2.109, 2.563, 2.768, 3.381])
# P(persons injured + killed = 0, 1, ..., 8 or more), January 2023.
HURT_PMF = np.array(
    [0.61154, 0.31405, 0.04914, 0.01684, 0.00469, 0.00166, 0.00152, 0.00014, 0.00041]
)
KILLED_PER_CRASH = 0.00235
P_NO_GEOCODE = 0.066
P_ZERO_GEOCODE = 0.011
P_NO_BOROUGH_GEOCODED = 0.30
P_NO_BOROUGH_UNGEOCODED = 0.80
# ------------------------------------------------------------------------------------------------

CELL_RESOLUTION = 7
FIRST_ID = 4_400_000
KM_PER_DEGREE_LAT = 111.32
# A point is drawn within this share of its cell's inradius, so it never falls in a neighbour.
DISK_SHARE = 0.9
DAY_TYPES = ("weekday", "weekday", "weekday", "weekday", "weekday", "saturday", "sunday")
FACTORS = [
    "Driver Inattention/Distraction",
    "Unspecified",
    "Following Too Closely",
    "Failure to Yield Right-of-Way",
    "Passing or Lane Usage Improper",
    "Unsafe Speed",
]
VEHICLES = [
    "Sedan",
    "Station Wagon/Sport Utility Vehicle",
    "Taxi",
    "Pick-up Truck",
    "Bike",
    "Box Truck",
    "Bus",
    "E-Bike",
]
ZIP_BY_BOROUGH = {
    "MANHATTAN": "100",
    "BROOKLYN": "112",
    "QUEENS": "113",
    "BRONX": "104",
    "STATEN ISLAND": "103",
}


@dataclass(frozen=True)
class City:
    """The sample's fixed cells: H3 index, centre, radius of the disk crashes fall in (degrees
    of latitude), borough and rate (crashes per day before the day's factors)."""

    cells: list[str]
    lat: np.ndarray
    lon: np.ndarray
    radius: np.ndarray
    borough: list[str]
    rate: np.ndarray


def _inradius_km(cell: str) -> float:
    """Distance from a cell's centre to its nearest edge midpoint, on a local flat map."""
    lat0, lon0 = h3.cell_to_latlng(cell)
    scale = math.cos(math.radians(lat0))
    corners = h3.cell_to_boundary(cell)
    mids = [
        ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        for a, b in zip(corners, corners[1:] + corners[:1], strict=True)
    ]
    return KM_PER_DEGREE_LAT * min(math.hypot(la - lat0, (lo - lon0) * scale) for la, lo in mids)


def _inside_nyc(cell: str) -> bool:
    # The whole disk must pass geo's box check, else crashes would come out "outside_nyc".
    lat, lon = h3.cell_to_latlng(cell)
    margin = 0.02
    return (
        geo.LAT_MIN + margin < lat < geo.LAT_MAX - margin
        and geo.LON_MIN + margin < lon < geo.LON_MAX - margin
    )


def _blob(lat: float, lon: float, size: int, taken: set[str]) -> list[str]:
    """The ``size`` free cells nearest to a centre, ring by ring (then by distance)."""
    centre = h3.latlng_to_cell(lat, lon, CELL_RESOLUTION)
    chosen: list[str] = []
    ring = 0
    while len(chosen) < size:
        cells = [c for c in h3.grid_ring(centre, ring) if c not in taken and _inside_nyc(c)]
        cells.sort(key=lambda c: (h3.great_circle_distance(h3.cell_to_latlng(c), (lat, lon)), c))
        chosen += cells[: size - len(chosen)]
        ring += 1
    return chosen


@cache
def city(seed: int) -> City:
    """The fixed cells of the sample for ``seed`` (their place does not depend on it)."""
    rng = np.random.default_rng([seed, 1])
    cells: list[str] = []
    boroughs: list[str] = []
    rates: list[float] = []
    for borough, (size, mean_rate, lat, lon) in BOROUGHS.items():
        blob = _blob(lat, lon, size, set(cells))
        cells += blob
        boroughs += [borough] * size
        draws = np.interp(rng.random(size), RATE_PROBS, RATE_QUANTILES)
        rates += list(mean_rate * draws)
    centres = np.array([h3.cell_to_latlng(c) for c in cells])
    radius = np.array([DISK_SHARE * _inradius_km(c) for c in cells]) / KM_PER_DEGREE_LAT
    return City(cells, centres[:, 0], centres[:, 1], radius, boroughs, np.array(rates))


@cache
def is_holiday(day: dt.date) -> bool:
    return day in holidays.country_holidays("US", subdiv="NY", years=day.year)


def expected_count(day: dt.date) -> float:
    """Mean crashes of ``day`` before its Gamma day multiplier."""
    factor = WEEKDAY_FACTOR[day.weekday()] * MONTH_FACTOR[day.month - 1]
    return BASE_DAILY * factor * (HOLIDAY_FACTOR if is_holiday(day) else 1.0)


def _gamma(rng: np.random.Generator, inverse_k: float, size: int | tuple[int, ...]) -> np.ndarray:
    """Multipliers of mean 1 and variance ``inverse_k``."""
    return rng.gamma(1 / inverse_k, inverse_k, size)


def sample_day(day: dt.date, seed: int = 7) -> list[dict[str, Any]]:
    """The crashes of ``day`` as the API returns them: text values, absent keys for blanks."""
    town = city(seed)
    rng = np.random.default_rng([seed, day.toordinal()])
    n = int(rng.poisson(expected_count(day) * _gamma(rng, DAY_INVERSE_K, 1)[0]))
    # P(cell, hour) for this day: one hour profile for all cells, times unlearnable noise.
    intensity = (
        (town.rate * _gamma(rng, CELL_DAY_INVERSE_K, len(town.cells)))[:, None]
        * HOUR_SHARE[DAY_TYPES[day.weekday()]][None, :]
        * _gamma(rng, CELL_HOUR_INVERSE_K, (len(town.cells), 24))
    )
    flat = (intensity / intensity.sum()).ravel()
    picks = rng.choice(flat.size, size=n, p=flat)
    place, hour = np.divmod(picks, 24)
    minute = rng.integers(0, 60, size=n)
    # Uniform in the disk: radius ~ sqrt(u).
    distance = town.radius[place] * np.sqrt(rng.random(n))
    angle = rng.uniform(0, 2 * np.pi, n)
    lat = town.lat[place] + distance * np.sin(angle)
    lon = town.lon[place] + distance * np.cos(angle) / np.cos(np.radians(town.lat[place]))
    hurt = rng.choice(len(HURT_PMF), size=n, p=HURT_PMF / HURT_PMF.sum())
    p_killed = KILLED_PER_CRASH / (1 - HURT_PMF[0] / HURT_PMF.sum())
    killed = ((hurt > 0) & (rng.random(n) < p_killed)).astype(int)
    injured = hurt - killed
    geo_draw = rng.random(n)
    geocoded = geo_draw >= P_NO_GEOCODE + P_ZERO_GEOCODE
    no_borough = rng.random(n) < np.where(geocoded, P_NO_BOROUGH_GEOCODED, P_NO_BOROUGH_UNGEOCODED)
    pedestrian_draw = rng.random(n)
    factor = rng.integers(0, len(FACTORS), size=n)
    vehicle = rng.integers(0, len(VEHICLES), size=n)
    zip_tail = rng.integers(1, 99, size=n)
    first_id = FIRST_ID + (day - dt.date(2020, 1, 1)).days * 1000
    order = np.lexsort((minute, hour))
    rows = []
    for k, i in enumerate(order):
        borough = town.borough[place[i]]
        row: dict[str, Any] = {
            "crash_date": f"{day.isoformat()}T00:00:00.000",
            "crash_time": f"{hour[i]}:{minute[i]:02d}",
        }
        if not no_borough[i]:
            row["borough"] = borough
            row["zip_code"] = f"{ZIP_BY_BOROUGH[borough]}{zip_tail[i]:02d}"
        if geocoded[i]:
            la, lo = f"{lat[i]:.6f}", f"{lon[i]:.6f}"
        elif geo_draw[i] >= P_NO_GEOCODE:
            la, lo = "0.0", "0.0"
        else:
            la = lo = None
        if la is not None:
            row["latitude"] = la
            row["longitude"] = lo
            row["location"] = {
                "latitude": la,
                "longitude": lo,
                "human_address": '{"address": "", "city": "", "state": "", "zip": ""}',
            }
        pedestrian = injured[i] > 0 and vehicle[i] != 4 and pedestrian_draw[i] < 0.25
        row.update(
            {
                "number_of_persons_injured": str(injured[i]),
                "number_of_persons_killed": str(killed[i]),
                "number_of_pedestrians_injured": str(injured[i] if pedestrian else 0),
                "number_of_pedestrians_killed": "0",
                "number_of_cyclist_injured": str(injured[i] if vehicle[i] == 4 else 0),
                "number_of_cyclist_killed": "0",
                "number_of_motorist_injured": str(
                    0 if pedestrian or vehicle[i] == 4 else injured[i]
                ),
                "number_of_motorist_killed": str(killed[i]),
                "contributing_factor_vehicle_1": FACTORS[factor[i]],
                "contributing_factor_vehicle_2": "Unspecified",
                "collision_id": str(first_id + k),
                "vehicle_type_code1": VEHICLES[vehicle[i]],
                "vehicle_type_code2": "Sedan",
            }
        )
        rows.append(row)
    return rows
