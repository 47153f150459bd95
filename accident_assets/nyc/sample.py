"""The offline sample: deterministic days of crashes in the Socrata API's JSON shape.

Same seed and day give the same rows, whichever run asks. The signal a model can learn:

- **Place.** Crashes cluster around 36 fixed hotspots (real busy places of the five boroughs,
  each with a weight) plus 160 fixed background points drawn once from the seed; each crash is
  jittered about 300 m around its point, so most land in a few H3 resolution-7 cells.
- **Hour.** Each hotspot has a profile: ``commute`` (peaks 8:00 and 17:00, weaker on weekends),
  ``nightlife`` (peaks 22:00–02:00, stronger Friday/Saturday), ``commercial`` (10:00–19:00,
  stronger Saturday, weaker Sunday), ``highway`` (flat day, peaks 7–9 and 15–18).
- **Weekday / season / holidays.** Daily volume is Poisson around 260 × weekday factor (Friday
  1.12, Sunday 0.82) × month factor (winter 0.93, early summer 1.07) × 0.88 on US holidays, so a
  day has about 200–330 crashes.
- **Severity.** Injured persons ~ Poisson(0.55), ×1.4 at night (22:00–04:00); about 1 crash in
  600 kills someone.
- **Data quality, as in the real exports.** ~32 % of rows have no borough/ZIP (keys absent),
  ~6 % no geocode (keys absent), ~1.5 % the bogus ``0``/``0`` geocode.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import holidays
import numpy as np

BASE_DAILY = 260.0
WEEKDAY_FACTOR = np.array([0.97, 1.0, 1.0, 1.03, 1.12, 0.95, 0.82])
MONTH_FACTOR = np.array([0.93, 0.93, 0.97, 1.0, 1.04, 1.07, 1.05, 1.03, 1.04, 1.03, 1.0, 0.97])
HOLIDAY_FACTOR = 0.88
JITTER_DEG = 0.003
BACKGROUND_POINTS = 160
P_NO_BOROUGH = 0.32
P_NO_GEOCODE = 0.06
P_ZERO_GEOCODE = 0.015
FIRST_ID = 4_400_000

# (name, borough, lat, lon, weight, profile)
HOTSPOTS: list[tuple[str, str, float, float, float, str]] = [
    ("Times Square", "MANHATTAN", 40.7580, -73.9855, 3.0, "nightlife"),
    ("Midtown East", "MANHATTAN", 40.7527, -73.9772, 2.5, "commute"),
    ("Union Square", "MANHATTAN", 40.7359, -73.9911, 2.0, "commercial"),
    ("Lower East Side", "MANHATTAN", 40.7150, -73.9843, 1.8, "nightlife"),
    ("Harlem 125th St", "MANHATTAN", 40.8090, -73.9482, 2.0, "commercial"),
    ("Washington Heights", "MANHATTAN", 40.8417, -73.9394, 1.5, "commute"),
    ("FDR Drive", "MANHATTAN", 40.7400, -73.9740, 1.2, "highway"),
    ("Downtown Brooklyn", "BROOKLYN", 40.6928, -73.9903, 2.5, "commute"),
    ("Williamsburg", "BROOKLYN", 40.7081, -73.9571, 2.0, "nightlife"),
    ("Flatbush Junction", "BROOKLYN", 40.6328, -73.9473, 2.2, "commercial"),
    ("East New York", "BROOKLYN", 40.6663, -73.8822, 2.4, "commute"),
    ("Bushwick", "BROOKLYN", 40.6944, -73.9213, 1.6, "nightlife"),
    ("Sunset Park", "BROOKLYN", 40.6454, -74.0104, 1.5, "commercial"),
    ("Bay Ridge", "BROOKLYN", 40.6264, -74.0299, 1.0, "commute"),
    ("Brownsville", "BROOKLYN", 40.6618, -73.9104, 1.8, "commute"),
    ("BQE Gowanus", "BROOKLYN", 40.6760, -74.0010, 1.4, "highway"),
    ("Jamaica", "QUEENS", 40.7027, -73.7890, 2.4, "commercial"),
    ("Flushing", "QUEENS", 40.7580, -73.8303, 2.5, "commercial"),
    ("Long Island City", "QUEENS", 40.7447, -73.9485, 1.6, "commute"),
    ("Astoria", "QUEENS", 40.7644, -73.9235, 1.4, "nightlife"),
    ("Jackson Heights", "QUEENS", 40.7557, -73.8831, 2.0, "commercial"),
    ("Van Wyck", "QUEENS", 40.6890, -73.8100, 1.5, "highway"),
    ("JFK area", "QUEENS", 40.6660, -73.7850, 1.2, "highway"),
    ("Far Rockaway", "QUEENS", 40.6054, -73.7551, 0.8, "commute"),
    ("Fordham", "BRONX", 40.8615, -73.8904, 2.2, "commercial"),
    ("Hunts Point", "BRONX", 40.8094, -73.8803, 1.6, "highway"),
    ("Grand Concourse", "BRONX", 40.8270, -73.9220, 2.0, "commute"),
    ("Cross Bronx Expwy", "BRONX", 40.8405, -73.8700, 1.8, "highway"),
    ("Co-op City", "BRONX", 40.8740, -73.8290, 0.9, "commute"),
    ("Parkchester", "BRONX", 40.8370, -73.8600, 1.2, "commercial"),
    ("St. George", "STATEN ISLAND", 40.6437, -74.0736, 0.8, "commute"),
    ("Staten Island Mall", "STATEN ISLAND", 40.5820, -74.1680, 0.9, "commercial"),
    ("SI Expressway", "STATEN ISLAND", 40.6080, -74.1000, 0.7, "highway"),
    ("Chelsea", "MANHATTAN", 40.7465, -74.0014, 1.4, "nightlife"),
    ("Canal Street", "MANHATTAN", 40.7190, -74.0020, 1.6, "commercial"),
    ("Coney Island", "BROOKLYN", 40.5755, -73.9707, 0.9, "nightlife"),
]
BOROUGH_BOXES = {
    "MANHATTAN": (40.70, 40.87, -74.02, -73.91),
    "BROOKLYN": (40.58, 40.73, -74.04, -73.86),
    "QUEENS": (40.58, 40.79, -73.92, -73.71),
    "BRONX": (40.80, 40.90, -73.92, -73.79),
    "STATEN ISLAND": (40.51, 40.64, -74.24, -74.06),
}
BACKGROUND_BOROUGH_WEIGHT = {
    "MANHATTAN": 0.2,
    "BROOKLYN": 0.3,
    "QUEENS": 0.28,
    "BRONX": 0.15,
    "STATEN ISLAND": 0.07,
}
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


def _bump(hours: np.ndarray, centre: float, width: float) -> np.ndarray:
    distance = np.minimum(np.abs(hours - centre), 24 - np.abs(hours - centre))
    return np.exp(-0.5 * (distance / width) ** 2)


def _hour_profiles() -> dict[str, np.ndarray]:
    h = np.arange(24, dtype=float)
    base = 0.25 + 0.75 * _bump(h, 14, 5)
    return {
        "commute": base + 1.6 * _bump(h, 8, 1.2) + 1.8 * _bump(h, 17, 1.5),
        "nightlife": 0.3 + 0.4 * _bump(h, 14, 5) + 2.0 * _bump(h, 0, 2.0),
        "commercial": 0.2 + 1.8 * _bump(h, 14.5, 3.0),
        "highway": 0.6 + 0.2 * _bump(h, 14, 6) + 1.0 * _bump(h, 8, 1.0) + 1.0 * _bump(h, 16.5, 1.5),
    }


# weekday (Mon=0) multipliers per profile
WEEKDAY_PROFILE = {
    "commute": np.array([1.2, 1.2, 1.2, 1.2, 1.15, 0.6, 0.5]),
    "nightlife": np.array([0.7, 0.7, 0.8, 0.9, 1.5, 1.7, 1.1]),
    "commercial": np.array([1.0, 1.0, 1.0, 1.0, 1.1, 1.25, 0.8]),
    "highway": np.array([1.0, 1.0, 1.0, 1.0, 1.1, 0.9, 0.9]),
}


@cache
def _places(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """Fixed points of the sample: lat, lon, weight, borough, profile (hotspots + background)."""
    rng = np.random.default_rng([seed, 1])
    lats = [h[2] for h in HOTSPOTS]
    lons = [h[3] for h in HOTSPOTS]
    weights = [h[4] for h in HOTSPOTS]
    boroughs = [h[1] for h in HOTSPOTS]
    profiles = [h[5] for h in HOTSPOTS]
    names = list(BACKGROUND_BOROUGH_WEIGHT)
    p = np.array(list(BACKGROUND_BOROUGH_WEIGHT.values()))
    for _ in range(BACKGROUND_POINTS):
        borough = names[rng.choice(len(names), p=p / p.sum())]
        lat0, lat1, lon0, lon1 = BOROUGH_BOXES[borough]
        lats.append(float(rng.uniform(lat0, lat1)))
        lons.append(float(rng.uniform(lon0, lon1)))
        weights.append(float(rng.uniform(0.05, 0.25)))
        boroughs.append(borough)
        profiles.append(str(rng.choice(list(WEEKDAY_PROFILE))))
    return np.array(lats), np.array(lons), np.array(weights), boroughs, profiles


@cache
def _is_holiday(day: dt.date) -> bool:
    return day in holidays.country_holidays("US", subdiv="NY", years=day.year)


def expected_count(day: dt.date) -> float:
    factor = WEEKDAY_FACTOR[day.weekday()] * MONTH_FACTOR[day.month - 1]
    return BASE_DAILY * factor * (HOLIDAY_FACTOR if _is_holiday(day) else 1.0)


def sample_day(day: dt.date, seed: int = 7) -> list[dict[str, Any]]:
    """The crashes of ``day`` as the API returns them: text values, absent keys for blanks."""
    lats, lons, weights, boroughs, profiles = _places(seed)
    rng = np.random.default_rng([seed, day.toordinal()])
    n = int(rng.poisson(expected_count(day)))
    hour_profiles = _hour_profiles()
    # P(place, hour) for this weekday, flattened.
    intensity = np.stack(
        [
            w * hour_profiles[p] * WEEKDAY_PROFILE[p][day.weekday()]
            for w, p in zip(weights, profiles, strict=True)
        ]
    )
    flat = (intensity / intensity.sum()).ravel()
    picks = rng.choice(flat.size, size=n, p=flat)
    place, hour = np.divmod(picks, 24)
    minute = rng.integers(0, 60, size=n)
    lat = lats[place] + rng.normal(0, JITTER_DEG, size=n)
    lon = lons[place] + rng.normal(0, JITTER_DEG * 1.3, size=n)
    night = (hour >= 22) | (hour <= 4)
    injured = rng.poisson(np.where(night, 0.55 * 1.4, 0.55))
    killed = (rng.random(n) < 1 / 600).astype(int)
    geo_draw = rng.random(n)
    borough_draw = rng.random(n)
    factor = rng.integers(0, len(FACTORS), size=n)
    vehicle = rng.integers(0, len(VEHICLES), size=n)
    zip_tail = rng.integers(1, 99, size=n)
    first_id = FIRST_ID + (day - dt.date(2020, 1, 1)).days * 1000
    order = np.lexsort((minute, hour))
    rows = []
    for k, i in enumerate(order):
        borough = boroughs[place[i]]
        row: dict[str, Any] = {
            "crash_date": f"{day.isoformat()}T00:00:00.000",
            "crash_time": f"{hour[i]}:{minute[i]:02d}",
        }
        if borough_draw[i] >= P_NO_BOROUGH:
            row["borough"] = borough
            row["zip_code"] = f"{ZIP_BY_BOROUGH[borough]}{zip_tail[i]:02d}"
        if geo_draw[i] >= P_NO_GEOCODE + P_ZERO_GEOCODE:
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
        pedestrian = injured[i] > 0 and vehicle[i] != 4 and rng.random() < 0.25
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
