"""HTTP plumbing shared by every function: the resolver, errors in the OpenAI shape, auth, body parsing.

Handlers stay thin: ``app = create_app()``, routes that call domain code, and ``lambda_handler = handler(app)``.
Domain code raises ``GatewayError`` subclasses; this module turns them into HTTP answers. Every response,
error or not, carries ``x-request-id``.
"""

from __future__ import annotations

import base64
import contextvars
import json
import re
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as AwsConnectionError
from pydantic import BaseModel, ValidationError

from gateway.core.catalog import Endpoint
from gateway.core.errors import (
    BadRequest,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from gateway.core.ids import new_request_id
from gateway.core.observability import logger
from gateway.core.settings import get_settings
from gateway.data import accounts, api_keys, pending_record
from gateway.http.streaming import StreamedResponse, lambda_entry

T = TypeVar("T", bound=BaseModel)

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# A route that answers with a stream parks it here; ``handler`` returns it instead of the resolver's dict.
_streamed: contextvars.ContextVar[StreamedResponse | None] = contextvars.ContextVar("streamed", default=None)
MAX_JSON_DEPTH = 64
# AWS answers that mean "busy, try again" (left after botocore's own retries): the caller may retry, so 503.
RETRYABLE_AWS_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
RETRY_AFTER_S = "1"


def request_id() -> str:
    return _request_id.get()


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":"), default=str),
        headers=headers,
    )


def stream_response(streamed: StreamedResponse) -> Response:
    """Answer the current request with ``streamed``: the route returns this placeholder, and the Lambda entry
    point returns the stream itself (the resolver only knows whole bodies)."""
    _streamed.set(streamed)
    return Response(status_code=streamed.status_code, body="")


ErrorShape = Callable[[GatewayError], dict[str, Any]]


_event: contextvars.ContextVar[APIGatewayProxyEvent] = contextvars.ContextVar("event")
_lambda_context: contextvars.ContextVar[Any] = contextvars.ContextVar("lambda_context")


