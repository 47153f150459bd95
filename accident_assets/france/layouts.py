"""What each yearly BAAC release looks like: file names, key column names, optional columns.

One table for every backend (local, s3, http): the reader and the sources ask it instead of
assuming ``<table>-<year>.csv``. Facts per release (data.gouv.fr, ONISR):

* file names — the characteristics file is ``caracteristiques-YYYY.csv`` up to 2021, then the
  misspelt ``carcteristiques-2022.csv``, then ``caract-2023.csv`` / ``caract-2024.csv``; the other
  three are always ``lieux-YYYY.csv``, ``usagers-YYYY.csv``, ``vehicules-YYYY.csv``. The canonical
  name is accepted for every year too (the French reference's S3 copy and our sample use it);
* the key of ``caracteristiques`` is ``Num_Acc``; the 2022 release is reported to call it
  ``Accident_Id``. It is accepted from 2022 on (later releases reuse the 2022 layout) and renamed;
* ``usagers.id_usager`` is absent before 2022 and present (required) from 2022.

A year after the newest known release gets the newest layout (so the sensor can notice it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

TABLES = ("caracteristiques", "lieux", "usagers", "vehicules")
FIRST_YEAR, LAST_KNOWN_YEAR = 2019, 2024


@dataclass(frozen=True)
class Layout:
    """One release's layout. ``names[table]`` lists accepted file names, the official one first."""

    year: int
    names: dict[str, tuple[str, ...]]
    # table -> {name found in the file: canonical name}
    renames: dict[str, dict[str, str]] = field(default_factory=dict)
    # table -> columns that this year's file may lack (added as nulls by the reader)
    optional: dict[str, frozenset[str]] = field(default_factory=dict)

    def official(self, table: str) -> str:
        return self.names[table][0]

    def accepted(self, table: str) -> tuple[str, ...]:
        return self.names[table]


def canonical_name(table: str, year: int | str) -> str:
    return f"{table}-{year}.csv"


def _official_caracteristiques(year: int) -> str:
    if year <= 2021:
        return canonical_name("caracteristiques", year)
    if year == 2022:
        return "carcteristiques-2022.csv"
    return f"caract-{year}.csv"


def layout(year: int | str) -> Layout:
    """The layout of release ``year`` (years after the newest known one: the newest layout)."""
    y = int(year)
    names = {t: (canonical_name(t, y),) for t in TABLES}
    official = _official_caracteristiques(y)
    if official != names["caracteristiques"][0]:
        names["caracteristiques"] = (official, canonical_name("caracteristiques", y))
    renames = {"caracteristiques": {"Accident_Id": "Num_Acc"}} if y >= 2022 else {}
    optional = {"usagers": frozenset({"id_usager"})} if y < 2022 else {}
    return Layout(y, names, renames, optional)


def year_of_filename(name: str) -> tuple[str, int] | None:
    """``("caracteristiques", 2023)`` for ``caract-2023.csv``; None for a name no layout accepts."""
    stem, dot, ext = name.rpartition(".")
    _, dash, digits = stem.rpartition("-")
    if not (dot and dash and ext == "csv" and digits.isdigit() and len(digits) == 4):
        return None
    year = int(digits)
    if year < FIRST_YEAR:
        return None
    for table in TABLES:
        if name in layout(year).accepted(table):
            return table, year
    return None
