"""What API Gateway (REST API, Lambda proxy integration) does in front of the functions, in this process.

An HTTP request becomes the exact proxy event the function would get in AWS; the function's result becomes the
HTTP answer API Gateway would send. The errors API Gateway answers itself (no such route, payload too large,
integration failure or timeout) use the OpenAI error shape and carry ``x-request-id``, like the template's
GatewayResponses.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.handlers import LambdaContext, load_handler
from local.template import Route, load_template, parameter_defaults, routes

if TYPE_CHECKING:
    from gateway.http.streaming import StreamedResponse

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's hard limit on a request payload
DEFAULT_STAGE = "dev"
DEFAULT_INTEGRATION_TIMEOUT_MS = 29_000
DEFAULT_FUNCTION_TIMEOUT_S = 3.0
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "local"
# Set by API Gateway itself on the answer; whatever a function returns for these is replaced.
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})

logger = logging.getLogger(__name__)

# (route, event, context) -> the function's raw result
Invoker = Callable[[Route, dict[str, Any], LambdaContext], Any]


@dataclass(frozen=True)
class HttpRequest:
    """One request as it reached the API: ``target`` is the request line's path and query, undecoded."""

    method: str
    target: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"

    @property
    def path(self) -> str:
        return urlsplit(self.target).path or "/"

    @property
    def query(self) -> str:
        return urlsplit(self.target).query


