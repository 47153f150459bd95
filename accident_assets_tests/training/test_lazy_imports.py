"""Defining the training, monitoring and forecast assets loads no ML library: the code location
loads fast (the UI, the CLI, every run worker), and each library is imported by the step that uses
it. Each module is imported in a fresh interpreter, since this test process has them all loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "sklearn",
    "mlflow",
    "xgboost",
    "lightgbm",
    "optuna",
    "matplotlib",
    "evidently",
    "imblearn",
    "scipy",
)

MODULES = (
    "accident_assets.training.definitions",
    "accident_assets.monitoring.definitions",
    "accident_assets.nyc_forecast.definitions",
)


def loaded_heavy(module: str) -> list[str]:
    """The heavy top-level packages in ``sys.modules`` after importing ``module`` alone."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", MODULES)
def test_defining_assets_imports_no_ml_library(module: str) -> None:
    assert loaded_heavy(module) == []


def test_the_check_sees_a_heavy_import() -> None:
    """The subprocess really reports what a module loads (a module that imports mlflow)."""
    assert "mlflow" in loaded_heavy("accident_assets.training.mlflow_config")
