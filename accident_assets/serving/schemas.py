"""Typed requests and responses of the API (and the CLI's input check), built from the domains.

The France record models come from the France module's own field lists (``FLAT_RECORD_FIELDS``
and the BAAC column types), so the OpenAPI document states what ``accidents_from_payload``
accepts, with each code's integer range. Both the API and ``predict`` validate through these.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    create_model,
    model_validator,
)

from accident_assets.france import features as ff
from accident_assets.france.reader import COLUMNS
from accident_assets.nyc import geo

MAX_RECORDS = 10_000

_INT_RANGES = {
    pl.Int8: (-(2**7), 2**7 - 1),
    pl.Int16: (-(2**15), 2**15 - 1),
    pl.Int32: (-(2**31), 2**31 - 1),
    pl.Int64: (-(2**63), 2**63 - 1),
}
# The reference's example records spell these as numbers (dep 77, com 77317); both are accepted.
TextOrNumber = Annotated[str, Field(max_length=64)] | int


def _baac_types() -> dict[str, pl.DataType]:
    types: dict[str, pl.DataType] = {}
    for table in ("caracteristiques", "lieux", "usagers", "vehicules"):
        types.update(COLUMNS[table])
    return types


BAAC_TYPES = _baac_types()


# Calendar fields: a real date is checked by the France module; these bounds keep the schema honest.
_CALENDAR = {"jour": (1, 31), "mois": (1, 12), "an": (1900, 2100)}
# The accident's counts a flat record states (the France module stores them as Int16).
_COUNTS = {"nb_victim": (1, 1000), "nb_vehicules": (1, 1000)}
# Real-valued fields: degrees and metres (a road is not a kilometre wide). The models work in
# float32, so unbounded values would not even reach them.
_REAL = {
    "lat": (-90.0, 90.0),
    "long": (-180.0, 180.0),
    "larrout": (-1.0, 1000.0),
    "lartpc": (-1.0, 1000.0),
}


def _annotation(name: str, declared: Any = None) -> Any:
    """A field's type: the BAAC column's range for codes, text (or a number) for text columns."""
    if name in _CALENDAR or name in _COUNTS:
        low, high = {**_CALENDAR, **_COUNTS}[name]
        return Annotated[int, Field(ge=low, le=high)]
    dtype = BAAC_TYPES.get(name)
    if dtype is not None and dtype.base_type() in _INT_RANGES:
        low, high = _INT_RANGES[dtype.base_type()]
        return Annotated[int, Field(ge=low, le=high)]
    if name in _REAL:
        low, high = _REAL[name]
        return Annotated[float, Field(ge=low, le=high, allow_inf_nan=False)]
    if dtype is not None and dtype.base_type() == pl.Float64:
        return Annotated[float, Field(allow_inf_nan=False)]
    if dtype is not None and dtype.base_type() == pl.Utf8:
        return TextOrNumber if name != "hrmn" else str
    return declared if declared is not None else Any


_FORBID = ConfigDict(extra="forbid")
# Accepted spellings from the reference's example files that mean the same field and type.
_SAME_TYPE_ALIASES = {
    name: alias for alias, name in ff.FLAT_RECORD_ALIASES.items() if name not in ("hrmn", "an_nais")
}


class _FlatBase(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _time_given(self) -> _FlatBase:
        if getattr(self, "hrmn", None) is None and getattr(self, "hour", None) is None:
            raise ValueError("field 'hrmn' ('HH:MM') or 'hour' (0-23) is required")
        return self


def _flat_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, (kind, default) in ff.FLAT_RECORD_FIELDS.items():
        annotation = _annotation(name, kind)
        if name == "hrmn":
            # 'hour' may replace it (the reference's examples): required-ness is checked above.
            fields[name] = (str | None, Field(None, pattern=r"^\d{1,2}:\d{2}$"))
            continue
        if default is not ... or _is_optional(kind):
            annotation = annotation | None
        alias = _SAME_TYPE_ALIASES.get(name)
        extra = {"validation_alias": AliasChoices(name, alias)} if alias else {}
        fields[name] = (annotation, Field(default, **extra))
    fields["hour"] = (int | None, Field(None, ge=0, le=23, description="instead of hrmn"))
    fields["victim_age"] = (
        int | None,
        Field(None, ge=0, le=120, description="instead of an_nais (birth year = an - age)"),
    )
    return fields


def _is_optional(kind: Any) -> bool:
    return type(None) in getattr(kind, "__args__", ())


FlatRecord = create_model(
    "FlatRecord",
    __base__=_FlatBase,
    __doc__=(
        "The French reference's flat record: one user and one vehicle of an accident, with the "
        "accident's place and time and its victim and vehicle counts (BAAC codes)."
    ),
    **_flat_fields(),
)


def _optional_fields(names: list[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        name: (_annotation(name), ...) if name in required else (_annotation(name) | None, None)
        for name in names
    }


User = create_model(
    "User",
    __config__=_FORBID,
    __doc__="One row of the BAAC usagers table (the accident's key is implied).",
    **_optional_fields(ff.USER_FIELDS),
)
Vehicle = create_model(
    "Vehicle",
    __config__=_FORBID,
    __doc__="One row of the BAAC vehicules table (the accident's key is implied).",
    **_optional_fields(ff.VEHICLE_FIELDS),
)
Road = create_model(
    "Road",
    __config__=_FORBID,
    __doc__="One row of the BAAC lieux table: one road of the accident (its key is implied).",
    **_optional_fields(ff.ROAD_FIELDS),
)
FullAccident = create_model(
    "FullAccident",
    __config__=_FORBID,
    __doc__=(
        "A full accident: the caracteristiques fields, its road (the lieux fields) or a list of "
        "its roads (lieux, one per road involved), and lists of its users (usagers) and "
        "vehicles (vehicules), as in the BAAC files."
    ),
    **{
        **_optional_fields(["Num_Acc", *ff.ACCIDENT_FIELDS], required=("jour", "mois", "an")),
        "hrmn": (str, Field(pattern=r"^\d{1,2}:\d{2}$")),
        "usagers": (list[User], Field(min_length=1, max_length=1000)),
        "vehicules": (list[Vehicle], Field(min_length=1, max_length=1000)),
        "lieux": (list[Road] | None, Field(None, min_length=1, max_length=100)),
    },
)


def _record_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "full_accident" if ff.is_full_record(value) else "flat_record"
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
    """Validated request -> the plain records ``accidents_from_payload`` takes (unset fields left
    out, so the France module applies its own defaults)."""
    items = validated if isinstance(validated, list) else [validated]
    return [item.model_dump(exclude_unset=True, exclude_none=True) for item in items]


class NycPoint(BaseModel):
    """A place in New York and a time (local New York time unless it carries an offset)."""

    model_config = _FORBID
    lat: float = Field(ge=geo.LAT_MIN, le=geo.LAT_MAX, examples=[40.758])
    lon: float = Field(ge=geo.LON_MIN, le=geo.LON_MAX, examples=[-73.9855])
    timestamp: dt.datetime = Field(examples=["2024-07-01T08:30:00"])

    @model_validator(mode="after")
    def _calendar_year(self) -> NycPoint:
        if not 1900 <= self.timestamp.year <= 2200:
            raise ValueError("timestamp: year must be between 1900 and 2200")
        return self


class NycRoute(BaseModel):
    """A route: points in travel order; each point's cell-hour is predicted."""

    model_config = _FORBID
    route: list[NycPoint] = Field(min_length=1, max_length=MAX_RECORDS)


def _point_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "route_request" if "route" in value else "single"
    return "route_request" if hasattr(value, "route") else "single"


NycRequest = Annotated[
    Annotated[NycPoint, Tag("single")]
    | Annotated[list[NycPoint], Tag("list"), Field(min_length=1, max_length=MAX_RECORDS)]
    | Annotated[NycRoute, Tag("route_request")],
    Discriminator(_point_kind),
]


def nyc_points(validated: Any) -> list[dict[str, Any]]:
    if isinstance(validated, NycRoute):
        validated = validated.route
    items = validated if isinstance(validated, list) else [validated]
    return [item.model_dump() for item in items]


# Union tags pydantic puts in error locations; dropped so that a location reads (index, field).
UNION_TAGS = frozenset({"flat_record", "full_accident", "single", "list", "route_request"})


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


class NycResponse(ModelUsed):
    h3_resolution: int
    predictions: list[NycPredictionOut]
    expected_incidents_total: float = Field(
        ge=0, description="sum over the distinct cell-hours of the request (a route's exposure)"
    )


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


class ErrorResponse(BaseModel):
    detail: str
