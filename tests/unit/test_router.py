"""gateway.http.router and the app ``create_app`` builds on it: what a caller sees of routing, path parameters,
unknown routes, request bodies and headers, error answers and the proxy result Lambda returns."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from gateway.core.errors import GatewayError, RateLimited
from gateway.http.resolver import create_app, handler, json_body
from gateway.http.router import App, Response, compile_rule
from gateway.http.streaming import StreamedResponse


def event(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    base64_body: bool = False,
    query: dict[str, list[str]] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API proxy event as API Gateway sends it."""
    headers = headers or {}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {name: [value] for name, value in headers.items()} or None,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {"requestId": "apigw-1", "stage": "dev", "httpMethod": method, "path": f"/dev{path}"},
        "body": body,
        "isBase64Encoded": base64_body,
    }


def answer_of(result: Any) -> tuple[int, dict[str, list[str]], Any]:
    assert isinstance(result, dict)
    body = result["body"]
    return result["statusCode"], result["multiValueHeaders"], json.loads(body) if body else None


def key_routes() -> App:
    app = create_app()

    @app.get("/v1/keys/<key_id>")
    def get_key(key_id: str) -> dict[str, Any]:
        return {"route": "get", "key_id": key_id}

    @app.delete("/v1/keys/<key_id>")
    def delete_key(key_id: str) -> Response:
        return Response(status_code=204, body="")

    @app.get("/v1/keys/<key_id>/uses/<use_id>")
    def get_use(key_id: str, use_id: str) -> dict[str, Any]:
        return {"key_id": key_id, "use_id": use_id}

    @app.get("/v1/keys/default")
    def default_key() -> dict[str, Any]:
        return {"route": "default"}

    return app


def test_a_route_gets_its_path_parameters_as_sent() -> None:
    # Given routes with one and two path parameters
    app = key_routes()
    # When paths with those segments are resolved
    one = answer_of(app.resolve(event("GET", "/v1/keys/key_1a"), None))
    two = answer_of(app.resolve(event("GET", "/v1/keys/key_1a/uses/u-2"), None))
    encoded = answer_of(app.resolve(event("GET", "/v1/keys/KEY%23key_x"), None))
    # Then each route answers with its segments (percent-encoding left as API Gateway sent the path)
    assert one == (200, {"Content-Type": ["application/json"]}, {"route": "get", "key_id": "key_1a"})
    assert two[2] == {"key_id": "key_1a", "use_id": "u-2"}
    assert encoded[2] == {"route": "get", "key_id": "KEY%23key_x"}


def test_a_static_route_wins_over_a_parameter_registered_before_it() -> None:
    app = key_routes()
    assert answer_of(app.resolve(event("GET", "/v1/keys/default"), None))[2] == {"route": "default"}


def test_a_trailing_slash_reaches_the_same_route() -> None:
    app = key_routes()
    assert answer_of(app.resolve(event("GET", "/v1/keys/key_1a/"), None))[2] == {"route": "get", "key_id": "key_1a"}


def test_the_method_picks_the_route() -> None:
    app = key_routes()
    status, headers, body = answer_of(app.resolve(event("DELETE", "/v1/keys/key_1a"), None))
    assert (status, body) == (204, None)
    assert "Content-Type" not in headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nothing"),
        ("GET", "/v1/keys/a/b"),  # a parameter is one segment
        ("GET", "/v1/keys/"),  # an empty segment is no parameter
        ("POST", "/v1/keys/key_1a"),  # a path the function serves, with a method it does not
        ("PUT", "/v1/keys/default"),
    ],
)
def test_an_unrouted_request_is_a_404_in_the_api_error_shape(method: str, path: str) -> None:
    # Given the app of a function
    app = key_routes()
    # When a request matches no route of its method
    status, headers, body = answer_of(app.resolve(event(method, path), None))
    # Then it is a 404 in the OpenAI error shape (no 405: API Gateway routes methods to functions)
    assert status == 404
    assert headers["Content-Type"] == ["application/json"]
    assert (body["error"]["type"], body["error"]["code"]) == ("not_found_error", "route_not_found")


