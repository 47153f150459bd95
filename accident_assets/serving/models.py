"""The served models: the MLflow champion of each task (or a chosen version / URI), cached.

The cache checks the ``champion`` alias at most every ``refresh_seconds`` (and on demand), so a
champion promoted by a training run is served without restarting the API. Registered versions
are the serving pyfunc (``serving.pyfunc.AccidentModel``); the API takes its pipeline, threshold
and H3 resolution, so it serves what ``mlflow.pyfunc.load_model`` of that version does. Older
versions and a fit's ``runs:/…/model`` are bare pipelines (sklearn flavor), still served.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from accident_assets.training.champion import CHAMPION
from accident_assets.training.metrics import CLASSIFICATION_THRESHOLD

log = logging.getLogger(__name__)

TASKS: tuple[str, ...] = ("france_priority", "nyc_incidents")
REFRESH_ENV = "ACCIDENT_ASSETS_CHAMPION_REFRESH_SECONDS"
DEFAULT_REFRESH_SECONDS = 10.0
# Where training may record the decision threshold and the H3 resolution (first hit wins).
THRESHOLD_KEYS = ("threshold",)
H3_RESOLUTION_KEYS = ("h3_resolution",)


class NoChampionError(LookupError):
    """The task has no model with the ``champion`` alias yet (nothing has been promoted)."""

    def __init__(self, task: str, detail: str = "") -> None:
        self.task = task
        message = (
            f"no champion model for task {task!r} yet: the registered model {task!r} has no "
            f"{CHAMPION!r} alias (run the {task} training job first)"
        )
        super().__init__(f"{message}; {detail}" if detail else message)


class ModelNotFoundError(LookupError):
    """A model version or URI asked for explicitly does not exist or cannot be loaded."""


class RegistryUnavailableError(RuntimeError):
    """The MLflow registry cannot be reached and no model is loaded to fall back on."""


def refresh_seconds_from_env() -> float:
    raw = os.environ.get(REFRESH_ENV)
    if raw is None:
        return DEFAULT_REFRESH_SECONDS
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{REFRESH_ENV}={raw!r} is not a number of seconds") from exc
    if value < 0:
        raise ValueError(f"{REFRESH_ENV}={raw!r} must be >= 0")
    return value


def mlflow_client() -> MlflowClient:
    from accident_assets.training.mlflow_config import configure_mlflow

    return configure_mlflow()


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    return task


@dataclass(frozen=True)
class ModelRef:
    """Which model to serve: a registry version (``version`` set) or any MLflow model URI."""

    task: str
    uri: str
    version: str | None = None
    run_id: str | None = None
    version_tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServedModel:
    """A loaded pipeline with what clients need to know about it."""

    task: str
    uri: str
    version: str | None
    run_id: str | None
    pipeline: Any
    threshold: float
    metrics: dict[str, float]
    trained_on_partitions: list[str]
    tags: dict[str, str]
    h3_resolution: int | None
    loaded_at: dt.datetime

    def info(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "version": self.version,
            "uri": self.uri,
            "run_id": self.run_id,
            "threshold": self.threshold if self.task == "france_priority" else None,
            "h3_resolution": self.h3_resolution,
            "metrics": self.metrics,
            "trained_on_partitions": self.trained_on_partitions,
            "feature_fingerprint": self.tags.get("feature_fingerprint"),
            "loaded_at": self.loaded_at.isoformat(),
        }


def _not_found(exc: MlflowException) -> bool:
    return getattr(exc, "error_code", "") in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


def champion_ref(client: MlflowClient, task: str) -> ModelRef:
    """The version the ``champion`` alias points at; NoChampionError when there is none."""
    try:
        mv = client.get_model_version_by_alias(check_task(task), CHAMPION)
    except MlflowException as exc:
        if _not_found(exc):
            raise NoChampionError(task) from exc
        raise
    return _version_ref(task, mv)


def _version_ref(task: str, mv: Any) -> ModelRef:
    return ModelRef(
        task=task,
        uri=f"models:/{task}/{mv.version}",
        version=str(mv.version),
        run_id=mv.run_id,
        version_tags=dict(mv.tags or {}),
    )


def resolve(
    client: MlflowClient, task: str, *, version: str | int | None = None, uri: str | None = None
) -> ModelRef:
    """The champion by default, else registry version ``version``, else the model at ``uri``."""
    check_task(task)
    if version is not None and uri is not None:
        raise ValueError("give a model version or a model URI, not both")
    if uri is not None:
        return ModelRef(task=task, uri=uri)
    if version is not None:
        try:
            mv = client.get_model_version(task, str(version))
        except MlflowException as exc:
            if _not_found(exc):
                raise ModelNotFoundError(
                    f"registered model {task!r} has no version {version}"
                ) from exc
            raise
        return _version_ref(task, mv)
    return champion_ref(client, task)


def _first(keys: tuple[str, ...], *sources: Mapping[str, Any]) -> Any:
    for source in sources:
        for key in keys:
            if source.get(key) not in (None, ""):
                return source[key]
    return None


def load(client: MlflowClient, ref: ModelRef) -> ServedModel:
    """Load the pipeline of ``ref`` and gather its metrics, tags, threshold and H3 resolution."""
    from accident_assets.serving import predict as scoring
    from accident_assets.serving import pyfunc

    try:
        pipeline, wrapped = pyfunc.load(ref.uri)
    except MlflowException as exc:
        raise ModelNotFoundError(f"cannot load model {ref.uri!r}: {exc.message}") from exc
    except OSError as exc:
        raise ModelNotFoundError(f"cannot load model {ref.uri!r}: {exc}") from exc
    scoring.prepare_model(ref.task, pipeline)
    run_id = ref.run_id
    if run_id is None:
        try:
            from mlflow.models import get_model_info

            run_id = get_model_info(ref.uri).run_id
        except Exception:
            run_id = None
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    run_tags: dict[str, str] = {}
    if run_id:
        try:
            run = client.get_run(run_id)
            metrics, params = dict(run.data.metrics), dict(run.data.params)
            run_tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
        except MlflowException:
            pass
    tags = {**run_tags, **dict(ref.version_tags)}
    if wrapped is not None:
        # The registered pyfunc carries what it was logged to serve with: the API serves the
        # same numbers as mlflow.pyfunc.load_model of that version.
        threshold, resolution = wrapped.threshold, wrapped.h3_resolution
    else:
        # Training logs the threshold its metrics were computed at as a metric of the run.
        threshold = _first(THRESHOLD_KEYS, ref.version_tags, params, run_tags, metrics)
        # Training tags every NYC run (and so every runs:/ URI) with the resolution of its cells.
        resolution = _first(H3_RESOLUTION_KEYS, ref.version_tags, params, run_tags)
    partitions = tags.get("trained_on_partitions", "")
    return ServedModel(
        task=ref.task,
        uri=ref.uri,
        version=ref.version,
        run_id=run_id,
        pipeline=pipeline,
        threshold=float(threshold) if threshold is not None else CLASSIFICATION_THRESHOLD,
        metrics=metrics,
        trained_on_partitions=[p.strip() for p in partitions.split(",") if p.strip()],
        tags=tags,
        h3_resolution=int(resolution) if resolution is not None else None,
        loaded_at=dt.datetime.now(dt.UTC),
    )


def load_model(
    task: str, *, version: str | int | None = None, uri: str | None = None
) -> ServedModel:
    """One-off load (the CLI): the champion, a registry version or a model URI."""
    client = mlflow_client()
    return load(client, resolve(client, task, version=version, uri=uri))


class ChampionCache:
    """The champion of each task, reloaded when its alias moves.

    ``get`` asks the registry where the alias points at most every ``refresh_seconds`` (a cheap
    query) and loads the pipeline only when the version changed. Thread-safe: the API serves
    requests from a thread pool.
    """

    def __init__(
        self,
        refresh_seconds: float | None = None,
        *,
        client_factory: Callable[[], MlflowClient] = mlflow_client,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_seconds = (
            refresh_seconds_from_env() if refresh_seconds is None else refresh_seconds
        )
        self._client_factory = client_factory
        self._client: MlflowClient | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, ServedModel] = {}
        self._checked: dict[str, float] = {}

    def _mlflow(self) -> MlflowClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def get(self, task: str) -> ServedModel:
        """The current champion of ``task``; NoChampionError when there is none."""
        check_task(task)
        with self._lock:
            checked = self._checked.get(task)
            if (
                task in self._models
                and checked is not None
                and self._clock() - checked < self.refresh_seconds
            ):
                return self._models[task]
            return self._check(task)

    def _check(self, task: str) -> ServedModel:
        try:
            client = self._mlflow()
            ref = champion_ref(client, task)
        except NoChampionError:
            # A removed alias means nothing is promoted any more: stop serving the old model.
            self._models.pop(task, None)
            self._checked.pop(task, None)
            raise
        except Exception as exc:
            # The registry is unreachable for now: keep serving what is loaded, ask again later.
            if task not in self._models:
                raise RegistryUnavailableError(f"MLflow registry unavailable: {exc}") from exc
            log.warning(
                "%s: cannot check the champion alias (%s); serving v%s",
                task,
                exc,
                self._models[task].version,
            )
            self._checked[task] = self._clock()
            return self._models[task]
        current = self._models.get(task)
        if current is None or current.version != ref.version:
            self._models[task] = load(client, ref)
        self._checked[task] = self._clock()
        return self._models[task]

    def refresh(self, task: str | None = None) -> dict[str, str | None]:
        """Check the alias now (one task or all); returns the champion version per task."""
        versions: dict[str, str | None] = {}
        for name in [check_task(task)] if task else list(TASKS):
            with self._lock:
                try:
                    versions[name] = self._check(name).version
                except (NoChampionError, RegistryUnavailableError):
                    versions[name] = None
        return versions

    def loaded(self) -> dict[str, str | None]:
        """Versions in memory now, without asking the registry."""
        with self._lock:
            return {task: (m.version if (m := self._models.get(task)) else None) for task in TASKS}
