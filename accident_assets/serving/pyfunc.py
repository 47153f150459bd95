"""The registered MLflow model of each task: raw records in, the API's predictions out.

``mlflow.pyfunc.load_model("models:/france_priority@champion")`` (or ``mlflow models serve``)
gets an :class:`AccidentModel`: it validates records with the API's request models and scores
them with the API's own functions, so a registry user never rebuilds the ~70 feature columns and
gets exactly the API's numbers. The fitted sklearn pipeline stays an attribute (``pipeline``) for
the code that scores feature rows directly (the champion decision, batch predictions).

Imported when MLflow unpickles the model, possibly where only the logged ``code`` folder provides
``accident_assets``: it imports the scoring path and nothing of Dagster or training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import pydantic
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

from accident_assets.nyc.geo import GridPathError
from accident_assets.serving import predict as scoring
from accident_assets.serving import schemas

FRANCE, NYC = "france_priority", "nyc_incidents"


class AccidentModel(PythonModel):
    """One task's fitted pipeline with the decision threshold (France) or H3 resolution (NYC)
    it is served with; quacks like ``ServedModel`` for ``predict.score_france/score_nyc``."""

    # MLflow wraps predict for type-hint validation when the class is defined, and warns on
    # every import that there are no hints; the API's request models are the validation here.
    _skip_type_hint_validation = True

    def __init__(
        self, task: str, pipeline: Any, *, threshold: float, h3_resolution: int | None = None
    ) -> None:
        if task not in (FRANCE, NYC):
            raise ValueError(f"unknown task {task!r}; expected {FRANCE!r} or {NYC!r}")
        self.task = task
        self.pipeline = pipeline
        self.threshold = float(threshold)
        self.h3_resolution = int(h3_resolution) if h3_resolution is not None else None

    def load_context(self, context) -> None:  # type: ignore[no-untyped-def]
        # Compile the pipeline's encoding now rather than on the first request.
        scoring.prepare_model(self.task, self.pipeline)

    # No type hint on model_input: MLflow would make a schema of it and convert or reject
    # inputs before the API's request models see them (see champion_model: no signature).
    def predict(self, context, model_input, params: dict[str, Any] | None = None) -> pd.DataFrame:  # type: ignore[no-untyped-def]
        """Records (a DataFrame, a list of dicts or one dict) -> one row of predictions each."""
        request = request_payload(model_input)
        try:
            if self.task == FRANCE:
                validated = schemas.FRANCE_REQUEST.validate_python(request)
                rows = scoring.score_france(self, schemas.france_records(validated))
            else:
                validated = schemas.NYC_REQUEST.validate_python(request)
                points = schemas.nyc_points(validated, scoring.h3_resolution(self))
                rows = scoring.score_nyc(self, points)
        except pydantic.ValidationError as exc:
            # MLflow's scoring server answers 400 (not 500) to this error code.
            raise MlflowException.invalid_parameter_value(_problems(exc)) from exc
        except GridPathError as exc:  # a start/end too far apart: the client's error, as in the API
            raise MlflowException.invalid_parameter_value(str(exc)) from exc
        return pd.DataFrame([asdict(row) for row in rows])


def load(model_uri: str) -> tuple[Any, AccidentModel | None]:
    """The sklearn pipeline of a logged model, and the AccidentModel around it when it is one.

    Registered versions are AccidentModels; a fit's own ``model`` artifact (``runs:/…/model``)
    and versions promoted before the pyfunc existed are the bare pipeline (sklearn flavor).
    """
    import mlflow.pyfunc
    from mlflow.models import get_model_info

    # Only the MLmodel file is read to choose: loading the wrong flavor would unpickle twice.
    if "sklearn" in get_model_info(model_uri).flavors:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(model_uri), None
    model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    if not isinstance(model, AccidentModel):
        raise MlflowException(
            f"{model_uri} is a {type(model).__name__}, neither an AccidentModel nor a pipeline"
        )
    return model.pipeline, model


def _problems(exc: pydantic.ValidationError) -> str:
    """Each error at its (record index, field), as the API's 422 reports it."""
    return "; ".join(
        f"{'.'.join(map(str, schemas.field_location(e['loc']))) or 'request'}: {e['msg']}"
        for e in exc.errors()
    )


def request_payload(model_input: Any) -> Any:
    """What the API's request models take: one record as a dict, several as a list of dicts.

    ``mlflow models serve`` gives a DataFrame (``dataframe_records``) whose absent fields are NaN
    cells and whose nested lists (a full accident's ``usagers``) are object cells; both are turned
    back into the JSON the API would have received.
    """
    if isinstance(model_input, pd.DataFrame):
        records: list[Any] = [_present(row) for row in model_input.to_dict(orient="records")]
    elif isinstance(model_input, Mapping):
        return _plain(dict(model_input))
    elif isinstance(model_input, list | tuple):
        records = [_plain(item) for item in model_input]
    else:
        raise MlflowException.invalid_parameter_value(
            f"expected a DataFrame, a list of records or one record, got {type(model_input).__name__}"
        )
    # A one-row frame is one request: a route ({"route": [...]}) is only valid on its own.
    return records[0] if len(records) == 1 else records


def _present(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): _plain(v) for k, v in row.items() if not _missing(v)}


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _plain(value: Any) -> Any:
    """numpy containers and scalars (as a DataFrame or Parquet may hold them) -> JSON values."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