@dataclass
class HttpResponse:
    """``stream``, when set, is the function's streamed answer: the server sends ``body`` items as they are
    produced (chunked) instead of ``body``, and closes the stream when done or when the client went away."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: StreamedResponse | None = None

    def drain(self) -> HttpResponse:
        """Read a streamed answer to its end into ``body`` and close it (what a buffered client sees)."""
        if self.stream is not None:
            try:
                self.body = b"".join(self.stream.body)
            finally:
                self.stream.close()
                self.stream = None
        return self

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        found = [value for key, value in self.headers if key.lower() == wanted]
        return found[-1] if found else None


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


class InvalidLambdaResponse(ValueError):
    """The function returned something API Gateway cannot turn into an HTTP answer (a 502 in AWS)."""


# --- request -> event -------------------------------------------------------------------------------------


def _multi(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]] | None:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped or None


def _last(grouped: dict[str, list[str]] | None) -> dict[str, str] | None:
    return {name: values[-1] for name, values in grouped.items()} if grouped else None


def _header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    found = [value for key, value in headers if key.lower() == name]
    return found[-1] if found else None


def _event_body(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def build_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    stage: str = DEFAULT_STAGE,
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The API Gateway REST API proxy event for ``request`` on ``match.route``.

    As in AWS: ``path`` stays percent-encoded while path and query parameters are decoded; the single-value
    maps keep the last value; empty maps are None; a body that is not UTF-8 arrives base64-encoded.
    """
    request_id = request_id or str(uuid.uuid4())
    epoch = time.time() if now is None else now
    headers = list(request.headers)
    present = {name.lower() for name, _ in headers}
    port = "443"
    host = _header_value(headers, "host")
    if host and ":" in host:
        port = host.rsplit(":", 1)[1]
    forwarded = {
        "X-Forwarded-For": request.source_ip,
        "X-Forwarded-Port": port,
        "X-Forwarded-Proto": "http",
        "X-Amzn-Trace-Id": f"Root=1-{int(epoch):08x}-{uuid.uuid4().hex[:24]}",
    }
    headers += [(name, value) for name, value in forwarded.items() if name.lower() not in present]
    multi_headers = _multi(headers)
    multi_query = _multi(parse_qsl(request.query, keep_blank_values=True))
    body, is_base64 = _event_body(request.body)
    domain = (host or "localhost").split(":")[0]
    return {
        "resource": match.route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": _last(multi_headers),
        "multiValueHeaders": multi_headers,
        "queryStringParameters": _last(multi_query),
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "extendedRequestId": base64.b32encode(uuid.uuid4().bytes).decode()[:16],
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.source_ip,
                "user": None,
                "userAgent": _header_value(headers, "user-agent"),
                "userArn": None,
            },
            "path": f"/{stage}{request.path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": datetime.fromtimestamp(epoch, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(epoch * 1000),
            "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, match.route.path).hex[:6],
            "resourcePath": match.route.path,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


# --- result -> response -----------------------------------------------------------------------------------


def _streamed_http_response(result: StreamedResponse) -> HttpResponse:
    """A streamed answer, as API Gateway's response streaming passes it on: the function's status and headers
    first (hop-by-hop headers are the server's), then the body as it is produced."""
    status = result.status_code
    if not isinstance(status, int) or not 100 <= status <= 599:
        result.close()
        raise InvalidLambdaResponse(f"streamed statusCode {status!r} is out of range")
    merged = {name.lower(): (name, str(value)) for name, value in result.headers.items()}
    headers = [(name, value) for key, (name, value) in merged.items() if key not in _HOP_BY_HOP]
    if "content-type" not in merged:
        headers.append(("Content-Type", "application/octet-stream"))
    return HttpResponse(status=status, headers=headers, stream=result)


def to_http_response(result: Any) -> HttpResponse:
    """The HTTP answer for a proxy result; ``multiValueHeaders`` win over ``headers``, as in AWS. A
    ``StreamedResponse`` passes through unread: its body is the server's to send."""
    from gateway.http.streaming import StreamedResponse

    if isinstance(result, StreamedResponse):
        return _streamed_http_response(result)
    if not isinstance(result, dict):
        raise InvalidLambdaResponse(f"result is {type(result).__name__}, not an object")
    try:
        status = int(result.get("statusCode", 200))
    except (TypeError, ValueError):
        raise InvalidLambdaResponse("statusCode is not an integer") from None
    if not 100 <= status <= 599:
        raise InvalidLambdaResponse(f"statusCode {status} is out of range")
    merged: dict[str, tuple[str, list[str]]] = {}
    for name, value in (result.get("headers") or {}).items():
        merged[name.lower()] = (name, [str(value)])
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise InvalidLambdaResponse(f"multiValueHeaders[{name!r}] is not a list")
        merged[name.lower()] = (name, [str(v) for v in values])
    headers = [(name, value) for key, (name, values) in merged.items() if key not in _HOP_BY_HOP for value in values]
    if "content-type" not in merged:
        headers.append(("Content-Type", "application/json"))
    raw = result.get("body")
    if raw is None:
        body = b""
    elif not isinstance(raw, str):
        raise InvalidLambdaResponse("body is not a string")
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise InvalidLambdaResponse("body is not valid base64") from None
    else:
        body = raw.encode("utf-8")
    return HttpResponse(status=status, headers=headers, body=body)


def gateway_error(status: int, message: str, error_type: str, code: str, request_id: str) -> HttpResponse:
    """An answer API Gateway gives itself, shaped by the template's GatewayResponses."""
    body = {"error": {"message": message, "type": error_type, "code": code, "param": None}}
    return HttpResponse(
        status=status,
        headers=[
            ("Content-Type", "application/json"),
            ("x-request-id", request_id),
            ("x-amzn-RequestId", request_id),
        ],
        body=json.dumps(body).encode(),
    )


def route_not_found(request_id: str) -> HttpResponse:
    return gateway_error(
        404,
        "Unknown route: no such method and path on this API",
        "not_found_error",
        "route_not_found",
        request_id,
    )


def payload_too_large(request_id: str) -> HttpResponse:
    return gateway_error(
        413,
        f"Request body too large: the limit is {MAX_PAYLOAD_BYTES} bytes",
        "invalid_request_error",
        "request_too_large",
        request_id,
    )


# --- routing ----------------------------------------------------------------------------------------------


def _segments(path: str) -> list[str]:
    return path.split("/")[1:]


def match_path(template_path: str, path: str) -> dict[str, str] | None:
    """Path parameters if ``path`` fits ``template_path``; ``{name}`` takes exactly one non-empty segment and a
    greedy last ``{name+}`` all the rest (one or more segments), as API Gateway's proxy resources do."""
    wanted, given = _segments(template_path), _segments(path)
    greedy = bool(wanted) and wanted[-1].startswith("{") and wanted[-1].endswith("+}")
    if greedy and len(given) >= len(wanted):
        given = [*given[: len(wanted) - 1], "/".join(given[len(wanted) - 1 :])]
    if len(wanted) != len(given):
        return None
    parameters: dict[str, str] = {}
    for pattern, segment in zip(wanted, given, strict=True):
        if pattern.startswith("{") and pattern.endswith("}"):
            if not segment or "" in segment.split("/"):
                return None
            parameters[pattern[1:-1].removesuffix("+")] = unquote(segment)
        elif pattern != segment:
            return None
    return parameters


def _specificity(template_path: str) -> tuple[int, ...]:
    """Static segments rank before parameters at the same position, and parameters before a greedy one, as
    API Gateway picks resources."""
    return tuple((2 if s.endswith("+}") else 1) if s.startswith("{") else 0 for s in _segments(template_path))


def _resolve_number(value: Any, parameters: Mapping[str, str], default: float) -> float:
    if isinstance(value, dict) and "Ref" in value:
        value = parameters.get(str(value["Ref"]))
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _default_invoker(route: Route, event: dict[str, Any], context: LambdaContext) -> Any:
    return load_handler(route.code_dir)(event, context)


class Router:
    """Routes requests to the template's functions and speaks API Gateway's side of the proxy integration."""

    def __init__(
        self,
        api_routes: Sequence[Route],
        invoke: Invoker = _default_invoker,
        *,
        stage: str = DEFAULT_STAGE,
        integration_timeouts_ms: Mapping[Route, float] | None = None,
        function_timeouts_s: Mapping[str, float] | None = None,
    ) -> None:
        self._routes = sorted(api_routes, key=lambda r: _specificity(r.path))
        self._invoke = invoke
        self.stage = stage
        self._integration_timeouts_ms = dict(integration_timeouts_ms or {})
        self._function_timeouts_s = dict(function_timeouts_s or {})

    @classmethod
    def from_template(cls, template: dict[str, Any] | None = None, *, stage: str = DEFAULT_STAGE) -> Router:
        template = template if template is not None else load_template()
        parameters = {**parameter_defaults(template), "Stage": stage}
        api_routes = routes(template)
        integration = {
            route: _resolve_number(
                {"Ref": route.timeout_ms_param} if route.timeout_ms_param else None,
                parameters,
                DEFAULT_INTEGRATION_TIMEOUT_MS,
            )
            for route in api_routes
        }
        global_timeout = template.get("Globals", {}).get("Function", {}).get("Timeout")
        resources = template.get("Resources", {})
        function_timeouts = {
            route.function: _resolve_number(
                resources[route.function].get("Properties", {}).get("Timeout", global_timeout),
                parameters,
                DEFAULT_FUNCTION_TIMEOUT_S,
            )
            for route in api_routes
        }
        return cls(
            api_routes,
            stage=stage,
            integration_timeouts_ms=integration,
            function_timeouts_s=function_timeouts,
        )

    @property
    def routes(self) -> list[Route]:
        return list(self._routes)

    def match(self, method: str, path: str) -> RouteMatch | None:
        for route in self._routes:
            if route.method not in (method, "ANY"):
                continue
            parameters = match_path(route.path, path)
            if parameters is not None:
                return RouteMatch(route, parameters)
        return None

    def allowed_methods(self, path: str) -> list[str]:
        return sorted({r.method for r in self._routes if match_path(r.path, path) is not None})

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        method = request.method.upper()
        match = self.match(method, request.path)
        if match is None and method == "HEAD":
            # Answered as GET without a body (the server drops it), so HEAD health checks work.
            match = self.match("GET", request.path)
        if match is None:
            response = route_not_found(request_id)
            allowed = self.allowed_methods(request.path)
            if allowed:
                response.headers.append(("Allow", ", ".join(allowed)))
            return response
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return payload_too_large(request_id)
        event = build_event(request, match, stage=self.stage, request_id=request_id)
        if method == "HEAD":
            event["httpMethod"] = event["requestContext"]["httpMethod"] = "GET"
        response = self._call(match.route, event, request_id)
        response.headers.append(("x-amzn-RequestId", request_id))
        return response

    def _call(self, route: Route, event: dict[str, Any], request_id: str) -> HttpResponse:
        context = LambdaContext(
            function_name=route.function,
            timeout_s=self._function_timeouts_s.get(route.function, DEFAULT_FUNCTION_TIMEOUT_S),
        )
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = self._invoke(route, event, context)
            except BaseException as exc:  # the Lambda runtime reports any escape as a failed invocation
                outcome["error"] = exc

        worker = threading.Thread(target=run, name=f"invoke-{route.function}", daemon=True)
        worker.start()
        timeout_ms = self._integration_timeouts_ms.get(route, DEFAULT_INTEGRATION_TIMEOUT_MS)
        worker.join(timeout_ms / 1000)
        if worker.is_alive():
            logger.error("%s did not answer within the %d ms integration timeout", route.function, timeout_ms)
            return gateway_error(
                504,
                "The gateway timed out waiting for the request to finish",
                "api_error",
                "timeout",
                request_id,
            )
        if "error" in outcome:
            error = outcome["error"]
            logger.error("%s failed: %s", route.function, type(error).__name__, exc_info=error)
            return self._integration_failure(request_id)
        try:
            return to_http_response(outcome.get("result"))
        except InvalidLambdaResponse as exc:
            logger.error("%s returned a malformed proxy result: %s", route.function, exc)
            return self._integration_failure(request_id)

    @staticmethod
    def _integration_failure(request_id: str) -> HttpResponse:
        return gateway_error(502, "The gateway failed to process the request", "api_error", "bad_gateway", request_id)
