"""The prediction API: ``uvicorn accident_assets.serving.api:app``.

Each task is served by its MLflow champion. A background thread (started in the lifespan, stopped
at shutdown) checks the ``champion`` aliases every ``ACCIDENT_ASSETS_CHAMPION_REFRESH_SECONDS``
(default 10), and ``POST /v1/models/refresh`` asks it to check now, so a newly promoted champion
is served without a restart. Requests only read the champions in memory: a slow or hung
registry never holds one.

Where the work runs:

- ``/health``, ``/ready``, ``/v1/models`` and the docs are ``async``: they only read memory, so
  they answer from the event loop even while every scoring thread is busy (a liveness probe must
  not fail because the service is loaded).
- The predict endpoints read the body on the loop, then validate and score in a dedicated,
  bounded pool of worker threads (an ``anyio.CapacityLimiter`` of
  ``ACCIDENT_ASSETS_SCORING_THREADS``, default the CPU count). Scoring is CPU-bound: more threads
  than cores would only add contention and memory (each holds its request's feature frame), and a
  separate limiter keeps the rest of the API (``/v1/models/refresh`` uses FastAPI's default pool)
  from queueing behind scoring. Excess requests wait as cheap coroutines, not threads. The
  response is serialized in the worker too, so a large answer never stalls the loop.
- ``GET /v1/forecast/nyc_incidents/{date}`` reads a stored forecast (one Parquet file, with
  pyarrow, not polars) in FastAPI's default thread pool, so a slow store never holds the loop and
  never queues behind scoring.
- Bodies are limited to ``ACCIDENT_ASSETS_MAX_BODY_BYTES`` (default 2 MiB) by ``BodySizeLimit``,
  a pure-ASGI middleware: 413 up front from ``Content-Length``, or as soon as a streamed
  (chunked) body passes the limit.
- ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from files shipped in the ``fastapi-offline``
  wheel, mounted under ``/static/docs``: the docs work without internet access.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
import fastapi_offline
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accident_assets import settings
from accident_assets.nyc.geo import GridPathError
from accident_assets.nyc_forecast import store as forecast_store
from accident_assets.serving import predict as scoring
from accident_assets.serving import schemas
from accident_assets.serving.models import (
    TASKS,
    ChampionCache,
    ModelNotFoundError,
    NoChampionError,
    RegistryUnavailableError,
    ServedModel,
)

log = logging.getLogger(__name__)
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"

MAX_BODY_ENV = settings.env_name("max_body_bytes")
JSON_MEDIA_TYPE = "application/json"
# The fastapi-offline wheel ships swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js and
# a favicon; only the files are used (the routes below are FastAPI's own page builders).
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/static/docs"
REF_TEMPLATE = "#/components/schemas/{model}"


def max_body_bytes_from_env() -> int:
    return settings.get_settings().max_body_bytes


def scoring_threads_from_env() -> int:
    return settings.get_settings().scoring_threads


# --- documented answers ----------------------------------------------------------------------


PREDICT_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": schemas.ErrorResponse, "description": "the body is larger than the limit"},
    415: {"model": schemas.ErrorResponse, "description": "the body is not application/json"},
    422: {
        "model": schemas.ValidationErrorResponse,
        "description": "the body is not valid JSON, or not a valid request (fields named in loc)",
    },
    503: {
        "model": schemas.ErrorResponse,
        "description": "no champion model yet, or the MLflow registry is unreachable",
    },
}


# --- body size limit -------------------------------------------------------------------------


class BodyTooLargeError(Exception):
    """Raised from ``receive`` when a streamed body passes the limit."""


class BodySizeLimit:
    """Reject request bodies over ``max_bytes`` with 413, reading at most one chunk past it.

    A declared ``Content-Length`` over the limit is rejected before anything is read (a client
    sending ``Expect: 100-continue`` never sends the body). Chunked bodies are counted as they
    arrive, and the app's ``receive`` raises as soon as the count passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._reject(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLargeError:
            if started:
                raise
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"request body is larger than {self.max_bytes} bytes"}
        ).encode()
        # The rest of the body is never read, so the connection cannot carry another request.
        headers = [
            (b"content-type", JSON_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length; counting still applies
    return None


# --- request bodies --------------------------------------------------------------------------


async def json_body(request: Request) -> bytes:
    """The raw body of a JSON request; 415 for any other content type."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        shown = media_type or "none"
        raise HTTPException(
            status_code=415, detail=f"content type must be {JSON_MEDIA_TYPE} (got {shown})"
        )
    return await request.body()


def validated(adapter: TypeAdapter[Any], body: bytes) -> Any:
    """Parse and validate in one step (pydantic's JSON parser); failures are 422 with locations.

    Undecodable JSON is a ``json_invalid`` error at ``["body"]``; NaN and Infinity literals are
    parsed and then refused by the fields (finite numbers only).
    """
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
        raise RequestValidationError(errors) from exc


def _request_body(adapter: TypeAdapter[Any], examples: dict[str, Any]) -> tuple[dict, dict]:
    """The operation's ``requestBody`` for ``adapter`` and the definitions it refers to."""
    schema = adapter.json_schema(ref_template=REF_TEMPLATE)
    definitions = schema.pop("$defs", {})
    content: dict[str, Any] = {"schema": schema}
    if examples:
        content["examples"] = examples
    body = {"requestBody": {"required": True, "content": {JSON_MEDIA_TYPE: content}}}
    return body, definitions


def _model_used(model: ServedModel) -> dict[str, Any]:
    return {"task": model.task, "model_version": model.version, "model_uri": model.uri}


def _errors(exc_errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for error in exc_errors:
        error = {k: v for k, v in error.items() if k not in ("url", "ctx", "input")}
        error["loc"] = list(schemas.field_location(tuple(error.get("loc", ()))))
        out.append(error)
    return out


def _json(model: type[BaseModel], content: dict[str, Any]) -> Response:
    """``content`` checked against its response model and serialized (in the caller's thread)."""
    return Response(model.model_validate(content).model_dump_json(), media_type=JSON_MEDIA_TYPE)


# --- the app ---------------------------------------------------------------------------------


def create_app(
    cache: ChampionCache | None = None,
    *,
    max_body_bytes: int | None = None,
    scoring_threads: int | None = None,
    storage_root: str | None = None,
) -> FastAPI:
    """The app over ``cache`` (one per process by default; tests pass their own) and the asset
    storage at ``storage_root`` (default ``settings.storage_root()``) for stored forecasts."""
    champions = cache if cache is not None else ChampionCache()
    storage = storage_root if storage_root is not None else settings.storage_root()
    limiter = anyio.CapacityLimiter(
        scoring_threads if scoring_threads is not None else scoring_threads_from_env()
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        champions.start()
        # Give the first check a bounded time so a healthy start serves at once; a slow registry
        # only delays readiness (503 until the champions load), never the start.
        if not await anyio.to_thread.run_sync(
            champions.wait_first_check, champions.startup_wait_seconds
        ):
            log.warning(
                "the MLflow registry did not answer within %g s; starting without champions",
                champions.startup_wait_seconds,
            )
        log.info("champions at startup: %s", champions.loaded())
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(champions.stop)

    app = FastAPI(
        title="accident_assets prediction API",
        version="1",
        description=(
            "Predictions of the MLflow champion of each task: `france_priority` (is a French "
            "road accident a priority: anyone killed or hospitalized) and `nyc_incidents` "
            "(expected incidents in an H3 cell during one hour in New York)."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.champions = champions
    app.state.scoring_limiter = limiter
    app.add_middleware(
        BodySizeLimit,
        max_bytes=max_body_bytes if max_body_bytes is not None else max_body_bytes_from_env(),
    )

    async def in_scoring_pool(work: Callable[[bytes], Response], body: bytes) -> Response:
        return await anyio.to_thread.run_sync(work, body, limiter=limiter)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422, content={"detail": jsonable_encoder(_errors(list(exc.errors())))}
        )

    @app.exception_handler(NoChampionError)
    async def _no_champion(request: Request, exc: NoChampionError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(RegistryUnavailableError)
    async def _no_registry(request: Request, exc: RegistryUnavailableError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(ModelNotFoundError)
    async def _unloadable(request: Request, exc: ModelNotFoundError) -> JSONResponse:
        # The alias points at a version whose artifacts cannot be loaded: nothing to serve.
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.get("/health", response_model=schemas.Health, tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness, and which champion version each task has in memory (no registry call)."""
        return {"status": "ok", "loaded": champions.loaded()}

    @app.get(
        "/ready",
        response_model=schemas.ReadyResponse,
        responses={503: {"model": schemas.ReadyResponse, "description": "a task has no champion"}},
        tags=["service"],
    )
    async def ready() -> JSONResponse:
        """Readiness: 200 when every task has a champion in memory, else 503 saying why."""
        status = champions.status()
        body = schemas.ReadyResponse(
            status="ready" if all(s.model is not None for s in status) else "not ready",
            champions={s.task: s.model.version if s.model else None for s in status},
            missing={s.task: s.problem or "not loaded" for s in status if s.model is None},
            warnings={s.task: s.problem for s in status if s.model is not None and s.problem},
        )
        code = 200 if body.status == "ready" else 503
        return JSONResponse(status_code=code, content=body.model_dump())

    @app.get("/v1/models", response_model=schemas.ModelsResponse, tags=["models"])
    async def list_models() -> dict[str, Any]:
        """The champion of each task: version, metrics, partitions it was trained on."""
        out = []
        for task in TASKS:
            try:
                info = champions.get(task).info()
                out.append({"task": task, "champion": info, "error": None})
            except (NoChampionError, RegistryUnavailableError, ModelNotFoundError) as exc:
                out.append({"task": task, "champion": None, "error": str(exc)})
        return {"models": out}

    @app.post(
        "/v1/models/refresh",
        response_model=schemas.RefreshResponse,
        responses={503: {"model": schemas.ErrorResponse, "description": "registry too slow"}},
        tags=["models"],
    )
    def refresh() -> dict[str, Any]:
        """Check the ``champion`` aliases now and load any new champion (waits, bounded)."""
        return {"champions": champions.refresh()}

    def score_france(body: bytes) -> Response:
        records = schemas.france_records(validated(schemas.FRANCE_REQUEST, body))
        model = champions.get("france_priority")
        predictions = scoring.score_france(model, records)
        content = {
            **_model_used(model),
            "threshold": model.threshold,
            "predictions": [p.as_dict() for p in predictions],
        }
        return _json(schemas.FranceResponse, content)

    def score_nyc(body: bytes) -> Response:
        request = validated(schemas.NYC_REQUEST, body)
        model = champions.get("nyc_incidents")
        resolution = scoring.h3_resolution(model)
        try:  # a start/end request becomes its grid path at the champion's resolution
            points = schemas.nyc_points(request, resolution)
        except GridPathError as exc:
            raise RequestValidationError(
                [{"loc": ("body", "end"), "msg": str(exc), "type": "value_error"}]
            ) from exc
        predictions = scoring.score_nyc(model, points)
        content = {
            **_model_used(model),
            "h3_resolution": resolution,
            "predictions": [p.as_dict() for p in predictions],
            "expected_incidents_total": scoring.route_total(predictions),
        }
        if isinstance(request, schemas.NycStartEnd):
            content["path"] = scoring.path_summary(predictions, request.cutoff)
        return _json(schemas.NycResponse, content)

    def stored_forecast(day: dt.date, top: int | None) -> Response:
        rows = forecast_store.read_forecast_rows(storage, day)
        if rows is None:
            raise HTTPException(
                status_code=404,
                detail=f"no nyc_incidents forecast is stored for {day.isoformat()}",
            )
        return _json(schemas.ForecastResponse, forecast_store.forecast_content(day, rows, top))

    france_body, france_defs = _request_body(schemas.FRANCE_REQUEST, FRANCE_EXAMPLES)
    nyc_body, nyc_defs = _request_body(schemas.NYC_REQUEST, NYC_EXAMPLES)

    @app.post(
        "/v1/france_priority/predict",
        response_model=schemas.FranceResponse,
        responses=PREDICT_ERRORS,
        tags=["predict"],
        openapi_extra=france_body,
    )
    async def predict_france(request: Request) -> Response:
        """Is each accident a priority (anyone killed or hospitalized)? One record or a list."""
        return await in_scoring_pool(score_france, await json_body(request))

    @app.post(
        "/v1/nyc_incidents/predict",
        response_model=schemas.NycResponse,
        responses=PREDICT_ERRORS,
        tags=["predict"],
        openapi_extra=nyc_body,
    )
    async def predict_nyc(request: Request) -> Response:
        """Expected incidents in the H3 cell-hour of each point (or each point of a route, or
        each cell of the grid path from a start to an end)."""
        return await in_scoring_pool(score_nyc, await json_body(request))

    @app.get(
        "/v1/forecast/nyc_incidents/{date}",
        response_model=schemas.ForecastResponse,
        responses={
            404: {"model": schemas.ErrorResponse, "description": "no forecast stored for the day"},
            422: {"model": schemas.ValidationErrorResponse, "description": "not a YYYY-MM-DD date"},
        },
        tags=["forecast"],
    )
    async def forecast_nyc(
        date: dt.date,
        top: Annotated[int | None, Query(ge=1, description="only the N highest cells")] = None,
    ) -> Response:
        """The stored ``nyc_incidents/forecast`` of a day: its cells ranked by expected incidents
        over the day and their cell-hours (of the ``top`` cells only, when given)."""
        # File reads run in FastAPI's thread pool (not the scoring one: no queueing behind scoring).
        return await anyio.to_thread.run_sync(stored_forecast, date, top)

    _mount_docs(app)
    app.openapi = _openapi_with(app, {**france_defs, **nyc_defs})  # type: ignore[method-assign]
    return app


def _openapi_with(app: FastAPI, definitions: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` that also lists the request bodies' models under components/schemas
    (the bodies are declared by hand, so FastAPI does not collect them)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in definitions.items():
                if components.setdefault(name, schema) != schema:
                    raise RuntimeError(f"two different OpenAPI schemas are named {name!r}")
        return app.openapi_schema  # type: ignore[return-value]

    return openapi


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, from local files only."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            # The online validator badge would call out to the internet.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )


def _examples(files: dict[str, str]) -> dict[str, Any]:
    """The repository's example files, shown in the OpenAPI document (skipped when absent)."""
    out = {}
    for label, name in files.items():
        path = EXAMPLES_DIR / name
        try:
            out[label] = {"value": json.loads(path.read_text(encoding="utf-8"))}
        except (OSError, ValueError):
            continue
    return out


FRANCE_EXAMPLES = _examples(
    {"flat record": "france_flat_record.json", "list with a full accident": "france_accidents.json"}
)
NYC_EXAMPLES = _examples(
    {"points": "nyc_points.json", "route": "nyc_route.json", "start and end": "nyc_start_end.json"}
)
app = create_app()
