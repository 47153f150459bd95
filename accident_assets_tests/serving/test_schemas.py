"""The one validation layer: strict types, finite numbers, BAAC codes and patterns shared with the
raw tables' Pandera schemas (one definition, so the reader and the API accept the same values),
and errors that say where the problem is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from accident_assets.checks import validate
from accident_assets.france import codes, sample
from accident_assets.france.schemas import RAW_SCHEMAS
from accident_assets.serving.schemas import FRANCE_REQUEST, NYC_REQUEST, field_location

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLAT = json.loads((EXAMPLES / "france_flat_record.json").read_text())
FULL = json.loads((EXAMPLES / "france_accidents.json").read_text())[0]
POINT = {"lat": 40.758, "lon": -73.9855, "timestamp": "2024-07-05T22:30:00"}


def errors(adapter: Any, payload: Any) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        if isinstance(payload, str):
            adapter.validate_json(payload)
        else:
            adapter.validate_python(payload)
    return [(field_location(e["loc"]), e["msg"]) for e in caught.value.errors()]


@pytest.mark.parametrize(
    ("payload", "loc", "message"),
    [
        ({**FLAT, "hrmn": "9:30"}, ("hrmn",), "pattern"),  # the files always write "09:30"
        ({**FLAT, "hrmn": "24:00"}, ("hrmn",), "pattern"),
        ({**FLAT, "catu": "1"}, ("catu",), "whole number"),
        ({**FLAT, "catu": True}, ("catu",), "whole number"),
        ({**FLAT, "catu": 1.5}, ("catu",), "whole number"),
        ({**FLAT, "lum": 9}, ("lum",), "less than or equal to 5"),
        ({**FLAT, "an": 2018}, ("an",), "greater than or equal to 2019"),
        ({**FLAT, "lat": "48.6"}, ("lat",), "number"),
        ({**FLAT, "lat": True}, ("lat",), "number"),
        ({**FLAT, "dep": "XX"}, ("dep",), "pattern"),
        ({**FLAT, "dep": 7.5}, ("dep",), "text"),
        ({**FLAT, "speed": 3}, ("speed",), "Extra inputs"),
        ({**FLAT, "catv": None}, ("catv",), ""),
        ({**FLAT, "nb_vehicules": 0}, ("nb_vehicules",), "greater than or equal to 1"),
        ({**FLAT, "jour": 31, "mois": 2}, (), "not a date"),
        ({k: v for k, v in FLAT.items() if k != "hrmn"}, (), "'hrmn'"),
        ([FLAT, {**FLAT, "catu": 9}], (1, "catu"), "less than or equal to 3"),
        ({**FULL, "usagers": [{"catu": 1}, {"catu": 9}]}, ("usagers", 1, "catu"), "3"),
        ({**FULL, "usagers": []}, ("usagers",), "at least 1"),
        ({**FULL, "usagers": [{"catu": 1, "wings": 2}]}, ("usagers", 0, "wings"), "Extra"),
        ({**FULL, "usagers": [{"catu": 1, "num_veh": "Z09"}]}, (), "names no vehicle"),
        ({**FULL, "lieux": [{"catr": 3}]}, (), "given beside the 'lieux' list"),
        ({**FULL, "usagers": [{"catu": 1, "id_vehicule": "zz"}]}, (), "names no vehicle"),
        ({**FULL, "vehicules": [{"num_veh": "B01"}, {}]}, (), "given to several vehicles"),
        ({**FULL, "larrout": 1e39}, ("larrout",), "less than or equal to"),
        ({**FLAT, "larrout": -1e39}, ("larrout",), "greater than or equal to"),
        ({**FLAT, "hrmn": "1\u0663:00"}, ("hrmn",), "pattern"),  # an Arabic-Indic digit
        ({**FLAT, "dep": "\u0669\u0667"}, ("dep",), "pattern"),
        ({**{k: v for k, v in FULL.items() if k != "lum"}}, ("lum",), "required"),
    ],
)
def test_bad_france_records_name_the_field(payload: Any, loc: tuple, message: str) -> None:
    found = errors(FRANCE_REQUEST, payload)
    assert any(where == loc and message in msg for where, msg in found), found


@pytest.mark.parametrize(
    "body",
    [
        '{"lat": NaN, "lon": -73.9, "timestamp": "2024-07-05T22:30:00"}',
        '{"lat": Infinity, "lon": -73.9, "timestamp": "2024-07-05T22:30:00"}',
        '{"lat": "40.7", "lon": -73.9, "timestamp": "2024-07-05T22:30:00"}',
        '{"lat": 40.7, "lon": -73.9, "timestamp": 1720218600}',
        '{"lat": 40.7, "lon": true, "timestamp": "2024-07-05T22:30:00"}',
        '{"lat": 48.85, "lon": 2.35, "timestamp": "2024-07-05T22:30:00"}',  # Paris
        '{"lat": 40.7, "lon": -73.9, "timestamp": "2024-07-05T22:30:00", "x": 1}',
    ],
)
def test_nyc_points_are_strict_json(body: str) -> None:
    assert errors(NYC_REQUEST, body)


def test_france_json_nan_is_refused_everywhere() -> None:
    for field in ("lat", "larrout", "catu"):
        body = json.dumps({**FLAT, field: float("nan")})
        assert errors(FRANCE_REQUEST, body)[0][0] == (field,)


def test_reference_spellings_are_accepted() -> None:
    # The reference's example records send codes as 0.0 and dep/com as numbers.
    (record,) = [
        r.model_dump()
        for r in [FRANCE_REQUEST.validate_python({**FLAT, "secu1": 0.0, "dep": 7, "com": 1001})]
    ]
    assert (record["secu1"], record["dep"], record["com"]) == (0, "07", "01001")
    assert NYC_REQUEST.validate_json(json.dumps(POINT))


# --- one definition: the raw schemas and the request models accept the same values -----------


def _raw_row(table: str) -> pl.DataFrame:
    return sample.generate_year(2022, 5)[table].head(1)


def _api_payload(table: str, name: str, value: Any) -> dict[str, Any]:
    if table in ("caracteristiques", "lieux"):
        return {**FULL, name: value}
    key = table  # usagers / vehicules: the first row of the list
    return {**FULL, key: [{**FULL[key][0], name: value}, *FULL[key][1:]]}


def _cases() -> list[tuple[str, str, Any, bool]]:
    cases = []
    for table, ranges in codes.CODE_RANGES.items():
        for name, (low, high) in ranges.items():
            cases += [(table, name, low, True), (table, name, high, True)]
            cases += [(table, name, low - 1, False), (table, name, high + 1, False)]
    for table, ranges in codes.REAL_RANGES.items():
        for name, (low_f, high_f) in ranges.items():
            cases += [(table, name, high_f, True), (table, name, high_f + 0.5, False)]
            cases += [(table, name, low_f - 0.5, False)]
    hours = ["00:00", "23:59", "9:30", "24:00", "12:60", "1230", "1\u0663:00"]
    cases += [("caracteristiques", "hrmn", h, h in ("00:00", "23:59")) for h in hours]
    dep_cases = (("2A", True), ("974", True), ("01", True), ("2C", False), ("1", False))
    for dep, ok in (*dep_cases, ("\u0669\u0667", False)):
        cases.append(("caracteristiques", "dep", dep, ok))
    return cases


@pytest.mark.parametrize(("table", "name", "value", "valid"), _cases())
def test_reader_and_api_agree_on_every_code(table: str, name: str, value: Any, valid: bool) -> None:
    raw = _raw_row(table)
    raw = raw.with_columns(pl.lit(value).cast(raw.schema[name], strict=False).alias(name))
    # A value that does not even fit the column's type is refused by the reader already.
    raw_ok = not raw[name].null_count() and validate(RAW_SCHEMAS[table], raw) is None
    payload = _api_payload(table, name, value)
    if name in ("jour", "mois", "an"):
        payload = {**payload, "jour": 1, "mois": 1, "an": 2022, name: value}
    try:
        FRANCE_REQUEST.validate_python(payload)
        api_ok = True
    except ValidationError as err:
        api_ok = False
        assert any(name in field_location(e["loc"]) for e in err.errors()), err
    assert (raw_ok, api_ok) == (valid, valid)


def test_many_vehicles_get_distinct_plates() -> None:
    accident = {**FULL, "vehicules": [{"catv": 7}] * 30, "usagers": [{"catu": 1, "num_veh": "D02"}]}
    FRANCE_REQUEST.validate_python(accident)  # D02 is the 30th vehicle's default plate
