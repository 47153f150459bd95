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
from accident_assets.settings import ExecutorName, Settings, get_settings
from accident_assets.training import definitions as training
from accident_assets.training.tracking import MlflowTracking

CELERY_FROM_ENV = {
    "broker": {"env": "DAGSTER_CELERY_BROKER_URL"},
    "backend": {"env": "DAGSTER_CELERY_BACKEND_URL"},
}


def training_executor(name: ExecutorName) -> dg.ExecutorDefinition:
    """The executor a deployment names for the training jobs' steps. dagster-k8s and
    dagster-celery (the ``cluster`` extra) are imported only when named: they bring the
    kubernetes and celery clients, which loading the code location must not pay for."""
    if name == "k8s":  # each step in its own Kubernetes Job (pod)
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if name == "celery":  # each step a task on the broker, run by a `dagster-celery` worker
        from dagster_celery import celery_executor
        from dagster_celery.executor import CELERY_CONFIG

        # Runs that sensors, schedules and the UI launch carry no run config: the broker and
        # backend come from the variables the workers read too (deploy/executor.celery.yaml);
        # a run's own config still overrides them.
        # The same fields without their defaults, so that only what a run sets overrides.
        overrides = {
            k: dg.Field(f.config_type, is_required=False) for k, f in CELERY_CONFIG.items()
        }
        return celery_executor.configured(
            lambda config: {**CELERY_FROM_ENV, **config}, config_schema=overrides, name="celery"
        )
    return dg.multiprocess_executor if name == "multiprocess" else dg.in_process_executor


def build_defs(
    settings: Settings | None = None, resources: Mapping[str, Any] | None = None
) -> dg.Definitions:
    """Every domain's assets, checks, jobs, sensors and schedules, with the resources that
    ``settings`` (by default the environment's) describe; ``resources`` replaces any of them by
    key (e.g. a source bound to a test server).

    The default executor runs a selection's steps in one process, as the ingest and forecast
    jobs do: a process per step would import the whole ML stack again for every step
    (``docs/benchmarks.md``). Only the training jobs follow ``settings.executor``, which is
    in-process by default too.
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
        dg.Definitions(jobs=training.jobs(training_executor(settings.executor))),
        serving.defs,
        monitoring.defs,
        nyc_forecast.defs,
        dg.Definitions(resources=bound, executor=dg.in_process_executor),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location (``dagster dev``, ``dg``, ``dagster job execute``)."""
    return build_defs()
