"""The serving fast path (plain Python, one accident at a time) == training's polars path, on every
accident of the sample years and of the real files; a flat record == its one-user accident."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from accident_assets.france import features as F
from accident_assets.france import records, sample
from accident_assets.france.reader import TABLES, read_table
from accident_assets.france.schemas import ACCIDENTS
from accident_assets.france.transforms import accident_columns, merge_accidents
from accident_assets.serving.schemas import FRANCE_REQUEST, france_records

REFERENCE_RECORD = {  # the reference's src/models/test_features.json, as sent to its API
    "place": 10, "catu": 3, "sexe": 1, "secu1": 0.0, "year_acc": 2021, "victim_age": 60,
    "catv": 2, "obsm": 1, "motor": 1, "catr": 3, "circ": 2, "surf": 1, "situ": 1, "vma": 50,
    "jour": 7, "mois": 12, "lum": 5, "dep": 77, "com": 77317, "agg_": 2, "int": 1, "atm": 0,
    "col": 6, "lat": 48.60, "long": 2.89, "hour": 17, "nb_victim": 2, "nb_vehicules": 1,
}  # fmt: skip
ACCIDENT_TYPES = {c: ACCIDENTS.columns[c].dtype.type for c in accident_columns(with_target=False)}


def validated(payload: Any) -> list[dict[str, Any]]:
    """What the API hands to scoring: the payload through the request models."""
    return france_records(FRANCE_REQUEST.validate_python(payload))


def served_and_trained(payload: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The features serving computes for ``payload``, and training's for the same accident rows."""
    given = validated(payload)
    served = pl.from_pandas(records.feature_frame(given))
    rows = [records.accident_row(r, i + 1) for i, r in enumerate(given)]
    trained = F.build_features(pl.DataFrame(rows, schema=ACCIDENT_TYPES, orient="row"))
    return served, trained.select(F.FEATURE_COLUMNS)


