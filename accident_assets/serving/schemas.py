"""Typed requests and responses of the API, the CLI and the logged MLflow model: the one place a
request is validated.

The France record models are built from the BAAC definitions the reader uses
(:mod:`accident_assets.france.codes` for ranges and patterns, the reader's column types, the field
lists of :mod:`accident_assets.france.records`), so the OpenAPI document states exactly what is
accepted and the reader and the API cannot disagree on a code. Types are strict: a code is a JSON
number with no fraction (the reference's ``0.0`` is accepted, ``"1"`` and ``true`` are not), reals
are finite, text fields take text (``dep``/``com`` also the reference's numbers, 77 -> "77").
What passes here is scored without further checks.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    create_model,
    model_validator,
)

from accident_assets.france import codes
from accident_assets.france import records as fr
from accident_assets.france.reader import COLUMNS
from accident_assets.nyc import geo

MAX_RECORDS = 2_000

_INT_RANGES = {
    pl.Int8: (-(2**7), 2**7 - 1),
    pl.Int16: (-(2**15), 2**15 - 1),
    pl.Int32: (-(2**31), 2**31 - 1),
    pl.Int64: (-(2**63), 2**63 - 1),
}


def whole_number(value: Any) -> Any:
    """A JSON number without a fraction, as an int; text, booleans and 1.5 are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number (JSON number), not " + type(value).__name__)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"must be a whole number, got {value!r}")
        return int(value)
    return value


