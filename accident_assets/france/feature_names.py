"""The names of the French lane's feature columns, and the per-accident counts among them.

A light module (no polars): the training lane's task definition needs them when the code location
loads; :mod:`accident_assets.france.features` and :mod:`accident_assets.france.transforms`, which
build those columns, import them from here.
"""

# BAAC catv codes (2019 layout) by vehicle class, for per-accident counts.
VEHICLE_CLASSES: dict[str, tuple[int, ...]] = {
    "bicycle_edp": (1, 50, 60, 80),  # bicycles, e-bikes, personal mobility devices
    "motorized_2_3_wheel": (2, 30, 31, 32, 33, 34, 41, 42, 43),
    "light": (3, 7, 10),  # voiturette, car, light utility
    "heavy": (13, 14, 15, 16, 17, 20, 21),
    "public_transport": (37, 38, 39, 40),
}
USER_COUNTS = [
    "nb_drivers", "nb_passengers", "nb_pedestrians", "nb_minors", "nb_seniors", "nb_age_unknown",
    "nb_male", "nb_female", "nb_no_safety", "nb_belt", "nb_helmet",
]  # fmt: skip
VEHICLE_COUNTS = [
    *(f"nb_veh_{name}" for name in VEHICLE_CLASSES),
    "nb_veh_other", "nb_veh_electric", "nb_obs_fixed", "nb_obsm_pedestrian", "nb_obsm_vehicle",
    "nb_obsm_animal",
]  # fmt: skip

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
    *USER_COUNTS, *VEHICLE_COUNTS,
]  # fmt: skip
FEATURE_COLUMNS = CATEGORICAL_FEATURES + NUMERIC_FEATURES
