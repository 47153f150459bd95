"""The names of the NYC feature table's columns: the target, the keys and the model's features.

A light module (no polars): the training tasks are defined from these names when the code location
loads; :mod:`accident_assets.nyc.features` builds the table.
"""

TARGET = "incidents"
KEY_COLUMNS = ["date", "hour", "cell", "borough"]
CATEGORICAL_FEATURES: list[str] = ["cell"]
NUMERIC_FEATURES: list[str] = [
    "cell_lat",
    "cell_lng",
    "hour",
    "weekday",
    "is_weekend",
    "is_holiday",
    "hour_sin",
    "hour_cos",
    "weekday_sin",
    "weekday_cos",
]
FEATURE_COLUMNS: list[str] = CATEGORICAL_FEATURES + NUMERIC_FEATURES
# Key columns, the target, then the features not already among the keys.
COLUMNS: list[str] = [
    *KEY_COLUMNS,
    TARGET,
    *[c for c in FEATURE_COLUMNS if c not in KEY_COLUMNS],
]
