"""The sample years follow the published format byte for byte and carry a learnable signal."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from accident_assets.france import sample
from accident_assets.france.features import FEATURE_COLUMNS, TARGET, build_features
from accident_assets.france.reader import COLUMNS, TABLES, read_table
from accident_assets.france.transforms import merge_accidents

NBSP = "\u00a0"
FIELD = re.compile(r'"[^"]*"')


def test_published_format_round_trip(sample_folder: Path):
    for year in (2021, 2022):
        generated = sample.generate_year(year, 600)
        for table in TABLES:
            path = sample_folder / f"{table}-{year}.csv"
            data = path.read_bytes()
            assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data
            lines = data.decode("utf-8").split("\n")
            assert lines[-1] == ""  # LF after the last row
            for line in lines[:-1]:
                # Every field double-quoted, ';' between them, nothing else.
                assert FIELD.sub("", line) == ";" * line.count('";"'), line
            parsed = read_table(data, table, year, path.name)
            assert parsed.equals(generated[table]), table


def test_byte_level_conventions(sample_folder: Path):
    carac = (sample_folder / "caracteristiques-2021.csv").read_text("utf-8")
    lieux = (sample_folder / "lieux-2021.csv").read_text("utf-8")
    users21 = (sample_folder / "usagers-2021.csv").read_text("utf-8")
    users22 = (sample_folder / "usagers-2022.csv").read_text("utf-8")
    vehicles = (sample_folder / "vehicules-2021.csv").read_text("utf-8")
    assert carac.startswith('"Num_Acc";"jour";"mois";"an";"hrmn";')
    assert re.search(r'";" -\d+,\d{10}"', carac)  # negative coordinate, leading space
    assert re.search(r'";"\d+,\d{10}";"', carac)  # decimal comma, 10 decimals
    assert '"N/A"' in carac and '"2A"' in carac and '"974"' in carac
    assert re.search(r'"2A\d{3}"', carac) and re.search(r'"974\d{2}"', carac)
    assert re.search(r'"202100000001";"\d{1,2}";"\d{2}";"2021";"\d{2}:\d{2}"', carac)
    assert '" -1"' in lieux and '"(1)"' in lieux and '"N/A"' in lieux
    assert re.search(r'";"";"( -1|\d+(,\d)?)";"', lieux)  # lartpc empty, larrout after it
    assert re.search(rf'"\d{{3}}{NBSP}\d{{3}}";"A01"', vehicles)
    assert '"id_usager"' not in users21 and '"Num_Acc";"id_usager";"id_vehicule"' in users22
    assert re.search(rf'"\d{NBSP}\d{{3}}{NBSP}\d{{3}}";"\d{{3}}{NBSP}\d{{3}}"', users22)
    assert ';"";' in users21  # an_nais sometimes empty


def test_generation_is_deterministic_and_keys_are_consistent():
    first, second = sample.generate_year(2022, 300), sample.generate_year(2022, 300)
    for table in TABLES:
        assert first[table].equals(second[table])
        assert first[table].schema == pl.Schema(COLUMNS[table])
    ids = set(first["caracteristiques"]["Num_Acc"])
    assert len(ids) == 300 and set(first["lieux"]["Num_Acc"]) == ids
    vehicles = first["vehicules"].select("Num_Acc", "id_vehicule", "num_veh")
    users = first["usagers"].select("Num_Acc", "id_vehicule", "num_veh")
    assert users.join(vehicles, on=["Num_Acc", "id_vehicule", "num_veh"], how="anti").height == 0
    assert set(vehicles["Num_Acc"]) == ids and set(users["Num_Acc"]) == ids
    assert vehicles["id_vehicule"].is_unique().all()


def test_signal_is_learnable():
    """A plain scaled logistic regression beats the majority class (F1 0) clearly on next year."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frames = {}
    for year in (2021, 2022):
        tables = sample.generate_year(year, 3000)
        frames[year] = build_features(merge_accidents(*tables.values(), year))
    rate = frames[2021][TARGET].mean()
    assert 0.2 <= rate <= 0.32
    model = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=500, class_weight="balanced")
    )
    model.fit(frames[2021].select(FEATURE_COLUMNS).to_numpy(), frames[2021][TARGET].to_numpy())
    predicted = model.predict(frames[2022].select(FEATURE_COLUMNS).to_numpy())
    assert f1_score(frames[2022][TARGET].to_numpy(), predicted) >= 0.62


@pytest.mark.parametrize("n", [1, 57])
def test_tiny_years(n: int):
    tables = sample.generate_year(2021, n)
    assert tables["caracteristiques"].height == n
    assert merge_accidents(*tables.values(), 2021).height == n
