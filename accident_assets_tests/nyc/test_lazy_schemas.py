"""The Pandera schemas are built on first use (the code location's load imports no pandera:
``accident_assets_tests/test_lazy_imports.py``)."""

from __future__ import annotations

import subprocess
import sys


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
