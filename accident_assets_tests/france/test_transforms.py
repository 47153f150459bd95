"""The interim merge: one row per accident, aggregates not selected by grav, a checked join."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from accident_assets.france import sample
from accident_assets.france.reader import TABLES, BaacFormatError, read_table
from accident_assets.france.sources import LocalFranceSource
from accident_assets.france.transforms import check_year, merge_accidents, pick_lieux, year_warnings


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


def test_several_lieux_rows_main_road_is_the_lowest_catr_then_file_order():
    lieux = year_tables(5)["lieux"]
    first = lieux.row(0, named=True)
    num_acc = first["Num_Acc"]
    lieux = lieux.filter(pl.col("Num_Acc") != num_acc)
    roads = pl.DataFrame(
        [
            {**first, "catr": 4, "vma": 130, "voie": "first communal"},
            {**first, "catr": 2, "vma": 80, "voie": "national A"},
            {**first, "catr": 2, "vma": 50, "voie": "national B"},
            {**first, "catr": 4, "vma": -1, "voie": "second communal"},
        ],
        schema=lieux.schema,
    )
    picked = pick_lieux(pl.concat([lieux, roads])).filter(pl.col("Num_Acc") == num_acc)
    row = picked.row(0, named=True)
    # National road (catr 2) beats communal (4) even with a lower speed limit; of the two national
    # roads the first in the file wins.
    assert (row["catr"], row["vma"]) == (2, 80)
    assert (row["nb_lieux"], row["vma_max"], row["any_motorway"], row["nb_road_categories"]) == (
        4, 130, 0, 2,
    )  # fmt: skip
    swapped = pl.concat([lieux, roads[[0, 2, 1, 3]]])
    assert pick_lieux(swapped).filter(pl.col("Num_Acc") == num_acc)["vma"][0] == 50


def test_road_aggregates_with_a_motorway_and_no_speed_limit():
    lieux = year_tables(3)["lieux"]
    first = lieux.row(0, named=True)
    roads = pl.DataFrame(
        [{**first, "catr": 1, "vma": -1}, {**first, "catr": 1, "vma": None}], schema=lieux.schema
    )
    row = pick_lieux(roads).row(0, named=True)
    assert (row["any_motorway"], row["vma_max"], row["nb_road_categories"]) == (1, None, 1)


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


# --- blocking invariants and WARN-level findings, on copies of the real 2021 head -------------


def _read_folder(folder: Path, year: int) -> dict[str, pl.DataFrame]:
    source = LocalFranceSource(folder=str(folder))
    return {t: read_table(source.fetch(year, t), t, year, source.filename(t, year)) for t in TABLES}


def _copy_head(head_folder: Path, tmp_path: Path) -> Path:
    import shutil

    folder = tmp_path / "head"
    shutil.copytree(head_folder, folder)
    return folder


def _keep_lines(path: Path, keep: int) -> None:
    lines = path.read_text("utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:keep]), "utf-8")


@pytest.mark.real_data
def test_real_head_passes_the_invariants_without_warnings(head_folder: Path):
    tables = _read_folder(head_folder, 2021)
    check_year(tables, 2021)
    assert year_warnings(tables, 2021) == []


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("table", "keep", "message"),
    [
        (
            "usagers",
            1,
            r"usagers 2021 \(usagers-2021\.csv\): 126 of 126 accidents .* no user row.*only its header",
        ),
        (
            "lieux",
            1,
            r"lieux 2021 \(lieux-2021\.csv\): 126 of 126 accidents .* no road row.*only its header",
        ),
        (
            "vehicules",
            1,
            r"vehicules 2021 \(vehicules-2021\.csv\): 126 of 126 accidents .* no vehicle row",
        ),
        # half of the 317 user lines: 68 of the 126 accidents are left without victims
        (
            "usagers",
            159,
            r"usagers 2021 \(usagers-2021\.csv\): 68 of 126 accidents .* no user row.*e\.g\. \[202100000059",
        ),
    ],
    ids=[
        "usagers_header_only",
        "lieux_header_only",
        "vehicules_header_only",
        "usagers_cut_in_half",
    ],
)
def test_truncated_real_files_are_refused(
    head_folder: Path, tmp_path: Path, table: str, keep: int, message: str
):
    folder = _copy_head(head_folder, tmp_path)
    _keep_lines(folder / f"{table}-2021.csv", keep)
    tables = _read_folder(folder, 2021)  # the reader alone accepts them: they are well-formed
    with pytest.raises(BaacFormatError, match=message):
        check_year(tables, 2021)


@pytest.mark.real_data
def test_user_whose_vehicle_is_missing_is_refused(head_folder: Path):
    tables = _read_folder(head_folder, 2021)
    first = tables["vehicules"].row(0, named=True)
    # Accident 1 keeps a vehicle, but not the one its first user rode.
    tables["vehicules"] = tables["vehicules"].filter(
        ~((pl.col("Num_Acc") == first["Num_Acc"]) & (pl.col("id_vehicule") == first["id_vehicule"]))
    )
    with pytest.raises(
        BaacFormatError,
        match=r"usagers 2021 \(usagers-2021\.csv\): 1 user\(s\) whose vehicle .*'id_vehicule'.* not in vehicules-2021\.csv, e\.g\. \[\(202100000001, '201\\xa0764'\)\]",
    ):
        check_year(tables, 2021)


def test_duplicate_num_acc_names_the_file():
    tables = year_tables(20, 2024)
    tables["caracteristiques"] = pl.concat(
        [tables["caracteristiques"], tables["caracteristiques"].head(2)]
    )
    with pytest.raises(
        BaacFormatError,
        match=r"caracteristiques 2024 \(caract-2024\.csv\): column 'Num_Acc' is not unique: 2 key\(s\)",
    ):
        check_year(tables, 2024, {"caracteristiques": "caract-2024.csv"})


def test_warnings_for_a_missing_target_a_strange_priority_rate_and_a_shrunk_year():
    tables = year_tables(400)
    assert year_warnings(tables, 2021, {t: f.height for t, f in tables.items()}) == []
    no_grav = tables["usagers"].with_columns(
        pl.when(pl.col("Num_Acc") % 2 == 0)
        .then(-1)
        .otherwise(pl.col("grav"))
        .cast(pl.Int8)
        .alias("grav")
    )
    found = year_warnings({**tables, "usagers": no_grav}, 2021)
    assert any("have a user with a filled 'grav'" in w for w in found), found
    unharmed = tables["usagers"].with_columns(pl.lit(1, pl.Int8).alias("grav"))
    found = year_warnings({**tables, "usagers": unharmed}, 2021)
    assert found == [
        "BAAC usagers 2021: priority rate 0.0% is outside 15%-75% (anyone killed or "
        "hospitalized); real years are near 37 %"
    ]
    doubled = {t: f.height * 3 for t, f in tables.items()}
    found = year_warnings(tables, 2021, doubled)
    assert len(found) == 4 and all("beyond a factor 2" in w for w in found)


@pytest.mark.real_data
def test_real_2024_head_merges_several_roads(head_2024: Path):
    tables = _read_folder(head_2024, 2024)
    check_year(tables, 2024)
    merged = merge_accidents(*tables.values(), 2024)
    assert merged.height == 40
    assert (merged["nb_lieux"] > 1).sum() == 17
    assert merged["nb_lieux"].sum() == 57
    several = merged.filter(pl.col("nb_lieux") > 1)
    lieux = tables["lieux"]
    for row in several.iter_rows(named=True):
        roads = lieux.filter(pl.col("Num_Acc") == row["Num_Acc"])
        assert row["catr"] == roads["catr"].min()
        assert row["nb_road_categories"] == roads["catr"].n_unique()
