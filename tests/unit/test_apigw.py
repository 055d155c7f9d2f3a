"""local.apigw: requests become the REST API proxy events AWS sends, and results the answers AWS gives."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest

from local.apigw import (
    MAX_PAYLOAD_BYTES,
    HttpRequest,
    HttpResponse,
    InvalidLambdaResponse,
    RouteMatch,
    Router,
    build_event,
    route_not_found,
    to_http_response,
)
from local.handlers import LambdaContext
from local.template import Route, load_template, routes

KEYS = Route("GET", "/v1/byok/keys", "KeysFunction", "functions/keys", None)
KEY = Route("GET", "/v1/byok/keys/{key_id}", "KeysFunction", "functions/keys", None)
KEY_PATCH = Route("PATCH", "/v1/byok/keys/{key_id}", "KeysFunction", "functions/keys", None)
KEY_TEST = Route("POST", "/v1/byok/keys/{key_id}/test", "KeyTestFunction", "functions/key_test", None)
PROVIDERS = Route("GET", "/v1/byok/providers", "KeysFunction", "functions/keys", None)
ANY_ID = Route("GET", "/v1/byok/{thing}", "KeysFunction", "functions/keys", None)
CHAT = Route("POST", "/v1/chat/completions", "ChatFunction", "functions/chat", None)
MODEL = Route("GET", "/v1/models/{model_id+}", "PublicFunction", "functions/public", None)
MODEL_NOTE = Route("GET", "/v1/models/{model_id}/note", "PublicFunction", "functions/public", None)
ROUTES = [KEYS, KEY, KEY_PATCH, KEY_TEST, PROVIDERS, ANY_ID, CHAT, MODEL, MODEL_NOTE]


class Recorder:
    """An invoker that records events and answers with ``result`` (or raises it)."""

    def __init__(self, result: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[LambdaContext] = []
        self.result = result if result is not None else {"statusCode": 200, "body": "{}"}

    def __call__(self, route: Route, event: dict[str, Any], context: LambdaContext) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


def error_of(response: HttpResponse) -> dict[str, Any]:
    body = json.loads(response.body)
    assert set(body) == {"error"}
    assert set(body["error"]) >= {"message", "type", "code", "param"}
    error: dict[str, Any] = body["error"]
    return error


# --- events -------------------------------------------------------------------------------------------------


def test_event_has_the_rest_api_proxy_shape() -> None:
    request = HttpRequest(
        "PATCH",
        "/v1/byok/keys/key_abc?x=1&x=2&empty=&q=a%20b",
        [("Host", "127.0.0.1:3000"), ("Authorization", "Bearer k"), ("Accept", "a"), ("Accept", "b")],
        b'{"name": "n"}',
        source_ip="10.0.0.7",
    )

    event = build_event(request, RouteMatch(KEY_PATCH, {"key_id": "key_abc"}), stage="dev", request_id="rid")

    assert event["resource"] == "/v1/byok/keys/{key_id}"
    assert event["path"] == "/v1/byok/keys/key_abc"
    assert event["httpMethod"] == "PATCH"
    assert event["headers"]["Accept"] == "b"
    assert event["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert event["headers"]["Authorization"] == "Bearer k"
    assert event["headers"]["X-Forwarded-For"] == "10.0.0.7"
    assert event["headers"]["X-Forwarded-Port"] == "3000"
    assert event["queryStringParameters"] == {"x": "2", "empty": "", "q": "a b"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "empty": [""], "q": ["a b"]}
    assert event["pathParameters"] == {"key_id": "key_abc"}
    assert event["stageVariables"] is None
    assert event["body"] == '{"name": "n"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestId"] == "rid"
    assert context["stage"] == "dev"
    assert context["resourcePath"] == "/v1/byok/keys/{key_id}"
    assert context["path"] == "/dev/v1/byok/keys/key_abc"
    assert context["httpMethod"] == "PATCH"
    assert context["identity"]["sourceIp"] == "10.0.0.7"
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["requestTime"].endswith("+0000")


def test_event_without_query_parameters_or_body_has_nulls_like_api_gateway() -> None:
    event = build_event(HttpRequest("GET", "/v1/byok/keys", [("Host", "h")]), RouteMatch(KEYS, {}))

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_event_body_that_is_not_utf8_arrives_base64_encoded() -> None:
    raw = b"\xff\xfe\x00binary"

    event = build_event(HttpRequest("POST", "/v1/chat/completions", [], raw), RouteMatch(CHAT, {}))

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


# --- routing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "route", "parameters"),
    [
        ("GET", "/v1/byok/keys", KEYS, {}),
        ("GET", "/v1/byok/keys/key_1", KEY, {"key_id": "key_1"}),
        ("PATCH", "/v1/byok/keys/key_1", KEY_PATCH, {"key_id": "key_1"}),
        ("POST", "/v1/byok/keys/key_1/test", KEY_TEST, {"key_id": "key_1"}),
        ("GET", "/v1/byok/providers", PROVIDERS, {}),
        ("GET", "/v1/byok/other", ANY_ID, {"thing": "other"}),
        ("GET", "/v1/byok/keys/a%2Fb", KEY, {"key_id": "a/b"}),
        ("GET", "/v1/models/anthropic/claude-sonnet-4.5", MODEL, {"model_id": "anthropic/claude-sonnet-4.5"}),
        ("GET", "/v1/models/anthropic%2Fclaude-sonnet-4.5", MODEL, {"model_id": "anthropic/claude-sonnet-4.5"}),
        ("GET", "/v1/models/claude-sonnet-4-5", MODEL, {"model_id": "claude-sonnet-4-5"}),
        ("GET", "/v1/models/x/note", MODEL_NOTE, {"model_id": "x"}),  # one-segment parameter before greedy
    ],
)
def test_router_matches_static_segments_before_parameters(
    method: str, path: str, route: Route, parameters: dict[str, str]
) -> None:
    match = Router(ROUTES, Recorder()).match(method, path)

    assert match == RouteMatch(route, parameters)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/byok/keys/"),  # trailing slash
        ("GET", "/v1/byok/keys//test"),  # empty parameter
        ("GET", "/v1/byok/keys/a/b"),  # a parameter is one segment
        ("GET", "/v1/models/"),  # a greedy parameter still needs a value
        ("GET", "/v1/models/a//b"),
        ("GET", "/v1/nothing"),
        ("DELETE", "/v1/byok/providers"),  # known path, wrong method
        ("GET", "/v1/chat/completions"),
    ],
)
def test_router_answers_unknown_routes_with_404_in_the_error_shape(method: str, path: str) -> None:
    recorder = Recorder()

    response = Router(ROUTES, recorder).handle(HttpRequest(method, path))

    assert response.status == 404
    assert error_of(response)["type"] == "not_found_error"
    assert error_of(response)["code"] == "route_not_found"
    assert error_of(response)["param"] is None
    assert response.header("x-request-id")
    assert response.header("content-type") == "application/json"
    assert recorder.events == []


def test_wrong_method_on_a_known_path_lists_the_allowed_methods() -> None:
    response = Router(ROUTES, Recorder()).handle(HttpRequest("DELETE", "/v1/byok/keys/key_1"))

    assert response.status == 404
    assert response.header("allow") == "GET, PATCH"


def test_router_from_template_knows_every_template_route() -> None:
    template = load_template()
    router = Router.from_template(template)

    for route in routes(template):
        concrete = route.path.replace("{key_id}", "key_1").replace("{request_id}", "req_1")
        concrete = concrete.replace("{model_id+}", "anthropic/claude-sonnet-4.5")
        match = router.match(route.method, concrete)
        assert match is not None
        assert match.route == route


def test_request_over_the_payload_limit_is_413_and_never_reaches_the_function() -> None:
    recorder = Recorder()

    response = Router(ROUTES, recorder).handle(
        HttpRequest("POST", "/v1/chat/completions", [], b"x" * (MAX_PAYLOAD_BYTES + 1))
    )

    assert response.status == 413
    assert error_of(response)["code"] == "request_too_large"
    assert response.header("x-request-id")
    assert recorder.events == []


def test_handle_passes_the_event_and_a_lambda_context() -> None:
    recorder = Recorder({"statusCode": 201, "headers": {"x-request-id": "req_1"}, "body": '{"ok": true}'})
    router = Router(ROUTES, recorder, function_timeouts_s={"ChatFunction": 60})

    response = router.handle(HttpRequest("POST", "/v1/chat/completions", [("Content-Type", "application/json")], b"{}"))

    assert response.status == 201
    assert response.body == b'{"ok": true}'
    assert recorder.events[0]["resource"] == "/v1/chat/completions"
    assert recorder.events[0]["body"] == "{}"
    context = recorder.contexts[0]
    assert context.function_name == "ChatFunction"
    assert 59_000 < context.get_remaining_time_in_millis() <= 60_000


def test_head_is_answered_like_get() -> None:
    recorder = Recorder()

    response = Router(ROUTES, recorder).handle(HttpRequest("HEAD", "/v1/byok/keys"))

    assert response.status == 200
    assert recorder.events[0]["httpMethod"] == "GET"


def test_function_that_raises_is_a_502_in_the_error_shape() -> None:
    response = Router(ROUTES, Recorder(RuntimeError("boom"))).handle(HttpRequest("GET", "/v1/byok/keys"))

    assert response.status == 502
    assert error_of(response)["code"] == "bad_gateway"
    assert b"boom" not in response.body
    assert response.header("x-request-id")


def test_function_slower_than_the_integration_timeout_is_a_504() -> None:
    release = threading.Event()

    def slow(route: Route, event: dict[str, Any], context: LambdaContext) -> Any:
        release.wait(5)
        return {"statusCode": 200, "body": "{}"}

    router = Router(ROUTES, slow, integration_timeouts_ms={KEYS: 50})
    try:
        response = router.handle(HttpRequest("GET", "/v1/byok/keys"))
    finally:
        release.set()

    assert response.status == 504
    assert error_of(response)["code"] == "timeout"
    assert response.header("x-request-id")


def test_malformed_result_is_a_502() -> None:
    response = Router(ROUTES, Recorder({"statusCode": "teapot"})).handle(HttpRequest("GET", "/v1/byok/keys"))

    assert response.status == 502


# --- results ------------------------------------------------------------------------------------------------


def test_result_merges_headers_with_multi_value_headers_winning() -> None:
    response = to_http_response(
        {
            "statusCode": 200,
            "headers": {"Content-Type": "text/plain", "X-One": "a", "x-both": "single"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-Both": ["multi"]},
            "body": "hi",
        }
    )

    assert response.header("content-type") == "text/plain"
    assert response.header("x-one") == "a"
    assert [v for k, v in response.headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert [v for k, v in response.headers if k.lower() == "x-both"] == ["multi"]
    assert response.body == b"hi"


def test_result_without_content_type_or_body_defaults_like_api_gateway() -> None:
    response = to_http_response({"statusCode": 204, "headers": {"Content-Length": "99"}})

    assert response.status == 204
    assert response.body == b""
    assert response.header("content-type") == "application/json"
    assert response.header("content-length") is None


def test_base64_result_body_is_decoded() -> None:
    response = to_http_response(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\xff").decode(), "isBase64Encoded": True}
    )

    assert response.body == b"\x00\xff"


@pytest.mark.parametrize(
    "result",
    [None, "text", {"statusCode": 700}, {"statusCode": 200, "body": 5}, {"body": "!!", "isBase64Encoded": True}],
)
def test_invalid_results_are_rejected(result: Any) -> None:
    with pytest.raises(InvalidLambdaResponse):
        to_http_response(result)


def test_local_unknown_route_answer_matches_the_deployed_gateway_response() -> None:
    """make dev and API Gateway (template GatewayResponses) must give clients the same 404 error."""
    import re

    responses = load_template()["Resources"]["Api"]["Properties"]["GatewayResponses"]
    deployed = responses["MISSING_AUTHENTICATION_TOKEN"]
    body = re.sub(r"\$context\.\S+", '""', deployed["ResponseTemplates"]["application/json"])
    deployed_error = json.loads(body)["error"]
    local_error = error_of(route_not_found("req_x"))
    assert deployed["StatusCode"] == "404"
    assert (deployed_error["type"], deployed_error["code"]) == (local_error["type"], local_error["code"])
