"""The record of a request refused before routing could record it: once a model request has passed
authentication, ``expect_record`` notes it; ``save_refusal`` writes it with the refusal's status (bad JSON,
validation, limits, an unexpected fault) unless ``request_log.save_request`` already did, so every authenticated
request leaves a record."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

from gateway.core.catalog import Endpoint
from gateway.data import accounts, request_log
from gateway.data.request_log import RequestRecord, save_request

# A model id worth storing on a refused request: the caller's own text, kept only when it is printable ASCII.
_STORABLE_MODEL = re.compile(r"[\x21-\x7e]{1,128}")


def expect_record(request_id: str, account_id: str, api: Endpoint, api_key_id: str | None = None) -> None:
    """Make sure the current request leaves a record: ``save_refusal`` writes it unless ``save_request`` did."""
    record = RequestRecord(
        request_id=request_id,
        account_id=account_id,
        created_at=accounts.now_iso(),
        model="",
        provider=None,
        is_byok=False,
        status="error",
        http_status=0,
        latency_ms=0,
        prompt_tokens=0,
        completion_tokens=0,
        cost=Decimal(0),
        stream=False,
        api=api,
        api_key_id=api_key_id,
    )
    request_log.PENDING.set((record, time.monotonic()))


def describe_expected(body: dict[str, Any]) -> None:
    """Name the model and stream flag of the body on the expected record (what a refusal can still tell)."""
    pending = request_log.PENDING.get()
    if pending is None:
        return
    model = body.get("model")
    record = replace(
        pending[0],
        model=model if isinstance(model, str) and _STORABLE_MODEL.fullmatch(model) else "",
        stream=body.get("stream") is True,
    )
    request_log.PENDING.set((record, pending[1]))


def save_refusal(http_status: int) -> None:
    """Record the current request as refused with ``http_status`` (no attempts), unless it is recorded already."""
    pending = request_log.PENDING.get()
    if pending is None:
        return
    record, started = pending
    save_request(replace(record, http_status=http_status, latency_ms=int((time.monotonic() - started) * 1000)))


def forget_expected() -> None:
    """Between invocations: a warm process must never record one request under the previous one's id."""
    request_log.PENDING.set(None)
