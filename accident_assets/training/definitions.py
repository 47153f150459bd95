"""Training definitions of both tasks (the ``mlflow`` resource is bound by
:func:`accident_assets.definitions.build_defs`, which also builds the jobs: their executor is a
setting).

The assets and sensors are built once, when this module is imported; a job is a cheap selection
of them, so :func:`jobs` builds it for the executor the deployment names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from accident_assets.training.factory import build_training_defs, build_training_job
from accident_assets.training.tasks import FRANCE, NYC

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

TASKS = (FRANCE, NYC)

defs = dg.Definitions.merge(*(build_training_defs(spec) for spec in TASKS))


def jobs(executor_def: dg.ExecutorDefinition) -> list[UnresolvedAssetJobDefinition]:
    """``<task>_training_job`` of every task, its fit steps run by ``executor_def``."""
    return [build_training_job(spec, executor_def) for spec in TASKS]
