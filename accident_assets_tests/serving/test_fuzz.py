"""Schema-driven fuzz: schemathesis generates requests from the live OpenAPI document; the API
under uvicorn must never answer 5xx, and its answers must match the documented schemas."""

from __future__ import annotations

from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

# Bounded: the whole fuzz stays a few seconds on two cores.
EXAMPLES = {"POST /v1/france_priority/predict": 40, "POST /v1/nyc_incidents/predict": 40}
OTHER_EXAMPLES = 5


def test_openapi_document_is_complete(api_url: str) -> None:
    document = requests.get(f"{api_url}/openapi.json", timeout=30).json()
    france = document["paths"]["/v1/france_priority/predict"]["post"]
    assert set(france["responses"]) >= {"200", "422", "503"}
    flat = document["components"]["schemas"]["FlatRecord"]
    # The flat record lists the France module's 39 fields (+ the reference's hour / victim_age).
    from accident_assets.france.records import FLAT_RECORD_FIELDS

    assert set(FLAT_RECORD_FIELDS) <= set(flat["properties"])
    catu = next(t for t in flat["properties"]["catu"].get("anyOf", [flat["properties"]["catu"]]))
    assert (catu["minimum"], catu["maximum"]) == (1, 3)  # the codebook's range, as the reader's
    assert "NycPoint" in document["components"]["schemas"]


def fuzz(operation, mode: GenerationMode, base_url: str, session: requests.Session) -> Counter:
    """Run the bounded fuzz of one operation; returns the status codes seen."""
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    seen: Counter = Counter()

    @settings(
        max_examples=EXAMPLES.get(operation.label, OTHER_EXAMPLES),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call_and_validate(base_url=base_url, session=session, checks=checks)
        seen[response.status_code] += 1

    run()
    return seen


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_no_server_errors(api_url: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    session = requests.Session()
    statuses: dict[str, Counter] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and operation.label not in EXAMPLES:
            continue  # nothing to make invalid in a request without parameters or body
        statuses[operation.label] = fuzz(operation, mode, api_url, session)
    assert set(EXAMPLES) <= set(statuses)
    # Valid requests must get through to the model, not only bounce off validation.
    if mode is GenerationMode.POSITIVE:
        assert statuses["POST /v1/france_priority/predict"][200] > 0, statuses
