"""Request logs: one record per gateway request in the logs table, one JSON line and EMF metrics per attempt.

The logs table is partitioned by account (``pk`` = account id, ``sk`` = request id); request ids sort by
creation time, so a descending Query reads a customer's requests newest first. Only this module touches the
logs table. Records never hold prompt or completion text, and every upstream error string passes through
``redact`` before it is stored, logged or returned.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from gateway import aws
from gateway.errors import BadRequest
from gateway.observability import logger, metrics
from gateway.settings import get_settings

Credential = Literal["byok", "shared"]
Outcome = Literal["success", "error", "timeout", "connection_error", "stream_interrupted"]
Status = Literal["success", "error"]

MAX_ERROR_CHARS = 200
# Provider error bodies can be large; nothing past this point could reach the 200 kept characters anyway.
_MAX_REDACT_INPUT = 16_384
_REQUEST_ID = re.compile(r"req_[0-9a-f]{28}")
_CURSOR_VERSION = 1
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Items a filtered Query evaluates per page; unfiltered pages read exactly what the answer needs.
_FILTERED_PAGE_SIZE = 200
_DAY_SECONDS = 86_400

_REDACTED = "[redacted]"
_SENSITIVE_LABELS = (
    r"x-api-key|x-goog-api-key|api[_-]?key|secret[_-]?access[_-]?key|secret|access[_-]?token|refresh[_-]?token"
    r"|id[_-]?token|client[_-]?secret|private[_-]?key|password|session[_-]?token|x-amz-security-token|signature|key"
)
# Applied in order: whole blocks first, then URL query strings, labelled values, then bare token shapes.
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.S), "[redacted pem]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted jwt]"),
    (re.compile(r"([a-z][a-z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s#\"'<>]*", re.I), rf"\1?{_REDACTED}"),
    (re.compile(r"\b(bearer|basic)\s+(?!\[redacted)[^\s\"',;]+", re.I), rf"\1 {_REDACTED}"),
    (
        re.compile(rf"\b({_SENSITIVE_LABELS})([\"']?\s*[:=]\s*[\"']?)(?!\[redacted)[^\s\"',;&}}]+", re.I),
        rf"\1\2{_REDACTED}",
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_*.-]{6,}"), _REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), _REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{12,}"), _REDACTED),
    (re.compile(r"\bgwk_[A-Za-z0-9_]+"), _REDACTED),
)
_TOKEN_RUN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{32,}")
_WHITESPACE = re.compile(r"\s+")


def _looks_secret(run: str) -> bool:
    """A long run of token characters that is hex, or mixes cases and digits the way base64 keys do."""
    if re.fullmatch(r"[0-9a-fA-F]{32,}", run):
        return True
    has_digit = any(c.isdigit() for c in run)
    if any(c.isupper() for c in run) and any(c.islower() for c in run) and has_digit:
        return True
    # Slug-like identifiers (model ids, URL paths) carry hyphens or slashes; a 32+ char run without them is a key.
    return has_digit and "-" not in run and "/" not in run


def redact(text: str) -> str:
    """``text`` made safe to store and show: no query strings, keys, tokens or PEM blocks; one line, 200 chars."""
    cleaned = text[:_MAX_REDACT_INPUT]
    for pattern, replacement in _REDACTIONS:
        cleaned = pattern.sub(replacement, cleaned)
    cleaned = _TOKEN_RUN.sub(lambda m: _REDACTED if _looks_secret(m.group(0)) else m.group(0), cleaned)
    cleaned = _WHITESPACE.sub(" ", cleaned).strip()
    if len(cleaned) > MAX_ERROR_CHARS:
        cleaned = cleaned[: MAX_ERROR_CHARS - 1] + "…"
    return cleaned


@dataclass
class AttemptRecord:
    attempt: int
    provider: str
    credential: Credential
    key_id: str | None
    status_code: int | None
    outcome: Outcome
    error: str | None
    latency_ms: int
    model: str = ""  # catalog id of the model the attempt was for

    def fields(self) -> dict[str, Any]:
        """The attempt as stored, logged and returned: the error redacted, a key id only for BYOK."""
        return {
            "attempt": self.attempt,
            "provider": self.provider,
            "credential": self.credential,
            "key_id": self.key_id if self.credential == "byok" else None,
            "status_code": self.status_code,
            "outcome": self.outcome,
            "error": redact(self.error) if self.error else None,
            "latency_ms": self.latency_ms,
            "model": self.model,
        }


@dataclass
class RequestRecord:
    request_id: str
    account_id: str
    created_at: str
    model: str
    provider: str | None
    is_byok: bool
    status: Status
    http_status: int
    latency_ms: int
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    stream: bool
    attempts: list[AttemptRecord] = field(default_factory=list)
    api: Literal["chat", "messages", "responses"] = "chat"
    time_to_first_token_ms: int | None = None  # streamed answers: request start to the first delta sent

    def public(self) -> dict[str, Any]:
        """The request record of the HTTP contract: every field but the owner, tokens under ``usage``."""
        data = self.fields()
        del data["account_id"]
        data["usage"] = {"prompt_tokens": data.pop("prompt_tokens"), "completion_tokens": data.pop("completion_tokens")}
        data["cost"] = float(self.cost)
        return data

    def fields(self) -> dict[str, Any]:
        """Every field, JSON-ready (cost as an exact decimal string): what a lost table write logs instead."""
        return {
            "request_id": self.request_id,
            "account_id": self.account_id,
            "created_at": self.created_at,
            "model": self.model,
            "provider": self.provider,
            "is_byok": self.is_byok,
            "status": self.status,
            "http_status": self.http_status,
            "latency_ms": self.latency_ms,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": str(self.cost),
            "stream": self.stream,
            "time_to_first_token_ms": self.time_to_first_token_ms,
            "api": self.api,
            "attempts": [attempt.fields() for attempt in self.attempts],
        }


def _table() -> Any:
    return aws.table(get_settings().logs_table)


def _count(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    """One EMF blob with its own dimensions, printed when the block exits (no flush at handler end needed)."""
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=metrics.namespace,
        default_dimensions={"service": str(metrics.service), **dimensions},
    ):
        pass


def emit_attempt(request_id: str, account_id: str, model: str, record: AttemptRecord, *, fallback: bool) -> None:
    """One JSON log line and the attempt metrics; ``fallback`` when this attempt follows a failed one."""
    logger.info(
        "upstream attempt",
        extra={
            "correlation_id": request_id,
            "request_id": request_id,
            "account_id": account_id,
            **record.fields(),
            "model": record.model or model,
        },
    )
    by_route = {"provider": record.provider, "credential": record.credential}
    _count("Attempts", MetricUnit.Count, 1, **by_route)
    if record.outcome != "success":
        _count("AttemptFailures", MetricUnit.Count, 1, **by_route)
    _count("UpstreamLatency", MetricUnit.Milliseconds, record.latency_ms, **by_route)
    if fallback:
        _count("Fallbacks", MetricUnit.Count, 1)


def emit_spillover(request_id: str, account_id: str, served: AttemptRecord, failed: list[AttemptRecord]) -> None:
    """A request whose BYOK keys failed and that shared capacity (billed to credits) served: one log line and
    the ByokSpillover metric, in total and by the provider that served."""
    logger.warning(
        "byok spill-over to shared capacity",
        extra={
            "correlation_id": request_id,
            "request_id": request_id,
            "account_id": account_id,
            "served_provider": served.provider,
            "failed_keys": [{"provider": r.provider, "key_id": r.key_id, "status_code": r.status_code} for r in failed],
        },
    )
    _count("ByokSpillover", MetricUnit.Count, 1)
    _count("ByokSpillover", MetricUnit.Count, 1, provider=served.provider)


def _to_item(record: RequestRecord) -> dict[str, Any]:
    item = record.fields()
    del item["request_id"], item["account_id"]
    return {
        "pk": record.account_id,
        "sk": record.request_id,
        **item,
        "cost": record.cost,
        "expires_at": int(time.time()) + get_settings().log_ttl_days * _DAY_SECONDS,
    }


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _from_item(item: dict[str, Any]) -> RequestRecord:
    return RequestRecord(
        request_id=item["sk"],
        account_id=item["pk"],
        created_at=item["created_at"],
        model=item["model"],
        provider=item.get("provider"),
        is_byok=bool(item["is_byok"]),
        status=item["status"],
        http_status=int(item["http_status"]),
        latency_ms=int(item["latency_ms"]),
        prompt_tokens=int(item["prompt_tokens"]),
        completion_tokens=int(item["completion_tokens"]),
        cost=Decimal(item["cost"]),
        stream=bool(item.get("stream", False)),
        api=item.get("api", "chat"),
        time_to_first_token_ms=_optional_int(item.get("time_to_first_token_ms")),
        attempts=[
            AttemptRecord(
                attempt=int(a["attempt"]),
                provider=a["provider"],
                credential=a["credential"],
                key_id=a.get("key_id"),
                status_code=_optional_int(a.get("status_code")),
                outcome=a["outcome"],
                error=a.get("error"),
                latency_ms=int(a["latency_ms"]),
                model=a.get("model") or item["model"],
            )
            for a in item.get("attempts", [])
        ],
    )


def save_request(record: RequestRecord) -> None:
    """Store ``record`` (expiring after LOG_TTL_DAYS) and count it. Never raises and never loses the record:
    if the table write fails, the whole record goes to CloudWatch Logs as one JSON line instead."""
    try:
        _table().put_item(Item=_to_item(record))
    except Exception as error:  # any failure at all: the record must survive it
        try:
            logger.error(
                "request record (table write failed)",
                extra={"error_type": type(error).__name__, "record": record.fields()},
            )
            _count("LogWriteFailures", MetricUnit.Count, 1)
        except Exception:  # noqa: S110 - nothing is left to report to once stdout itself fails
            pass
    try:
        _count("Requests", MetricUnit.Count, 1)
        if record.status == "error":
            _count("RequestFailures", MetricUnit.Count, 1)
    except Exception:  # noqa: S110 - metrics are best effort; the record is already safe
        pass


def is_request_id(value: str) -> bool:
    return _REQUEST_ID.fullmatch(value) is not None


def get_request(account_id: str, request_id: str) -> RequestRecord | None:
    """The caller's own record, or None: another account's id and a malformed id look exactly like a missing one."""
    if not is_request_id(request_id):
        return None
    item = _table().get_item(Key={"pk": account_id, "sk": request_id}, ConsistentRead=True).get("Item")
    return None if item is None else _from_item(item)


def encode_cursor(request_id: str) -> str:
    raw = bytes([_CURSOR_VERSION]) + request_id.encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    """The request id a cursor points after; BadRequest naming ``cursor`` for anything this module did not make."""
    invalid = BadRequest("cursor is not a cursor returned by GET /v1/logs", param="cursor", code="invalid_cursor")
    if _CURSOR_CHARS.fullmatch(cursor) is None:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        request_id = raw[1:].decode("ascii")
    except (binascii.Error, ValueError):
        raise invalid from None
    if raw[:1] != bytes([_CURSOR_VERSION]) or not is_request_id(request_id):
        raise invalid
    return request_id


def list_requests(
    account_id: str,
    *,
    limit: int,
    cursor: str | None,
    is_byok: bool | None,
    status: str | None,
) -> tuple[list[RequestRecord], str | None]:
    """Up to ``limit`` of the caller's records, newest first, and the cursor of the next page (None at the end).

    Filters run server side, so a Query page may hold fewer matches than asked; pages are read until one match
    more than ``limit`` is found (proving a next page exists) or the partition ends. The start key is always
    built on the caller's own partition: a cursor carries only a position, never whose records to read.
    """
    conditions: list[ConditionBase] = []
    if is_byok is not None:
        conditions.append(Attr("is_byok").eq(is_byok))
    if status is not None:
        conditions.append(Attr("status").eq(status))
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(account_id),
        "ScanIndexForward": False,
        "ConsistentRead": True,
        "Limit": limit + 1,
    }
    if conditions:
        combined = conditions[0]
        for condition in conditions[1:]:
            combined = combined & condition
        query["FilterExpression"] = combined
        query["Limit"] = max(limit + 1, _FILTERED_PAGE_SIZE)
    start_key = {"pk": account_id, "sk": decode_cursor(cursor)} if cursor else None

    table = _table()
    items: list[dict[str, Any]] = []
    while len(items) <= limit:
        page = table.query(**query, **({"ExclusiveStartKey": start_key} if start_key else {}))
        items.extend(page.get("Items", []))
        start_key = page.get("LastEvaluatedKey")
        if start_key is None:
            break
    records = [_from_item(item) for item in items[:limit]]
    next_cursor = encode_cursor(records[-1].request_id) if len(items) > limit else None
    return records, next_cursor
