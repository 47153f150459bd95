"""The interim merge: one row per accident, aggregates not selected by grav, a checked join."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from accident_assets.france import sample
from accident_assets.france.reader import TABLES, BaacFormatError, read_table
from accident_assets.france.transforms import merge_accidents, pick_lieux


def year_tables(n: int = 200, year: int = 2021) -> dict[str, pl.DataFrame]:
    return sample.generate_year(year, n)


def test_one_row_per_accident_with_target_from_grav():
    tables = year_tables()
    merged = merge_accidents(*tables.values(), 2021)
    assert merged.height == 200 and merged["Num_Acc"].is_unique().all()
    severe = tables["usagers"].filter(pl.col("grav").is_in([2, 3]))["Num_Acc"].unique()
    expected = merged["Num_Acc"].is_in(severe.implode()).cast(pl.Int8)
    assert merged["priority"].to_list() == expected.to_list()
    counts = tables["usagers"].group_by("Num_Acc").len().sort("Num_Acc")
    assert merged["nb_victim"].to_list() == counts["len"].to_list()
    assert (
        merged["nb_drivers"] + merged["nb_passengers"] + merged["nb_pedestrians"]
        == merged["nb_victim"]
    ).all()


def test_nothing_but_the_target_depends_on_grav():
    """The reference kept the worst-injured user (leakage); here grav only feeds priority."""
    tables = year_tables()
    shuffled = tables["usagers"].with_columns(pl.col("grav").shuffle(seed=1))
    a = merge_accidents(*tables.values(), 2021).drop("priority")
    b = merge_accidents(
        tables["caracteristiques"], tables["lieux"], shuffled, tables["vehicules"], 2021
    ).drop("priority")
    assert a.equals(b)


def test_unharmed_everywhere_is_not_priority():
    tables = year_tables()
    unharmed = tables["usagers"].with_columns(pl.lit(1, pl.Int8).alias("grav"))
    merged = merge_accidents(
        tables["caracteristiques"], tables["lieux"], unharmed, tables["vehicules"], 2021
    )
    assert merged["priority"].sum() == 0


def test_several_lieux_rows_pick_the_highest_speed_limit_deterministically():
    lieux = year_tables(5)["lieux"]
    first = lieux.row(0, named=True)
    extra = pl.DataFrame(
        [{**first, "vma": 130, "catr": 1}, {**first, "vma": 30, "catr": 4}], schema=lieux.schema
    )
    for frame in (pl.concat([lieux, extra]), pl.concat([extra, lieux])):
        picked = pick_lieux(frame).filter(pl.col("Num_Acc") == first["Num_Acc"]).row(0, named=True)
        assert (picked["vma"], picked["catr"], picked["nb_lieux"]) == (130, 1, 3)


@pytest.mark.parametrize("table", ["lieux", "usagers", "vehicules"])
def test_num_acc_that_does_not_join_names_year_file_column_and_keys(table: str):
    tables = year_tables(20)
    tables[table] = tables[table].with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit(202199999999, pl.Int64))
        .otherwise(pl.col("Num_Acc"))
        .alias("Num_Acc")
    )
    with pytest.raises(
        BaacFormatError,
        match=rf"{table} 2021 \({table}-2021\.csv\): column 'Num_Acc'.*not in caracteristiques-2021.*202199999999",
    ):
        merge_accidents(*tables.values(), 2021)


@pytest.mark.real_data
def test_real_head_files_merge(head_folder: Path):
    tables = {t: read_table((head_folder / f"{t}-2021.csv").read_bytes(), t, 2021) for t in TABLES}
    merged = merge_accidents(*tables.values(), 2021)
    assert merged.height == 126
    first = merged.row(0, named=True)
    # Accident 1: a bicycle (B01, rider hospitalized) and a car (A01); the representative user is
    # the driver of A01, whatever the injuries.
    assert (first["nb_victim"], first["nb_vehicules"], first["catv"], first["an_nais"]) == (
        2,
        2,
        7,
        1978,
    )
    assert (first["nb_veh_bicycle_edp"], first["nb_veh_light"], first["priority"]) == (1, 1, 1)
    assert merged["priority"].mean() == pytest.approx(59 / 126, abs=0.2)
