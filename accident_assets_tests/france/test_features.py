"""Row-wise features: the reference's encodings with its bugs fixed, and serving == training."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from accident_assets.france import features as F
from accident_assets.france import sample
from accident_assets.france.reader import TABLES, read_table
from accident_assets.france.transforms import merge_accidents

REFERENCE_RECORD = {  # the reference's src/models/test_features.json, as sent to its API
    "place": 10, "catu": 3, "sexe": 1, "secu1": 0.0, "year_acc": 2021, "victim_age": 60,
    "catv": 2, "obsm": 1, "motor": 1, "catr": 3, "circ": 2, "surf": 1, "situ": 1, "vma": 50,
    "jour": 7, "mois": 12, "lum": 5, "dep": 77, "com": 77317, "agg_": 2, "int": 1, "atm": 0,
    "col": 6, "lat": 48.60, "long": 2.89, "hour": 17, "nb_victim": 2, "nb_vehicules": 1,
}  # fmt: skip


def test_contract_constants():
    assert F.TARGET == "priority" and F.ID_COLUMNS == ["Num_Acc", "year"]
    assert F.FEATURE_COLUMNS == F.CATEGORICAL_FEATURES + F.NUMERIC_FEATURES
    assert len(set(F.FEATURE_COLUMNS)) == len(F.FEATURE_COLUMNS)
    assert len(F.FLAT_RECORD_FIELDS) == 39
    for name in (
        "hour_sin",
        "victims_per_vehicle",
        "victim_age",
        "hour_weekend",
        "atm_lum",
        "catv_group",
        "victim_age_binned",
    ):
        assert name in F.FEATURE_COLUMNS


@pytest.fixture(scope="module")
def built() -> tuple[pl.DataFrame, pl.DataFrame]:
    tables = sample.generate_year(2021, 400)
    accidents = merge_accidents(*tables.values(), 2021)
    return accidents, F.build_features(accidents)


def test_shape_types_and_no_missing_values(built):
    accidents, features = built
    assert features.columns == [*F.ID_COLUMNS, *F.FEATURE_COLUMNS, F.TARGET]
    assert features.height == accidents.height
    assert all(features.schema[c] == pl.Int16 for c in F.CATEGORICAL_FEATURES)
    assert all(features.schema[c] == pl.Float64 for c in F.NUMERIC_FEATURES)
    assert features.null_count().sum_horizontal().item() == 0
    assert features.select(pl.col(F.NUMERIC_FEATURES).is_finite().all()).row(0) == (True,) * len(
        F.NUMERIC_FEATURES
    )
    without_target = F.build_features(accidents.drop("priority"))
    assert F.TARGET not in without_target.columns


def test_cyclic_encodings(built):
    _, features = built
    for name, period in (("hour", 24), ("month", 12), ("day_of_week", 7)):
        angle = features[name].cast(pl.Float64) * 2 * math.pi / period
        assert (features[f"{name}_sin"] - angle.sin()).abs().max() < 1e-12
        assert (features[f"{name}_cos"] - angle.cos()).abs().max() < 1e-12
        assert (
            (features[f"{name}_sin"] ** 2 + features[f"{name}_cos"] ** 2 - 1).abs() < 1e-12
        ).all()


def one_accident(**changes) -> pl.DataFrame:
    record = {**REFERENCE_RECORD, **changes}
    return F.build_features(F.accidents_from_payload([record]))


def test_temporal_parts():
    row = one_accident(jour=4, mois=12, year_acc=2021, hour=23).row(0, named=True)  # a Saturday
    assert (row["hour"], row["month"], row["day_of_week"], row["is_weekend"], row["season"]) == (
        23,
        12,
        5,
        1,
        1,
    )
    assert row["hour_weekend"] == 23
    assert row["hour_sin"] == pytest.approx(math.sin(2 * math.pi * 23 / 24))


def test_corsica_departements_as_numbers():
    assert one_accident(dep="2A", com="2A004")["dep_code"].item() == 201
    assert one_accident(dep="974", com="97411")["dep_code"].item() == 974


def test_catv_is_regrouped_once():
    # Car (7) is group 2; regrouping twice (the reference's bug) made it 1, a two-wheeler.
    assert one_accident(catv=7)["catv_group"].item() == 2
    assert one_accident(catv=33)["catv_group"].item() == 1
    assert one_accident(catv=15)["catv_group"].item() == 4
    assert one_accident(catv=-1)["catv_group"].item() == -1


def test_unharmed_is_not_priority():
    tables = sample.generate_year(2021, 50)
    users = tables["usagers"].with_columns(pl.lit(1, pl.Int8).alias("grav"))
    accidents = merge_accidents(
        tables["caracteristiques"], tables["lieux"], users, tables["vehicules"], 2021
    )
    assert F.build_features(accidents)[F.TARGET].sum() == 0


def test_groupings_and_interactions():
    row = one_accident(atm=2, lum=3, secu1=2, obsm=6, motor=3, place=2).row(0, named=True)
    assert (
        row["atm_group"],
        row["atm_lum"],
        row["secu_group"],
        row["obsm_group"],
        row["motor_group"],
        row["place_group"],
    ) == (1, 3, 2, 3, 2, 2)
    assert one_accident(atm=1, lum=5)["atm_lum"].item() == 0
    assert one_accident(nb_victim=3, nb_vehicules=2)["victims_per_vehicle"].item() == 1.5


@pytest.mark.parametrize(
    ("age", "binned"), [(0, 0), (18, 0), (19, 1), (30, 1), (50, 2), (70, 3), (71, 4), (120, 4)]
)
def test_age_bins(age: int, binned: int):
    row = one_accident(victim_age=age).row(0, named=True)
    assert (row["victim_age"], row["victim_age_binned"]) == (age, binned)


def test_unknown_age_is_a_constant_not_a_statistic():
    row = one_accident(victim_age=None).row(0, named=True)
    assert (row["victim_age"], row["victim_age_binned"], row["age_mean"]) == (-1, -1, -1)


def test_flat_reference_record():
    accidents = F.accidents_from_payload([REFERENCE_RECORD])
    row = accidents.row(0, named=True)
    assert (row["an"], row["hrmn"], row["agg"], row["an_nais"], row["dep"], row["com"]) == (
        2021,
        "17:00",
        2,
        1961,
        "77",
        "77317",
    )
    assert (row["nb_victim"], row["nb_vehicules"], row["nb_pedestrians"]) == (2, 1, 1)
    assert "priority" not in accidents.columns
    assert F.build_features(accidents).columns == [*F.ID_COLUMNS, *F.FEATURE_COLUMNS]


def test_full_record_gives_the_training_features():
    """A full accident through the payload path == the same accident through files -> merge."""
    tables = sample.generate_year(2022, 60)
    accidents = merge_accidents(*tables.values(), 2022)
    training = F.build_features(accidents)
    records = []
    for num in accidents["Num_Acc"].to_list()[:25]:
        carac = (
            tables["caracteristiques"]
            .filter(pl.col("Num_Acc") == num)
            .drop("Num_Acc")
            .row(0, named=True)
        )
        place = tables["lieux"].filter(pl.col("Num_Acc") == num).drop("Num_Acc").row(0, named=True)
        users = (
            tables["usagers"].filter(pl.col("Num_Acc") == num).drop("Num_Acc", "grav").to_dicts()
        )
        vehicles = tables["vehicules"].filter(pl.col("Num_Acc") == num).drop("Num_Acc").to_dicts()
        records.append({**carac, **place, "usagers": users, "vehicules": vehicles})
    served = F.build_features(F.accidents_from_payload(records))
    expected = training.head(25).drop("Num_Acc", F.TARGET)
    assert served.drop("Num_Acc").equals(expected)


def test_flat_record_equals_its_one_user_one_vehicle_accident():
    flat = {k: v for k, v in REFERENCE_RECORD.items()} | {"nb_victim": 1, "nb_vehicules": 1}
    user = {"place": 10, "catu": 3, "sexe": 1, "secu1": 0, "an_nais": 1961}
    vehicle = {"catv": 2, "obsm": 1, "motor": 1, "obs": 0}
    full = {
        "jour": 7, "mois": 12, "an": 2021, "hrmn": "17:00", "lum": 5, "dep": "77", "com": "77317",
        "agg": 2, "int": 1, "atm": 0, "col": 6, "lat": 48.6, "long": 2.89, "catr": 3, "circ": 2,
        "surf": 1, "situ": 1, "vma": 50, "v1": 0, "vosp": 0, "prof": 0, "plan": 0, "larrout": 0.0,
        "infra": 0, "usagers": [{**user, "locp": 0, "actp": "0", "etatp": 0}], "vehicules": [vehicle],
    }  # fmt: skip
    a, b = F.build_features(F.accidents_from_payload([flat, full])).drop("Num_Acc").iter_rows()
    assert a == b


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({**REFERENCE_RECORD, "catv": None}, r"record 1: field 'catv' is required"),
        ({**REFERENCE_RECORD, "vma": "fast"}, r"record 1: field 'vma' expects"),
        ({**REFERENCE_RECORD, "speed": 3}, r"record 1: unknown field\(s\) \['speed'\]"),
        ({**REFERENCE_RECORD, "hour": 25}, r"record 1: field 'hrmn'"),
        ({**REFERENCE_RECORD, "jour": 31, "mois": 2}, r"record 1: fields 'jour', 'mois', 'an'"),
        ({**REFERENCE_RECORD, "nb_vehicules": 0}, r"record 1: field 'nb_vehicules'"),
        (
            {**REFERENCE_RECORD, "lum": 9},
            r"record 1: field 'lum' fails in_range\(-1, 5\) \(got '9'\)",
        ),
        ({**REFERENCE_RECORD, "dep": "XX"}, r"record 1: field 'dep' fails str_matches"),
        ({**REFERENCE_RECORD, "hour": "noon"}, r"record 1: field 'hour' must be a whole number"),
        (
            {**REFERENCE_RECORD, "year_acc": "x"},
            r"record 1: field 'year_acc' must be a whole number",
        ),
        (
            {**REFERENCE_RECORD, "nb_victim": 10**6},
            r"record 1: field 'nb_victim' must be an integer from 1 to 1000",
        ),
        ({**REFERENCE_RECORD, "dep": {"a": 1}}, r"record 1: field 'dep' fails"),
        (
            {
                "jour": 1,
                "mois": 1,
                "an": 2021,
                "hrmn": "10:00",
                "usagers": [{"catu": 1, "wings": 2}],
                "vehicules": [{"catv": 7}],
            },
            r"record 1: unknown field\(s\) \['wings'\] in usagers\[0\]",
        ),
        (
            {
                **{
                    k: v
                    for k, v in REFERENCE_RECORD.items()
                    if k
                    not in (
                        "year_acc",
                        "hour",
                        "agg_",
                        "victim_age",
                        "nb_victim",
                        "nb_vehicules",
                        "place",
                        "catu",
                        "sexe",
                        "secu1",
                        "catv",
                        "obsm",
                        "motor",
                    )
                },
                "an": 2021,
                "hrmn": "10:00",
                "agg": 2,
                "usagers": [{"catu": 1}, {"catu": 9}],
                "vehicules": [{"catv": 7}],
            },
            r"record 1: field 'usagers\[\]\.catu' fails in_range\(1, 3\)",
        ),
        (
            {"jour": 1, "mois": 1, "an": 2021, "hrmn": "10:00", "usagers": [], "vehicules": [{}]},
            r"record 1: field 'usagers'",
        ),
    ],
)
def test_bad_payload_names_record_and_field(record: dict, message: str):
    with pytest.raises(ValueError, match=message):
        F.accidents_from_payload([REFERENCE_RECORD, record])


def test_flat_record_fields_build_a_pydantic_model():
    import pydantic

    model = pydantic.create_model("FranceFlatRecord", **F.FLAT_RECORD_FIELDS)
    parsed = model(**F.normalize_flat_record(REFERENCE_RECORD)).model_dump()
    assert (parsed["an"], parsed["hrmn"], parsed["an_nais"], parsed["larrout"]) == (
        2021,
        "17:00",
        1961,
        0.0,
    )
    served = F.build_features(F.accidents_from_payload([parsed]))
    assert served.equals(F.build_features(F.accidents_from_payload([REFERENCE_RECORD])))
    with pytest.raises(pydantic.ValidationError, match="catv"):
        model(**F.normalize_flat_record({k: v for k, v in REFERENCE_RECORD.items() if k != "catv"}))


def test_sample_years_are_partitions():
    from accident_assets.france.partitions import france_yearly_partitions

    keys = france_yearly_partitions.get_partition_keys()
    assert keys[0] == "2019" and {"2021", "2022"} <= set(keys)
    assert all(str(y) in keys for y in sample.DEFAULT_YEARS)


@pytest.mark.real_data
def test_full_accident_with_several_roads_gives_the_training_features(head_2024: Path):
    """The real 2024 head (17 accidents with several roads) sent as full accidents with a `lieux`
    list, through the API's request model: the same features as the files -> merge path."""
    from accident_assets.france.sources import FranceSource
    from accident_assets.serving.schemas import FRANCE_REQUEST, france_records

    source = FranceSource(backend="local", folder=str(head_2024))
    tables = {
        t: read_table(source.fetch(2024, t), t, 2024, source.filename(t, 2024)) for t in TABLES
    }
    training = F.build_features(merge_accidents(*tables.values(), 2024))

    def rows(table: str, num: int, *drop: str) -> list[dict]:
        frame = tables[table].filter(pl.col("Num_Acc") == num).drop("Num_Acc", *drop)
        return [{k: v for k, v in r.items() if v is not None} for r in frame.to_dicts()]

    records = [
        {
            **rows("caracteristiques", num)[0],
            "lieux": rows("lieux", num),
            "usagers": rows("usagers", num, "grav"),
            "vehicules": rows("vehicules", num),
        }
        for num in tables["caracteristiques"]["Num_Acc"].sort().to_list()
    ]
    assert sum(len(r["lieux"]) > 1 for r in records) == 17
    validated = france_records(FRANCE_REQUEST.validate_python(records))
    served = F.build_features(F.accidents_from_payload(validated))
    assert served.drop("Num_Acc").equals(training.drop("Num_Acc", F.TARGET))
    # Only the first road sent: the features of a one-road accident, not of the multi-road one.
    one_road = F.accidents_from_payload([{**records[1], "lieux": records[1]["lieux"][:1]}])
    assert one_road["nb_lieux"][0] == 1
    with pytest.raises(ValueError, match=r"record 0: road field\(s\) \['catr'\] given beside"):
        F.accidents_from_payload([{**records[1], "catr": 3}])
