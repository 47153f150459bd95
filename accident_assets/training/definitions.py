"""Training definitions of both tasks (the ``mlflow`` resource is bound by
:func:`accident_assets.definitions.build_defs`)."""

import dagster as dg

from accident_assets.training.factory import build_training_defs
from accident_assets.training.tasks import FRANCE, NYC

defs = dg.Definitions.merge(
    build_training_defs(FRANCE),
    build_training_defs(NYC),
)
