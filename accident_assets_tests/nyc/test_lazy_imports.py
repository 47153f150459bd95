"""Defining the ingest lanes' assets and checks imports no heavy library: every code location
load, sensor tick and run worker pays for what these modules import at the top."""

from __future__ import annotations

import json
import subprocess
import sys

MODULES = [
    "accident_assets.nyc.assets",
    "accident_assets.nyc.checks",
    "accident_assets.france.assets",
    "accident_assets.checks",
]
HEAVY = ["pandera", "sklearn", "mlflow", "scipy", "matplotlib", "boto3"]


def imported_after(modules: list[str]) -> list[str]:
    """The HEAVY modules in sys.modules after importing ``modules`` in a fresh interpreter."""
    code = (
        "import json, sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"print(json.dumps([h for h in {HEAVY!r} if h in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_defining_the_lanes_imports_no_heavy_library():
    assert imported_after(MODULES) == []


def test_the_schemas_are_built_only_when_a_frame_is_validated():
    code = (
        "import sys, polars as pl\n"
        "from accident_assets.nyc import schemas\n"
        "from accident_assets.checks import validate\n"
        "assert 'pandera' not in sys.modules\n"
        "frame = pl.DataFrame({'collision_id': ['x'], 'crash_date': ['2023-01-01T00:00:00.000'],"
        " 'crash_time': ['1:00']})\n"
        "failures = validate(schemas.RAW_CRASHES, frame)\n"
        "print('pandera' in sys.modules, failures is not None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    )
    # 'x' is no collision_id: the lazily built schema really validates.
    assert out.stdout.split() == ["True", "True"]
