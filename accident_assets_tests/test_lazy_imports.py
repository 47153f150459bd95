"""Loading the code location imports no heavy library: every `dagster`/`dg` command, UI reload,
sensor tick and run worker pays for what defining the assets imports. Each library is imported by
the step that uses it. Each check runs in a fresh interpreter: this test process has them all."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "sklearn",
    "imblearn",
    "xgboost",
    "lightgbm",
    "optuna",
    "mlflow",
    "evidently",
    "matplotlib",
    "scipy",
    "pandas",
    "pandera",
    "fastapi",
    "uvicorn",
    "boto3",
    "requests",
    "holidays",
    "polars",
    "h3",
    "numpy",
    # The cluster extra: only a deployment that names its executor imports it (training_executor).
    "kubernetes",
    "celery",
    "dagster_k8s",
    "dagster_celery",
)


def loaded_heavy(code: str) -> list[str]:
    """The HEAVY top-level packages in ``sys.modules`` after running ``code``."""
    script = (
        f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        # What `dagster dev`, `dg launch` and every run worker do: import and build.
        "import accident_assets.definitions as location; location.defs()",
        # The `predict` console script: `predict --help` answers at once.
        "import accident_assets.serving.cli",
    ],
)
def test_loading_imports_no_heavy_library(code: str) -> None:
    assert loaded_heavy(code) == []


def test_the_check_sees_a_heavy_import() -> None:
    # Scoring imports pandas at module level: if the check could not see it, the test above
    # would pass whatever the code location imports.
    assert "pandas" in loaded_heavy("import accident_assets.serving.predict")


@pytest.mark.parametrize(
    ("executor", "imported"),
    [("k8s", {"dagster_k8s", "kubernetes"}), ("celery", {"dagster_celery"})],
)
def test_a_cluster_executor_is_imported_when_a_deployment_names_it(executor: str, imported: set):
    # The default location above imports neither; naming one imports its own library (with its
    # client's dependencies: kubernetes brings requests), never the other one.
    code = (
        f"import os; os.environ['ACCIDENT_ASSETS_EXECUTOR'] = {executor!r}\n"
        "import accident_assets.definitions as location; location.defs()"
    )
    loaded = set(loaded_heavy(code))
    assert imported <= loaded
    assert not ({"dagster_k8s", "kubernetes", "dagster_celery"} - imported) & loaded
