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