def full_accidents(tables: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Every accident of the four tables as the API's full-accident JSON (roads as a list)."""

    def by_accident(table: str, *drop: str) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        for row in tables[table].drop(*drop).iter_rows(named=True):
            num = row.pop("Num_Acc")
            out.setdefault(num, []).append({k: v for k, v in row.items() if v is not None})
        return out

    roads, users = by_accident("lieux"), by_accident("usagers", "grav")
    vehicles = by_accident("vehicules")
    return [
        {
            **{k: v for k, v in carac.items() if v is not None and k != "Num_Acc"},
            "lieux": roads[carac["Num_Acc"]],
            "usagers": users[carac["Num_Acc"]],
            "vehicules": vehicles[carac["Num_Acc"]],
        }
        for carac in tables["caracteristiques"].sort("Num_Acc").iter_rows(named=True)
    ]


def assert_served_equals_training(tables: dict[str, pl.DataFrame], year: int) -> int:
    training = F.build_features(merge_accidents(*(tables[t] for t in TABLES), year))
    served = pl.from_pandas(records.feature_frame(validated(full_accidents(tables))))
    # Exact for every code and count; the cyclic encodings to the last bit or so.
    assert_frame_equal(served, training.select(F.FEATURE_COLUMNS), rel_tol=1e-12, abs_tol=1e-12)
    return training.height


@pytest.mark.parametrize("year", [2021, 2023])
def test_every_sample_accident_is_served_with_its_training_features(year: int):
    tables = sample.generate_year(year, 800)
    assert assert_served_equals_training(tables, year) == 800


def test_merge_of_one_accident_equals_the_merge_of_the_tables():
    tables = sample.generate_year(2022, 300)
    merged = merge_accidents(*(tables[t] for t in TABLES), 2022, with_target=False)
    rows = [records.accident_row(r, n) for r, n in zip(
        validated(full_accidents(tables)), merged["Num_Acc"], strict=True
    )]  # fmt: skip
    served = pl.DataFrame(rows, schema=ACCIDENT_TYPES, orient="row")
    assert_frame_equal(served, merged.with_columns(pl.col("year").cast(pl.Int16)))
    assert merged["nb_lieux"].max() > 1  # several roads per accident are covered


def _real_tables(folder: Path, year: int) -> dict[str, pl.DataFrame]:
    from accident_assets.france.sources import LocalFranceSource

    source = LocalFranceSource(folder=str(folder))
    return {t: read_table(source.fetch(year, t), t, year, source.filename(t, year)) for t in TABLES}


@pytest.mark.real_data
def test_real_2021_head_is_served_with_its_training_features(head_folder: Path):
    assert assert_served_equals_training(_real_tables(head_folder, 2021), 2021) > 50


@pytest.mark.real_data
def test_real_2024_head_with_several_roads_is_served_with_its_training_features(head_2024: Path):
    tables = _real_tables(head_2024, 2024)
    assert sum(len(r["lieux"]) > 1 for r in full_accidents(tables)) == 17
    assert_served_equals_training(tables, 2024)
    # Only the first road sent: the features of a one-road accident, not of the multi-road one.
    record = full_accidents(tables)[1]
    one_road = records.accident_row(validated({**record, "lieux": record["lieux"][:1]})[0])
    assert one_road["nb_lieux"] == 1


def test_flat_reference_record():
    row = records.accident_row(validated(REFERENCE_RECORD)[0])
    assert (row["an"], row["hrmn"], row["agg"], row["an_nais"], row["dep"], row["com"]) == (
        2021,
        "17:00",
        2,
        1961,
        "77",
        "77317",
    )
    assert (row["nb_victim"], row["nb_vehicules"], row["nb_pedestrians"]) == (2, 1, 1)
    assert "priority" not in row


def test_flat_record_equals_its_one_user_one_vehicle_accident():
    flat = {**REFERENCE_RECORD, "nb_victim": 1, "nb_vehicules": 1}
    user = {"place": 10, "catu": 3, "sexe": 1, "secu1": 0, "an_nais": 1961}
    vehicle = {"catv": 2, "obsm": 1, "motor": 1, "obs": 0}
    full = {
        "jour": 7, "mois": 12, "an": 2021, "hrmn": "17:00", "lum": 5, "dep": "77", "com": "77317",
        "agg": 2, "int": 1, "atm": 0, "col": 6, "lat": 48.6, "long": 2.89, "catr": 3, "circ": 2,
        "surf": 1, "situ": 1, "vma": 50, "v1": 0, "vosp": 0, "prof": 0, "plan": 0, "larrout": 0.0,
        "infra": 0, "usagers": [{**user, "locp": 0, "actp": "0", "etatp": 0}], "vehicules": [vehicle],
    }  # fmt: skip
    served, trained = served_and_trained([flat, full])
    assert_frame_equal(served, trained)
    a, b = served.iter_rows()
    assert a == b


def test_users_name_their_vehicle_by_plate_or_ride_in_the_first():
    base = {k: v for k, v in validated(REFERENCE_RECORD)[0].items() if k in records.ACCIDENT_FIELDS}
    accident = {
        **{k: v for k, v in base.items() if v is not None},
        "usagers": [{"catu": 2, "num_veh": "B01"}, {"catu": 1}],
        "vehicules": [{"catv": 7, "motor": 1}, {"catv": 2, "motor": 3}],
    }
    row = records.accident_row(validated(accident)[0])
    # The representative user is the driver of the first vehicle (here the second user, in A01).
    assert (row["catu"], row["catv"], row["nb_veh_electric"]) == (1, 7, 1)


def test_a_user_linked_by_id_vehicule_only_gets_its_vehicles_plate():
    """The files always fill both keys; a request may give one. The driver of A01, linked by
    id only, is still the representative user (training sorts users by num_veh)."""
    base = {k: v for k, v in validated(REFERENCE_RECORD)[0].items() if k in records.ACCIDENT_FIELDS}
    accident = {
        **{k: v for k, v in base.items() if v is not None},
        "usagers": [
            {"catu": 2, "place": 2, "sexe": 2, "an_nais": 2010},
            {"catu": 1, "place": 1, "sexe": 1, "id_vehicule": "v1", "an_nais": 1950},
        ],
        "vehicules": [{"catv": 7, "id_vehicule": "v1"}],
    }
    row = records.accident_row(validated(accident)[0])
    assert (row["catu"], row["sexe"], row["an_nais"]) == (1, 1, 1950)
    served, trained = served_and_trained(accident)
    assert_frame_equal(served, trained)
