"""HTTP plumbing shared by every function: the app with the gateway's error answers, the Lambda entry point,
auth and body parsing.

Handlers stay thin: ``app = create_app()``, routes that call domain code, and ``lambda_handler = handler(app)``.
Domain code raises ``GatewayError`` subclasses; this module turns them into HTTP answers. Every response,
error or not, carries ``x-request-id``. The routing itself is ``gateway.http.router``.
"""

from __future__ import annotations

import contextvars
import json
import re
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

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
from gateway.http.router import App, ProxyResult, Response
from gateway.http.streaming import StreamedResponse, lambda_entry

T = TypeVar("T", bound=BaseModel)

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
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


ErrorShape = Callable[[GatewayError], dict[str, Any]]


def openai_error(error: GatewayError) -> dict[str, Any]:
    return error.body()


def create_app(error_shape: ErrorShape = openai_error) -> App:
    """The app with the domain-error handlers; ``error_shape`` is the error body of the API it serves."""
    app = App()

    def error_response(error: GatewayError, headers: dict[str, str] | None = None) -> Response:
        pending_record.save_refusal(error.status)  # an authenticated model request refused before routing recorded it
        return json_response(error.status, error_shape(error), headers)

    @app.exception_handler(GatewayError)
    def _gateway_error(error: GatewayError) -> Response:
        return error_response(error, error.headers or None)

    @app.not_found
    def _not_found() -> Response:
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


def handler(app: App) -> Callable[[dict[str, Any], Any], ProxyResult | StreamedResponse]:
    """The Lambda entry point for ``app``: assigns the request id and stamps it on every response. A route
    that answered with a ``StreamedResponse`` makes it return that instead of a proxy dict (joined into one, by
    ``lambda_entry``, under a Lambda runtime that cannot stream).

    The per-invocation state (request id, log keys, the expected request record) is reset when an invocation
    starts, not on the way out: between a streamed answer's route and its first byte there is only the request
    id to stamp, and its body, produced after this returns, still logs under its own request's keys."""

    def lambda_handler(event: dict[str, Any], context: Any) -> ProxyResult | StreamedResponse:
        rid = new_request_id()
        _request_id.set(rid)
        # Per-invocation (and per-thread, for the threaded dev server) log keys: a warm process must never
        # label one request's lines with the previous caller's account.
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(correlation_id=rid)
        pending_record.forget_expected()
        result = app.resolve(event, context)
        if isinstance(result, StreamedResponse):
            result.headers["x-request-id"] = rid
        else:
            result["multiValueHeaders"]["x-request-id"] = [rid]
        return result

    return lambda_entry(lambda_handler)


def authenticate(
    app: App,
    *,
    api_key_header: str | None = None,
    recorded_as: Endpoint | None = None,
) -> accounts.AccountSnapshot:
    """The caller's account from ``Authorization: Bearer <key>``, or from ``api_key_header`` (e.g. Anthropic's
    ``x-api-key``) when the API accepts one and it is present. A model route names its API in ``recorded_as``:
    from here on the request leaves a log record whatever its answer (see ``pending_record.expect_record``)."""
    headers = app.current_event.headers  # case-insensitive
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


def json_body(app: App) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx naming what is wrong with it."""
    event = app.current_event
    content_type = (event.headers.get("content-type") or "").lower()
    if event.body and "json" not in content_type.split(";")[0]:
        raise UnsupportedMediaType("request body must be application/json")
    try:
        raw = event.decoded_body
    except ValueError:  # bad base64, or not UTF-8 (UnicodeDecodeError is a ValueError)
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
