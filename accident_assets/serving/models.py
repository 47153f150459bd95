"""The served models: the MLflow champion of each task (or a chosen version / URI), cached.

A background thread (``ChampionCache.start``) checks the ``champion`` alias every
``refresh_seconds`` (and on demand), so a champion promoted by a training run is served without
restarting the API, while requests only ever read memory: a slow or hung registry never holds a
request. Registered versions are the serving pyfunc (``serving.pyfunc.AccidentModel``); the API
takes its pipeline, threshold and H3 resolution, so it serves what ``mlflow.pyfunc.load_model`` of
that version does. Older versions and a fit's ``runs:/…/model`` are bare pipelines (sklearn
flavor), still served.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accident_assets import settings
from accident_assets.settings import TRACKING_URI_ENV
from accident_assets.training.champion import CHAMPION, TRAINED_ON, tagged_partitions
from accident_assets.training.mlflow_config import sqlite_store_path

# mlflow (and sklearn, through training.metrics) are imported where a registry is read or a model
# loaded: the forecast assets import this module when the Dagster code location loads, which
# must not pay for them.
if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

log = logging.getLogger(__name__)

TASKS: tuple[str, ...] = ("france_priority", "nyc_incidents")
# The refresher never spins: even ``refresh_seconds=0`` checks at most this often.
MIN_REFRESH_SECONDS = 0.1
# While a task has nothing to serve (before training, store missing) it is retried at least this
# often, whatever the interval: recovering quickly matters more than a few cheap queries.
RETRY_SECONDS = 5.0
# How long the API's startup and ``POST /v1/models/refresh`` wait for a registry check.
STARTUP_WAIT_SECONDS = 30.0
# A champion version that could not be loaded is tried again after this long, not on every
# check: each try downloads and unpickles the model while requests are being served.
UNLOADABLE_RETRY_SECONDS = 60.0
REFRESH_WAIT_SECONDS = 30.0
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


class StoreMissingError(RegistryUnavailableError):
    """The tracking URI names a sqlite file that does not exist (the reader never creates it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"MLflow store {path} does not exist; run the training job or set {TRACKING_URI_ENV}"
        )


def refresh_seconds_from_env() -> float:
    return settings.get_settings().champion_refresh_seconds


def reader_tracking_uri() -> str:
    """The store training writes to: ``MLFLOW_TRACKING_URI``, else the state directory's sqlite
    file. Serving only reads: a missing sqlite file is an error (:func:`require_store`)."""
    return settings.get_settings().tracking_uri


def require_store(uri: str) -> None:
    """StoreMissingError when ``uri`` is a sqlite file that is not there: MLflow would create an
    empty store in its place, and the API would then report "no champion" instead of "no store"."""
    path = sqlite_store_path(uri)
    if path is not None and not path.is_file():
        raise StoreMissingError(path)


def mlflow_client() -> MlflowClient:
    """A client of the existing store; StoreMissingError rather than creating an empty one."""
    from accident_assets.training.mlflow_config import configure_mlflow

    uri = reader_tracking_uri()
    require_store(uri)
    return configure_mlflow(uri)


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


def _alias_not_found(exc: MlflowException) -> bool:
    # The sqlite store answers a missing alias of an existing model with INVALID_PARAMETER_VALUE
    # ("Registered model alias champion not found."), not RESOURCE_DOES_NOT_EXIST.
    message = str(getattr(exc, "message", exc))
    return getattr(exc, "error_code", "") == "INVALID_PARAMETER_VALUE" and (
        "alias" in message and "not found" in message
    )


