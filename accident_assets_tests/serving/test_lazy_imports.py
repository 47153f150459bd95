"""Serving's modules that load with the Dagster code location or the ``predict`` console script
leave the heavy libraries unimported: they are imported where a model is loaded or scored.

Each import runs in a fresh interpreter: this test process has them all imported already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "mlflow",
    "sklearn",
    "xgboost",
    "lightgbm",
    "matplotlib",
    "pandas",
    "scipy",
    "fastapi",
    "uvicorn",
)


def imported_heavy(module: str) -> list[str]:
    """The HEAVY top-level packages in ``sys.modules`` after importing ``module``."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module",
    [
        # The batch prediction assets, and the definitions the code location loads them through.
        "accident_assets.serving.assets",
        "accident_assets.serving.definitions",
        # The ``predict`` console script: ``predict --help`` must answer at once.
        "accident_assets.serving.cli",
    ],
)
def test_importing_leaves_the_heavy_libraries_out(module: str) -> None:
    assert imported_heavy(module) == []


def test_the_check_sees_a_heavy_import() -> None:
    # Scoring imports pandas at module level: if the check could not see it, the test above
    # would pass whatever serving imports.
    assert "pandas" in imported_heavy("accident_assets.serving.predict")
