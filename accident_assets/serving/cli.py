"""`predict`: score a JSON file with the champion of a task (or a chosen model).

predict --task france_priority examples/france_flat_record.json
predict --task nyc_incidents examples/nyc_route.json --json
cat examples/nyc_points.json | predict --task nyc_incidents -
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(add_completion=False, help=__doc__)

EXIT_BAD_INPUT = 2
EXIT_NO_MODEL = 3
STDIN = "-"
STDIN_NAME = "<stdin>"


class Task(StrEnum):
    france_priority = "france_priority"
    nyc_incidents = "nyc_incidents"


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def source_name(path: Path) -> str:
    """How messages name the input: the path, or ``<stdin>`` for ``-``."""
    return STDIN_NAME if str(path) == STDIN else str(path)


def _read_text(path: Path) -> str:
    if str(path) == STDIN:
        if sys.stdin is None:  # started with standard input closed
            raise OSError("no standard input")
        return sys.stdin.read()
    return path.read_text(encoding="utf-8")


def read_payload(path: Path) -> Any:
    """The parsed JSON of ``path`` (``-``: standard input); errors name the source (and the line
    and column)."""
    name = source_name(path)
    try:
        text = _read_text(path)
    except FileNotFoundError as exc:
        raise _fail(f"{name}: no such file", EXIT_BAD_INPUT) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"{name}: cannot read: {exc}", EXIT_BAD_INPUT) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(
            f"{name}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            EXIT_BAD_INPUT,
        ) from exc


def _validated(adapter: Any, payload: Any, file: Path) -> Any:
    """The payload checked by the API's request model; errors name the file and the field."""
    from pydantic import ValidationError

    from accident_assets.serving.schemas import field_location

    try:
        return adapter.validate_python(payload)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:10]:
            where = ".".join(str(p) for p in field_location(error["loc"])) or "(top level)"
            problems.append(f"  {where}: {error['msg']}")
        more = exc.error_count() - len(problems)
        tail = [f"  ... and {more} more"] if more > 0 else []
        raise _fail(
            "\n".join([f"{source_name(file)}: invalid input", *problems, *tail]), EXIT_BAD_INPUT
        ) from exc


def render_france(predictions: list[Any]) -> str:
    blocks = []
    for p in predictions:
        lines = [
            f"Prediction: {p.prediction}",
            f"Interpretation: {p.interpretation}",
            f"Probability: {p.probability:.4f}",
        ]
        if len(predictions) > 1:
            lines.insert(0, f"Record {p.index}:")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_nyc(predictions: list[Any], total: float) -> str:
    lines = [
        f"Point {p.index}: cell {p.cell}, {p.date} hour {p.hour:02d}: "
        f"expected incidents {p.expected_incidents:.3f}"
        for p in predictions
    ]
    if len(predictions) > 1:
        lines.append(f"Route: expected incidents over its distinct cell-hours {total:.3f}")
    return "\n".join(lines)


@app.command()
def predict(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON file (- for standard input): one record/point, a list, or {'route': [...]}"
        ),
    ],
    task: Annotated[Task, typer.Option(help="which model")] = Task.france_priority,
    model_version: Annotated[
        int | None, typer.Option(help="registry version instead of the champion")
    ] = None,
    model_uri: Annotated[
        str | None, typer.Option(help="any MLflow model URI, e.g. runs:/<run id>/model")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Score FILE with the champion of TASK and print the prediction."""
    from accident_assets.serving import models, schemas
    from accident_assets.serving import predict as scoring

    if model_version is not None and model_uri is not None:
        raise _fail("give --model-version or --model-uri, not both", EXIT_BAD_INPUT)
    payload = read_payload(file)
    france = task is Task.france_priority
    if france:
        records = schemas.france_records(_validated(schemas.FRANCE_REQUEST, payload, file))
    else:
        request = _validated(schemas.NYC_REQUEST, payload, file)
    from mlflow.exceptions import MlflowException

    try:
        model = models.load_model(task.value, version=model_version, uri=model_uri)
    except (
        models.NoChampionError,
        models.ModelNotFoundError,
        models.RegistryUnavailableError,
    ) as exc:
        raise _fail(str(exc), EXIT_NO_MODEL) from exc
    except MlflowException as exc:
        raise _fail(f"MLflow registry unavailable: {exc.message}", EXIT_NO_MODEL) from exc
    if france:
        france_out = scoring.score_france(model, records)
        body: dict[str, Any] = {"predictions": [p.as_dict() for p in france_out]}
        text = render_france(france_out)
    else:
        try:  # a start/end request is expanded at the model's resolution
            points = schemas.nyc_points(request, scoring.h3_resolution(model))
        except ValueError as exc:
            raise _fail(f"{file}: {exc}", EXIT_BAD_INPUT) from exc
        nyc_out = scoring.score_nyc(model, points)
        total = scoring.route_total(nyc_out)
        body = {
            "h3_resolution": scoring.h3_resolution(model),
            "predictions": [p.as_dict() for p in nyc_out],
            "expected_incidents_total": total,
        }
        if isinstance(request, schemas.NycStartEnd):
            body["path"] = scoring.path_summary(nyc_out, request.cutoff)
        text = render_nyc(nyc_out, total)
    header = {"task": task.value, "model_version": model.version, "model_uri": model.uri}
    if france:
        header["threshold"] = model.threshold
    if as_json:
        typer.echo(json.dumps({**header, **body}, indent=2))
    else:
        typer.echo(text)
        typer.echo(f"(model {model.uri})", err=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
