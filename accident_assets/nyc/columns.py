"""The columns of the NYC dataset as the Socrata API names them, its URL and the city's time zone.

A light module (no polars, no Dagster): the sources and the forecast schedule need them when the
code location loads or a schedule ticks, and so do the logic modules
(:mod:`accident_assets.nyc.transforms`, :mod:`accident_assets.nyc.schemas`,
:mod:`accident_assets.nyc.features`).
"""

NYC_TIME_ZONE = "America/New_York"
# The dataset on NYC Open Data (Motor Vehicle Collisions - Crashes).
SOCRATA_URL = "https://data.cityofnewyork.us/resource/h9gi-nx95.json"

# The dataset's columns in the API's order and spelling (vehicle_type_code1/2 have no underscore).
API_COLUMNS: list[str] = [
    "crash_date",
    "crash_time",
    "borough",
    "zip_code",
    "latitude",
    "longitude",
    "location",
    "on_street_name",
    "cross_street_name",
    "off_street_name",
    "number_of_persons_injured",
    "number_of_persons_killed",
    "number_of_pedestrians_injured",
    "number_of_pedestrians_killed",
    "number_of_cyclist_injured",
    "number_of_cyclist_killed",
    "number_of_motorist_injured",
    "number_of_motorist_killed",
    "contributing_factor_vehicle_1",
    "contributing_factor_vehicle_2",
    "contributing_factor_vehicle_3",
    "contributing_factor_vehicle_4",
    "contributing_factor_vehicle_5",
    "collision_id",
    "vehicle_type_code1",
    "vehicle_type_code2",
    "vehicle_type_code_3",
    "vehicle_type_code_4",
    "vehicle_type_code_5",
]