def test_an_unrouted_request_uses_the_function_error_shape() -> None:
    app = create_app(error_shape=lambda error: {"type": "error", "error": {"type": error.error_type}})
    status, _, body = answer_of(app.resolve(event("GET", "/v1/none"), None))
    assert (status, body) == (404, {"type": "error", "error": {"type": "not_found_error"}})


def test_a_rule_is_a_regular_expression() -> None:
    # public's GET /v1/models/.+ takes ids that hold a "/" (API Gateway's greedy {model_id+})
    app = create_app()

    @app.get("/v1/models/.+")
    def get_model() -> dict[str, Any]:
        return {"id": app.current_event.path_parameters["model_id"]}

    request = event("GET", "/v1/models/anthropic/claude-sonnet-4.5", path_parameters={"model_id": "a/b"})
    assert answer_of(app.resolve(request, None))[2] == {"id": "a/b"}
    assert answer_of(app.resolve(event("GET", "/v1/models/"), None))[0] == 404
    assert compile_rule("/v1/keys/<key_id>").match("/v1/keys/k~1.(x)") is not None


def body_echo() -> App:
    app = create_app()

    @app.post("/echo")
    def echo() -> dict[str, Any]:
        return json_body(app)

    return app


def test_a_base64_body_is_decoded() -> None:
    app = body_echo()
    raw = base64.b64encode(json.dumps({"text": "héllo"}).encode()).decode()
    request = event("POST", "/echo", headers={"Content-Type": "application/json"}, body=raw, base64_body=True)
    assert answer_of(app.resolve(request, None)) == (200, {"Content-Type": ["application/json"]}, {"text": "héllo"})


@pytest.mark.parametrize("raw", [base64.b64encode(b'{"a": "\xff"}').decode(), "not base64!"])
def test_a_base64_body_that_is_not_utf8_json_is_a_400(raw: str) -> None:
    app = body_echo()
    request = event("POST", "/echo", headers={"content-type": "application/json"}, body=raw, base64_body=True)
    status, _, body = answer_of(app.resolve(request, None))
    assert status == 400
    assert body["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("name", ["content-type", "Content-Type", "CONTENT-TYPE"])
def test_header_names_are_case_insensitive(name: str) -> None:
    app = body_echo()
    json_request = event("POST", "/echo", headers={name: "application/json; charset=utf-8"}, body='{"a":1}')
    text_request = event("POST", "/echo", headers={name: "text/plain"}, body='{"a":1}')
    assert answer_of(app.resolve(json_request, None))[2] == {"a": 1}
    assert answer_of(app.resolve(text_request, None))[0] == 415


def test_query_parameters_single_and_multi_value() -> None:
    app = create_app()

    @app.get("/q")
    def query() -> dict[str, Any]:
        current = app.current_event
        return {
            "last": current.query_string_parameters,
            "all": current.multi_value_query_string_parameters,
            "missing": current.get_query_string_value("nope", "dflt"),
            "stage": current.request_context["stage"],
        }

    result = answer_of(app.resolve(event("GET", "/q", query={"tag": ["a", "b"]}), None))[2]
    assert result == {"last": {"tag": "b"}, "all": {"tag": ["a", "b"]}, "missing": "dflt", "stage": "dev"}
    empty = answer_of(app.resolve(event("GET", "/q"), None))[2]
    assert (empty["last"], empty["all"]) == ({}, {})


def failing(error: Exception) -> App:
    app = create_app()

    @app.get("/fail")
    def fail() -> dict[str, Any]:
        raise error

    return app


def test_a_gateway_error_is_answered_with_its_status_shape_and_headers() -> None:
    error = RateLimited("slow down", headers={"retry-after": "7"})
    status, headers, body = answer_of(failing(error).resolve(event("GET", "/fail"), None))
    assert status == 429
    assert headers["retry-after"] == ["7"]
    assert body["error"] == error.body()["error"]


def test_an_unexpected_error_is_a_500_that_does_not_repeat_its_message() -> None:
    secret = "sk-proj-Qx81hZlJv0Tt2mJdS4YbE3fWkLr9"
    status, _, body = answer_of(failing(ValueError(f"bad {secret}")).resolve(event("GET", "/fail"), None))
    assert status == 500
    assert body["error"]["message"] == "internal error"
    assert secret not in json.dumps(body)


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "PutItem")


