"""GET /v1/logs (the caller's requests, newest first, paginated), GET /v1/logs/{request_id} and GET /v1/usage."""

from __future__ import annotations

import re
from typing import Any

from gateway.billing import hourly_usage
from gateway.core.errors import BadRequest, NotFound
from gateway.data import request_log as logs
from gateway.http.resolver import authenticate, create_app, handler

app = create_app()

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_BOOLEANS = {"true": True, "false": False}
_STATUSES = ("success", "error")
_API_KEY_ID = re.compile(r"ak_[0-9a-f]{16}")


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    message = f"limit must be an integer from 1 to {MAX_LIMIT}"
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest(message, param="limit")
    value = int(raw)
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest(message, param="limit")
    return value


def _is_byok(raw: str | None) -> bool | None:
    if raw is None:
        return None
    if raw not in _BOOLEANS:
        raise BadRequest("is_byok must be true or false", param="is_byok")
    return _BOOLEANS[raw]


def _status(raw: str | None) -> str | None:
    if raw is not None and raw not in _STATUSES:
        raise BadRequest("status must be success or error", param="status")
    return raw


def _api_key_id(raw: str | None) -> str | None:
    if raw is not None and _API_KEY_ID.fullmatch(raw) is None:
        raise BadRequest("api_key_id must be an API key id (ak_ and 16 hex digits)", param="api_key_id")
    return raw


@app.get("/v1/logs")
def list_logs() -> dict[str, Any]:
    account_id = authenticate(app).account.account_id
    params = app.current_event.query_string_parameters or {}
    records, next_cursor = logs.list_requests(
        account_id,
        limit=_limit(params.get("limit")),
        cursor=params.get("cursor") or None,
        is_byok=_is_byok(params.get("is_byok")),
        status=_status(params.get("status")),
        api_key_id=_api_key_id(params.get("api_key_id")),
    )
    return {"data": [record.public() for record in records], "next_cursor": next_cursor}


@app.get("/v1/logs/<request_id>")
def get_log(request_id: str) -> dict[str, Any]:
    account_id = authenticate(app).account.account_id
    record = logs.get_request(account_id, request_id)
    if record is None:
        raise NotFound("no request with this id", param="request_id")
    return record.public()


@app.get("/v1/usage")
def get_usage() -> dict[str, Any]:
    account_id = authenticate(app).account.account_id
    params = app.current_event.query_string_parameters or {}
    api_key_id = _api_key_id(params.get("api_key_id"))
    data = hourly_usage.last_hours(account_id, api_key_id=api_key_id)
    return {"object": "list", "hours": hourly_usage.HOURS, "data": data}


lambda_handler = handler(app)