class _Resolver(APIGatewayRestResolver):
    """Powertools keeps the current event in a class attribute shared by every resolver of the process. Lambda
    runs one invocation per process at a time, but the dev server and the tests run handlers on concurrent
    threads, where one request would read another's event (its query, body, even its API key). This resolver
    keeps the event and context per thread of execution instead."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        event_token = _event.set(cast(APIGatewayProxyEvent, self._to_proxy_event(dict(event))))
        context_token = _lambda_context.set(context)
        try:
            return super().resolve(event, context)
        finally:
            _event.reset(event_token)
            _lambda_context.reset(context_token)

    def _build_response(self, response_builder: Any) -> dict[str, Any]:
        # A route that answered with a stream returns a placeholder: ``handler`` answers with the stream itself
        # and never reads a proxy dict, so building one (headers re-read from the event, compression checks,
        # serialisation) would only delay the first byte.
        if _streamed.get() is not None:
            return {}
        result: dict[str, Any] = super()._build_response(response_builder)
        return result

    @property  # type: ignore[override]  # BaseRouter and the REST resolver declare different event types
    def current_event(self) -> APIGatewayProxyEvent:
        return _event.get()

    @current_event.setter
    def current_event(self, value: APIGatewayProxyEvent) -> None:
        _event.set(value)

    @property
    def lambda_context(self) -> Any:
        return _lambda_context.get()

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        _lambda_context.set(value)


def openai_error(error: GatewayError) -> dict[str, Any]:
    return error.body()


def create_app(error_shape: ErrorShape = openai_error) -> APIGatewayRestResolver:
    """The resolver with the domain-error handlers; ``error_shape`` is the error body of the API it serves."""
    app = _Resolver()

    def error_response(error: GatewayError, headers: dict[str, str] | None = None) -> Response:
        pending_record.save_refusal(error.status)  # an authenticated model request refused before routing recorded it
        return json_response(error.status, error_shape(error), headers)

    @app.exception_handler(GatewayError)
    def _gateway_error(error: GatewayError) -> Response:
        return error_response(error, error.headers or None)

    @app.not_found
    def _not_found(_: NotFoundError) -> Response:
        return error_response(NotFound("no such route", code="route_not_found"))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        # The message is left out on purpose: library errors can quote request data.
        logger.error(
            "unhandled error",
            extra={
                "error_type": type(error).__name__,
                "trace": "".join(traceback.format_tb(error.__traceback__)),
            },
        )
        return error_response(GatewayError("internal error", status=500))

    @app.exception_handler([ClientError, AwsConnectionError, HTTPClientError])
    def _aws_unavailable(error: Exception) -> Response:
        # DynamoDB/KMS throttled or unreachable even after botocore's retries: the caller should retry, so a
        # clean 503 rather than a 500. Other AWS errors (access denied, missing table) are our bug: 500.
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
        if isinstance(error, ClientError) and code not in RETRYABLE_AWS_CODES:
            return _unexpected(error)
        logger.warning("AWS dependency unavailable", extra={"error_type": type(error).__name__, "aws_code": code})
        unavailable = GatewayError(
            "the gateway is briefly overloaded; retry the request",
            status=503,
            error_type="service_unavailable",
            code="service_unavailable",
        )
        return error_response(unavailable, headers={"retry-after": RETRY_AFTER_S})

    return app


def handler(
    app: APIGatewayRestResolver,
) -> Callable[[dict[str, Any], Any], dict[str, Any] | StreamedResponse]:
    """The Lambda entry point for ``app``: assigns the request id and stamps it on every response. A route
    that answered with ``stream_response`` makes it return that ``StreamedResponse`` instead of a proxy dict
    (joined into one, by ``lambda_entry``, under a Lambda runtime that cannot stream)."""

    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any] | StreamedResponse:
        rid = new_request_id()
        token = _request_id.set(rid)
        streamed_token = _streamed.set(None)
        # Per-invocation (and per-thread, for the threaded dev server) log keys: a warm process must never
        # label one request's lines with the previous caller's account.
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(correlation_id=rid)
        pending_record.forget_expected()
        try:
            result = app.resolve(event, context)
            streamed = _streamed.get()
        finally:
            _request_id.reset(token)
            _streamed.reset(streamed_token)
            logger.thread_safe_clear_keys()
            pending_record.forget_expected()
        if streamed is not None:
            streamed.headers = {**streamed.headers, "x-request-id": rid}
            return streamed
        multi = result.get("multiValueHeaders")
        if multi is not None:
            result["multiValueHeaders"] = {**multi, "x-request-id": [rid]}
        else:
            result["headers"] = {**(result.get("headers") or {}), "x-request-id": rid}
        return result

    return lambda_entry(lambda_handler)


def authenticate(
    app: APIGatewayRestResolver,
    *,
    api_key_header: str | None = None,
    recorded_as: Endpoint | None = None,
) -> accounts.AccountSnapshot:
    """The caller's account from ``Authorization: Bearer <key>``, or from ``api_key_header`` (e.g. Anthropic's
    ``x-api-key``) when the API accepts one and it is present. A model route names its API in ``recorded_as``:
    from here on the request leaves a log record whatever its answer (see ``pending_record.expect_record``)."""
    headers = app.current_event.headers  # Powertools headers are case-insensitive
    header = headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if api_key_header and headers.get(api_key_header):
        scheme, token = "bearer", str(headers.get(api_key_header)).strip()
    if scheme.lower() != "bearer" or not token:
        hint = f"{api_key_header}: <key> or " if api_key_header else ""
        raise Unauthorized(f"missing gateway API key: send {hint}Authorization: Bearer <key>")
    if len(token) > 256 or not token.isascii():  # gateway keys are ASCII; nothing else is worth a lookup
        raise Unauthorized("invalid gateway API key")
    # A model request may reuse the instance's snapshot (ACCOUNT_CACHE_MS); management routes read the partition.
    model_request = recorded_as is not None
    snapshot = api_keys.authenticate(token, note_use=model_request, reuse=model_request)
    if snapshot is None:
        raise Unauthorized("invalid gateway API key")
    logger.thread_safe_append_keys(account_id=snapshot.account.account_id)
    if recorded_as is not None:
        caller_id = snapshot.caller.id if snapshot.caller is not None else None
        pending_record.expect_record(request_id(), snapshot.account.account_id, recorded_as, caller_id)
    return snapshot


def _depth(value: Any, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(current, dict):
            stack.extend((v, depth + 1) for v in current.values())
        elif isinstance(current, list):
            stack.extend((v, depth + 1) for v in current)
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN / Infinity: Python accepts them, JSON does not


def json_body(app: APIGatewayRestResolver) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx naming what is wrong with it."""
    event = app.current_event
    raw = event.body or ""
    content_type = (event.headers.get("content-type") or "").lower()
    if raw and "json" not in content_type.split(";")[0]:
        raise UnsupportedMediaType("request body must be application/json")
    if event.is_base64_encoded and raw:
        try:
            raw = base64.b64decode(raw).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("request body is not valid UTF-8", code="invalid_json") from None
    if len(raw.encode("utf-8", "surrogatepass")) > get_settings().max_body_bytes:
        raise PayloadTooLarge(f"request body exceeds {get_settings().max_body_bytes} bytes")
    if not raw.strip():
        raise BadRequest("request body is required", code="invalid_json")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_json")
    pending_record.describe_expected(data)
    if _depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json")
    return data


# A field name worth repeating back: unknown names are the caller's own text, and a secret pasted as a name
# must not come back in the error.
_NAMEABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$", re.ASCII)


def _loc_part(part: Any) -> str:
    return str(part) if isinstance(part, int) or _NAMEABLE.fullmatch(str(part)) else "(unnamed field)"


def validation_message(error: ValidationError) -> tuple[str, str | None]:
    """A message naming each bad field and rule; pydantic's own text can quote inputs, so it is rebuilt."""
    parts = []
    first_field: str | None = None
    for item in error.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(_loc_part(p) for p in item["loc"]) or "body"
        first_field = first_field or loc
        parts.append(f"{loc}: {item['msg']}")
    return "; ".join(parts), first_field


def parse_model(data: dict[str, Any], model: type[T], *, status: int = 422) -> T:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, param = validation_message(exc)
        error_cls = Unprocessable if status == 422 else BadRequest
        raise error_cls(message, param=param) from None
