"""Row-wise features: the reference's encodings with its bugs fixed (each checked through the
serving path too, which must agree with training's)."""

from __future__ import annotations

import math
import warnings

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from accident_assets.france import features as F
from accident_assets.france import sample
from accident_assets.france.transforms import merge_accidents
from accident_assets_tests.france.test_records import REFERENCE_RECORD, served_and_trained


def test_contract_constants():
    assert F.TARGET == "priority" and F.ID_COLUMNS == ["Num_Acc", "year"]
    assert F.FEATURE_COLUMNS == F.CATEGORICAL_FEATURES + F.NUMERIC_FEATURES
    assert len(set(F.FEATURE_COLUMNS)) == len(F.FEATURE_COLUMNS)
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
    """The reference record with ``changes`` as the API scores it, checked equal to training's
    features of the same accident row."""
    served, trained = served_and_trained([{**REFERENCE_RECORD, **changes}])
    assert_frame_equal(served, trained)
    return served


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


def test_sample_years_are_partitions():
    from accident_assets.france.partitions import france_yearly_partitions

    keys = france_yearly_partitions.get_partition_keys()
    assert keys[0] == "2019" and {"2021", "2022"} <= set(keys)
    assert all(str(y) in keys for y in sample.SAMPLE_YEARS)


def test_building_features_raises_no_warning(built):
    """A warning raised inside polars' thread pool needs the interpreter lock: under the API's
    concurrent requests the deprecated categorical cast it once raised deadlocked the server."""
    accidents, _ = built
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        F.build_features(accidents)
    assert [str(w.message) for w in caught] == []
