"""What a BAAC value may be: code ranges, text patterns and required columns, defined once.

The Pandera schemas of the raw tables (:mod:`accident_assets.france.schemas`) and the API's
request models (:mod:`accident_assets.serving.schemas`) are both built from these tables, so the
reader and the API can never disagree on what a valid code is. Ranges follow the BAAC codebook
(2019 layout onwards), as wide as the codebook and not as the sample, so that real years pass;
"not filled in" is -1. This module imports nothing heavy: it is on the request path.
"""

from __future__ import annotations

# Integer codes: table -> column -> (lowest, highest), both included.
CODE_RANGES: dict[str, dict[str, tuple[int, int]]] = {
    "caracteristiques": {
        "jour": (1, 31),
        "mois": (1, 12),
        "an": (2019, 2100),
        "lum": (-1, 5),
        "agg": (1, 2),
        "int": (-1, 9),
        "atm": (-1, 9),
        "col": (-1, 7),
    },
    "lieux": {
        "catr": (1, 9),
        "circ": (-1, 4),
        "nbv": (-1, 99),
        "vosp": (-1, 3),
        "prof": (-1, 4),
        "plan": (-1, 4),
        "surf": (-1, 9),
        "infra": (-1, 9),
        "situ": (-1, 8),
        "vma": (-1, 999),  # real files hold typing errors (e.g. 500, 900): kept, not blocked
    },
    "usagers": {
        "place": (-1, 10),
        "catu": (1, 3),
        "grav": (-1, 4),
        "sexe": (-1, 2),
        "an_nais": (1880, 2100),
        "trajet": (-1, 9),
        "secu1": (-1, 9),
        "secu2": (-1, 9),
        "secu3": (-1, 9),
        "locp": (-1, 9),
        "etatp": (-1, 3),
    },
    "vehicules": {
        "senc": (-1, 3),
        "catv": (-1, 99),
        "obs": (-1, 17),
        "obsm": (-1, 9),
        "choc": (-1, 9),
        "manv": (-1, 26),
        "motor": (-1, 6),
    },
}
# Real-valued columns with a range: degrees; road widths in metres (real files hold -1 to ~20;
# the bound is loose so that no real year is refused, and keeps values inside float32, which the
# tree models compute in).
REAL_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "caracteristiques": {"lat": (-90.0, 90.0), "long": (-180.0, 180.0)},
    "lieux": {"larrout": (-1.0, 100_000.0), "lartpc": (-1.0, 100_000.0)},
}
# Text columns with a pattern: hour "HH:MM" (00:00-23:59), departement ("2A", "974"), commune.
# [0-9], not \d: the regex engines take \d for any Unicode digit ("١٣:00"), which polars' casts
# then read as missing while Python's int() reads it as 13.
HRMN_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
TEXT_PATTERNS: dict[str, dict[str, str]] = {
    "caracteristiques": {
        "hrmn": HRMN_PATTERN,
        "dep": r"^([0-9]{2,3}|2A|2B)$",
        "com": r"^([0-9]{5}|2[AB][0-9]{3}|N/A)$",
    },
}
# Columns that are never empty in the published files.
REQUIRED: dict[str, frozenset[str]] = {
    "caracteristiques": frozenset(
        {"Num_Acc", "jour", "mois", "an", "hrmn", "lum", "dep", "com", "agg"}
    ),
    "lieux": frozenset({"Num_Acc", "catr"}),
    "usagers": frozenset({"Num_Acc", "id_vehicule", "num_veh", "catu", "grav"}),
    "vehicules": frozenset({"Num_Acc", "id_vehicule", "num_veh"}),
}