def real_number(value: Any) -> Any:
    """A finite JSON number; text and booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number (JSON number), not " + type(value).__name__)
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return float(value)


def _text(width: int | None) -> Any:
    """Text; a whole JSON number is spelt as the files do (dep 77 -> "77", com 1001 -> "01001")."""

    def convert(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0 and width:
            return f"{value:0{width}d}"
        if not isinstance(value, str):
            raise ValueError("must be text (JSON string), not " + type(value).__name__)
        return value

    return BeforeValidator(convert)


_TEXT_WIDTH = {"dep": 2, "com": 5}


# The constraints come before the conversion so that they land in the JSON schema (minimum,
# maximum, pattern) of the inner type; the conversion runs first when validating.
def whole(low: int | None = None, high: int | None = None) -> Any:
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(whole_number)]


def real(low: float | None = None, high: float | None = None) -> Any:
    return Annotated[
        float, Field(ge=low, le=high, allow_inf_nan=False), BeforeValidator(real_number)
    ]


def text(pattern: str | None = None, width: int | None = None) -> Any:
    return Annotated[str, Field(pattern=pattern, max_length=64), _text(width)]


Real = real()


def _column(table: str, name: str) -> Any:
    """The type of one BAAC column as a request field: its code range, pattern or text."""
    if name in codes.CODE_RANGES.get(table, {}):
        return whole(*codes.CODE_RANGES[table][name])
    if name in codes.REAL_RANGES.get(table, {}):
        return real(*codes.REAL_RANGES[table][name])
    pattern = codes.TEXT_PATTERNS.get(table, {}).get(name)
    if pattern is not None:
        return text(pattern, _TEXT_WIDTH.get(name))
    dtype = COLUMNS[table][name]
    if dtype.base_type() in _INT_RANGES:
        return whole(*_INT_RANGES[dtype.base_type()])
    if dtype.base_type() == pl.Float64:
        return Real
    return text()


_TABLE_OF = {
    name: table
    for table in ("vehicules", "usagers", "lieux", "caracteristiques")
    for name in COLUMNS[table]
}
Count = whole(1, fr.MAX_COUNT)
_FORBID = ConfigDict(extra="forbid")


def _field_type(name: str) -> Any:
    return Count if name in ("nb_victim", "nb_vehicules") else _column(_TABLE_OF[name], name)


def check_date(jour: int, mois: int, an: int) -> None:
    try:
        dt.date(an, mois, jour)
    except ValueError:
        raise ValueError(
            f"fields 'jour', 'mois', 'an' are not a date: {jour}/{mois}/{an}"
        ) from None


class _FlatBase(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _resolve_aliases(self) -> Any:
        # The reference's examples give 'hour' for hrmn and 'victim_age' for the birth year.
        if self.hrmn is None:
            if self.hour is None:
                raise ValueError("field 'hrmn' ('HH:MM') or 'hour' (0-23) is required")
            self.hrmn = f"{self.hour:02d}:00"
        if self.an_nais is None and self.victim_age is not None:
            self.an_nais = self.an - self.victim_age
        check_date(self.jour, self.mois, self.an)
        return self


# Accepted spellings from the reference's example files that mean the same field and type.
_SAME_TYPE_ALIASES = {
    name: alias for alias, name in fr.FLAT_RECORD_ALIASES.items() if name not in ("hrmn", "an_nais")
}


def _flat_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, (_kind, default) in fr.FLAT_RECORD_FIELDS.items():
        annotation = _field_type(name)
        if name == "hrmn":
            fields[name] = (annotation | None, Field(None, description="'HH:MM', or give 'hour'"))
            continue
        if default is not ...:
            annotation = annotation | None
        alias = _SAME_TYPE_ALIASES.get(name)
        extra = {"validation_alias": AliasChoices(name, alias)} if alias else {}
        fields[name] = (annotation, Field(default, **extra))
    fields["hour"] = (
        whole(0, 23) | None,
        Field(None, description="instead of hrmn"),
    )
    fields["victim_age"] = (
        whole(0, 120) | None,
        Field(None, description="instead of an_nais (birth year = an - age)"),
    )
    return fields


FlatRecord = create_model(
    "FlatRecord",
    __base__=_FlatBase,
    __doc__=(
        "The French reference's flat record: one user and one vehicle of an accident, with the "
        "accident's place and time and its victim and vehicle counts (BAAC codes)."
    ),
    **_flat_fields(),
)


def _table_fields(table: str, names: list[str], required: frozenset[str]) -> dict[str, Any]:
    return {
        name: (_column(table, name), ...)
        if name in required
        else (_column(table, name) | None, None)
        for name in names
    }


# Keys serving fills in (Num_Acc, the vehicle links) and the outcome are never required.
_NOT_INPUT = frozenset({"Num_Acc", "id_vehicule", "num_veh", "grav"})
User = create_model(
    "User",
    __config__=_FORBID,
    __doc__="One row of the BAAC usagers table (the accident's key is implied).",
    **_table_fields("usagers", fr.USER_FIELDS, codes.REQUIRED["usagers"] - _NOT_INPUT),
)
Vehicle = create_model(
    "Vehicle",
    __config__=_FORBID,
    __doc__="One row of the BAAC vehicules table (the accident's key is implied).",
    **_table_fields("vehicules", fr.VEHICLE_FIELDS, codes.REQUIRED["vehicules"] - _NOT_INPUT),
)
Road = create_model(
    "Road",
    __config__=_FORBID,
    __doc__="One row of the BAAC lieux table: one road of the accident (its key is implied).",
    **_table_fields("lieux", fr.ROAD_FIELDS, codes.REQUIRED["lieux"] - _NOT_INPUT),
)


class _FullBase(BaseModel):
    model_config = _FORBID

    @model_validator(mode="after")
    def _consistent(self) -> Any:
        check_date(self.jour, self.mois, self.an)
        given = sorted(n for n in fr.ROAD_FIELDS if getattr(self, n) is not None)
        if self.lieux is not None and given:
            raise ValueError(f"road field(s) {given} given beside the 'lieux' list")
        if self.lieux is None and self.catr is None:
            raise ValueError("field 'catr' (or a 'lieux' list of roads) is required")
        ids = fr.vehicle_ids([v.id_vehicule for v in self.vehicules])
        plates = fr.vehicle_plates([v.num_veh for v in self.vehicules])
        for name, keys in (("id_vehicule", ids), ("num_veh", plates)):
            twice = sorted({k for k in keys if keys.count(k) > 1})
            if twice:
                raise ValueError(f"vehicules: {name} {twice} given to several vehicles")
        for j, user in enumerate(self.usagers):
            if user.id_vehicule is not None and user.id_vehicule not in ids:
                raise ValueError(f"usagers[{j}].id_vehicule {user.id_vehicule!r} names no vehicle")
            if user.id_vehicule is None and user.num_veh is not None and user.num_veh not in plates:
                raise ValueError(f"usagers[{j}].num_veh {user.num_veh!r} names no vehicle")
        return self


FullAccident = create_model(
    "FullAccident",
    __base__=_FullBase,
    __doc__=(
        "A full accident: the caracteristiques fields, its road (the lieux fields) or a list of "
        "its roads (lieux, one per road involved), and lists of its users (usagers) and "
        "vehicles (vehicules), as in the BAAC files."
    ),
    **{
        **_table_fields(
            "caracteristiques",
            [c for c in COLUMNS["caracteristiques"] if c != "Num_Acc"],
            codes.REQUIRED["caracteristiques"] - _NOT_INPUT,
        ),
        **_table_fields("lieux", fr.ROAD_FIELDS, frozenset()),
        "Num_Acc": (whole(0) | None, None),
        "usagers": (list[User], Field(min_length=1, max_length=fr.MAX_COUNT)),
        "vehicules": (list[Vehicle], Field(min_length=1, max_length=fr.MAX_COUNT)),
        "lieux": (list[Road] | None, Field(None, min_length=1, max_length=100)),
    },
)


def _record_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "full_accident" if fr.is_full_record(value) else "flat_record"
    return "full_accident" if hasattr(value, "usagers") else "flat_record"


FranceRecord = Annotated[
    Annotated[FlatRecord, Tag("flat_record")] | Annotated[FullAccident, Tag("full_accident")],
    Discriminator(_record_kind),
]


def _one_or_many(value: Any) -> str:
    return "list" if isinstance(value, list) else "single"


FranceRequest = Annotated[
    Annotated[FranceRecord, Tag("single")]
    | Annotated[list[FranceRecord], Tag("list"), Field(min_length=1, max_length=MAX_RECORDS)],
    Discriminator(_one_or_many),
]


def france_records(validated: Any) -> list[dict[str, Any]]:
    """Validated request -> the records :mod:`accident_assets.france.records` scores (every
    field, defaults applied, aliases resolved)."""
    items = validated if isinstance(validated, list) else [validated]
    return [item.model_dump() for item in items]


def _iso_text(value: Any) -> Any:
    # pydantic would also take a number as Unix seconds; a time is written as ISO 8601 text.
    if not isinstance(value, str | dt.datetime):
        raise ValueError("must be an ISO 8601 date-time (JSON string), not " + type(value).__name__)
    return value


Latitude = real(geo.LAT_MIN, geo.LAT_MAX)
Longitude = real(geo.LON_MIN, geo.LON_MAX)
Timestamp = Annotated[dt.datetime, BeforeValidator(_iso_text)]


def _check_year(timestamp: dt.datetime) -> None:
    if not 1900 <= timestamp.year <= 2200:
        raise ValueError("timestamp: year must be between 1900 and 2200")


class NycPoint(BaseModel):
    """A place in New York and a time (local New York time unless it carries an offset)."""

    model_config = _FORBID
    lat: Latitude = Field(examples=[40.758])  # type: ignore[valid-type]
    lon: Longitude = Field(examples=[-73.9855])  # type: ignore[valid-type]
    timestamp: Timestamp = Field(examples=["2024-07-01T08:30:00"])

    @model_validator(mode="after")
    def _calendar_year(self) -> NycPoint:
        _check_year(self.timestamp)
        return self


class NycPlace(BaseModel):
    """A place in New York."""

    model_config = _FORBID
    lat: Latitude = Field(examples=[40.7061])  # type: ignore[valid-type]
    lon: Longitude = Field(examples=[-73.9969])  # type: ignore[valid-type]


class NycStartEnd(BaseModel):
    """A trip from ``start`` to ``end`` at one time, as the NYC reference asks for route risk:
    every cell of the H3 grid path between the two places (``h3.grid_path_cells`` at the
    champion's resolution, start cell first, end cell last) is scored for the timestamp's hour."""

    model_config = _FORBID
    start: NycPlace
    end: NycPlace
    timestamp: Timestamp = Field(examples=["2024-07-08T17:30:00"])
    cutoff: real(0) | None = Field(  # type: ignore[valid-type]
        None, description="also list the cells whose expected incidents are above this value"
    )

    @model_validator(mode="after")
    def _calendar_year(self) -> NycStartEnd:
        _check_year(self.timestamp)
        return self


class NycRoute(BaseModel):
    """A route: points in travel order; each point's cell-hour is predicted."""

    model_config = _FORBID
    route: list[NycPoint] = Field(min_length=1, max_length=MAX_RECORDS)


def _point_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        if "route" in value:
            return "route_request"
        return "start_end" if "start" in value or "end" in value else "single"
    if hasattr(value, "route"):
        return "route_request"
    return "start_end" if hasattr(value, "start") else "single"


NycRequest = Annotated[
    Annotated[NycPoint, Tag("single")]
    | Annotated[list[NycPoint], Tag("list"), Field(min_length=1, max_length=MAX_RECORDS)]
    | Annotated[NycRoute, Tag("route_request")]
    | Annotated[NycStartEnd, Tag("start_end")],
    Discriminator(_point_kind),
]


def nyc_points(validated: Any, resolution: int | None = None) -> list[dict[str, Any]]:
    """Validated request -> the points to score. A start/end request becomes the centres of the
    cells of its grid path at ``resolution`` (the model's; required for it), each at the
    request's timestamp; :class:`geo.GridPathError` past MAX_RECORDS cells."""
    if isinstance(validated, NycStartEnd):
        if resolution is None:
            raise ValueError("a start/end request needs the model's H3 resolution")
        start, end = validated.start, validated.end
        cells = geo.grid_path(start.lat, start.lon, end.lat, end.lon, resolution, MAX_RECORDS)
        centres = [geo.cell_centre(c) for c in cells]
        return [{"lat": lat, "lon": lon, "timestamp": validated.timestamp} for lat, lon in centres]
    if isinstance(validated, NycRoute):
        validated = validated.route
    items = validated if isinstance(validated, list) else [validated]
    return [item.model_dump() for item in items]


# Union tags pydantic puts in error locations; dropped so that a location reads (index, field).
UNION_TAGS = frozenset(
    {"flat_record", "full_accident", "single", "list", "route_request", "start_end"}
)


def field_location(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(part for part in loc if part not in UNION_TAGS)


FRANCE_REQUEST: TypeAdapter[Any] = TypeAdapter(FranceRequest)
NYC_REQUEST: TypeAdapter[Any] = TypeAdapter(NycRequest)


# --- responses -------------------------------------------------------------------------------


class ModelUsed(BaseModel):
    task: str
    model_version: str | None = Field(description="registry version; null for a bare model URI")
    model_uri: str


class FrancePredictionOut(BaseModel):
    index: int = Field(description="position of the record in the request")
    prediction: Literal[0, 1]
    interpretation: Literal["Priority", "Non-priority"]
    probability: float = Field(ge=0, le=1, description='probability of "Priority"')


class FranceResponse(ModelUsed):
    threshold: float = Field(description="prediction is 1 when probability >= threshold")
    predictions: list[FrancePredictionOut]


class NycPredictionOut(BaseModel):
    index: int
    lat: float
    lon: float
    timestamp: str = Field(description="local New York time")
    cell: str = Field(description="H3 cell")
    date: str
    hour: int = Field(ge=0, le=23)
    expected_incidents: float = Field(ge=0, description="expected incidents in this cell-hour")


class NycPathOut(BaseModel):
    """What a start/end request adds: the path's ends and the cells above the cutoff."""

    start_cell: str
    end_cell: str
    cells: int = Field(ge=1, description="cells on the grid path, start and end included")
    cutoff: float | None
    above_cutoff: list[NycPredictionOut] | None = Field(
        description="the path's cells whose expected incidents are > cutoff (null: no cutoff)"
    )


class NycResponse(ModelUsed):
    h3_resolution: int
    predictions: list[NycPredictionOut] = Field(
        description="one per point; for start/end, one per cell of the path, in travel order "
        "(lat/lon: the cell's centre)"
    )
    expected_incidents_total: float = Field(
        ge=0, description="sum over the distinct cell-hours of the request (a route's exposure)"
    )
    path: NycPathOut | None = Field(None, description="start/end requests only")


class ForecastCellOut(BaseModel):
    rank: int = Field(ge=1, description="1 = most expected incidents over the day")
    cell: str = Field(description="H3 cell")
    borough: str | None
    expected_incidents: float = Field(ge=0, description="over the day's 24 hours")


class ForecastCellHourOut(BaseModel):
    cell: str
    hour: int = Field(ge=0, le=23)
    expected_incidents: float = Field(ge=0)


class ForecastResponse(BaseModel):
    """A stored ``nyc_incidents/forecast`` partition."""

    task: Literal["nyc_incidents"]
    date: str
    model_version: str | None
    model_uri: str | None
    cells_in_forecast: int
    expected_incidents_total: float = Field(ge=0, description="every cell-hour of the day")
    top: int | None = Field(description="only the cells of this many first ranks are listed")
    cells: list[ForecastCellOut] = Field(description="by rank")
    cell_hours: list[ForecastCellHourOut] = Field(description="the listed cells', by rank, hour")


class ChampionInfo(BaseModel):
    version: str | None
    uri: str
    run_id: str | None
    threshold: float | None
    h3_resolution: int | None
    metrics: dict[str, float]
    trained_on_partitions: list[str]
    feature_fingerprint: str | None
    loaded_at: str


class TaskModels(BaseModel):
    task: str
    champion: ChampionInfo | None
    error: str | None = Field(None, description="why there is no champion to serve")


class ModelsResponse(BaseModel):
    models: list[TaskModels]


class Health(BaseModel):
    status: Literal["ok"]
    loaded: dict[str, str | None] = Field(description="champion version in memory per task")


class RefreshResponse(BaseModel):
    champions: dict[str, str | None]


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='where: "body", then record index and field')
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    detail: list[FieldError]


class ReadyResponse(BaseModel):
    status: Literal["ready", "not ready"]
    champions: dict[str, str | None] = Field(description="champion version in memory per task")
    missing: dict[str, str] = Field(description="tasks with no champion to serve, and why")
    warnings: dict[str, str] = Field(
        description="tasks served by the model in memory although the last check failed"
    )


class ErrorResponse(BaseModel):
    detail: str
