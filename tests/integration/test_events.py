"""events/*.json: one API Gateway REST proxy event per route, each one a working example for `sam local invoke`.

Every route of the template has an event and every event belongs to a route. Each event, fed to its function's
handler with the test customer's key (and, for routes with an id in the path, an id created first), gets a
successful answer with x-request-id; without a key, every /v1 event is a 401 in its API's error shape (OpenAI's,
or Anthropic's for the Messages routes).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from local.apigw import HttpResponse, match_path, to_http_response
from local.handlers import LambdaContext, load_handler
from local.template import TEMPLATE_PATH, Route, load_template, routes
from tests.conftest import Gateway

EVENTS_DIR = TEMPLATE_PATH.parent / "events"
PLACEHOLDER_KEY = "gwk_0000000000000000_example"
ROUTES = routes(load_template())
EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))
MESSAGES_ROUTES = [r for r in ROUTES if r.path.startswith("/v1/messages")]


def load_event(name: str) -> dict[str, Any]:
    data = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def route_of(event: dict[str, Any]) -> Route | None:
    for route in ROUTES:
        if (route.method, route.path) == (event.get("httpMethod"), event.get("resource")):
            return route
    return None


def invoke(event: dict[str, Any]) -> HttpResponse:
    route = route_of(event)
    assert route is not None
    result = load_handler(route.code_dir)(event, LambdaContext(function_name=route.function, timeout_s=30))
    return to_http_response(result).drain()


def with_authorization(event: dict[str, Any], value: str | None) -> dict[str, Any]:
    """A copy of ``event`` whose Authorization header is ``value`` (None: no header at all)."""
    event = copy.deepcopy(event)
    for name in [n for n in event["headers"] if n.lower() == "authorization"]:
        del event["headers"][name]
        del event["multiValueHeaders"][name]
    if value is not None:
        event["headers"]["Authorization"] = value
        event["multiValueHeaders"]["Authorization"] = [value]
    return event


def with_path_parameter(event: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    placeholder = event["pathParameters"][name]
    event["pathParameters"][name] = value
    event["path"] = event["path"].replace(placeholder, value)
    event["requestContext"]["path"] = event["requestContext"]["path"].replace(placeholder, value)
    return event


def json_body(response: HttpResponse) -> Any:
    return json.loads(response.body)


def create_key_id(api_key: str, kind: str = "keys") -> str:
    """A new BYOK key's id (``keys``), or a new gateway API key's (``api_keys``), made with that create event."""
    response = invoke(with_authorization(load_event(f"{kind}_create"), f"Bearer {api_key}"))
    assert response.status == 201, response.body
    key_id = json_body(response)["id"]
    assert isinstance(key_id, str)
    return key_id


def create_request_id(api_key: str) -> str:
    response = invoke(with_authorization(load_event("chat_completions"), f"Bearer {api_key}"))
    assert response.status == 200, response.body
    request_id = response.header("x-request-id")
    assert request_id
    return request_id


def create_response_id(api_key: str) -> str:
    response = invoke(with_authorization(load_event("responses_create"), f"Bearer {api_key}"))
    assert response.status == 200, response.body
    response_id = json_body(response)["id"]
    assert isinstance(response_id, str)
    return response_id


def assert_error_shape(response: HttpResponse) -> None:
    body = json_body(response)
    if body.get("type") == "error":  # Anthropic's shape, on /v1/messages
        assert set(body["error"]) == {"type", "message"} and body["error"]["message"]
        return
    error = body["error"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["type"], str)
    assert "code" in error
    assert "param" in error


def test_every_route_has_an_event() -> None:
    covered = {route_of(json.loads(path.read_text())) for path in EVENT_FILES}
    missing = [f"{r.method} {r.path}" for r in ROUTES if r not in covered]
    assert not missing, f"routes without an event in events/: {missing}"


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.stem)
def test_event_is_a_rest_api_proxy_event_of_a_route(path: Path) -> None:
    event = json.loads(path.read_text())

    route = route_of(event)

    assert route is not None, f"{path.name}: {event.get('httpMethod')} {event.get('resource')} is no template route"
    context = event["requestContext"]
    assert context["resourcePath"] == event["resource"]
    assert context["httpMethod"] == event["httpMethod"]
    assert context["path"] == f"/{context['stage']}{event['path']}"
    assert event["stageVariables"] is None
    assert event["isBase64Encoded"] is False
    parameters = match_path(route.path, event["path"])  # a greedy {name+} takes the rest, "/" and all
    assert parameters is not None
    assert event["pathParameters"] == (parameters or None)
    assert event["headers"] == {name: values[-1] for name, values in event["multiValueHeaders"].items()}
    multi_query = event["multiValueQueryStringParameters"]
    expected_query = {k: v[-1] for k, v in multi_query.items()} if multi_query else None
    assert event["queryStringParameters"] == expected_query
    authorization = event["headers"].get("Authorization")
    if route.path.startswith("/v1/"):
        assert authorization == f"Bearer {PLACEHOLDER_KEY}"
    else:
        assert authorization is None
    if event["body"] is not None:
        assert isinstance(json.loads(event["body"]), dict)
        assert event["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.stem)
def test_event_succeeds_through_its_handler(path: Path, gateway: Gateway) -> None:
    # Given the event with the test customer's key, and the ids its path needs
    event = json.loads(path.read_text())
    if event["headers"].get("Authorization"):
        event = with_authorization(event, f"Bearer {gateway.api_key}")
    parameters = event["pathParameters"] or {}
    if "key_id" in parameters:
        kind = "api_keys" if "/v1/api-keys/" in event["path"] else "keys"
        event = with_path_parameter(event, "key_id", create_key_id(gateway.api_key, kind))
    if "request_id" in parameters:
        event = with_path_parameter(event, "request_id", create_request_id(gateway.api_key))
    if "response_id" in parameters:
        event = with_path_parameter(event, "response_id", create_response_id(gateway.api_key))

    # When its function handles it
    response = invoke(event)

    # Then the answer is a success with a request id, and a readable body
    assert 200 <= response.status < 300, f"{path.name}: {response.status} {response.body[:500]!r}"
    assert response.header("x-request-id")
    content_type = response.header("content-type") or ""
    if response.status == 204:
        assert response.body == b""
    elif content_type.startswith("text/event-stream") and event["resource"] == "/v1/responses":
        assert response.body.rstrip().split(b"\n")[0] == b"event: response.created"
        assert b"event: response.completed" in response.body.rstrip().split(b"\n")[-2]
    elif content_type.startswith("text/event-stream") and route_of(event) in MESSAGES_ROUTES:
        assert response.body.rstrip().endswith(b'event: message_stop\ndata: {"type":"message_stop"}')
    elif content_type.startswith("text/event-stream"):
        assert response.body.rstrip().endswith(b"data: [DONE]")
    elif not content_type.startswith("application/json"):  # the dashboard's page and assets
        assert response.body.strip()
    else:
        assert isinstance(json_body(response), dict)


V1_EVENT_FILES = [p for p in EVENT_FILES if json.loads(p.read_text())["resource"].startswith("/v1/")]


@pytest.mark.parametrize("path", V1_EVENT_FILES, ids=lambda p: p.stem)
def test_event_without_a_key_is_unauthorized(path: Path, gateway: Gateway) -> None:
    event = with_authorization(json.loads(path.read_text()), None)

    response = invoke(event)

    assert response.status == 401
    assert response.header("x-request-id")
    assert_error_shape(response)


@pytest.mark.parametrize("path", V1_EVENT_FILES, ids=lambda p: p.stem)
def test_event_with_the_placeholder_key_is_unauthorized(path: Path, gateway: Gateway) -> None:
    response = invoke(json.loads(path.read_text()))

    assert response.status == 401
    assert response.header("x-request-id")
    assert_error_shape(response)
