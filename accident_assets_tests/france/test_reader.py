"""The strict BAAC reader on the real first rows of 2021 and on every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from accident_assets.france.reader import COLUMNS, TABLES, BaacFormatError, read_table

NBSP = "\u00a0"


def read_head(folder: Path, table: str) -> pl.DataFrame:
    path = folder / f"{table}-2021.csv"
    return read_table(path.read_bytes(), table, 2021, path.name)


@pytest.mark.real_data
def test_real_head_files_parse_exactly(head_folder: Path):
    tables = {t: read_head(head_folder, t) for t in TABLES}
    assert {t: f.height for t, f in tables.items()} == {
        "caracteristiques": 126,
        "lieux": 126,
        "usagers": 317,
        "vehicules": 209,
    }
    for table, frame in tables.items():
        assert frame.schema == pl.Schema(COLUMNS[table])

    carac = tables["caracteristiques"].row(2, named=True)
    assert carac["Num_Acc"] == 202100000003
    assert (carac["jour"], carac["mois"], carac["an"], carac["hrmn"]) == (15, 7, 2021, "07:55")
    assert carac["adr"] == "15 rue François Nicolas"
    assert carac["lat"] == pytest.approx(46.92195)
    assert carac["long"] == pytest.approx(-0.96446)  # written " -0,9644600000"
    assert tables["caracteristiques"]["dep"][0] == "30"
    assert tables["caracteristiques"]["com"][0] == "30319"

    lieux = tables["lieux"].row(0, named=True)
    assert lieux["v1"] == -1 and lieux["v2"] == "N/A"  # " -1" and "N/A"
    assert lieux["pr"] == "(1)" and lieux["lartpc"] is None and lieux["larrout"] == -1.0
    assert lieux["vma"] == 80
    assert 5.5 in tables["lieux"]["larrout"].to_list()  # written "5,5"

    user = tables["usagers"].row(0, named=True)
    assert user["id_vehicule"] == f"201{NBSP}764"
    assert user["num_veh"] == "B01"
    assert (user["grav"], user["an_nais"], user["secu3"], user["etatp"]) == (3, 2000, -1, -1)
    assert user["id_usager"] is None  # the 2021 file has no id_usager
    assert "B" in tables["usagers"]["actp"].to_list()  # actp can be a letter

    vehicle = tables["vehicules"].row(0, named=True)
    assert vehicle["id_vehicule"] == f"201{NBSP}764"
    assert (vehicle["catv"], vehicle["obsm"], vehicle["motor"], vehicle["occutc"]) == (
        1,
        2,
        5,
        None,
    )
    # The four files cover the same accidents.
    ids = set(tables["caracteristiques"]["Num_Acc"])
    assert all(set(tables[t]["Num_Acc"]) == ids for t in ("lieux", "usagers", "vehicules"))


@pytest.mark.real_data
def test_text_is_kept_byte_for_byte(head_folder: Path):
    raw = pl.read_csv(head_folder / "caracteristiques-2021.csv", separator=";", infer_schema=False)
    typed = read_head(head_folder, "caracteristiques")
    assert typed["adr"].to_list() == raw["adr"].to_list()


GOOD = (
    '"Num_Acc";"catr";"voie";"v1";"v2";"circ";"nbv";"vosp";"prof";"pr";"pr1";"plan";"lartpc";'
    '"larrout";"surf";"infra";"situ";"vma"\n'
    '"202100000001";"3";"981";" -1";"N/A";"2";"2";"0";"1";"(1)";"(1)";"1";"";" -1";"1";"0";"1";"80"\n'
)


def test_good_minimal_file():
    frame = read_table(GOOD.encode(), "lieux", 2021)
    assert frame.row(0, named=True)["v1"] == -1


def test_wrong_delimiter_names_year_file_and_delimiter():
    with pytest.raises(BaacFormatError, match=r"lieux 2021 \(lieux-2021\.csv\).*no ';'.*','"):
        read_table(GOOD.replace(";", ",").encode(), "lieux", 2021)


def test_unexpected_encoding():
    latin = GOOD.replace('"981"', '"CHAUSSÉE"').encode("latin-1")
    with pytest.raises(BaacFormatError, match=r"lieux 2021 .*not UTF-8.*line 2"):
        read_table(latin, "lieux", 2021)


def test_missing_column():
    text = GOOD.replace('"vma"\n', '"vmax"\n', 1)
    with pytest.raises(
        BaacFormatError,
        match=r"lieux 2021.*missing column\(s\) 'vma'.*unexpected column\(s\) 'vmax' \(renamed\?\)",
    ):
        read_table(text.encode(), "lieux", 2021)
    header, row = GOOD.splitlines()
    dropped = ";".join(header.split(";")[:-1]) + "\n" + ";".join(row.split(";")[:-1]) + "\n"
    with pytest.raises(BaacFormatError, match=r"missing column\(s\) 'vma'"):
        read_table(dropped.encode(), "lieux", 2022, "lieux-2022.csv")


def test_value_of_the_wrong_type_names_the_column():
    with pytest.raises(
        BaacFormatError, match=r"lieux 2021.*column 'vma' expects integer codes.*'80 km/h'"
    ):
        read_table(GOOD.replace('"80"', '"80 km/h"').encode(), "lieux", 2021)


def test_empty_file():
    with pytest.raises(BaacFormatError, match="empty"):
        read_table(b"", "usagers", 2021)


def test_optional_id_usager_and_null_tokens():
    text = (
        '"Num_Acc";"id_usager";"id_vehicule";"num_veh";"place";"catu";"grav";"sexe";"an_nais";'
        '"trajet";"secu1";"secu2";"secu3";"locp";"actp";"etatp"\n'
        f'"202200000001";"1{NBSP}099{NBSP}545";"813{NBSP}952";"A01";"1";"1";"3";"1";"";"5";"1";" -1";" -1";" -1";" -1";" -1"\n'
    )
    row = read_table(text.encode(), "usagers", 2022).row(0, named=True)
    assert row["id_usager"] == f"1{NBSP}099{NBSP}545" and row["an_nais"] is None
    assert row["actp"] == " -1"  # text columns are kept as published
