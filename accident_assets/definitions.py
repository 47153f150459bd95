"""The code location: each domain's definitions, merged, with resources bound from the settings.

:func:`build_defs` is the one way to get the definitions: the code location below, the command
line, the tests and the benchmarks all call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from accident_assets.france import definitions as france
from accident_assets.france.sources import source_from_settings as france_source
from accident_assets.monitoring import definitions as monitoring
from accident_assets.nyc import definitions as nyc
from accident_assets.nyc.sources import source_from_settings as nyc_source
from accident_assets.nyc_forecast import definitions as nyc_forecast
from accident_assets.resources import shared_resources
from accident_assets.serving import definitions as serving
from accident_assets.settings import Settings, get_settings
from accident_assets.training import definitions as training
from accident_assets.training.tracking import MlflowTracking


def build_defs(
    settings: Settings | None = None, resources: Mapping[str, Any] | None = None
) -> dg.Definitions:
    """Every domain's assets, checks, jobs, sensors and schedules, with the resources that
    ``settings`` (by default the environment's) describe; ``resources`` replaces any of them by
    key (e.g. a source bound to a test server).

    The default executor runs a selection's steps in one process, as the jobs do: a process per
    step would import the whole ML stack again for every step (``docs/benchmarks.md``).
    """
    settings = settings or get_settings()
    bound = {
        **shared_resources(settings),
        "mlflow": MlflowTracking(tracking_uri=settings.tracking_uri),
    }
    # A source is built from the settings only when no replacement is given: a csv_export or
    # local source without its path is an error, even where a test binds another one.
    if "nyc_source" not in (resources or {}):
        bound["nyc_source"] = nyc_source(settings)
    if "france_source" not in (resources or {}):
        bound["france_source"] = france_source(settings)
    bound.update(resources or {})
    return dg.Definitions.merge(
        france.defs,
        nyc.defs,
        training.defs,
        serving.defs,
        monitoring.defs,
        nyc_forecast.defs,
        dg.Definitions(resources=bound, executor=dg.in_process_executor),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location (``dagster dev``, ``dg``, ``dagster job execute``)."""
    return build_defs()
