"""Training definitions of both tasks, and the ``mlflow`` resource they share."""

import dagster as dg

from accident_assets.training.factory import build_training_defs
from accident_assets.training.tasks import FRANCE, NYC
from accident_assets.training.tracking import MlflowTracking

defs = dg.Definitions.merge(
    build_training_defs(FRANCE),
    build_training_defs(NYC),
    dg.Definitions(resources={"mlflow": MlflowTracking()}),
)
