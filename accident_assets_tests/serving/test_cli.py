"""The `predict` command against a real MLflow registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accident_assets.serving.cli import EXIT_BAD_INPUT, EXIT_NO_MODEL, app
from accident_assets_tests.serving import registry as reg

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_france_flat_record_prints_prediction(mlflow_uri: str) -> None:
    result = invoke("--task", "france_priority", EXAMPLES / "france_flat_record.json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] in ("Prediction: 1", "Prediction: 0")
    assert lines[1] == (
        "Interpretation: Priority" if lines[0].endswith("1") else "Interpretation: Non-priority"
    )
    assert lines[2].startswith("Probability: ")


def test_france_list_as_json(mlflow_uri: str) -> None:
    result = invoke("--task", "france_priority", "--json", EXAMPLES / "france_accidents.json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["model_version"] == "1"
    assert [p["index"] for p in body["predictions"]] == [0, 1]
    assert {p["interpretation"] for p in body["predictions"]} <= {"Priority", "Non-priority"}


def test_list_is_printed_per_record(mlflow_uri: str) -> None:
    result = invoke("--task", "france_priority", EXAMPLES / "france_accidents.json")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Prediction: ") == 2
    assert "Record 1:" in result.stdout


def test_nyc_route(mlflow_uri: str) -> None:
    result = invoke("--task", "nyc_incidents", "--json", EXAMPLES / "nyc_route.json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert len(body["predictions"]) == 6
    assert {"cell", "date", "hour", "expected_incidents"} <= set(body["predictions"][0])
    text = invoke("--task", "nyc_incidents", EXAMPLES / "nyc_points.json")
    assert text.exit_code == 0, text.output
    assert "Point 0: cell 87" in text.stdout


def test_model_version_and_uri(mlflow_uri: str, state_home: Path) -> None:
    registry = reg.Registry(uri=mlflow_uri, root=Path(mlflow_uri.removeprefix("sqlite:///")).parent)
    pipeline, _ = reg.fit_france(seed=3, n_estimators=5)
    reg.register(registry, "france_priority", pipeline, champion=False)
    flat = EXAMPLES / "france_flat_record.json"

    def version_used(*args: str) -> str:
        result = invoke("--task", "france_priority", "--json", *args, flat)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["model_uri"]

    assert version_used() == "models:/france_priority/1"  # the champion
    assert version_used("--model-version", "2") == "models:/france_priority/2"
    assert version_used("--model-uri", "models:/france_priority/2") == "models:/france_priority/2"

    missing = invoke("--task", "france_priority", "--model-version", "9", flat)
    assert missing.exit_code == EXIT_NO_MODEL
    assert "has no version 9" in missing.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON at line 1, column 2"),
        ('{"catu": 3}', "place: Field required"),
        ('[VALID, {**VALID, "catu": "x"}]', "1.catu: Value error, must be a whole number"),
    ],
)
def test_bad_input_names_file_and_field(
    mlflow_uri: str, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    if "VALID" in content:
        valid = json.loads((EXAMPLES / "france_flat_record.json").read_text())
        content = json.dumps([valid, {**valid, "catu": "x"}])
    path.write_text(content)
    result = invoke("--task", "france_priority", path)
    assert result.exit_code == EXIT_BAD_INPUT
    assert str(path) in result.stderr
    assert expected in result.stderr


def test_impossible_date_names_the_record(mlflow_uri: str, tmp_path: Path) -> None:
    record = json.loads((EXAMPLES / "france_flat_record.json").read_text())
    path = tmp_path / "feb31.json"
    path.write_text(json.dumps([record, {**record, "jour": 31, "mois": 2}]))
    result = invoke("--task", "france_priority", path)
    assert result.exit_code == EXIT_BAD_INPUT
    assert str(path) in result.stderr and "  1: " in result.stderr and "jour" in result.stderr


def test_missing_file(mlflow_uri: str, tmp_path: Path) -> None:
    result = invoke("--task", "nyc_incidents", tmp_path / "nope.json")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "nope.json: no such file" in result.stderr


def test_no_champion(empty_mlflow: str) -> None:
    result = invoke("--task", "france_priority", EXAMPLES / "france_flat_record.json")
    assert result.exit_code == EXIT_NO_MODEL
    assert "no champion model for task 'france_priority'" in result.stderr


def test_dash_reads_the_payload_from_stdin(mlflow_uri: str) -> None:
    payload = (EXAMPLES / "nyc_route.json").read_text()
    result = runner.invoke(app, ["--task", "nyc_incidents", "--json", "-"], input=payload)
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["predictions"]) == 6


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "<stdin>: not valid JSON at line 1, column 2"),
        ('{"catu": 3}', "<stdin>: invalid input"),
        ("", "<stdin>: not valid JSON at line 1, column 1"),
    ],
)
def test_stdin_errors_name_stdin(mlflow_uri: str, content: str, expected: str) -> None:
    result = runner.invoke(app, ["--task", "france_priority", "-"], input=content)
    assert result.exit_code == EXIT_BAD_INPUT
    assert expected in result.stderr


@pytest.mark.parametrize("from_stdin", [False, True], ids=["file", "stdin"])
def test_console_script(mlflow_uri: str, from_stdin: bool) -> None:
    """The installed `predict` entry point (pyproject [project.scripts]) in a real process, on a
    file and on standard input (`-`)."""
    example = EXAMPLES / "france_flat_record.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "predict"), "--task", "france_priority"]
        + (["-"] if from_stdin else [str(example)]),
        input=example.read_text() if from_stdin else None,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Prediction: ")
    assert "Interpretation: " in result.stdout


def test_missing_store_is_reported_and_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "nowhere" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    result = invoke("--task", "france_priority", EXAMPLES / "france_flat_record.json")
    assert result.exit_code == EXIT_NO_MODEL
    assert f"MLflow store {db} does not exist" in result.stderr
    assert not db.parent.exists()