@pytest.mark.parametrize(
    "error",
    [_client_error("ProvisionedThroughputExceededException"), EndpointConnectionError(endpoint_url="http://x")],
)
def test_aws_busy_or_unreachable_is_a_503_to_retry(error: Exception) -> None:
    status, headers, body = answer_of(failing(error).resolve(event("GET", "/fail"), None))
    assert status == 503
    assert headers["retry-after"] == ["1"]
    assert body["error"]["code"] == "service_unavailable"


def test_an_aws_error_that_is_our_bug_is_a_500() -> None:
    status, _, body = answer_of(failing(_client_error("AccessDeniedException")).resolve(event("GET", "/fail"), None))
    assert (status, body["error"]["message"]) == (500, "internal error")


def test_the_nearest_exception_handler_wins_and_an_unhandled_error_propagates() -> None:
    app = App()

    @app.exception_handler(Exception)
    def anything(error: Exception) -> Response:
        return Response(500, "application/json", {"handled_by": "Exception"})

    @app.exception_handler([LookupError])
    def lookups(error: LookupError) -> Response:
        return Response(404, "application/json", {"handled_by": "LookupError"})

    @app.get("/key")
    def key() -> dict[str, Any]:
        raise KeyError("k")

    @app.get("/exit")
    def leave() -> dict[str, Any]:
        raise SystemExit(1)

    assert answer_of(app.resolve(event("GET", "/key"), None))[1:] == (
        {"Content-Type": ["application/json"]},
        {"handled_by": "LookupError"},
    )
    with pytest.raises(SystemExit):
        app.resolve(event("GET", "/exit"), None)


def test_the_handler_stamps_a_request_id_on_every_answer() -> None:
    app = failing(GatewayError("nope", status=409))
    lambda_handler = handler(app)
    first = lambda_handler(event("GET", "/fail"), None)
    second = lambda_handler(event("GET", "/unknown"), None)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert (first["statusCode"], second["statusCode"]) == (409, 404)
    ids = [first["multiValueHeaders"]["x-request-id"], second["multiValueHeaders"]["x-request-id"]]
    assert all(len(values) == 1 and values[0] for values in ids)
    assert ids[0] != ids[1]


def test_a_streamed_answer_is_handed_back_unread_with_its_request_id() -> None:
    # Given a route that answers with a stream
    app = create_app()
    produced: list[str] = []

    def body() -> Any:
        produced.append("first")
        yield b"data: 1\n\n"

    @app.post("/stream")
    def stream() -> StreamedResponse:
        return StreamedResponse(200, {"content-type": "text/event-stream"}, body())

    # When the function's handler answers it (outside Lambda: the caller streams)
    result = handler(app)(event("POST", "/stream"), None)

    # Then the stream comes back as it is, not yet read, with the request id among its headers
    assert isinstance(result, StreamedResponse)
    assert produced == []
    assert result.headers["content-type"] == "text/event-stream"
    assert result.headers["x-request-id"]
    assert list(result.body) == [b"data: 1\n\n"]


def test_the_proxy_result_serialises_what_a_route_returns() -> None:
    app = App()

    @app.get("/decimal")
    def decimal() -> dict[str, Any]:
        return {"balance": Decimal("1.50")}

    @app.get("/bytes")
    def raw() -> Response:
        return Response(200, "application/octet-stream", b"\x00\xff", headers={"Set-Cookie": ["a=1", "b=2"]})

    @app.get("/text")
    def text() -> Response:
        return Response(201, "application/json", '{"already":"json"}', headers={"Content-Type": "application/x"})

    assert answer_of(app.resolve(event("GET", "/decimal"), None))[2] == {"balance": "1.50"}
    result = app.resolve(event("GET", "/bytes"), None)
    assert isinstance(result, dict)
    assert result["isBase64Encoded"] is True
    assert base64.b64decode(result["body"]) == b"\x00\xff"
    assert result["multiValueHeaders"]["Set-Cookie"] == ["a=1", "b=2"]
    text_result = app.resolve(event("GET", "/text"), None)
    assert isinstance(text_result, dict)
    assert text_result["statusCode"] == 201
    assert text_result["body"] == '{"already":"json"}'
    assert text_result["multiValueHeaders"]["Content-Type"] == ["application/x"]
