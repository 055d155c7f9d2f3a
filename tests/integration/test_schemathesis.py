"""Property-based API tests: schemathesis generates requests from openapi.yaml and sends them to the real handlers.

Given the dev-stack wiring (the ``api`` fixture: handlers behind the local API Gateway, moto, and the provider
simulator in strict mode) and one customer's gateway key, every operation of the spec gets a bounded number of
generated requests, valid ones and invalid ones. Each answer must not be a server error and must conform to the
spec: a documented status code, a documented content type, the documented body schema and the required
``x-request-id`` header.

All operations run inside one test: the fixtures are function-scoped (a fresh moto per test), and one stack for
the whole run keeps it inside about a minute on two cores. Failures of every operation are gathered and reported
together, each with the request that reproduces it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.template import load_template, routes
from tests.conftest import Gateway

pytestmark = pytest.mark.slow

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
MAX_EXAMPLES = 15  # per pass; an operation has two or three passes
CHAT_EXAMPLES_FACTOR = 3  # the chat body is by far the largest input, and the only one that reaches providers
# Catalog models that the simulator serves with shared capacity, so generated chat bodies reach the providers.
CATALOG_MODELS = (
    "anthropic/claude-sonnet-4.5",
    "google/gemini-3-flash",
    "deepseek/deepseek-v3.2",
    "openai/gpt-5-mini",
)
CHAT = "POST /v1/chat/completions"
# A chat completion may legitimately end in 502/504 when every upstream attempt fails (documented in the spec);
# such an answer is still checked against the schema. Any other 5xx, and any 5xx elsewhere, is a bug.
UPSTREAM_FAILURE_STATUSES = frozenset({502, 504})
SCHEMA_CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _post(api_url: str, api_key: str, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{api_url}{path}", json=body, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)


def _seed(api_url: str, api_key: str) -> dict[str, str]:
    """A real key id, request id and stored response id, so generated requests also reach past the 404s."""
    key = _post(api_url, api_key, "/v1/byok/keys", {"provider": "openai", "credentials": "sk-schemathesis-0001"})
    assert key.status_code == 201, key.text
    chat = _post(
        api_url,
        api_key,
        "/v1/chat/completions",
        {"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.status_code == 200, chat.text
    response = _post(api_url, api_key, "/v1/responses", {"model": "openai/gpt-5-mini", "input": "hi"})
    assert response.status_code == 200, response.text
    return {
        "key_id": key.json()["id"],
        "request_id": chat.headers["x-request-id"],
        "response_id": response.json()["id"],
    }


def _with_catalog_model(case: Case, model: str | None) -> Case:
    if model is not None and isinstance(case.body, dict) and "model" in case.body:
        case.body = {**case.body, "model": model}
    return case


def _passes(operation: Any, auth: dict[str, str], seeded: dict[str, str]) -> list[st.SearchStrategy[Case]]:
    """Valid requests, invalid ones, and (for routes with an id) valid ones that name an existing resource."""
    passes = [
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE, headers=auth),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, headers=auth),
    ]
    names = {parameter.name for parameter in operation.path_parameters}
    known = {name: seeded[name] for name in names if name in seeded}
    if known:
        passes.append(operation.as_strategy(headers=auth, path_parameters=known))
    if operation.label == CHAT:
        # Random model ids are a 404 before any upstream call; most valid bodies should reach a provider.
        models = st.sampled_from((None, *CATALOG_MODELS))
        passes[0] = st.builds(_with_catalog_model, passes[0], models)
    return passes


def _is_upstream_failure(case: Case, response: Any) -> bool:
    if case.operation.label != CHAT or response.status_code not in UPSTREAM_FAILURE_STATUSES:
        return False
    try:
        return json.loads(response.content)["error"]["code"] == "all_attempts_failed"
    except (ValueError, KeyError, TypeError):
        return False


def _run_operation(
    strategy: st.SearchStrategy[Case], send: Callable[[Case], Any], upstream_failures: list[str], examples: int
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        # No shrinking: it would replay failing requests for an unbounded time; the report names the request.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=True,
    )
    @given(case=strategy)
    def check(case: Case) -> None:
        response = send(case)
        if _is_upstream_failure(case, response):
            upstream_failures.append(f"{response.status_code} {response.content[:300]!r}")
            case.validate_response(response, checks=SCHEMA_CHECKS)
        else:
            case.validate_response(response, checks=[not_a_server_error, *SCHEMA_CHECKS])

    check()


def test_every_operation_conforms_to_the_spec(api: Any, gateway: Gateway) -> None:
    # Given the spec, the live API and a customer with one key and one logged request
    schema = schemathesis.openapi.from_path(SPEC_PATH)
    auth = {"Authorization": f"Bearer {gateway.api_key}"}
    seeded = _seed(api.url, gateway.api_key)
    session = requests.Session()

    def send(case: Case) -> Any:
        return case.call(base_url=api.url, session=session, timeout=30)

    # When each operation gets its generated requests (DELETE last: it removes the seeded key)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()), key=lambda op: op.method.upper() == "DELETE"
    )
    failures: dict[str, str] = {}
    upstream_failures: list[str] = []
    for operation in operations:
        examples = MAX_EXAMPLES * (CHAT_EXAMPLES_FACTOR if operation.label == CHAT else 1)
        for number, strategy in enumerate(_passes(operation, auth, seeded), start=1):
            try:
                _run_operation(strategy, send, upstream_failures, examples)
            except Unsatisfiable:
                continue  # nothing in the request can be made invalid (no parameters, no body): no negative pass
            # Every operation runs; schemathesis raises its failures as an exception group, reported below.
            except (Exception, BaseExceptionGroup) as exc:
                failures[f"{operation.label} (pass {number})"] = f"{type(exc).__name__}: {exc}"

    # Then no answer was a server error or strayed from the spec
    assert len(operations) == len(routes(load_template())), "an operation of the spec was not tested"
    report = "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
    assert not failures, f"{len(failures)} operation(s) failed:\n\n{report}"
    # Valid requests against a healthy simulator should mostly succeed; a flood of upstream failures hides bugs.
    assert len(upstream_failures) <= MAX_EXAMPLES // 4, upstream_failures