def champion_ref(client: MlflowClient, task: str) -> ModelRef:
    """The version the ``champion`` alias points at; NoChampionError when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(check_task(task), CHAMPION)
    except MlflowException as exc:
        if _not_found(exc) or _alias_not_found(exc):
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
        from mlflow.exceptions import MlflowException

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
    from mlflow.exceptions import MlflowException

    from accident_assets.serving import predict as scoring
    from accident_assets.serving import pyfunc
    from accident_assets.training.metrics import CLASSIFICATION_THRESHOLD

    try:
        pipeline, wrapped = pyfunc.load(ref.uri)
    except MlflowException as exc:
        raise ModelNotFoundError(f"cannot load model {ref.uri!r}: {exc.message}") from exc
    except (OSError, ImportError, AttributeError, ValueError) as exc:
        # Missing files, or a pickle that needs code this environment lacks: a load error, not
        # an unreachable registry.
        raise ModelNotFoundError(
            f"cannot load model {ref.uri!r}: {type(exc).__name__}: {exc}"
        ) from exc
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
    return ServedModel(
        task=ref.task,
        uri=ref.uri,
        version=ref.version,
        run_id=run_id,
        pipeline=pipeline,
        threshold=float(threshold) if threshold is not None else CLASSIFICATION_THRESHOLD,
        metrics=metrics,
        trained_on_partitions=tagged_partitions(tags, TRAINED_ON),
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


@dataclass(frozen=True)
class TaskStatus:
    """What the last check left for one task: the model served (if any) and what is wrong."""

    task: str
    model: ServedModel | None
    problem: str | None


# A problem is kept as the way to build its exception: each request raises a fresh one (a shared
# exception instance raised from many threads would have its traceback rewritten under it).
_Problem = Callable[[], Exception]


def _not_checked(task: str) -> _Problem:
    return functools.partial(
        RegistryUnavailableError,
        f"the champion of {task!r} is not loaded yet: the first registry check has not finished",
    )


class ChampionCache:
    """The champion of each task, reloaded by a background thread when its alias moves.

    ``start`` runs the refresher: it asks the registry where each ``champion`` alias points every
    ``refresh_seconds`` (a cheap query; more often while a task has nothing to serve) and loads a
    pipeline only when the version changed. ``get`` reads memory only: it never waits on the
    registry, so a hung store cannot hold a request. Thread-safe: ``_lock`` guards the maps and is
    never held across a registry call.
    """

    def __init__(
        self,
        refresh_seconds: float | None = None,
        *,
        client_factory: Callable[[], MlflowClient] = mlflow_client,
        startup_wait_seconds: float = STARTUP_WAIT_SECONDS,
    ) -> None:
        self.refresh_seconds = (
            refresh_seconds_from_env() if refresh_seconds is None else refresh_seconds
        )
        self.startup_wait_seconds = startup_wait_seconds
        self._client_factory = client_factory
        self._lock = threading.Lock()
        self._models: dict[str, ServedModel] = {}
        self._problems: dict[str, _Problem] = {task: _not_checked(task) for task in TASKS}
        # task -> (version that failed to load, when to try it again)
        self._unloadable: dict[str, tuple[str | None, float]] = {}
        # One registry check at a time: the refresher's, or ``refresh`` when no refresher runs.
        self._check_lock = threading.Lock()
        self._checking_since: float | None = None
        # Rounds: ``refresh`` asks for one (``_requested``) and waits until a round that started
        # after its request has finished (``_completed``).
        self._rounds = threading.Condition()
        self._requested = 0
        self._completed = 0
        self._finished_rounds = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what requests read ------------------------------------------------------------------

    def get(self, task: str) -> ServedModel:
        """The champion of ``task`` in memory; else the error of the last check (NoChampionError,
        RegistryUnavailableError, ModelNotFoundError). Never contacts the registry."""
        check_task(task)
        with self._lock:
            model = self._models.get(task)
            problem = self._problems.get(task)
        if model is not None:
            return model
        raise (problem or _not_checked(task))()

    def loaded(self) -> dict[str, str | None]:
        """Versions in memory now, without asking the registry."""
        with self._lock:
            return {task: (m.version if (m := self._models.get(task)) else None) for task in TASKS}

    def status(self) -> list[TaskStatus]:
        """Per task: the model in memory and the last check's problem (None when all is well)."""
        with self._lock:
            found = [(task, self._models.get(task), self._problems.get(task)) for task in TASKS]
        return [TaskStatus(task, model, str(p()) if p else None) for task, model, p in found]

    def checking_for(self) -> float | None:
        """Seconds the registry check in progress has been running (None when none is)."""
        started = self._checking_since
        return None if started is None else time.monotonic() - started

    # --- the refresher -----------------------------------------------------------------------

    def start(self) -> None:
        """Run the refresher (a daemon thread: a check hung in the registry never blocks exit)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="champion-refresher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("champion refresher still inside a registry call; left behind")
            self._thread = None

    def wait_first_check(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) for the refresher's first round; True when it finished."""
        with self._rounds:
            return self._rounds.wait_for(lambda: self._finished_rounds > 0, timeout)

    def refresh(self, timeout: float = REFRESH_WAIT_SECONDS) -> dict[str, str | None]:
        """Check every alias now and return the version per task in memory afterwards.

        With the refresher running, it is asked for a round and waited for (at most ``timeout``
        s, then RegistryUnavailableError: the check goes on in the background); without it (the
        cache used directly) the check runs here. A version that failed to load is tried again.
        """
        self._unloadable.clear()
        if self._thread is None or not self._thread.is_alive():
            self._check_all()
            return self.loaded()
        with self._rounds:
            self._requested += 1
            mine = self._requested
            self._wake.set()
            if not self._rounds.wait_for(lambda: self._completed >= mine, timeout):
                raise RegistryUnavailableError(
                    f"the MLflow registry did not answer within {timeout:g} s; "
                    f"serving the champions in memory {self.loaded()}"
                )
        return self.loaded()

    def _interval(self) -> float:
        with self._lock:
            complete = all(task in self._models for task in TASKS)
        interval = self.refresh_seconds if complete else min(self.refresh_seconds, RETRY_SECONDS)
        return max(MIN_REFRESH_SECONDS, interval)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._rounds:
                goal = self._requested
            try:
                self._check_all()
            except Exception:
                # The thread must outlive any surprise: it is the only way new champions load.
                log.exception("champion check failed; retrying")
            with self._rounds:
                self._completed = max(self._completed, goal)
                self._finished_rounds += 1
                self._rounds.notify_all()
            self._wake.wait(self._interval())
            self._wake.clear()

    # --- checking the registry (never under ``_lock``) ---------------------------------------

    def _check_all(self) -> None:
        with self._check_lock:
            self._checking_since = time.monotonic()
            try:
                self._check_with_a_new_client()
            finally:
                self._checking_since = None

    def _check_with_a_new_client(self) -> None:
        try:
            # A client per round: the store's existence is checked again, so a store that
            # appears (or is replaced) after startup is picked up.
            client = self._client_factory()
        except Exception as exc:
            message = (
                str(exc)
                if isinstance(exc, RegistryUnavailableError)
                else f"MLflow registry unavailable: {exc}"
            )
            for task in TASKS:
                self._unreachable(task, message)
            return
        for task in TASKS:
            self._check(client, task)

    def _check(self, client: MlflowClient, task: str) -> None:
        try:
            ref = champion_ref(client, task)
        except NoChampionError:
            # A removed alias means nothing is promoted any more: stop serving the old model.
            self._record(task, None, functools.partial(NoChampionError, task))
            return
        except Exception as exc:
            self._unreachable(task, f"MLflow registry unavailable: {exc}")
            return
        with self._lock:
            current = self._models.get(task)
        if current is not None and current.version == ref.version:
            self._record(task, current, None)
            return
        failed, retry_at = self._unloadable.get(task, (None, 0.0))
        if failed == ref.version and time.monotonic() < retry_at:
            return  # the problem recorded when it failed still stands
        try:
            model = load(client, ref)
        except ModelNotFoundError as exc:
            # The alias points at a version that cannot be loaded: keep any model in memory.
            self._unloadable[task] = (ref.version, time.monotonic() + UNLOADABLE_RETRY_SECONDS)
            self._record(task, current, functools.partial(ModelNotFoundError, str(exc)))
            return
        except Exception as exc:
            self._unreachable(task, f"MLflow registry unavailable: {exc}")
            return
        log.info("%s: serving champion v%s (%s)", task, model.version, model.uri)
        self._record(task, model, None)

    def _unreachable(self, task: str, message: str) -> None:
        # An outage keeps serving what is loaded; with nothing loaded, requests get the reason.
        with self._lock:
            current = self._models.get(task)
        self._record(task, current, functools.partial(RegistryUnavailableError, message))

    def _record(self, task: str, model: ServedModel | None, problem: _Problem | None) -> None:
        text = str(problem()) if problem else None
        with self._lock:
            before = self._problems.get(task)
            changed = text != (str(before()) if before else None)
            if model is not None:
                self._models[task] = model
            else:
                self._models.pop(task, None)
            if problem is None:
                self._problems.pop(task, None)
            else:
                self._problems[task] = problem
        # Logged when the state changes, not every round of a long outage.
        if changed and text is not None:
            served = f"serving v{model.version}" if model else "nothing to serve"
            log.warning("%s: %s (%s)", task, text, served)
        elif changed:
            log.info("%s: champion check OK", task)