# What each column of the four raw tables means, with its codes, after the official codebook
# "Description des bases de données annuelles des accidents corporels de la circulation
# routière" (ONISR, 2019 layout onwards), in English. Shown in the UI as each raw table's column
# schema; the raw Pandera schemas carry the same text. -1 is "not filled in" wherever it occurs.
_NUM_ACC = "Accident identifier (the year, then a serial number); the key joining the four files"
_ID_VEHICULE = (
    "Unique numeric identifier of the vehicle, repeated for each of its users (a pedestrian "
    "belongs to the vehicle that hit them)"
)
_NUM_VEH = (
    "Alphanumeric identifier of the vehicle within the accident (A01, B01...), repeated for each "
    "of its users (a pedestrian belongs to the vehicle that hit them)"
)
_SECU = (
    "Safety equipment {n} present and used: 0 none; 1 seat belt; 2 helmet; 3 child restraint; "
    "4 reflective vest; 5 airbag (2/3-wheeler); 6 gloves (2/3-wheeler); 7 gloves + airbag "
    "(2/3-wheeler); 8 not determinable; 9 other"
)
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "caracteristiques": {
        "Num_Acc": _NUM_ACC,
        "jour": "Day of the month of the accident",
        "mois": "Month of the accident",
        "an": "Year of the accident",
        "hrmn": "Hour and minutes of the accident (HH:MM)",
        "lum": "Lighting conditions: 1 full daylight; 2 dusk or dawn; 3 night without public "
        "lighting; 4 night with public lighting not lit; 5 night with public lighting lit",
        "dep": "Département: INSEE code (2A Corse-du-Sud, 2B Haute-Corse; overseas 971-976)",
        "com": "Commune: INSEE code of the municipality",
        "agg": "Location: 1 outside built-up area; 2 inside built-up area",
        "int": "Intersection: 1 none; 2 X intersection; 3 T intersection; 4 Y intersection; "
        "5 more than 4 branches; 6 roundabout; 7 square; 8 level crossing; 9 other intersection",
        "atm": "Weather: 1 normal; 2 light rain; 3 heavy rain; 4 snow, hail; 5 fog, smoke; "
        "6 strong wind, storm; 7 dazzling; 8 overcast; 9 other",
        "col": "Type of collision: 1 two vehicles, head-on; 2 two vehicles, rear-end; 3 two "
        "vehicles, side; 4 three or more vehicles, chain; 5 three or more vehicles, multiple "
        "collisions; 6 other collision; 7 no collision",
        "adr": "Postal address (filled in for accidents inside built-up areas)",
        "lat": "Latitude (decimal degrees; the file writes a decimal comma)",
        "long": "Longitude (decimal degrees; the file writes a decimal comma)",
    },
    "lieux": {
        "Num_Acc": _NUM_ACC,
        "catr": "Road category: 1 motorway; 2 national road; 3 departmental road; 4 municipal "
        "road; 5 off the public network; 6 car park open to public traffic; 7 urban metropolis "
        "road; 9 other",
        "voie": "Road number",
        "v1": "Numeric index of the road number (e.g. 2 for 'bis', 3 for 'ter')",
        "v2": "Alphanumeric letter index of the road",
        "circ": "Traffic regime: 1 one-way; 2 two-way; 3 separated carriageways; 4 with lanes "
        "of variable assignment",
        "nbv": "Total number of traffic lanes",
        "vosp": "Reserved lane alongside: 0 not applicable; 1 cycle path; 2 cycle lane; "
        "3 reserved lane",
        "prof": "Longitudinal profile (gradient): 1 flat; 2 slope; 3 hilltop; 4 hill bottom",
        "pr": "Number of the reference marker (PR, upstream milestone)",
        "pr1": "Distance in metres from the reference marker",
        "plan": "Layout: 1 straight; 2 left-hand curve; 3 right-hand curve; 4 S-bend",
        "lartpc": "Width of the central reservation, if any (metres)",
        "larrout": "Width of the carriageway used by traffic, without hard shoulders, central "
        "reservation or parking spaces (metres)",
        "surf": "Surface condition: 1 normal; 2 wet; 3 puddles; 4 flooded; 5 snow-covered; "
        "6 mud; 7 icy; 8 grease, oil; 9 other",
        "infra": "Infrastructure: 0 none; 1 underground, tunnel; 2 bridge, flyover; 3 "
        "interchange or link ramp; 4 railway; 5 laid-out crossroads; 6 pedestrian zone; 7 toll "
        "zone; 8 roadworks; 9 other",
        "situ": "Position of the accident: 0 none; 1 on the carriageway; 2 on the hard "
        "shoulder; 3 on the verge; 4 on the pavement; 5 on a cycle path; 6 on another special "
        "lane; 8 other",
        "vma": "Maximum authorised speed at the place and time of the accident (km/h)",
    },
    "vehicules": {
        "Num_Acc": _NUM_ACC,
        "id_vehicule": _ID_VEHICULE,
        "num_veh": _NUM_VEH,
        "senc": "Direction of travel: 0 unknown; 1 increasing kilometre point, reference "
        "marker or address number; 2 decreasing; 3 no reference",
        "catv": "Vehicle category: 0 undeterminable; 1 bicycle; 2 moped < 50 cm3; 3 microcar "
        "(bodied motor quadricycle); 7 passenger car (VL) only; 10 light goods vehicle 1.5-3.5 t; "
        "13 heavy goods vehicle 3.5-7.5 t; 14 HGV > 7.5 t; 15 HGV > 3.5 t + trailer; 16 road "
        "tractor only; 17 road tractor + semi-trailer; 20 special machinery; 21 agricultural "
        "tractor; 30 scooter < 50 cm3; 31 motorcycle 50-125 cm3; 32 scooter 50-125 cm3; "
        "33 motorcycle > 125 cm3; 34 scooter > 125 cm3; 35 light quad <= 50 cm3; 36 heavy quad "
        "> 50 cm3; 37 bus; 38 coach; 39 train; 40 tram; 41 three-wheeler <= 50 cm3; "
        "42 three-wheeler 50-125 cm3; 43 three-wheeler > 125 cm3; 50 motorised personal mover "
        "(EDP); 60 non-motorised personal mover; 80 electrically assisted bicycle; 99 other "
        "(4-6, 8, 9, 11, 12, 18, 19: unused since 2006)",
        "obs": "Fixed obstacle struck: 0 not applicable; 1 parked vehicle; 2 tree; 3 metal "
        "barrier; 4 concrete barrier; 5 other barrier; 6 building, wall, bridge pier; 7 sign "
        "post or emergency phone; 8 pole; 9 street furniture; 10 parapet; 11 traffic island, "
        "refuge, bollard; 12 kerb; 13 ditch, embankment, rock face; 14 other fixed obstacle on "
        "the carriageway; 15 other fixed obstacle on pavement or verge; 16 ran off the road, no "
        "obstacle; 17 culvert head",
        "obsm": "Moving obstacle struck: 0 none; 1 pedestrian; 2 vehicle; 4 rail vehicle; "
        "5 domestic animal; 6 wild animal; 9 other",
        "choc": "Initial point of impact: 0 none; 1 front; 2 front right; 3 front left; 4 rear; "
        "5 rear right; 6 rear left; 7 right side; 8 left side; 9 multiple impacts (rollovers)",
        "manv": "Main manoeuvre before the accident: 0 unknown; 1 no change of direction; "
        "2 same direction, same lane; 3 between two lanes; 4 reversing; 5 wrong way; 6 crossing "
        "the central reservation; 7 in the bus lane, same direction; 8 in the bus lane, "
        "opposite direction; 9 merging; 10 U-turn on the carriageway; 11/12 changing lane "
        "left/right; 13/14 swerving left/right; 15/16 turning left/right; 17/18 overtaking "
        "left/right; 19 crossing the carriageway; 20 parking manoeuvre; 21 avoiding manoeuvre; "
        "22 door opening; 23 stopped (not parked); 24 parked (with occupants); 25 driving on "
        "the pavement; 26 other manoeuvres",
        "motor": "Engine type: 0 unknown; 1 hydrocarbon; 2 hybrid electric; 3 electric; "
        "4 hydrogen; 5 human; 6 other",
        "occutc": "Number of occupants of the public transport vehicle",
    },
    "usagers": {
        "Num_Acc": _NUM_ACC,
        "id_usager": "Unique numeric identifier of the user (pedestrians included); "
        "absent from the files before 2022",
        "id_vehicule": _ID_VEHICULE,
        "num_veh": _NUM_VEH,
        "place": "Seat the user occupied in the vehicle (codebook seat diagram: 1 driver's "
        "seat, 2 front passenger, 3-9 the other seats); 10 pedestrian (not applicable)",
        "catu": "User category: 1 driver; 2 passenger; 3 pedestrian",
        "grav": "Injury severity: 1 unhurt; 2 killed; 3 hospitalised; 4 slightly injured",
        "sexe": "Sex of the user: 1 male; 2 female",
        "an_nais": "Year of birth of the user",
        "trajet": "Purpose of the journey: 0 not filled in; 1 home-work; 2 home-school; "
        "3 shopping; 4 professional use; 5 walk, leisure; 9 other",
        "secu1": _SECU.format(n=1),
        "secu2": _SECU.format(n=2),
        "secu3": _SECU.format(n=3),
        "locp": "Pedestrian location: 0 not applicable; on the carriageway 1 more than 50 m "
        "from a pedestrian crossing, 2 less than 50 m from one; on a pedestrian crossing "
        "3 without light signals, 4 with light signals; 5 on the pavement; 6 on the verge; "
        "7 on a refuge or hard shoulder; 8 on a service road; 9 unknown",
        "actp": "Pedestrian action: 0 not filled in or not applicable; 1 moving in the "
        "direction of the striking vehicle; 2 moving opposite to it; 3 crossing; 4 masked; "
        "5 playing, running; 6 with an animal; 9 other; A getting in or out of the vehicle; "
        "B unknown",
        "etatp": "Whether the injured pedestrian was alone: 1 alone; 2 accompanied; 3 in a group",
    },
}
