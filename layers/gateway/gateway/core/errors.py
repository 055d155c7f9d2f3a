"""Domain errors. Each maps to one HTTP answer in the OpenAI error shape (see ``gateway.http.resolver``).

Messages are written for the customer and never contain a secret: callers pass only field names, statuses
and redacted provider text.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """A domain error; a subclass fixes its answer's defaults in its class line
    (``class NotFound(GatewayError, status=404, error_type=..., code=...)``)."""

    status: int = 500
    error_type: str = "api_error"
    code: str | None = None

    def __init_subclass__(cls, *, status: int = 0, error_type: str = "", code: str | None = None) -> None:
        super().__init_subclass__()
        if status:
            cls.status = status
        if error_type:
            cls.error_type = error_type
        if code is not None:
            cls.code = code

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type
        if code is not None:
            self.code = code
        self.param = param
        self.extra = extra or {}
        self.headers = headers or {}  # sent with the error answer (e.g. retry-after)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
            "param": self.param,
        }
        error.update(self.extra)
        return {"error": error}


class BadRequest(GatewayError, status=400, error_type="invalid_request_error"):
    """400: the body or a parameter cannot be served as asked (``param`` names which); nothing was sent."""


class Unauthorized(GatewayError, status=401, error_type="authentication_error", code="invalid_api_key"):
    """401: no gateway key, an unknown, revoked or expired one."""


class PaymentRequired(GatewayError, status=402, error_type="insufficient_credits", code="insufficient_credits"):
    """402: the balance, a key's budget or the account's shared-capacity cap cannot cover the request's
    worst case (``code`` says which), and no BYOK key could serve it instead."""


class NotFound(GatewayError, status=404, error_type="not_found_error", code="not_found"):
    """404: no such object for this caller (another tenant's looks exactly the same)."""


class PayloadTooLarge(GatewayError, status=413, error_type="invalid_request_error", code="payload_too_large"):
    """413: the body is over ``MAX_BODY_BYTES``, the one bound on its size."""


class UnsupportedMediaType(GatewayError, status=415, error_type="invalid_request_error", code="unsupported_media_type"):
    """415: a body that is not JSON."""


class Forbidden(GatewayError, status=403, error_type="permission_error", code="forbidden"):
    """403: the key is valid but may not do this (manage keys without the management right, a model outside
    its ``allowed_models``)."""


class RateLimited(GatewayError, status=429, error_type="rate_limit_error", code="rate_limited"):
    """429: the key's requests per minute are spent; ``retry-after`` says when the minute ends."""


class Conflict(GatewayError, status=409, error_type="invalid_request_error", code="conflict"):
    """409: the account's state refuses the write (it already holds its maximum of API keys or BYOK keys)."""


class Unprocessable(GatewayError, status=422, error_type="invalid_request_error", code="validation_error"):
    """422: well-formed JSON that fails validation (a credential, a limit), with the field in ``param``."""


class BrokenKey(GatewayError, status=502, error_type="byok_key_broken", code="byok_key_broken"):
    """A stored credential could not be decrypted or parsed: never used, reported as broken."""
