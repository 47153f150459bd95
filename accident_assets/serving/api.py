"""The prediction API: ``uvicorn accident_assets.serving.api:app``.

Each task is served by its MLflow champion. The alias is checked at most every
``ACCIDENT_ASSETS_CHAMPION_REFRESH_SECONDS`` (default 10) and on ``POST /v1/models/refresh``, so
a newly promoted champion is served without a restart. Handlers are plain ``def``: scoring is
CPU-bound and FastAPI runs them in its thread pool.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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

PREDICT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorResponse, "description": "the body cannot be decoded"},
    503: {
        "model": schemas.ErrorResponse,
        "description": "no champion model yet, or the MLflow registry is unreachable",
    },
}


def _model_used(model: ServedModel) -> dict[str, Any]:
    return {"task": model.task, "model_version": model.version, "model_uri": model.uri}


def _errors(exc_errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for error in exc_errors:
        error = {k: v for k, v in error.items() if k not in ("url", "ctx", "input")}
        error["loc"] = list(schemas.field_location(tuple(error.get("loc", ()))))
        out.append(error)
    return out


def create_app(cache: ChampionCache | None = None) -> FastAPI:
    """The app over ``cache`` (one per process by default; tests pass their own)."""
    champions = cache if cache is not None else ChampionCache()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load the champions before the first request; a missing one is served as 503 later.
        try:
            log.info("champions at startup: %s", champions.refresh())
        except Exception:
            log.exception("could not reach the MLflow registry at startup; will retry per request")
        yield

    app = FastAPI(
        title="accident_assets prediction API",
        version="1",
        description=(
            "Predictions of the MLflow champion of each task: `france_priority` (is a French "
            "road accident a priority: anyone killed or hospitalized) and `nyc_incidents` "
            "(expected incidents in an H3 cell during one hour in New York)."
        ),
        lifespan=lifespan,
    )
    app.state.champions = champions

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422, content={"detail": jsonable_encoder(_errors(list(exc.errors())))}
        )

    @app.exception_handler(scoring.PayloadError)
    async def _bad_payload(request: Request, exc: scoring.PayloadError) -> JSONResponse:
        detail = [{"loc": ["body", *exc.loc], "msg": str(exc), "type": "value_error"}]
        return JSONResponse(status_code=422, content={"detail": detail})

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
    def health() -> dict[str, Any]:
        """Liveness, and which champion version each task has in memory (no registry call)."""
        return {"status": "ok", "loaded": champions.loaded()}

    @app.get("/v1/models", response_model=schemas.ModelsResponse, tags=["models"])
    def list_models() -> dict[str, Any]:
        """The champion of each task: version, metrics, partitions it was trained on."""
        out = []
        for task in TASKS:
            try:
                info = champions.get(task).info()
                out.append({"task": task, "champion": info, "error": None})
            except (NoChampionError, RegistryUnavailableError, ModelNotFoundError) as exc:
                out.append({"task": task, "champion": None, "error": str(exc)})
        return {"models": out}

    @app.post("/v1/models/refresh", response_model=schemas.RefreshResponse, tags=["models"])
    def refresh() -> dict[str, Any]:
        """Check the ``champion`` aliases now and load any new champion."""
        return {"champions": champions.refresh()}

    @app.post(
        "/v1/france_priority/predict",
        response_model=schemas.FranceResponse,
        responses=PREDICT_ERRORS,
        tags=["predict"],
    )
    def predict_france(
        request: Annotated[schemas.FranceRequest, Body(openapi_examples=FRANCE_EXAMPLES)],
    ) -> dict[str, Any]:
        """Is each accident a priority (anyone killed or hospitalized)? One record or a list."""
        records = schemas.france_records(request)
        model = champions.get("france_priority")
        predictions = scoring.score_france(model, records)
        return {
            **_model_used(model),
            "threshold": model.threshold,
            "predictions": [p.as_dict() for p in predictions],
        }

    @app.post(
        "/v1/nyc_incidents/predict",
        response_model=schemas.NycResponse,
        responses=PREDICT_ERRORS,
        tags=["predict"],
    )
    def predict_nyc(
        request: Annotated[schemas.NycRequest, Body(openapi_examples=NYC_EXAMPLES)],
    ) -> dict[str, Any]:
        """Expected incidents in the H3 cell-hour of each point (or each point of a route)."""
        points = schemas.nyc_points(request)
        model = champions.get("nyc_incidents")
        predictions = scoring.score_nyc(model, points)
        return {
            **_model_used(model),
            "h3_resolution": scoring.h3_resolution(model),
            "predictions": [p.as_dict() for p in predictions],
            "expected_incidents_total": scoring.route_total(predictions),
        }

    return app


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
NYC_EXAMPLES = _examples({"points": "nyc_points.json", "route": "nyc_route.json"})
app = create_app()
